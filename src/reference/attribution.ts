// The reductions behind explanation maps, from their definitions, in float64.
import { hostZeros, type HostTensor } from './host-tensor.js';

const product = (ds: readonly number[]) => ds.reduce((a, b) => a * b, 1);

/** NaN-propagating min and max, as torch.amin / torch.amax. */
const nanMin = (a: number, b: number) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b));
const nanMax = (a: number, b: number) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b));

/** Each sample (index along dimension 0) scaled to [0, 1]: (x - min) / (max - min), 0 where max == min. */
export function minMaxNormalizeRef(x: HostTensor): HostTensor {
  const out = hostZeros(x.shape);
  const samples = x.shape[0] ?? 1;
  const len = product(x.shape.slice(1));
  for (let s = 0; s < samples; s++) {
    let mn = Infinity;
    let mx = -Infinity;
    for (let i = s * len; i < (s + 1) * len; i++) [mn, mx] = [nanMin(mn, x.data[i]!), nanMax(mx, x.data[i]!)];
    for (let i = s * len; i < (s + 1) * len; i++) out.data[i] = mx === mn ? 0 : (x.data[i]! - mn) / (mx - mn);
  }
  return out;
}

/** max over dimension 1 of |x|, keeping it as a dimension of 1: [N, C, ...] -> [N, 1, ...]. */
export function channelAbsMaxRef(x: HostTensor): HostTensor {
  const [outer, channels] = [x.shape[0]!, x.shape[1]!];
  const inner = product(x.shape.slice(2));
  const out = hostZeros([outer, 1, ...x.shape.slice(2)]);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let m = 0;
      for (let c = 0; c < channels; c++) m = nanMax(m, Math.abs(x.data[(o * channels + c) * inner + i]!));
      out.data[o * inner + i] = m;
    }
  }
  return out;
}
