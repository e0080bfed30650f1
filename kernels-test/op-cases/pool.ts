// Pooling: window, stride, padding, dilation, ceil mode, count_include_pad and divisor override,
// 1-D and 2-D, batched and not, and the ReLU fused before max pooling. k: the window's cells.
import type { OpCase } from './case.js';

const max2d = (name: string, shape: number[], options: Record<string, unknown>, torch: string): OpCase => ({
  op: 'maxPool2d',
  name,
  inputs: { x: { shape } },
  options,
  torch: `F.max_pool2d(x, ${torch})`,
});

const avg2d = (name: string, shape: number[], options: Record<string, unknown>, torch: string, k: number): OpCase => ({
  op: 'avgPool2d',
  name,
  inputs: { x: { shape } },
  options,
  torch: `F.avg_pool2d(x, ${torch})`,
  k,
});

export const cases: OpCase[] = [
  max2d('k3_s2', [1, 3, 9, 8], { kernelSize: 3, stride: 2 }, 'kernel_size=3, stride=2'),
  max2d('ceil_mode', [1, 2, 8, 7], { kernelSize: 3, stride: 2, ceilMode: true }, 'kernel_size=3, stride=2, ceil_mode=True'),
  max2d('pad1_batch2', [2, 2, 7, 7], { kernelSize: 3, stride: 2, padding: 1 }, 'kernel_size=3, stride=2, padding=1'),
  max2d('dilation2_pad1', [1, 2, 9, 9], { kernelSize: 2, stride: 1, padding: 1, dilation: 2 }, 'kernel_size=2, stride=1, padding=1, dilation=2'),
  max2d('nonsquare_ceil_pad', [1, 3, 6, 7], { kernelSize: [2, 3], stride: [2, 1], padding: [1, 0], ceilMode: true }, 'kernel_size=(2, 3), stride=(2, 1), padding=(1, 0), ceil_mode=True'),
  max2d('k2_disjoint_unbatched', [3, 8, 6], { kernelSize: 2 }, 'kernel_size=2'),
  {
    op: 'maxPool1d',
    name: 'k3_s2_pad1',
    inputs: { x: { shape: [2, 3, 10] } },
    options: { kernelSize: 3, stride: 2, padding: 1 },
    torch: 'F.max_pool1d(x, kernel_size=3, stride=2, padding=1)',
  },
  {
    op: 'maxPool1d',
    name: 'ceil_dilation',
    inputs: { x: { shape: [1, 2, 11] } },
    options: { kernelSize: 2, stride: 3, dilation: 2, ceilMode: true },
    torch: 'F.max_pool1d(x, kernel_size=2, stride=3, dilation=2, ceil_mode=True)',
  },
  {
    // Larger than the smallest lowered binding limit (256 bytes): split by planes there.
    op: 'maxPool1d',
    name: 'many_planes',
    inputs: { x: { shape: [2, 4, 30] } },
    options: { kernelSize: 3, stride: 2 },
    torch: 'F.max_pool1d(x, kernel_size=3, stride=2)',
  },
  avg2d('k2', [1, 3, 6, 7], { kernelSize: 2 }, 'kernel_size=2', 4),
  avg2d('pad1_include_pad', [1, 2, 7, 6], { kernelSize: 3, stride: 2, padding: 1, countIncludePad: true }, 'kernel_size=3, stride=2, padding=1, count_include_pad=True', 9),
  avg2d('pad1_exclude_pad', [2, 2, 7, 6], { kernelSize: 3, stride: 2, padding: 1, countIncludePad: false }, 'kernel_size=3, stride=2, padding=1, count_include_pad=False', 9),
  avg2d('ceil_include_pad', [1, 2, 8, 8], { kernelSize: 3, stride: 2, padding: 1, ceilMode: true }, 'kernel_size=3, stride=2, padding=1, ceil_mode=True', 9),
  avg2d('ceil_exclude_pad', [1, 2, 8, 8], { kernelSize: 3, stride: 2, padding: 1, ceilMode: true, countIncludePad: false }, 'kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False', 9),
  avg2d('divisor_override', [1, 2, 6, 7], { kernelSize: 2, stride: 1, divisorOverride: 3 }, 'kernel_size=2, stride=1, divisor_override=3', 4),
  { op: 'adaptiveAvgPool2d', name: '1x1', inputs: { x: { shape: [2, 5, 7, 5] } }, options: { outputSize: 1 }, torch: 'F.adaptive_avg_pool2d(x, 1)', k: 35 },
  { op: 'adaptiveAvgPool2d', name: '3x3_overlapping', inputs: { x: { shape: [1, 3, 7, 5] } }, options: { outputSize: 3 }, torch: 'F.adaptive_avg_pool2d(x, 3)', k: 6 },
  { op: 'adaptiveAvgPool2d', name: '2x4_upsampling', inputs: { x: { shape: [1, 2, 3, 3] } }, options: { outputSize: [2, 4] }, torch: 'F.adaptive_avg_pool2d(x, (2, 4))', k: 4 },
  { op: 'reluMaxPool2d', name: 'k2_s2', inputs: { x: { shape: [2, 3, 7, 9] } }, options: { kernelSize: 2, stride: 2 }, torch: 'F.max_pool2d(F.relu(x), kernel_size=2, stride=2)' },
  { op: 'reluMaxPool2d', name: 'k3_s2_pad1_overlapping', inputs: { x: { shape: [1, 5, 9, 9] } }, options: { kernelSize: 3, stride: 2, padding: 1 }, torch: 'F.max_pool2d(F.relu(x), kernel_size=3, stride=2, padding=1)' },
];
