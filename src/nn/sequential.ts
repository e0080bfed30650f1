import type { Tape } from '../autograd/tape.js';
import type { Variable } from '../autograd/variable.js';
import { Module } from './module.js';

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

  forward(tape: Tape, x: Variable): Variable {
    let y = x;
    for (const m of this.layers) y = m.forward(tape, y);
    return y;
  }
}
