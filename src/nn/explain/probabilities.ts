// A classifier's output as class probabilities: softmax and log-softmax on the GPU, read back,
// with the top classes by name.
import { expectTensor, fail } from '../../ops/check.js';
import { logSoftmax, softmax } from '../../ops/softmax.js';
import { shapeString, type Tensor } from '../../runtime/tensor.js';

export interface ClassProbability {
  index: number;
  name: string;
  probability: number;
  logProbability: number;
}

export interface ImageProbabilities {
  /** softmax of the image's logits, per class. */
  probabilities: Float32Array;
  /** log_softmax, per class (finite where the probability rounds to 0). */
  logProbabilities: Float32Array;
  /** The `top` most probable classes, most probable first (ties: lower index first). */
  top: ClassProbability[];
}

/**
 * Per image of `logits` [N, classes]: the probabilities, log-probabilities and the `top` (default
 * 5) classes named by `classNames` (default "class i").
 */
export async function classProbabilities(logits: Tensor, classNames?: readonly string[], options: { top?: number } = {}): Promise<ImageProbabilities[]> {
  const op = 'classProbabilities';
  expectTensor(op, 'logits', logits);
  if (logits.rank !== 2) fail(op, `expected logits [N, classes], got ${shapeString(logits.shape)}`);
  const [n, k] = logits.shape as [number, number];
  if (classNames !== undefined && classNames.length !== k) fail(op, `${classNames.length} class names for ${k} classes`);
  const top = options.top ?? 5;
  if (!Number.isInteger(top) || top < 1) fail(op, `top must be a positive integer, got ${String(top)}`);
  const p = softmax(logits, 1);
  const logP = logSoftmax(logits, 1);
  let values: [Float32Array, Float32Array];
  try {
    values = await Promise.all([p.toArray(), logP.toArray()]);
  } finally {
    p.dispose();
    logP.dispose();
  }
  return Array.from({ length: n }, (_, i) => {
    const probabilities = values[0].slice(i * k, (i + 1) * k);
    const logProbabilities = values[1].slice(i * k, (i + 1) * k);
    const order = Array.from({ length: k }, (_, c) => c).sort((a, b) => logProbabilities[b]! - logProbabilities[a]! || a - b);
    return {
      probabilities,
      logProbabilities,
      top: order.slice(0, top).map((index) => ({
        index,
        name: classNames?.[index] ?? `class ${index}`,
        probability: probabilities[index]!,
        logProbability: logProbabilities[index]!,
      })),
    };
  });
}
