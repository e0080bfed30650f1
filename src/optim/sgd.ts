import type { Variable } from '../autograd/variable.js';
import { fail } from '../ops/check.js';
import { Optimizer, checkNumber, dispatchUpdate, updateParams } from './optimizer.js';

export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  /** L2 penalty added to the gradient: d = grad + weightDecay * param. */
  weightDecay?: number;
}

const OP = 'SGD';

function checked(o: SGDOptions): Required<SGDOptions> {
  const { lr, momentum = 0, dampening = 0, nesterov = false, weightDecay = 0 } = o;
  checkNumber(OP, 'learning rate', lr, (v) => v >= 0);
  checkNumber(OP, 'momentum value', momentum, (v) => v >= 0);
  checkNumber(OP, 'dampening value', dampening, () => true);
  checkNumber(OP, 'weight_decay value', weightDecay, (v) => v >= 0);
  if (typeof nesterov !== 'boolean') fail(OP, `nesterov must be true or false, got ${String(nesterov)}`);
  if (nesterov && (momentum <= 0 || dampening !== 0)) fail(OP, 'Nesterov momentum requires a momentum and zero dampening');
  return { lr, momentum, dampening, nesterov, weightDecay };
}

/**
 * Stochastic gradient descent as torch.optim.SGD: d = grad + weightDecay * param; with momentum,
 * buf = d on the first step and momentum * buf + (1 - dampening) * d after, and the step is
 * d + momentum * buf (Nesterov) or buf; param -= lr * step. One in-place kernel per parameter.
 */
export class SGD extends Optimizer {
  private options: Required<SGDOptions>;

  constructor(parameters: Iterable<Variable>, options: SGDOptions) {
    super(OP, parameters);
    this.options = checked(options);
  }

  get lr(): number {
    return this.options.lr;
  }

  set lr(value: number) {
    this.options = checked({ ...this.options, lr: value });
  }

  step(): void {
    const { lr, momentum, dampening, nesterov, weightDecay } = this.options;
    const uniforms = (first: boolean) =>
      updateParams({ lr, weightDecay, momentum, oneMinusDampening: 1 - dampening, flags: (nesterov ? 1 : 0) | (first ? 2 : 0) });
    for (const { i, param, grad } of this.withGradients()) {
      if (momentum === 0) {
        dispatchUpdate(this.engine, 'sgd', [param.value, grad], uniforms(false));
        continue;
      }
      const { tensor: buf, fresh } = this.state(i, 'momentum_buffer', false);
      dispatchUpdate(this.engine, 'sgd_momentum', [param.value, grad, buf], uniforms(fresh));
    }
  }

  protected get stateNames(): readonly string[] {
    return ['momentum_buffer'];
  }

  protected get hyperparameters(): Record<string, number> {
    const { lr, momentum, dampening, nesterov, weightDecay } = this.options;
    return { lr, momentum, dampening, nesterov: nesterov ? 1 : 0, weight_decay: weightDecay };
  }

  protected set hyperparameters(h: Record<string, number>) {
    if (h.nesterov !== 0 && h.nesterov !== 1) fail(OP, `param_groups.0.nesterov must be 0 or 1, got ${h.nesterov}`);
    this.options = checked({ lr: h.lr!, momentum: h.momentum!, dampening: h.dampening!, nesterov: h.nesterov === 1, weightDecay: h.weight_decay! });
  }

  protected counters(): Record<string, number> {
    return {};
  }

  protected setCounters(): void {}
}
