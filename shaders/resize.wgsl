// Resizing NCHW planes as torch.nn.functional.interpolate does: `total` outputs, planes of H x W
// resized to OH x OW, one invocation per output (the grid may be folded into two dimensions).
// Defines: WG (workgroup size), BILINEAR (bool: bilinear, else PyTorch's legacy 'nearest'),
// ALIGN_CORNERS (bool, bilinear only).
// ratio_h / ratio_w are PyTorch's float32 scales, computed on the host: in/out, or 1/scale_factor when
// a scale factor was given, or (in-1)/(out-1) with align_corners. Source indices are computed in
// float32 from them, as PyTorch's CPU kernels do.

struct Params {
  total: u32,
  h: u32,
  w: u32,
  oh: u32,
  ow: u32,
  ratio_h: f32,
  ratio_w: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

// nearest: floor(dst * ratio) clamped to the input; an unchanged size copies and an exactly doubled
// size halves the index, the shortcuts PyTorch takes (they can differ from the float formula when
// a scale factor was given).
fn nearest_source(dst: u32, in_size: u32, out_size: u32, ratio: f32) -> u32 {
  if (out_size == in_size) { return dst; }
  if (out_size == 2u * in_size) { return dst >> 1u; }
  return min(u32(floor(f32(dst) * ratio)), in_size - 1u);
}

// The two input indices a bilinear output reads along one axis and the weight of the second.
struct Taps { i0: u32, i1: u32, lambda1: f32 }

fn linear_taps(dst: u32, in_size: u32, out_size: u32, ratio: f32) -> Taps {
  if (out_size == in_size) { return Taps(dst, dst, 0.0); }
  var src: f32;
  if (ALIGN_CORNERS) {
    src = ratio * f32(dst);
  } else {
    // Half-pixel centres; sources left of the first centre clamp to it. PyTorch evaluates this in
    // double and rounds once to float; a fused multiply-add rounds once too where it is fused.
    src = max(fma(ratio, f32(dst) + 0.5, -0.5), 0.0);
  }
  let i0 = min(u32(floor(src)), in_size - 1u);
  let lambda1 = clamp(src - f32(i0), 0.0, 1.0);
  let i1 = select(i0, i0 + 1u, i0 < in_size - 1u);
  return Taps(i0, i1, lambda1);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let o = (wid.y * nwg.x + wid.x) * WG + lid;
  if (o >= p.total) { return; }
  let col = o % p.ow;
  let t = o / p.ow;
  let row = t % p.oh;
  let base = (t / p.oh) * p.h * p.w;
  if (BILINEAR) {
    let th = linear_taps(row, p.h, p.oh, p.ratio_h);
    let tw = linear_taps(col, p.w, p.ow, p.ratio_w);
    let r0 = base + th.i0 * p.w;
    let r1 = base + th.i1 * p.w;
    let top = (1.0 - tw.lambda1) * x[r0 + tw.i0] + tw.lambda1 * x[r0 + tw.i1];
    let bottom = (1.0 - tw.lambda1) * x[r1 + tw.i0] + tw.lambda1 * x[r1 + tw.i1];
    y[o] = (1.0 - th.lambda1) * top + th.lambda1 * bottom;
  } else {
    let ih = nearest_source(row, p.h, p.oh, p.ratio_h);
    let iw = nearest_source(col, p.w, p.ow, p.ratio_w);
    y[o] = x[base + ih * p.w + iw];
  }
}
