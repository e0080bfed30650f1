// Batch normalisation in training mode (batch statistics, the running statistics updated in place
// and compared after the call) and evaluation mode, with and without affine parameters, and fused
// with ReLU and max pooling. k: the values per channel.
import type { OpCase, TensorSpec } from './case.js';

const channel = (c: number, range?: [number, number]): TensorSpec => ({ shape: [c], ...(range ? { range } : {}) });

function bn(name: string, shape: number[], o: { training: boolean; running?: boolean; affine?: boolean; momentum?: number; eps?: number }): OpCase {
  const c = shape[1]!;
  const running = o.running ?? true;
  const affine = o.affine ?? true;
  const momentum = o.momentum ?? 0.1;
  const eps = o.eps ?? 1e-5;
  const perChannel = shape[0]! * shape.slice(2).reduce((a, b) => a * b, 1);
  return {
    op: 'batchNorm',
    name,
    inputs: {
      x: { shape, range: [-2, 3] },
      ...(running ? { runningMean: channel(c), runningVar: channel(c, [0.5, 2]) } : {}),
      ...(affine ? { weight: channel(c, [0.5, 1.5]), bias: channel(c) } : {}),
    },
    options: { training: o.training, momentum, eps },
    torch:
      `F.batch_norm(x, ${running ? 'runningMean, runningVar' : 'None, None'}, ${affine ? 'weight, bias' : 'None, None'}, ` +
      `training=${o.training ? 'True' : 'False'}, momentum=${momentum}, eps=${eps})`,
    updates: running && o.training ? ['runningMean', 'runningVar'] : [],
    k: perChannel,
  };
}

export const cases: OpCase[] = [
  bn('train_running_stats', [3, 4, 3, 5], { training: true }),
  bn('train_momentum0.3_eps1e-3_no_affine', [2, 3, 4, 4], { training: true, affine: false, momentum: 0.3, eps: 1e-3 }),
  bn('train_batch1', [1, 3, 4, 5], { training: true }),
  bn('train_no_running_stats', [2, 5, 3, 3], { training: true, running: false }),
  bn('train_vec4_planes', [2, 3, 8, 8], { training: true }),
  bn('eval', [2, 5, 3, 3], { training: false }),
  bn('eval_no_affine', [1, 3, 2, 7], { training: false, affine: false, eps: 1e-3 }),
  bn('train_2d_input', [6, 4], { training: true }),
  bn('train_3d_input', [3, 2, 5], { training: true }),
  {
    op: 'batchNormReluMaxPool2d',
    name: 'train_k2_s2',
    inputs: { x: { shape: [3, 5, 7, 9], range: [-2, 3] }, runningMean: channel(5), runningVar: channel(5, [0.5, 2]), weight: channel(5, [0.5, 1.5]), bias: channel(5) },
    options: { training: true, momentum: 0.1, eps: 1e-5, pool: { kernelSize: 2, stride: 2 } },
    torch: 'F.max_pool2d(F.relu(F.batch_norm(x, runningMean, runningVar, weight, bias, training=True)), kernel_size=2, stride=2)',
    updates: ['runningMean', 'runningVar'],
    k: 189,
  },
  {
    op: 'batchNormReluMaxPool2d',
    name: 'eval_k3_s2_overlapping',
    inputs: { x: { shape: [2, 3, 7, 7], range: [-2, 3] }, runningMean: channel(3), runningVar: channel(3, [0.5, 2]), weight: channel(3, [0.5, 1.5]), bias: channel(3) },
    options: { training: false, eps: 1e-5, pool: { kernelSize: 3, stride: 2 } },
    torch: 'F.max_pool2d(F.relu(F.batch_norm(x, runningMean, runningVar, weight, bias, training=False)), kernel_size=3, stride=2)',
    k: 98,
  },
];
