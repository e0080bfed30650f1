// col2im for the input gradient of a convolution (1-D, 2-D and 3-D; the lower ones have unit
// depth/height): every input element is the sum of the column entries of the windows that read it,
//   gradIn[n, c, z, y, x] = sum over (kd, kh, kw) of cols[g][(c', kd, kh, kw)][n][(od, oh, ow)]
// where z = od*strideD - padD + kd*dilD (and so on), c = g * channelsPerGroup + c'.
// cols is laid out as conv_backward_im2col writes its columns (rows of rowStride values per
// (group, k), rowLength of them per image) and holds the chunk's output rows
// [outRow0, outRow0 + outRows) only; with `accumulate` set, the sums are added to what gradIn
// holds (a later chunk of output rows of the same images).
//
// One invocation owns one input row (n, c, z, y): it zeroes it (unless accumulating) and adds
// every window tap that lands in it, walking the output columns of each tap (x = ow*strideW -
// padW + kw*dilW, kept in range by a comparison), so no x ever needs a division. For the rows,
// window k of an axis reads input i = o*stride - pad + k*dil, so o = (i + pad - k*dil) / stride
// when that divides exactly and lands in [0, out); each of z and y keeps t = i + pad - k*dil as
// quotient and remainder by the stride and steps them by additions (dilQ, dilR = dil / stride,
// dil % stride, from the host). Integer division is a scalar loop over the SIMD lanes on a CPU
// adapter (lavapipe), where one invocation per element, with its divisions, ran 5x slower, and
// invocations side by side along x, a few elements each, slower still. The row is the
// invocation's own, so the sums need no atomics and come out the same every run.
// Define: WG. The grid may be folded into two dimensions (engine.grid1d).
//! include lib/grid

struct Params {
  total: u32,            // input rows of the chunk: images * channels * inD * inH
  channels: u32,
  channelsPerGroup: u32,
  kRows: u32,            // cols rows per group: channelsPerGroup * kD * kH * kW
  rowStride: u32,        // values per cols row
  rowLength: u32,        // values per image in a cols row
  outRow0: u32,
  outRows: u32,
  outBase: u32,          // element offset of the chunk's first image in gradIn
  accumulate: u32,
  inD: u32, inH: u32, inW: u32,
  outD: u32, outH: u32, outW: u32,
  kD: u32, kH: u32, kW: u32,
  strideD: u32, strideH: u32, strideW: u32,
  dilQD: u32, dilQH: u32, dilQW: u32,
  dilRD: u32, dilRH: u32, dilRW: u32,
  padD: u32, padH: u32, padW: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> cols: array<f32>;
@group(0) @binding(2) var<storage, read_write> gradIn: array<f32>;

/** (q, r) of t - dil, given (q, r) of t, all by `stride`. */
fn stepDown(qr: vec2i, dilQ: u32, dilR: u32, stride: u32) -> vec2i {
  var q = qr.x - i32(dilQ);
  var r = qr.y - i32(dilR);
  if (r < 0) {
    r += i32(stride);
    q -= 1;
  }
  return vec2i(q, r);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= p.total) { return; }
  let y = i % p.inH;
  var t = i / p.inH;
  let z = t % p.inD;
  t = t / p.inD;
  let c = t % p.channels;
  let image = t / p.channels;
  let group = c / p.channelsPerGroup;
  let kernelVolume = p.kD * p.kH * p.kW;
  // cols row of (c', kd = 0, kh = 0, kw = 0), offset to this image's segment.
  let base = (group * p.kRows + (c % p.channelsPerGroup) * kernelVolume) * p.rowStride + image * p.rowLength;
  let zq0 = vec2i(i32((z + p.padD) / p.strideD), i32((z + p.padD) % p.strideD));
  let yq0 = vec2i(i32((y + p.padH) / p.strideH), i32((y + p.padH) % p.strideH));
  let rowOut = p.outBase + i * p.inW;

  if (p.accumulate == 0u) {
    for (var x = 0u; x < p.inW; x++) {
      gradIn[rowOut + x] = 0.0;
    }
  }
  var zq = zq0;
  for (var kd = 0u; kd < p.kD; kd++) {
    if (zq.y == 0 && zq.x >= 0 && zq.x < i32(p.outD)) {
      var yq = yq0;
      for (var kh = 0u; kh < p.kH; kh++) {
        let outRow = zq.x * i32(p.outH) + yq.x;
        if (yq.y == 0 && yq.x >= 0 && yq.x < i32(p.outH) && outRow >= i32(p.outRow0) && outRow < i32(p.outRow0 + p.outRows)) {
          var src = base + ((kd * p.kH + kh) * p.kW) * p.rowStride + (u32(outRow) - p.outRow0) * p.outW;
          for (var kw = 0u; kw < p.kW; kw++) {
            // Output column ow reads input column x = ow*strideW - padW + kw*dilW.
            var x = i32(kw * (p.dilQW * p.strideW + p.dilRW)) - i32(p.padW);
            for (var ow = 0u; ow < p.outW; ow++) {
              if (x >= 0 && x < i32(p.inW)) {
                gradIn[rowOut + u32(x)] += cols[src + ow];
              }
              x += i32(p.strideW);
            }
            src += p.rowStride;
          }
        }
        yq = stepDown(yq, p.dilQH, p.dilRH, p.strideH);
      }
    }
    zq = stepDown(zq, p.dilQD, p.dilRD, p.strideD);
  }
}
