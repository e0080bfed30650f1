// Image preprocessing for a classifier, one image per dispatch: 8-bit RGBA pixels packed one per
// u32 (R in the low byte) -> float RGB / 255 -> bilinear resize of the whole image to
// (resized_h, resized_w) -> the out_h x out_w window at (top, left) of it (a centre crop, or the
// whole image) -> (x - mean) / std per channel, written as 3 planes (CHW) at out_offset of y.
// Alpha is ignored, as PIL's convert('RGB') does. Defines: WG (workgroup size).
//
// The resize is PyTorch's separable triangle filter (F.interpolate(mode='bilinear',
// align_corners=False, antialias=...)): output index i along an axis is centred on input
// coordinate scale * (i + 0.5) with scale = in / resized; it reads the inputs within `support`
// of the centre, each weighted by max(0, 1 - |distance * invscale|), normalised to sum to 1. With
// antialias and downscaling the filter widens with the scale (support = scale, invscale =
// 1/scale); otherwise support = invscale = 1, which is exactly bilinear interpolation (two taps,
// edges clamped). The host computes scale, support and invscale per axis.

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

// The inputs one output index reads along an axis: [first, first + count), and the filter's
// centre and inverse width to weigh them.
struct Window { first: u32, count: u32, center: f32, invscale: f32 }

fn window(dst: u32, in_size: u32, scale: f32, support: f32, invscale: f32) -> Window {
  let center = scale * (f32(dst) + 0.5);
  // i32() truncates toward zero, as PyTorch's integer casts do.
  let first = max(i32(center - support + 0.5), 0);
  let last = min(i32(center + support + 0.5), i32(in_size));
  return Window(u32(first), u32(max(last - first, 0)), center, invscale);
}

fn tap_weight(w: Window, j: u32) -> f32 {
  return max(0.0, 1.0 - abs((f32(w.first + j) - w.center + 0.5) * w.invscale));
}

fn total_weight(w: Window) -> f32 {
  var total = 0.0;
  for (var j = 0u; j < w.count; j++) { total += tap_weight(w, j); }
  return total;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let o = (wid.y * nwg.x + wid.x) * WG + lid;
  let plane = p.out_w * p.out_h;
  if (o >= plane) { return; }
  let ox = o % p.out_w;
  let oy = o / p.out_w;
  let wx = window(ox + p.left, p.in_w, p.scale_x, p.support_x, p.invscale_x);
  let wy = window(oy + p.top, p.in_h, p.scale_y, p.support_y, p.invscale_y);

  var acc = vec3f(0.0);
  for (var j = 0u; j < wy.count; j++) {
    let fy = tap_weight(wy, j);
    if (fy == 0.0) { continue; }
    let row = (wy.first + j) * p.in_w + wx.first;
    var line = vec3f(0.0);
    for (var i = 0u; i < wx.count; i++) {
      line += tap_weight(wx, i) * unpack4x8unorm(pixels[row + i]).rgb;
    }
    acc += fy * line;
  }
  let total = total_weight(wx) * total_weight(wy);
  let rgb = select(acc, acc / total, total != 0.0);

  let at = p.out_offset + o;
  y[at] = (rgb.r - p.mean_r) / p.std_r;
  y[at + plane] = (rgb.g - p.mean_g) / p.std_g;
  y[at + 2u * plane] = (rgb.b - p.mean_b) / p.std_b;
}
