import { parameter, type Variable } from '../autograd/variable.js';
import { linearOp } from '../ops/gemm.js';
import type { Engine } from '../runtime/engine.js';
import { biasUniform, defaultRng, kaimingUniform, type Rng } from './init.js';
import { OpModule, type OpCall } from './module.js';

export interface LinearModuleOptions {
  bias?: boolean;
  /** Initialisation draws from this generator (default: the global one, see manualSeed). */
  rng?: Rng;
}

/** nn.Linear: y = x W^T + b with weight [out, in] and bias [out], PyTorch's default initialisation. */
export class Linear extends OpModule {
  readonly weight: Variable;
  readonly bias: Variable | undefined;

  constructor(
    engine: Engine,
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: LinearModuleOptions = {},
  ) {
    super();
    for (const [what, v] of [['inFeatures', inFeatures], ['outFeatures', outFeatures]] as const) {
      if (!Number.isInteger(v) || v < 0) throw new Error(`Linear: ${what} must be an integer >= 0, got ${v}`);
    }
    const rng = options.rng ?? defaultRng();
    const shape = [outFeatures, inFeatures];
    this.weight = this.registerParameter('weight', parameter(engine.tensor(kaimingUniform(shape, rng), shape)));
    this.bias = options.bias === false ? undefined : this.registerParameter('bias', parameter(engine.tensor(biasUniform(outFeatures, shape, rng), [outFeatures])));
  }

  opCall(x: Variable): OpCall {
    return { op: linearOp, operands: [x, this.weight, this.bias], options: {} };
  }
}
