// Columns for the convolution backward GEMMs, with the batch folded into the reduction axis:
// for a chunk of images and output rows (od, oh), writes
//   cols[group][k][image][position]    (one row of images * rowLength values per (group, k))
// with k over (c, kd, kh, kw) of the group's channels and position over the chunk's output
// positions, zero where the window reads padding. So a GEMM over that row sums over every image
// and position of the chunk at once: gradW_g = gradOut_g x cols_g^T with gradOut laid out the same
// way (it is this kernel with a 1 x 1 x 1 window over gradOut itself).
// Zeros fill: rows k >= kGroup (rows padded to kRows), positions past the chunk's in each image
// (rowLength is a multiple of 4) and images >= realImages (the chunk padded to whole GEMM splits),
// so every GEMM operand is 4-aligned and reads only finite values.
//
// One invocation writes one image's segment of one (group, k) row, neighbouring invocations
// neighbouring k (so their loads share cache lines). Measured on lavapipe, where a workgroup is a
// loop over SIMD batches of invocations and integer division a scalar loop over the lanes: much
// work per invocation and few divisions win (invocations side by side along a row, each writing a
// handful of values, ran 10x slower). Define: WG. The grid may be folded into two dimensions
// (engine.grid1d).
//! include lib/grid

struct Params {
  total: u32,          // invocations: groups * images * kRows
  outRows: u32,        // output rows (od, oh) in this chunk
  kRows: u32,          // rows per group (>= kGroup)
  kGroup: u32,         // channelsPerGroup * kD * kH * kW
  images: u32,         // images in the chunk's layout, padding images included
  realImages: u32,     // images with data
  channelsPerGroup: u32,
  channels: u32,       // channels of the source tensor
  image0: u32,         // the chunk's first image in the source buffer
  outRow0: u32,        // the chunk's first output row (od * outH + oh)
  rowLength: u32,      // values per image in a cols row (>= outRows * outW, a multiple of 4)
  inD: u32, inH: u32, inW: u32,
  outH: u32, outW: u32,
  kD: u32, kH: u32, kW: u32,
  strideD: u32, strideH: u32, strideW: u32,
  dilD: u32, dilH: u32, dilW: u32,
  padD: u32, padH: u32, padW: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> cols: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= p.total) { return; }
  let k = i % p.kRows;
  let groupImage = i / p.kRows;
  let image = groupImage % p.images;
  let group = groupImage / p.images;
  let dst = ((group * p.kRows + k) * p.images + image) * p.rowLength;
  let filled = p.outRows * p.outW;
  if (k >= p.kGroup || image >= p.realImages) {
    for (var e = 0u; e < p.rowLength; e++) {
      cols[dst + e] = 0.0;
    }
    return;
  }

  let kw = k % p.kW;
  let kh = (k / p.kW) % p.kH;
  let kd = (k / (p.kW * p.kH)) % p.kD;
  let c = group * p.channelsPerGroup + k / (p.kW * p.kH * p.kD);
  let channelBase = i32(((p.image0 + image) * p.channels + c) * p.inD * p.inH * p.inW);
  var oh = p.outRow0 % p.outH;
  var od = p.outRow0 / p.outH;
  var at = dst;
  for (var r = 0u; r < p.outRows; r++) {
    let z = i32(od * p.strideD + kd * p.dilD) - i32(p.padD);
    let y = i32(oh * p.strideH + kh * p.dilH) - i32(p.padH);
    let rowOk = z >= 0 && z < i32(p.inD) && y >= 0 && y < i32(p.inH);
    let srcRow = channelBase + (z * i32(p.inH) + y) * i32(p.inW);
    var xx = i32(kw * p.dilW) - i32(p.padW);
    for (var ow = 0u; ow < p.outW; ow++) {
      let ok = rowOk && xx >= 0 && xx < i32(p.inW);
      cols[at] = select(0.0, src[u32(max(srcRow + xx, 0))], ok);
      xx += i32(p.strideW);
      at += 1u;
    }
    oh += 1u;
    if (oh == p.outH) {
      oh = 0u;
      od += 1u;
    }
  }
  for (var e = filled; e < p.rowLength; e++) {
    cols[dst + e] = 0.0;
  }
}
