// Zero-padded channels-last copy of a chunk of images, for the stride-1 weight gradient as a sum
// of shifted GEMMs (src/ops/conv-backward-shifted.ts):
//   dst[image][r][c] = x[image0 + image, c, zp - padD, yp - padH, xp - padW]  (0 outside x)
// with r = (zp * Hp + yp) * Wp + xp over the padded volume Dp x Hp x Wp, then zero rows up to
// rowLength per image, and zeros for images >= realImages (one extra image at the end gives the
// shifted reads of the last image their slack). Channels last make the channel the GEMM's column:
// tap (kd, kh, kw) is the same matrix shifted by whole rows.
// One invocation writes one padded row (zp, yp) of one channel: Wp values, rows of neighbouring
// invocations' channels side by side in memory. Define: WG. The grid may be folded into two
// dimensions (engine.grid1d).
//! include lib/grid

struct Params {
  total: u32,        // invocations: images * rowsPerImage * channels
  channels: u32,
  rowsPerImage: u32, // ceil(rowLength / Wp): padded rows (zp, yp), and zero rows after them
  rowLength: u32,    // values per channel per image (>= Dp * Hp * Wp)
  realImages: u32,
  image0: u32,       // the chunk's first image in the source buffer
  inD: u32, inH: u32, inW: u32,
  Dp: u32, Hp: u32, Wp: u32,
  padD: u32, padH: u32, padW: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= p.total) { return; }
  let c = i % p.channels;
  let t = i / p.channels;
  let row = t % p.rowsPerImage;
  let image = t / p.rowsPerImage;
  let yp = row % p.Hp;
  let zp = row / p.Hp;
  let z = i32(zp) - i32(p.padD);
  let y = i32(yp) - i32(p.padH);
  let rowOk = image < p.realImages && zp < p.Dp && z >= 0 && z < i32(p.inD) && y >= 0 && y < i32(p.inH);
  let src = i32((((p.image0 + image) * p.channels + c) * p.inD + u32(max(z, 0))) * p.inH + u32(max(y, 0))) * i32(p.inW) - i32(p.padW);
  let first = row * p.Wp;
  let count = min(p.Wp, p.rowLength - min(first, p.rowLength));
  var at = ((image * p.rowLength) + first) * p.channels + c;
  for (var xp = 0u; xp < count; xp++) {
    let xx = i32(xp) - i32(p.padW);
    let ok = rowOk && xx >= 0 && xx < i32(p.inW);
    dst[at] = select(0.0, x[u32(max(src + i32(xp), 0))], ok);
    at += p.channels;
  }
}
