// Image preprocessing for a classifier, one image per dispatch: 8-bit RGBA pixels packed one per
// u32 (R in the low byte) -> float RGB / 255 -> bilinear resize of the whole image to
// (resized_h, resized_w) -> the out_h x out_w window at (top, left) of it (a centre crop, or the
// whole image) -> (x - mean) / std per channel, written as 3 planes (CHW) at out_offset of y.
// Alpha is ignored, as PIL's convert('RGB') does. Defines: WG (workgroup size).
//
// The resize is PyTorch's separable triangle filter (lib/triangle_filter) over the whole image:
// output index i along an axis is centred on input coordinate scale * (i + 0.5) with scale =
// in / resized. The host computes scale, support and invscale per axis.
//! include lib/grid
//! include lib/triangle_filter

struct Params {
  in_w: u32,
  in_h: u32,
  out_w: u32,
  out_h: u32,
  top: u32,
  left: u32,
  out_offset: u32,
  scale_x: f32,
  scale_y: f32,
  support_x: f32,
  support_y: f32,
  invscale_x: f32,
  invscale_y: f32,
  mean_r: f32,
  mean_g: f32,
  mean_b: f32,
  std_r: f32,
  std_g: f32,
  std_b: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> pixels: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let o = linear_index(wid, nwg, lid);
  let plane = p.out_w * p.out_h;
  if (o >= plane) { return; }
  let ox = o % p.out_w;
  let oy = o / p.out_w;
  let wx = triangle_window(ox + p.left, 0.0, p.scale_x, p.support_x, p.invscale_x, 0u, p.in_w);
  let wy = triangle_window(oy + p.top, 0.0, p.scale_y, p.support_y, p.invscale_y, 0u, p.in_h);
  let rgb = filter_rgb(0u, p.in_w, wx, wy);

  let at = p.out_offset + o;
  y[at] = (rgb.r - p.mean_r) / p.std_r;
  y[at + plane] = (rgb.g - p.mean_g) / p.std_g;
  y[at + 2u * plane] = (rgb.b - p.mean_b) / p.std_b;
}
