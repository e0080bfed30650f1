import type { Tape } from '../autograd/tape.js';
import { Variable } from '../autograd/variable.js';
import { fusionRules, type AnyTensor, type ChainMember, type Op } from '../ops/registry.js';
import type { Shape } from '../runtime/tensor.js';
import { Module, OpModule } from './module.js';

/** A fused op standing for `length` modules in a row. */
interface FusedCall {
  op: Op<unknown>;
  inputs: Array<Variable | AnyTensor | undefined>;
  options: Record<string, unknown>;
  length: number;
}

type Operand = Variable | AnyTensor | undefined;

const shapesOf = (operands: readonly Operand[]): Array<Shape | undefined> => operands.map((v) => v?.shape);

/** An OpModule whose forward pass is its op (not overridden) and that has no hooks (its output must then exist). */
const fusable = (m: Module): m is OpModule => m instanceof OpModule && m.forward === OpModule.prototype.forward && !m.hasHooks;

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
   * Runs the modules in order. Modules in a row whose ops a fusion rule of the op registry names
   * (BatchNorm2d, ReLU, MaxPool2d: batchNormReluMaxPool2d; ReLU, MaxPool2d: reluMaxPool2d) run as
   * that one op, with the same values and gradients, so the tensors between them are never
   * written. While tracing they run one by one: the graph rewrite applies the same rules, after
   * folding batch norms into convolutions.
   */
  forward(tape: Tape, x: Variable): Variable {
    const rules = tape.isTracing ? [] : fusionRules();
    let y = x;
    for (let i = 0; i < this.layers.length; ) {
      const fused = this.fusedAt(i, y, rules);
      if (fused) {
        y = tape.apply(fused.op, fused.inputs, fused.options);
        i += fused.length;
      } else {
        y = this.layers[i]!.call(tape, y);
        i += 1;
      }
    }
    return y;
  }

  /**
   * The op a fusion rule makes of the modules from i on, given their input x; undefined when no
   * rule names their ops, or when they would refuse x (they then run one by one and say why).
   */
  private fusedAt(i: number, x: Variable, rules: ReturnType<typeof fusionRules>): FusedCall | undefined {
    for (const { op, rule } of rules) {
      const modules = this.layers.slice(i, i + rule.chain.length);
      if (modules.length < rule.chain.length || !modules.every(fusable)) continue;
      try {
        const members: Array<ChainMember<Operand>> = [];
        let input = x;
        for (const [k, m] of modules.entries()) {
          const call = m.opCall(input);
          if (call.op.name !== rule.chain[k]) break;
          members.push({ inputs: call.operands, options: call.options });
          // The next module reads this one's output, which fusion never computes: a placeholder of its shape.
          const { shape } = call.op.check(shapesOf(call.operands), call.options);
          input = new Variable({ shape, description: `the fused output of module ${i + k} of a Sequential` });
        }
        if (members.length < rule.chain.length) continue;
        const { inputs, options } = rule.combine(members);
        op.check(shapesOf(inputs), options);
        return { op, inputs, options, length: modules.length };
      } catch {
        return undefined;
      }
    }
    return undefined;
  }
}
