// PyTorch's separable triangle filter (F.interpolate(mode='bilinear', align_corners=False,
// antialias=...); PIL's BILINEAR resample computes the same windows) on RGBA8 pixels. Along an
// axis, output index i is centred on source coordinate base + scale * (i + 0.5) and reads the
// source indices in [lo, hi) within `support` of the centre, each weighted by
// max(0, 1 - |distance * invscale|), the weights normalised to sum to 1. Downscaling with
// antialias widens the filter with the scale (support = scale, invscale = 1 / scale); otherwise
// support = invscale = 1, which is exactly bilinear interpolation (two taps, edges clamped to
// [lo, hi)). filter_rgb requires the including shader's `pixels: array<u32>` binding.

// The source indices one output index reads along an axis, [first, first + count), and the
// filter's centre and inverse width to weigh them.
struct Window { first: u32, count: u32, center: f32, invscale: f32 }

fn triangle_window(dst: u32, base: f32, scale: f32, support: f32, invscale: f32, lo: u32, hi: u32) -> Window {
  let center = base + scale * (f32(dst) + 0.5);
  // i32() truncates toward zero, as the integer casts of PyTorch and PIL do (against lo >= 0 the
  // same as floor: the two differ only below 0).
  let first = max(i32(center - support + 0.5), i32(lo));
  let last = min(i32(center + support + 0.5), i32(hi));
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

// The filtered RGB (in [0, 1]) of an image in `pixels`, 8-bit RGBA packed one per u32 (R in the
// low byte), its row r starting at offset + r * row_stride, over the windows wx and wy. Alpha is
// ignored, as PIL's convert('RGB') does.
fn filter_rgb(offset: u32, row_stride: u32, wx: Window, wy: Window) -> vec3f {
  var acc = vec3f(0.0);
  for (var j = 0u; j < wy.count; j++) {
    let fy = tap_weight(wy, j);
    if (fy == 0.0) { continue; }
    let start = offset + (wy.first + j) * row_stride + wx.first;
    var line = vec3f(0.0);
    for (var i = 0u; i < wx.count; i++) {
      line += tap_weight(wx, i) * unpack4x8unorm(pixels[start + i]).rgb;
    }
    acc += fy * line;
  }
  let total = total_weight(wx) * total_weight(wy);
  return select(acc, acc / total, total != 0.0);
}
