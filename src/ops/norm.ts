import { grid1d } from '../runtime/engine.js';
import type { KernelSpec } from '../runtime/kernel.js';
import { shapeString, type Tensor } from '../runtime/tensor.js';
import { params, type ParamWriter } from '../runtime/uniforms.js';
import { expectRank, expectSameEngine, fail } from './check.js';

export interface BatchNormOptions {
  /** Normalise with the batch statistics (and update the running ones) rather than the running ones. */
  training: boolean;
  /** Weight of the new batch statistic in the running average (PyTorch's default 0.1). */
  momentum?: number;
  /** Added to the variance before the square root (PyTorch's default 1e-5). */
  eps?: number;
}

const OP = 'batchNorm';
const WG = 64;
const NORMALIZE_WG = 256;
/** Values of one channel reduced by one workgroup; longer channels are split and merged after. */
const CHUNK = 4096;

type Entry = 'partial_stats' | 'finalize' | 'eval_coefficients' | 'update_running' | 'normalize';

function kernel(entry: Entry): KernelSpec {
  return {
    name: `batch_norm.${entry}`,
    shader: 'norm',
    entryPoint: entry,
    defines: { WG: entry === 'normalize' ? NORMALIZE_WG : WG },
    bindings: ['uniform', 'read', 'read', 'read', 'read', 'write'],
  };
}

function checkPerChannel(name: string, t: Tensor | undefined, x: Tensor): void {
  const channels = x.shape[1]!;
  if (t && (t.rank !== 1 || t.shape[0] !== channels)) {
    fail(OP, `${name} should have shape [${channels}] (one value per channel of input ${shapeString(x.shape)}), got ${shapeString(t.shape)}`);
  }
}

/**
 * Batch normalisation with torch.nn.functional.batch_norm's semantics, per channel (dimension 1)
 * over the batch and spatial dimensions of x [N, C], [N, C, L], [N, C, H, W] or [N, C, D, H, W].
 *
 * Training normalises with the batch mean and biased variance and, when running statistics are
 * given, updates them in place on the GPU: running = (1 - momentum) * running + momentum * stat,
 * the variance's statistic being the unbiased one (n / (n - 1)). Evaluation normalises with the
 * running statistics, which are then required. Returns a new tensor.
 */
export function batchNorm(
  x: Tensor,
  runningMean: Tensor | undefined,
  runningVar: Tensor | undefined,
  weight: Tensor | undefined,
  bias: Tensor | undefined,
  options: BatchNormOptions,
): Tensor {
  expectSameEngine(OP, x, runningMean, runningVar, weight, bias);
  expectRank(OP, 'input', x, [2, 3, 4, 5]);
  const { training, momentum = 0.1, eps = 1e-5 } = options;
  if (typeof training !== 'boolean') fail(OP, `options.training must be true or false, got ${String(training)}`);
  if (!Number.isFinite(momentum)) fail(OP, `momentum must be a finite number, got ${momentum}`);
  if (!Number.isFinite(eps) || eps < 0) fail(OP, `eps must be a finite number >= 0, got ${eps}`);
  if ((runningMean === undefined) !== (runningVar === undefined)) {
    fail(OP, 'runningMean and runningVar must be given together (or both omitted)');
  }
  checkPerChannel('runningMean', runningMean, x);
  checkPerChannel('runningVar', runningVar, x);
  checkPerChannel('weight', weight, x);
  checkPerChannel('bias', bias, x);

  const channels = x.shape[1]!;
  const spatial = x.shape.slice(2).reduce((a, b) => a * b, 1);
  const count = x.shape[0]! * spatial;
  const flags = (weight ? 1 : 0) | (bias ? 2 : 0);
  const uniforms = (chunks = 0, stat = 0): ParamWriter =>
    params().u32(x.size, channels, spatial, count, CHUNK, chunks, stat, flags).f32(momentum, eps);

  const e = x.engine;
  if (training) {
    if (count <= 1) fail(OP, `expected more than 1 value per channel when training, got input ${shapeString(x.shape)}`);
    if (runningMean && runningMean.buffer === runningVar!.buffer) {
      fail(OP, 'runningMean and runningVar must be different tensors (both are updated in place)');
    }
  } else {
    if (!runningMean || !runningVar) fail(OP, 'runningMean and runningVar are required when training is false');
    if (x.size === 0) return e.empty(x.shape);
  }

  const coef = e.empty([4 * channels], 'batch_norm.coef');
  const perChannel = Math.ceil(channels / WG);
  if (training) {
    const chunks = Math.ceil(count / CHUNK);
    const moments = e.empty([channels * chunks * 2], 'batch_norm.moments');
    e.dispatch(kernel('partial_stats'), [x, x, x, x, moments], grid1d(channels * chunks, 1), uniforms(chunks));
    e.dispatch(kernel('finalize'), [moments, weight ?? moments, bias ?? moments, moments, coef], perChannel, uniforms(chunks));
    moments.dispose();
    if (runningMean && runningVar) {
      e.dispatch(kernel('update_running'), [coef, coef, coef, coef, runningMean], perChannel, uniforms(chunks, 0));
      e.dispatch(kernel('update_running'), [coef, coef, coef, coef, runningVar], perChannel, uniforms(chunks, 3));
    }
  } else {
    const [mean, variance] = [runningMean!, runningVar!];
    e.dispatch(kernel('eval_coefficients'), [mean, variance, weight ?? mean, bias ?? mean, coef], perChannel, uniforms());
  }
  const out = e.empty(x.shape);
  e.dispatch(kernel('normalize'), [x, coef, coef, coef, out], grid1d(x.size, NORMALIZE_WG), uniforms());
  coef.dispose();
  return out;
}
