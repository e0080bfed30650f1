// Batched crop + resize + horizontal flip + normalise for classifier training and evaluation: a
// batch of RGBA8 images of different sizes -> one [N, 3, out_h, out_w] float tensor, one
// invocation per output pixel (all three channels), every image of the batch in one dispatch.
//
// The images lie one after another in `pixels`, packed 4 bytes per u32 (R in the low byte).
// `boxes` holds BOX_WORDS words per image (floats stored as their bits):
//   0 offset (first pixel of the image in `pixels`)   1 row (the image's width)   2 flip (0 or 1)
//   3 unused
//   4..9   x axis: lo, hi (u32), base, scale, support, invscale (f32)
//   10..15 y axis: the same
// Along an axis, output index i is centred on source coordinate base + scale * (i + 0.5) and
// reads the source pixels in [lo, hi) within `support` of the centre: PyTorch's separable
// triangle filter (lib/triangle_filter). RandomResizedCrop's crop (top, left, h, w) is
// base = left, scale = w / out_w, [lo, hi) = [left, left + w): the crop is resized on its own,
// so its edges clamp. Resize + CenterCrop is base = left' * scale (left' the crop offset in the
// resized image), scale = in / resized, [lo, hi) = the whole image. A flip mirrors the output
// column before the mapping. Defines: WG (workgroup size), BOX_WORDS.
//! include lib/grid
//! include lib/triangle_filter

struct Params {
  first: u32,
  count: u32,
  out_w: u32,
  out_h: u32,
  mean_r: f32,
  mean_g: f32,
  mean_b: f32,
  std_r: f32,
  std_g: f32,
  std_b: f32,
  out_first: u32, // the image y starts at (the runtime splits y by images past the binding limit)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> pixels: array<u32>;
@group(0) @binding(2) var<storage, read> boxes: array<u32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

// The filter's window of output index dst along the axis whose box words start at `at`.
fn window(dst: u32, at: u32) -> Window {
  let base = bitcast<f32>(boxes[at + 2u]);
  let scale = bitcast<f32>(boxes[at + 3u]);
  let support = bitcast<f32>(boxes[at + 4u]);
  let invscale = bitcast<f32>(boxes[at + 5u]);
  return triangle_window(dst, base, scale, support, invscale, boxes[at], boxes[at + 1u]);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let o = linear_index(wid, nwg, lid);
  let plane = p.out_w * p.out_h;
  if (o >= p.count * plane) { return; }
  let n = p.first + o / plane;
  let within = o % plane;
  let ox = within % p.out_w;
  let oy = within / p.out_w;
  let box = n * BOX_WORDS;
  let offset = boxes[box];
  let row = boxes[box + 1u];
  let sx = select(ox, p.out_w - 1u - ox, boxes[box + 2u] != 0u);
  let wx = window(sx, box + 4u);
  let wy = window(oy, box + 10u);
  let rgb = filter_rgb(offset, row, wx, wy);

  let at = (n - p.out_first) * 3u * plane + within;
  y[at] = (rgb.r - p.mean_r) / p.std_r;
  y[at + plane] = (rgb.g - p.mean_g) / p.std_g;
  y[at + 2u * plane] = (rgb.b - p.mean_b) / p.std_b;
}
