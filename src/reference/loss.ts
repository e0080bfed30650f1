// Cross-entropy as torch.nn.functional.cross_entropy defines it for logits [N, C] and class-index
// targets [N], in float64:
//   logp = log_softmax(logits, 1)
//   nll_i = -w[t_i] * logp[i, t_i]                      (0 when t_i == ignoreIndex)
//   smooth_i = -sum_c w[c] * logp[i, c]                  (0 when t_i == ignoreIndex)
//   loss_i = (1 - s) * nll_i + s / C * smooth_i
//   mean: sum_i loss_i / sum over non-ignored i of w[t_i];  sum: sum_i loss_i
// A target that is neither ignoreIndex nor an integer in [0, C) gives NaN for its sample, which is
// how the GPU op reports it (PyTorch raises instead).
import { hostZeros, type HostTensor } from './host-tensor.js';

export interface CrossEntropyRefOptions {
  reduction?: 'mean' | 'sum' | 'none';
  ignoreIndex?: number;
  labelSmoothing?: number;
  weight?: HostTensor;
}

export function crossEntropyRef(logits: HostTensor, target: HostTensor, options: CrossEntropyRefOptions = {}): HostTensor {
  const { reduction = 'mean', ignoreIndex = -100, labelSmoothing = 0, weight } = options;
  const [rows, classes] = [logits.shape[0]!, logits.shape[1]!];
  const w = (c: number) => (weight ? weight.data[c]! : 1);
  const losses = hostZeros([rows]);
  let weightSum = 0;
  for (let i = 0; i < rows; i++) {
    const t = target.data[i]!;
    if (t === ignoreIndex) continue;
    if (!Number.isInteger(t) || t < 0 || t >= classes) {
      losses.data[i] = NaN;
      weightSum = NaN;
      continue;
    }
    const row = logits.data.subarray(i * classes, (i + 1) * classes);
    let max = -Infinity;
    for (const v of row) max = Math.max(max, v);
    let sum = 0;
    for (const v of row) sum += Math.exp(v - max);
    const logp = (c: number) => row[c]! - max - Math.log(sum);
    const nll = -w(t) * logp(t);
    let loss = nll;
    if (labelSmoothing > 0) {
      let smooth = 0;
      for (let c = 0; c < classes; c++) smooth -= w(c) * logp(c);
      loss = (1 - labelSmoothing) * nll + (labelSmoothing / classes) * smooth;
    }
    losses.data[i] = loss;
    weightSum += w(t);
  }
  if (reduction === 'none') return losses;
  const total = losses.data.reduce((a, b) => a + b, 0);
  return { shape: [], data: Float64Array.of(reduction === 'sum' ? total : total / weightSum) };
}

export interface CrossEntropyGradRefOptions extends CrossEntropyRefOptions {
  gradScale?: number;
}

/**
 * d(loss)/d(logits) * gradScale for crossEntropyRef's loss ('none': of the summed losses), by the
 * chain rule through log-softmax: with logp = log_softmax(logits[i]),
 *   d loss_i / d logp_c = -(1 - s) * w[t_i] * [c == t_i] - s / C * w[c]     (0 when ignored)
 *   d logp_k / d x_c = [k == c] - softmax_c,  so  d loss_i / d x_c = G_c - softmax_c * sum_k G_k
 * and the mean divides by the summed target weights. A bad target makes its row NaN (and, for
 * the mean, every row not ignored: the divisor is NaN). An ignored row is 0 - softmax * 0: 0, or
 * NaN where its softmax is (a NaN or +inf logit, or all -inf), as PyTorch's backward gives.
 */
export function crossEntropyBackwardRef(logits: HostTensor, target: HostTensor, options: CrossEntropyGradRefOptions = {}): HostTensor {
  const { reduction = 'mean', ignoreIndex = -100, labelSmoothing = 0, weight, gradScale = 1 } = options;
  const [rows, classes] = [logits.shape[0]!, logits.shape[1]!];
  const w = (c: number) => (weight ? weight.data[c]! : 1);
  const grad = hostZeros(logits.shape);
  let weightSum = 0;
  const counted: number[] = []; // the rows that are not ignored
  for (let i = 0; i < rows; i++) {
    const t = target.data[i]!;
    const row = grad.data.subarray(i * classes, (i + 1) * classes);
    const x = logits.data.subarray(i * classes, (i + 1) * classes);
    let max = -Infinity;
    for (const v of x) max = Math.max(max, v);
    let sum = 0;
    for (const v of x) sum += Math.exp(v - max);
    const softmax = (c: number) => Math.exp(x[c]! - max) / sum;
    if (t === ignoreIndex) {
      for (let c = 0; c < classes; c++) row[c] = 0 - softmax(c) * 0;
      continue;
    }
    counted.push(i);
    if (!Number.isInteger(t) || t < 0 || t >= classes) {
      row.fill(NaN);
      weightSum = NaN;
      continue;
    }
    weightSum += w(t);
    const dLogp = (c: number) => -(1 - labelSmoothing) * w(t) * (c === t ? 1 : 0) - (labelSmoothing / classes) * w(c);
    let dLogpSum = 0;
    for (let k = 0; k < classes; k++) dLogpSum += dLogp(k);
    for (let c = 0; c < classes; c++) row[c] = dLogp(c) - softmax(c) * dLogpSum;
  }
  const divisor = reduction === 'mean' ? weightSum : 1;
  for (const i of counted) {
    for (let c = 0; c < classes; c++) grad.data[i * classes + c] = (grad.data[i * classes + c]! / divisor) * gradScale;
  }
  return grad;
}
