// im2col for 1-D, 2-D and 3-D convolution (2-D and 1-D are depth 1): for a chunk of images and
// whole output rows, writes cols[image][group][k][position] with k over (c, kd, kh, kw), zero
// where the window reads padding. Rows k >= kGroup (padding K to a multiple of 4) and
// positions past the chunk's (padding each row to `rowLength`) are written as zeros, so the
// GEMM that reads them as vec4 sees only finite values.
// One invocation writes one output row (all ow) of one k: the divisions that locate it run once
// per row, not per element. Define: WG (workgroup size). The grid may be folded into two
// dimensions (engine.grid1d).
//! include lib/grid

struct Params {
  rowsTotal: u32,   // invocations: images * groups * kRows * outRows
  outRows: u32,     // output rows (od, oh) in this chunk
  kRows: u32,       // k rows per group, padded
  kGroup: u32,      // real k rows per group: channelsPerGroup * kD * kH * kW
  groups: u32,
  channelsPerGroup: u32,
  image0: u32,      // first image of the chunk
  outRow0: u32,     // first output row (od * outH + oh) of the chunk
  rowLength: u32,   // elements per cols row (>= outRows * outW)
  channels: u32,
  inD: u32, inH: u32, inW: u32,
  outH: u32, outW: u32,
  kD: u32, kH: u32, kW: u32,
  strideD: u32, strideH: u32, strideW: u32,
  dilD: u32, dilH: u32, dilW: u32,
  padD: u32, padH: u32, padW: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> cols: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= p.rowsTotal) { return; }
  let localRow = i % p.outRows;
  let kRow = i / p.outRows;
  let k = kRow % p.kRows;
  let imageGroup = kRow / p.kRows;
  let group = imageGroup % p.groups;
  let image = p.image0 + imageGroup / p.groups;
  let outRow = p.outRow0 + localRow;
  let oh = outRow % p.outH;
  let od = outRow / p.outH;

  let kw = k % p.kW;
  let kh = (k / p.kW) % p.kH;
  let kd = (k / (p.kW * p.kH)) % p.kD;
  let c = group * p.channelsPerGroup + k / (p.kW * p.kH * p.kD);
  let z = i32(od * p.strideD + kd * p.dilD) - i32(p.padD);
  let y = i32(oh * p.strideH + kh * p.dilH) - i32(p.padH);
  let rowOk = k < p.kGroup && z >= 0 && z < i32(p.inD) && y >= 0 && y < i32(p.inH);
  let src = i32(((image * p.channels + c) * p.inD + u32(max(z, 0))) * p.inH + u32(max(y, 0))) * i32(p.inW);
  let dst = kRow * p.rowLength + localRow * p.outW;
  var xx = i32(kw * p.dilW) - i32(p.padW);
  for (var ow = 0u; ow < p.outW; ow++) {
    let ok = rowOk && xx >= 0 && xx < i32(p.inW);
    cols[dst + ow] = select(0.0, x[u32(max(src + xx, 0))], ok);
    xx += i32(p.strideW);
  }
  // The last row of the chunk also zeroes the padding at the end of its cols row.
  if (localRow == p.outRows - 1u) {
    for (var e = p.outRows * p.outW; e < p.rowLength; e++) {
      cols[kRow * p.rowLength + e] = 0.0;
    }
  }
}
