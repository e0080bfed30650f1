// minMaxNormalize and channelAbsMax (the reductions behind Grad-CAM and saliency maps): samples
// shorter and longer than a workgroup, ranks 2 to 4, a constant sample, one channel. k: values
// behind one output (the normalisation's max and min take no sums, so 1).
import type { OpCase } from './case.js';

const perSample = (x: string) => `tuple(range(1, ${x}.dim()))`;
const minMax = `(lambda x, mn, mx: torch.where(mx == mn, torch.zeros_like(x), (x - mn) / (mx - mn)))(x, x.amin(dim=${perSample('x')}, keepdim=True), x.amax(dim=${perSample('x')}, keepdim=True))`;

export const cases: OpCase[] = [
  { op: 'minMaxNormalize', name: 'nchw_one_channel', inputs: { x: { shape: [2, 1, 7, 9], range: [-2, 3] } }, torch: minMax },
  { op: 'minMaxNormalize', name: 'rank2', inputs: { x: { shape: [3, 5] } }, torch: minMax },
  { op: 'minMaxNormalize', name: 'long_samples', inputs: { x: { shape: [2, 3, 17, 20], range: [0, 5] } }, torch: minMax },
  {
    op: 'minMaxNormalize',
    name: 'constant_sample',
    inputs: { x: { shape: [2, 1, 2, 3], values: [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, -1, 2, 0, 1, 4, -3] } },
    torch: minMax,
  },
  { op: 'channelAbsMax', name: 'nchw', inputs: { x: { shape: [2, 3, 4, 5] } }, torch: 'x.abs().amax(dim=1, keepdim=True)' },
  { op: 'channelAbsMax', name: 'one_channel', inputs: { x: { shape: [1, 1, 6, 6] } }, torch: 'x.abs().amax(dim=1, keepdim=True)' },
  { op: 'channelAbsMax', name: 'rank3', inputs: { x: { shape: [3, 7, 5] } }, torch: 'x.abs().amax(dim=1, keepdim=True)' },
  { op: 'channelAbsMax', name: 'rank2', inputs: { x: { shape: [2, 4] } }, torch: 'x.abs().amax(dim=1, keepdim=True)' },
];
