// Layers without parameters: activations, dropout, flattening and pooling.
import type { Tape } from '../autograd/tape.js';
import type { Variable } from '../autograd/variable.js';
import { reluOp } from '../ops/elementwise.js';
import { adaptiveAvgPool2dOp, avgPool2dOp, maxPool2dOp, type AvgPoolOptions, type MaxPoolOptions } from '../ops/pool.js';
import { flattenOp } from '../ops/view.js';
import { defaultRng, type Rng } from './init.js';
import { Module, OpModule, type ModuleState, type OpCall } from './module.js';

export class ReLU extends OpModule {
  opCall(x: Variable): OpCall {
    return { op: reluOp, operands: [x], options: {} };
  }
}

/** nn.Flatten: merges dimensions startDim..endDim (default 1..-1: everything but the batch). */
export class Flatten extends OpModule {
  constructor(
    readonly startDim = 1,
    readonly endDim = -1,
  ) {
    super();
  }

  opCall(x: Variable): OpCall {
    return { op: flattenOp, operands: [x], options: { startDim: this.startDim, endDim: this.endDim } };
  }
}

export interface DropoutModuleOptions {
  /** Seed of the Philox stream (default: drawn from the generator). */
  seed?: number;
  rng?: Rng;
}

/**
 * nn.Dropout: in training mode each call draws a fresh mask (the Philox offset advances by one per
 * call, so masks are independent and a run is reproducible from the seed); in evaluation mode
 * it returns its input.
 */
export class Dropout extends Module {
  readonly seed: number;
  /** Training calls so far: the Philox offset of the next mask. */
  calls = 0;

  constructor(
    readonly p = 0.5,
    options: DropoutModuleOptions = {},
  ) {
    super();
    if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw new Error(`Dropout: dropout probability has to be between 0 and 1, but got ${p}`);
    this.seed = options.seed ?? (options.rng ?? defaultRng()).nextU32();
  }

  forward(tape: Tape, x: Variable): Variable {
    if (!this.training || this.p === 0) return x; // the identity, as F.dropout returns its input
    const y = tape.dropout(x, { p: this.p, seed: this.seed, offset: this.calls, training: true });
    this.calls += 1; // after the op is recorded: a refused call draws no mask
    return y;
  }

  /** The mask counter: a resumed run draws the masks an uninterrupted one would. */
  override extraState(): ModuleState {
    return { type: 'Dropout', state: { calls: this.calls } };
  }

  override loadExtraState(saved: ModuleState): void {
    const calls = saved?.state?.calls;
    if (saved?.type !== 'Dropout' || !Number.isSafeInteger(calls) || calls! < 0) {
      throw new Error(`Dropout: expected extra state { type: 'Dropout', state: { calls } } with calls an integer >= 0, got ${JSON.stringify(saved)}`);
    }
    this.calls = calls!;
  }
}

export class MaxPool2d extends OpModule {
  readonly options: MaxPoolOptions;

  /** kernelSize, with stride (default: kernelSize), padding, dilation and ceilMode as F.max_pool2d. */
  constructor(kernelSize: number | [number, number], options: Omit<MaxPoolOptions, 'kernelSize'> = {}) {
    super();
    this.options = { ...options, kernelSize };
  }

  opCall(x: Variable): OpCall {
    return { op: maxPool2dOp, operands: [x], options: { ...this.options } };
  }
}

export class AvgPool2d extends OpModule {
  readonly options: AvgPoolOptions;

  constructor(kernelSize: number | [number, number], options: Omit<AvgPoolOptions, 'kernelSize'> = {}) {
    super();
    this.options = { ...options, kernelSize };
  }

  opCall(x: Variable): OpCall {
    return { op: avgPool2dOp, operands: [x], options: { ...this.options } };
  }
}

export class AdaptiveAvgPool2d extends OpModule {
  constructor(readonly outputSize: number | [number, number]) {
    super();
  }

  opCall(x: Variable): OpCall {
    return { op: adaptiveAvgPool2dOp, operands: [x], options: { outputSize: this.outputSize } };
  }
}
