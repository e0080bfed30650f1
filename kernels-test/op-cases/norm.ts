// Batch normalisation in training mode (batch statistics, the running statistics updated in place
// and compared after the call) and evaluation mode, with and without affine parameters, and fused
// with ReLU and max pooling. k: the values per channel.
// Group and layer normalisation: groups of one channel and of all of them, odd and vec4-sized rows,
// short rows (an invocation each) and long ones (a workgroup each), 2-D to 5-D inputs, weight and
// bias together, alone or absent, and data whose mean is 1e4 times its spread. k: the values per
// normalised row.
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


const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
const affine = (shape: number[]) => ({ weight: { shape, range: [0.5, 1.5] as [number, number] }, bias: { shape } });

function gn(name: string, shape: number[], numGroups: number, o: { weight?: boolean; bias?: boolean; eps?: number; range?: [number, number] } = {}): OpCase {
  const c = shape[1]!;
  const { weight = true, bias = true, eps } = o;
  const { weight: w, bias: b } = affine([c]);
  return {
    op: 'groupNorm',
    name,
    inputs: { x: { shape, range: o.range ?? [-2, 3] }, ...(weight ? { weight: w } : {}), ...(bias ? { bias: b } : {}) },
    options: { numGroups, ...(eps === undefined ? {} : { eps }) },
    torch: `F.group_norm(x, ${numGroups}, ${weight ? 'weight' : 'None'}, ${bias ? 'bias' : 'None'}${eps === undefined ? '' : `, eps=${eps}`})`,
    k: (c / numGroups) * size(shape.slice(2)),
  };
}

function ln(name: string, shape: number[], dims: number, o: { affine?: boolean; eps?: number; range?: [number, number]; asNumber?: boolean } = {}): OpCase {
  const normalizedShape = shape.slice(shape.length - dims);
  const { affine: withAffine = true, eps } = o;
  return {
    op: 'layerNorm',
    name,
    inputs: { x: { shape, range: o.range ?? [-2, 3] }, ...(withAffine ? affine(normalizedShape) : {}) },
    options: { normalizedShape: o.asNumber ? normalizedShape[0] : normalizedShape, ...(eps === undefined ? {} : { eps }) },
    torch: `F.layer_norm(x, [${normalizedShape.join(', ')}], ${withAffine ? 'weight, bias' : 'None, None'}${eps === undefined ? '' : `, eps=${eps}`})`,
    k: size(normalizedShape),
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
  gn('groups3_affine', [2, 6, 5, 4], 3),
  gn('one_channel_per_group_odd_planes', [2, 4, 3, 3], 4),
  gn('one_group_3d_input', [3, 5, 7], 1),
  gn('batch1_2d_input', [1, 6], 2),
  gn('2d_input_4_channels_per_group', [3, 8], 2),
  gn('no_affine_eps1e-3', [2, 6, 4, 4], 2, { weight: false, bias: false, eps: 1e-3 }),
  gn('weight_only_5d_input', [2, 4, 3, 2, 2], 2, { bias: false }),
  {
    // torch 1.13's group_norm backward fails with a bias but no weight ("tensor does not have a
    // device"): the fixture adds the bias itself.
    ...gn('bias_only_odd_rows', [2, 6, 3], 3, { weight: false }),
    torch: 'F.group_norm(x, 3) + bias[:, None]',
  },
  // Rows over 1024 values take a workgroup each (vec4 or scalar loads); affine entries of over 2048
  // values (N * S) give the parameters' gradients a workgroup each too.
  gn('long_odd_rows_long_columns', [3, 2, 30, 25], 1),
  gn('long_vec4_rows_long_vec4_columns', [3, 2, 28, 28], 1),
  gn('long_2d_rows', [2, 2056], 2),
  gn('large_mean', [2, 4, 8, 8], 2, { range: [1e4 - 1, 1e4 + 1] }),
  ln('last_dim_vec4', [3, 4, 8], 1),
  ln('last_dim_odd_as_number', [5, 7], 1, { asNumber: true }),
  ln('two_dims_4d_input', [2, 3, 5, 3], 2),
  ln('three_dims_vec4', [2, 4, 4, 6], 3),
  ln('one_row_no_affine_eps1e-3', [1, 9], 1, { affine: false, eps: 1e-3 }),
  ln('whole_2d_input', [3, 5], 2),
  ln('rows_of_300', [3, 300], 1),
  ln('long_odd_rows', [2, 1035], 1),
  ln('large_mean_long_rows', [2, 2, 520], 2, { range: [1e4 - 1, 1e4 + 1] }),
];
