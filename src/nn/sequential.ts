import type { Tape } from '../autograd/tape.js';
import type { Variable } from '../autograd/variable.js';
import { MaxPool2d, ReLU } from './layers.js';
import { Module } from './module.js';
import { BatchNorm2d } from './norm.js';

/** Whether m is an instance of C itself (a subclass may override forward, so it is not fused). */
function exactly<T extends Module>(m: Module | undefined, C: abstract new (...args: never[]) => T): m is T {
  return m !== undefined && Object.getPrototypeOf(m) === C.prototype;
}

const hooked = (...modules: Module[]) => modules.some((m) => m.hasHooks);

/** nn.Sequential: runs its modules in order; they are named '0', '1', … (or as given). */
export class Sequential extends Module {
  private readonly layers: Module[];

  constructor(...modules: Module[]) {
    super();
    this.layers = modules;
    modules.forEach((m, i) => this.registerModule(String(i), m));
  }

  /** A Sequential whose children have the given names (PyTorch's OrderedDict form). */
  static named(entries: Iterable<[string, Module]>): Sequential {
    const s = new Sequential();
    for (const [name, m] of entries) {
      s.registerModule(name, m);
      s.layers.push(m);
    }
    return s;
  }

  get length(): number {
    return this.layers.length;
  }

  at(i: number): Module | undefined {
    return this.layers[i];
  }

  /**
   * Runs the modules in order. BatchNorm2d, ReLU, MaxPool2d in a row (and ReLU, MaxPool2d) run as
   * one fused op with the same values and gradients, so the tensors between them are never
   * written, unless one of them has hooks (its output must then exist).
   */
  forward(tape: Tape, x: Variable): Variable {
    let y = x;
    for (let i = 0; i < this.layers.length; i++) {
      const [m, next, after] = [this.layers[i]!, this.layers[i + 1], this.layers[i + 2]];
      if (exactly(m, BatchNorm2d) && exactly(next, ReLU) && exactly(after, MaxPool2d) && !hooked(m, next, after)) {
        y = m.forwardReluMaxPool(tape, y, after.options);
        i += 2;
      } else if (exactly(m, ReLU) && exactly(next, MaxPool2d) && (y.shape.length === 3 || y.shape.length === 4) && !hooked(m, next)) {
        y = tape.reluMaxPool2d(y, next.options);
        i += 1;
      } else {
        y = m.call(tape, y);
      }
    }
    return y;
  }
}
