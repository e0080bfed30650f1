// Optimiser updates from torch.optim's documented algorithms, one step at a time over plain
// float64 arrays (the oracle for shaders/optim.wgsl). Each function updates `param` and its state
// in place and is written from the formulas, not from the kernel.

export interface SGDRefOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  weightDecay?: number;
}

/** One SGD step; `buffer` is the momentum buffer (undefined before the first step), returned updated. */
export function sgdStepRef(param: Float64Array, grad: ArrayLike<number>, buffer: Float64Array | undefined, o: SGDRefOptions): Float64Array | undefined {
  const { lr, momentum = 0, dampening = 0, nesterov = false, weightDecay = 0 } = o;
  const d = Float64Array.from(grad, (g, i) => g + weightDecay * param[i]!);
  let step: Float64Array = d;
  if (momentum !== 0) {
    if (buffer === undefined) {
      buffer = Float64Array.from(d);
    } else {
      for (let i = 0; i < d.length; i++) buffer[i] = momentum * buffer[i]! + (1 - dampening) * d[i]!;
    }
    step = nesterov ? d.map((v, i) => v + momentum * buffer![i]!) : buffer;
  }
  for (let i = 0; i < param.length; i++) param[i] = param[i]! - lr * step[i]!;
  return buffer;
}

export interface AdamRefOptions {
  lr?: number;
  betas?: readonly [number, number];
  eps?: number;
  weightDecay?: number;
  /** AdamW: decay the parameter directly instead of adding weightDecay * param to the gradient. */
  decoupled?: boolean;
}

export interface AdamRefState {
  step: number;
  expAvg: Float64Array;
  expAvgSq: Float64Array;
}

export function adamStateRef(n: number): AdamRefState {
  return { step: 0, expAvg: new Float64Array(n), expAvgSq: new Float64Array(n) };
}

/** One Adam (or AdamW) step with bias correction, as in the torch.optim.Adam / AdamW docs. */
export function adamStepRef(param: Float64Array, grad: ArrayLike<number>, state: AdamRefState, o: AdamRefOptions): void {
  const { lr = 1e-3, betas = [0.9, 0.999], eps = 1e-8, decoupled = false } = o;
  const weightDecay = o.weightDecay ?? (decoupled ? 1e-2 : 0);
  const [beta1, beta2] = betas;
  state.step += 1;
  const t = state.step;
  for (let i = 0; i < param.length; i++) {
    let g = grad[i]!;
    if (decoupled) param[i] = param[i]! * (1 - lr * weightDecay);
    else g += weightDecay * param[i]!;
    state.expAvg[i] = beta1 * state.expAvg[i]! + (1 - beta1) * g;
    state.expAvgSq[i] = beta2 * state.expAvgSq[i]! + (1 - beta2) * g * g;
    const mHat = state.expAvg[i]! / (1 - beta1 ** t);
    const vHat = state.expAvgSq[i]! / (1 - beta2 ** t);
    param[i] = param[i]! - (lr * mHat) / (Math.sqrt(vHat) + eps);
  }
}
