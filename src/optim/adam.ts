import type { Variable } from '../autograd/variable.js';
import { fail } from '../ops/check.js';
import { Optimizer, checkNumber, dispatchUpdate, updateParams } from './optimizer.js';

export interface AdamOptions {
  lr?: number;
  betas?: readonly [number, number];
  eps?: number;
  /** Adam: L2 penalty added to the gradient. AdamW: decoupled decay, param *= 1 - lr * weightDecay. */
  weightDecay?: number;
}

interface Hyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

function checked(op: string, o: AdamOptions, defaultDecay: number): Hyper {
  const { lr = 1e-3, betas = [0.9, 0.999], eps = 1e-8, weightDecay = defaultDecay } = o;
  checkNumber(op, 'learning rate', lr, (v) => v >= 0);
  checkNumber(op, 'epsilon value', eps, (v) => v >= 0);
  if (!Array.isArray(betas) || betas.length !== 2) fail(op, `betas must be a pair of numbers, got ${JSON.stringify(betas)}`);
  checkNumber(op, 'beta parameter at index 0', betas[0], (v) => v >= 0 && v < 1);
  checkNumber(op, 'beta parameter at index 1', betas[1], (v) => v >= 0 && v < 1);
  checkNumber(op, 'weight_decay value', weightDecay, (v) => v >= 0);
  return { lr, beta1: betas[0], beta2: betas[1], eps, weightDecay };
}

/** Adam and AdamW: the same kernel, with the weight decay added to the gradient or decoupled. */
abstract class AdamFamily extends Optimizer {
  protected options: Hyper;
  /** Steps taken per parameter. */
  private readonly steps: number[];

  constructor(parameters: Iterable<Variable>, options: AdamOptions, op: string, private readonly decoupled: boolean) {
    super(op, parameters);
    this.options = checked(op, options, decoupled ? 1e-2 : 0);
    this.steps = this.params.map(() => 0);
  }

  get lr(): number {
    return this.options.lr;
  }

  set lr(value: number) {
    this.options = this.recheck({ ...this.options, lr: value });
  }

  private recheck(h: Hyper): Hyper {
    return checked(this.op, { lr: h.lr, betas: [h.beta1, h.beta2], eps: h.eps, weightDecay: h.weightDecay }, 0);
  }

  step(): void {
    const { lr, beta1, beta2, eps, weightDecay } = this.options;
    // Identical bytes share one uniform buffer (the engine caches them by content), so parameters
    // at the same step t share one.
    const uniforms = (t: number) =>
      updateParams({
        lr,
        weightDecay,
        beta2,
        oneMinusBeta1: 1 - beta1,
        oneMinusBeta2: 1 - beta2,
        eps,
        stepSize: lr / (1 - beta1 ** t),
        biasCorrection2Sqrt: Math.sqrt(1 - beta2 ** t),
        decayFactor: 1 - lr * weightDecay,
        flags: this.decoupled ? 4 : 0,
      });
    for (const { i, param, grad } of this.withGradients()) {
      const t = ++this.steps[i]!;
      const m = this.state(i, 'exp_avg', true).tensor;
      const v = this.state(i, 'exp_avg_sq', true).tensor;
      dispatchUpdate(this.engine, 'adam', [param.value, grad, m, v], uniforms(t));
    }
  }

  protected get stateNames(): readonly string[] {
    return ['exp_avg', 'exp_avg_sq'];
  }

  protected get hyperparameters(): Record<string, number> {
    const { lr, beta1, beta2, eps, weightDecay } = this.options;
    return { lr, beta1, beta2, eps, weight_decay: weightDecay };
  }

  protected set hyperparameters(h: Record<string, number>) {
    this.options = this.recheck({ lr: h.lr!, beta1: h.beta1!, beta2: h.beta2!, eps: h.eps!, weightDecay: h.weight_decay! });
  }

  protected counters(i: number): Record<string, number> {
    return { step: this.steps[i]! };
  }

  protected setCounters(i: number, values: Record<string, number>): void {
    this.steps[i] = values.step!;
  }
}

/**
 * Adam as torch.optim.Adam (amsgrad off): with g = grad (+ weightDecay * param),
 *   m = lerp(m, g, 1 - beta1), v = beta2 * v + (1 - beta2) * g^2,
 *   param -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps),
 * t counted per parameter (a parameter without a gradient is skipped and its t does not advance).
 * One in-place kernel per parameter; `step()` records, never submits.
 */
export class Adam extends AdamFamily {
  constructor(parameters: Iterable<Variable>, options: AdamOptions = {}) {
    super(parameters, options, 'Adam', false);
  }
}

/**
 * AdamW as torch.optim.AdamW: Adam with decoupled weight decay (param *= 1 - lr * weightDecay
 * before the update, default weightDecay 1e-2) instead of an L2 term in the gradient.
 */
export class AdamW extends AdamFamily {
  constructor(parameters: Iterable<Variable>, options: AdamOptions = {}) {
    super(parameters, options, 'AdamW', true);
  }
}
