// Sums over all dimensions but one, from the definition, in float64.
import { hostZeros, type HostTensor } from './host-tensor.js';

/** Column sums of x [M, N]: out[n] = sum over m of x[m, n]. */
export function sumRowsRef(x: HostTensor): HostTensor {
  const [rows, cols] = [x.shape[0]!, x.shape[1]!];
  const out = hostZeros([cols]);
  for (let m = 0; m < rows; m++) for (let n = 0; n < cols; n++) out.data[n]! += x.data[m * cols + n]!;
  return out;
}

/** Per-channel sums of x [N, C, ...]: out[c] = sum over n and the spatial positions s of x[n, c, s]. */
export function sumPerChannelRef(x: HostTensor): HostTensor {
  const [batch, channels] = [x.shape[0]!, x.shape[1]!];
  let spatial = 1;
  for (const d of x.shape.slice(2)) spatial *= d;
  const out = hostZeros([channels]);
  for (let n = 0; n < batch; n++) {
    for (let c = 0; c < channels; c++) {
      for (let s = 0; s < spatial; s++) out.data[c]! += x.data[(n * channels + c) * spatial + s]!;
    }
  }
  return out;
}
