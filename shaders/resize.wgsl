// Resizing NCHW planes as torch.nn.functional.interpolate does: `total` outputs, planes of H x W
// resized to OH x OW, one invocation per output (the grid may be folded into two dimensions).
// Defines: WG (workgroup size), BILINEAR (bool: bilinear, else PyTorch's legacy 'nearest'),
// ALIGN_CORNERS (bool, bilinear only), SEG (input columns per invocation of `backward`).
// ratio_h / ratio_w are PyTorch's float32 scales, computed on the host: in/out, or 1/scale_factor when
// a scale factor was given, or (in-1)/(out-1) with align_corners. Source indices are computed in
// float32 from them, as PyTorch's CPU kernels do.
//! include lib/grid

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
  let o = linear_index(wid, nwg, lid);
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

// ---- backward: the adjoint of `main`, gathered (no atomics, so bit-reproducible) ----
// Each input cell sums the output gradient, read through `x`, over the output cells whose taps
// land on it, each times the weight the forward gives that tap, and writes the input gradient
// through `y`. The taps are recomputed with the forward's own functions, so the gradient is the
// adjoint of exactly what `main` computes. One invocation per SEG cells of an input row (p.total
// counts those segments): along a row the spans of outputs slide forward, so finding them costs
// about one step per output column. Measured on lavapipe, a search per cell (one invocation per
// input cell) took 1.3-6x longer, and whole rows no less time than segments of 32, which leave a
// real GPU more invocations.

// The first input index an output reads along an axis: its nearest source or first bilinear tap.
// It never decreases as dst grows (every step of its arithmetic is monotonic), which is what makes
// the outputs reading one input a contiguous span.
fn first_source(dst: u32, in_size: u32, out_size: u32, ratio: f32) -> u32 {
  if (BILINEAR) { return linear_taps(dst, in_size, out_size, ratio).i0; }
  return nearest_source(dst, in_size, out_size, ratio);
}

// The first output from `start` on whose first_source reaches `goal` (out_size if none does),
// given that none before `start` does.
fn advance(start: u32, goal: u32, in_size: u32, out_size: u32, ratio: f32) -> u32 {
  var d = start;
  while (d < out_size && first_source(d, in_size, out_size, ratio) < goal) { d += 1u; }
  return d;
}

// The first output whose first_source reaches `goal` (out_size if none does): a guess from the
// inverted mapping, corrected step by step against the forward's own float32 arithmetic.
fn first_reaching(goal: u32, in_size: u32, out_size: u32, ratio: f32) -> u32 {
  var guess: f32;
  if (out_size == in_size) {
    guess = f32(goal);
  } else if (!BILINEAR && out_size == 2u * in_size) {
    guess = 2.0 * f32(goal);
  } else if (ratio <= 0.0) {
    // align_corners with one input or one output: every output reads index 0
    guess = select(f32(out_size), 0.0, goal == 0u);
  } else if (BILINEAR && !ALIGN_CORNERS) {
    guess = (f32(goal) + 0.5) / ratio - 0.5;
  } else {
    guess = f32(goal) / ratio;
  }
  var d = u32(clamp(ceil(guess), 0.0, f32(out_size)));
  while (d > 0u && first_source(d - 1u, in_size, out_size, ratio) >= goal) { d -= 1u; }
  return advance(d, goal, in_size, out_size, ratio);
}

// The outputs [lo, hi) that read input index i along an axis: for nearest those whose source is
// i; for bilinear those whose first tap is i - 1 (their second tap is i) or i.
struct Span { lo: u32, hi: u32 }

fn touching(i: u32, in_size: u32, out_size: u32, ratio: f32) -> Span {
  if (out_size == in_size) { return Span(i, i + 1u); }
  var lo = 0u;
  if (!BILINEAR) {
    lo = first_reaching(i, in_size, out_size, ratio);
  } else if (i > 0u) {
    lo = first_reaching(i - 1u, in_size, out_size, ratio);
  }
  return Span(lo, first_reaching(i + 1u, in_size, out_size, ratio));
}

// g times the weights of the taps that land on i (0 if none does), tap by tap as the forward
// weighs them: where both taps land on i (the last index, or an unchanged size) both products
// count, so an infinite gradient times a zero weight gives NaN there, as in PyTorch.
fn on_index(taps: Taps, i: u32, g: f32) -> f32 {
  return select(0.0, (1.0 - taps.lambda1) * g, taps.i0 == i) + select(0.0, taps.lambda1 * g, taps.i1 == i);
}

@compute @workgroup_size(WG)
fn backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let s = linear_index(wid, nwg, lid);
  if (s >= p.total) { return; }
  let segments = (p.w + SEG - 1u) / SEG;
  let r = s / segments; // the input row over all planes
  let first_col = (s % segments) * SEG;
  let end_col = min(first_col + SEG, p.w);
  let row = r % p.h;
  let base = (r / p.h) * p.oh * p.ow;
  let rows = touching(row, p.h, p.oh, p.ratio_h);
  // f0, f1, f2: the first outputs whose first_source reaches col - 1, col and col + 1. The
  // outputs reading column col are [f1, f2) for nearest, [f0, f2) for bilinear (a few of the
  // latter may have no tap on col where the width is unchanged: on_index gives them 0).
  var f0 = 0u;
  if (first_col > 0u) { f0 = first_reaching(first_col - 1u, p.w, p.ow, p.ratio_w); }
  var f1 = advance(f0, first_col, p.w, p.ow, p.ratio_w);
  var f2 = advance(f1, first_col + 1u, p.w, p.ow, p.ratio_w);
  for (var col = first_col; col < end_col; col++) {
    let lo = select(f1, f0, BILINEAR);
    var sum = 0.0;
    for (var dr = rows.lo; dr < rows.hi; dr++) {
      let at = base + dr * p.ow;
      if (BILINEAR) {
        // The column taps' products along this output row, then the row taps' weights on their sum.
        var along = 0.0;
        for (var dc = lo; dc < f2; dc++) {
          along += on_index(linear_taps(dc, p.w, p.ow, p.ratio_w), col, x[at + dc]);
        }
        sum += on_index(linear_taps(dr, p.h, p.oh, p.ratio_h), row, along);
      } else {
        // In output order, as PyTorch's CPU kernel accumulates it.
        for (var dc = lo; dc < f2; dc++) { sum += x[at + dc]; }
      }
    }
    y[r * p.w + col] = sum;
    f0 = f1;
    f1 = f2;
    f2 = advance(f2, col + 2u, p.w, p.ow, p.ratio_w);
  }
}
