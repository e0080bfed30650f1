import { parameter, type Variable } from '../autograd/variable.js';
import { tuple } from '../ops/check.js';
import { conv2dOp } from '../ops/conv.js';
import type { ConvAttributes } from '../ops/conv-args.js';
import type { Engine } from '../runtime/engine.js';
import { biasUniform, defaultRng, kaimingUniform, type Rng } from './init.js';
import { OpModule, type OpCall } from './module.js';

export interface Conv2dOptions {
  stride?: number | [number, number];
  padding?: number | [number, number] | 'same' | 'valid';
  dilation?: number | [number, number];
  groups?: number;
  bias?: boolean;
  /** Initialisation draws from this generator (default: the global one, see manualSeed). */
  rng?: Rng;
}

/** nn.Conv2d: weight [out, in / groups, kH, kW], bias [out], PyTorch's default initialisation. */
export class Conv2d extends OpModule {
  readonly weight: Variable;
  readonly bias: Variable | undefined;
  readonly options: ConvAttributes;

  constructor(
    engine: Engine,
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: number | [number, number],
    options: Conv2dOptions = {},
  ) {
    super();
    const groups = options.groups ?? 1;
    const op = 'Conv2d';
    const [kH, kW] = tuple(op, 'kernelSize', kernelSize, 2, 1) as [number, number];
    if (!Number.isInteger(groups) || groups < 1) throw new Error(`${op}: groups must be a positive integer, got ${groups}`);
    if (!Number.isInteger(inChannels) || inChannels < 1 || inChannels % groups !== 0) {
      throw new Error(`${op}: in_channels must be a positive integer divisible by groups (${groups}), got ${inChannels}`);
    }
    if (!Number.isInteger(outChannels) || outChannels < 1 || outChannels % groups !== 0) {
      throw new Error(`${op}: out_channels must be a positive integer divisible by groups (${groups}), got ${outChannels}`);
    }
    const rng = options.rng ?? defaultRng();
    const shape = [outChannels, inChannels / groups, kH, kW];
    this.weight = this.registerParameter('weight', parameter(engine.tensor(kaimingUniform(shape, rng), shape)));
    this.bias = options.bias === false ? undefined : this.registerParameter('bias', parameter(engine.tensor(biasUniform(outChannels, shape, rng), [outChannels])));
    this.options = { stride: options.stride, padding: options.padding, dilation: options.dilation, groups };
  }

  opCall(x: Variable): OpCall {
    return { op: conv2dOp, operands: [x, this.weight, this.bias], options: { ...this.options } };
  }
}
