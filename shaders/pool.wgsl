// 2-D pooling over NCHW planes (PyTorch semantics), forward and backward. A tensor is `planes` =
// N*C planes of H x W; outputs are planes of OH x OW. Defines: WG (workgroup size; a power of two for
// global_avg_pool); NORM, RELU (bools: what max_pool_fused applies before pooling, and RELU also
// what max_pool_backward_single masks by).
// Each kernel reads `x` and writes `y`: forward, the input and the pooled output; backward, the
// output gradient and the input gradient.
// Forward entry points:
//   max_pool, max_pool_indices: one invocation per output; the window's max (NaN wins, as in
//     PyTorch) and, for max_pool_indices, its flat index ih * W + iw within the plane, as i32.
//   max_pool_fused: max_pool_indices over f(x) instead of x, where f normalises each channel with
//     the batch-norm coefficients in `aux` (NORM: (x - mean) * scale + shift, aux = [mean | scale |
//     shift], as batch_norm.normalize) and then rectifies (RELU: NaN stays NaN), so neither
//     intermediate tensor is written. The window scan is the same, so the value and index are those
//     PyTorch's max_pool2d gives for the materialised f(x).
//   avg_pool: one invocation per output; the divisor follows PyTorch's count_include_pad rule.
//   adaptive_avg_pool: one invocation per output, window [floor(i*in/out), ceil((i+1)*in/out)).
//   global_avg_pool: one workgroup per plane, partial sums merged by a workgroup-shared tree.
// Backward entry points gather: one invocation per input cell sums the gradients of the few outputs
// whose windows cover it, in output order, so overlapping windows accumulate without atomics and
// every run gives the same bits.
//   max_pool_backward: outputs whose recorded argmax (`argmax`, from max_pool_indices) is this cell.
//   max_pool_backward_plane: the same without the window geometry: one workgroup per plane zeroes
//     it, then one invocation adds each output's gradient at its argmax, in output order.
//   max_pool_backward_single: windows that do not overlap (stride >= dilated kernel on both axes):
//     one invocation per output writes the input cells of its stride block (no gather). With
//     RELU the pooled output (`aux`) masks it: the gradient of max_pool(relu(v)) reaches v except
//     where the pooled value is <= 0 (relu's gradient is 0 there and passes at NaN, as PyTorch's).
//   avg_pool_backward, adaptive_avg_pool_backward: each covering output's gradient over its divisor.
//   global_avg_pool_backward: the 1x1 case, every cell gets its plane's gradient / (H*W).
// The one-invocation-per-item grids may be folded into two dimensions (engine.grid1d).
//! include lib/grid
//! include lib/float_bits
//! include lib/workgroup_sum

struct Params {
  // Items of the grid: outputs (N*C*OH*OW) forward and for max_pool_backward_single, input cells
  // (N*C*H*W) for the other backward kernels, or planes for global_avg_pool and max_pool_backward_plane.
  total: u32,
  h: u32,
  w: u32,
  oh: u32,
  ow: u32,
  kh: u32,
  kw: u32,
  sh: u32,
  sw: u32,
  ph: u32,
  pw: u32,
  dh: u32,
  dw: u32,
  // avg_pool: 0 counts padded cells in the divisor, 1 counts only input cells, 2 divides by `divisor`.
  divisor_mode: u32,
  divisor: f32,
  // max_pool_fused: channels per batch item (a plane's channel is (first_plane + plane) % channels),
  // and the index of the first plane of this dispatch (the runtime splits planes past the binding limit).
  channels: u32,
  first_plane: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> indices: array<i32>;
// The backward kernels' saved argmax. It shares binding 3 with `indices`, which WGSL allows because
// no entry point uses both.
@group(0) @binding(3) var<storage, read> argmax: array<i32>;

// max_pool_fused's batch-norm coefficients; max_pool_backward_single's pooled output.
@group(0) @binding(4) var<storage, read> aux: array<f32>;

// An output position: its plane and row/column in the output.
struct Out { plane: u32, row: u32, col: u32 }

fn output_position(o: u32) -> Out {
  let col = o % p.ow;
  let t = o / p.ow;
  return Out(t / p.oh, t % p.oh, col);
}

struct Max { value: f32, index: u32 }

// PyTorch's scan: window cells in row-major order, the first strict maximum kept, any NaN taken
// (so NaN propagates). The rules on padding guarantee at least one cell lies inside the input.
fn window_max(at: Out) -> Max {
  let base = at.plane * p.h * p.w;
  let h0 = i32(at.row * p.sh) - i32(p.ph);
  let w0 = i32(at.col * p.sw) - i32(p.pw);
  var best = Max(0.0, 0u);
  var seen = false;
  for (var i = 0u; i < p.kh; i++) {
    let ih = h0 + i32(i * p.dh);
    if (ih < 0 || ih >= i32(p.h)) { continue; }
    for (var j = 0u; j < p.kw; j++) {
      let iw = w0 + i32(j * p.dw);
      if (iw < 0 || iw >= i32(p.w)) { continue; }
      let index = u32(ih) * p.w + u32(iw);
      let v = x[base + index];
      if (!seen || v > best.value || is_nan(v)) {
        best = Max(v, index);
        seen = true;
      }
    }
  }
  return best;
}

@compute @workgroup_size(WG)
fn max_pool(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let o = linear_index(wid, nwg, lid);
  if (o >= p.total) { return; }
  y[o] = window_max(output_position(o)).value;
}

@compute @workgroup_size(WG)
fn max_pool_indices(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let o = linear_index(wid, nwg, lid);
  if (o >= p.total) { return; }
  let best = window_max(output_position(o));
  y[o] = best.value;
  indices[o] = i32(best.index);
}

// The value max_pool_fused pools: x[base + index] of channel c, normalised (NORM) and rectified
// (RELU, which keeps NaN as PyTorch's relu does).
fn fused_value(v: f32, c: u32) -> f32 {
  var u = v;
  if (NORM) {
    u = (u - aux[c]) * aux[p.channels + c] + aux[2u * p.channels + c];
  }
  if (RELU) {
    u = select(u, 0.0, not_positive(u));
  }
  return u;
}

// window_max over fused_value: the same scan, the same tie and NaN rules.
fn fused_window_max(at: Out) -> Max {
  let base = at.plane * p.h * p.w;
  let c = (p.first_plane + at.plane) % p.channels;
  let h0 = i32(at.row * p.sh) - i32(p.ph);
  let w0 = i32(at.col * p.sw) - i32(p.pw);
  var best = Max(0.0, 0u);
  var seen = false;
  for (var i = 0u; i < p.kh; i++) {
    let ih = h0 + i32(i * p.dh);
    if (ih < 0 || ih >= i32(p.h)) { continue; }
    for (var j = 0u; j < p.kw; j++) {
      let iw = w0 + i32(j * p.dw);
      if (iw < 0 || iw >= i32(p.w)) { continue; }
      let index = u32(ih) * p.w + u32(iw);
      let v = fused_value(x[base + index], c);
      if (!seen || v > best.value || is_nan(v)) {
        best = Max(v, index);
        seen = true;
      }
    }
  }
  return best;
}

@compute @workgroup_size(WG)
fn max_pool_fused(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let o = linear_index(wid, nwg, lid);
  if (o >= p.total) { return; }
  let best = fused_window_max(output_position(o));
  y[o] = best.value;
  indices[o] = i32(best.index);
}

// An average-pooling window: the input cells it sums, [h0, h1) x [w0, w1), and what the sum is
// divided by.
struct AvgWindow { h0: i32, h1: i32, w0: i32, w1: i32, divisor: f32 }

fn avg_window(row: u32, col: u32) -> AvgWindow {
  // The window, first clipped to the padded input (whose size is the count_include_pad divisor),
  // then to the input itself.
  var h0 = i32(row * p.sh) - i32(p.ph);
  var w0 = i32(col * p.sw) - i32(p.pw);
  var h1 = min(h0 + i32(p.kh), i32(p.h + p.ph));
  var w1 = min(w0 + i32(p.kw), i32(p.w + p.pw));
  let padded_count = (h1 - h0) * (w1 - w0);
  h0 = max(h0, 0);
  w0 = max(w0, 0);
  h1 = min(h1, i32(p.h));
  w1 = min(w1, i32(p.w));
  var divisor = p.divisor;
  if (p.divisor_mode == 0u) {
    divisor = f32(padded_count);
  } else if (p.divisor_mode == 1u) {
    divisor = f32((h1 - h0) * (w1 - w0));
  }
  return AvgWindow(h0, h1, w0, w1, divisor);
}

@compute @workgroup_size(WG)
fn avg_pool(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let o = linear_index(wid, nwg, lid);
  if (o >= p.total) { return; }
  let at = output_position(o);
  let win = avg_window(at.row, at.col);
  let base = at.plane * p.h * p.w;
  var sum = 0.0;
  for (var ih = win.h0; ih < win.h1; ih++) {
    let row = base + u32(ih) * p.w;
    for (var iw = win.w0; iw < win.w1; iw++) {
      sum += x[row + u32(iw)];
    }
  }
  y[o] = sum / win.divisor;
}

// A half-open range of rows or columns.
struct Span { first: u32, end: u32 }

// Adaptive pooling's window of output i along an axis: [floor(i*in/out), ceil((i+1)*in/out)).
fn adaptive_span(i: u32, n_in: u32, n_out: u32) -> Span {
  return Span((i * n_in) / n_out, ((i + 1u) * n_in + n_out - 1u) / n_out);
}

@compute @workgroup_size(WG)
fn adaptive_avg_pool(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let o = linear_index(wid, nwg, lid);
  if (o >= p.total) { return; }
  let at = output_position(o);
  let rows = adaptive_span(at.row, p.h, p.oh);
  let cols = adaptive_span(at.col, p.w, p.ow);
  let base = at.plane * p.h * p.w;
  var sum = 0.0;
  for (var ih = rows.first; ih < rows.end; ih++) {
    let row = base + ih * p.w;
    for (var iw = cols.first; iw < cols.end; iw++) {
      sum += x[row + iw];
    }
  }
  y[o] = sum / f32((rows.end - rows.first) * (cols.end - cols.first));
}

@compute @workgroup_size(WG)
fn global_avg_pool(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  // The plane index is the same for the whole workgroup, so leaving early keeps barriers uniform.
  let plane = workgroup_index(wid, nwg);
  if (plane >= p.total) { return; }
  let n = p.h * p.w;
  let base = plane * n;
  var sum = 0.0;
  for (var i = lid; i < n; i += WG) {
    sum += x[base + i];
  }
  let total = workgroup_sum(sum, lid);
  if (lid == 0u) {
    y[plane] = total / f32(n);
  }
}

// ---- backward ----------------------------------------------------------------------------------

// An input cell: its plane and row/column in the input.
struct In { plane: u32, row: u32, col: u32 }

fn input_position(i: u32) -> In {
  let col = i % p.w;
  let t = i / p.w;
  return In(t / p.h, t % p.h, col);
}

// The outputs along an axis whose window (start o*s - pad, taps every d cells, k of them) can reach
// cell `at`: the window starts at most `at` and at least `at - (k-1)*d`. With dilation some of
// them step over the cell; max_pool_backward's argmax test skips those.
fn covering(at: u32, k: u32, s: u32, pad: u32, d: u32, n_out: u32) -> Span {
  let lowest_start = i32(at + pad) - i32((k - 1u) * d);
  var first = 0u;
  if (lowest_start > 0) {
    first = (u32(lowest_start) + s - 1u) / s;
  }
  return Span(first, min((at + pad) / s + 1u, n_out));
}

@compute @workgroup_size(WG)
fn max_pool_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= p.total) { return; }
  let at = input_position(i);
  let rows = covering(at.row, p.kh, p.sh, p.ph, p.dh, p.oh);
  let cols = covering(at.col, p.kw, p.sw, p.pw, p.dw, p.ow);
  let cell = i32(at.row * p.w + at.col);
  let base = at.plane * p.oh * p.ow;
  var sum = 0.0;
  for (var r = rows.first; r < rows.end; r++) {
    for (var c = cols.first; c < cols.end; c++) {
      let o = base + r * p.ow + c;
      if (argmax[o] == cell) {
        sum += x[o];
      }
    }
  }
  y[i] = sum;
}

@compute @workgroup_size(WG)
fn max_pool_backward_single(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let o = linear_index(wid, nwg, lid);
  if (o >= p.total) { return; }
  let at = output_position(o);
  // Window r spans rows [r*sh - ph, r*sh - ph + dh*(kh-1)], inside its stride block
  // [r*sh - ph, (r+1)*sh - ph) when windows do not overlap. The blocks (the first from row 0, the
  // last to the end of the input) partition the plane, so each output writes its block: its
  // gradient at the argmax, zeros elsewhere (cells outside every window included).
  let r0 = max(i32(at.row * p.sh) - i32(p.ph), 0);
  let c0 = max(i32(at.col * p.sw) - i32(p.pw), 0);
  var r1 = i32(p.h);
  if (at.row + 1u < p.oh) { r1 = i32((at.row + 1u) * p.sh) - i32(p.ph); }
  var c1 = i32(p.w);
  if (at.col + 1u < p.ow) { c1 = i32((at.col + 1u) * p.sw) - i32(p.pw); }
  var g = x[o];
  if (RELU && not_positive(aux[o])) { g = 0.0; }
  // An index that names no cell of the block routes nowhere.
  let chosen = argmax[o];
  let base = at.plane * p.h * p.w;
  for (var ih = r0; ih < r1; ih++) {
    let row = u32(ih) * p.w;
    for (var iw = c0; iw < c1; iw++) {
      let cell = row + u32(iw);
      y[base + cell] = select(0.0, g, i32(cell) == chosen);
    }
  }
}

@compute @workgroup_size(WG)
fn max_pool_backward_plane(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  // The plane index is the same for the whole workgroup, so leaving early keeps barriers uniform.
  let plane = workgroup_index(wid, nwg);
  if (plane >= p.total) { return; }
  let n = p.h * p.w;
  let base = plane * n;
  for (var i = lid; i < n; i += WG) {
    y[base + i] = 0.0;
  }
  storageBarrier();
  // Any output may name any cell, so a single invocation adds them: no two writes race.
  if (lid == 0u) {
    let outputs = p.oh * p.ow;
    let out_base = plane * outputs;
    for (var o = 0u; o < outputs; o++) {
      let index = argmax[out_base + o];
      // As in max_pool_backward, an index that is no cell of the plane routes nowhere.
      if (index >= 0 && u32(index) < n) {
        y[base + u32(index)] += x[out_base + o];
      }
    }
  }
}

@compute @workgroup_size(WG)
fn avg_pool_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= p.total) { return; }
  let at = input_position(i);
  // Average pooling has no dilation; every covering window sums this cell.
  let rows = covering(at.row, p.kh, p.sh, p.ph, 1u, p.oh);
  let cols = covering(at.col, p.kw, p.sw, p.pw, 1u, p.ow);
  let base = at.plane * p.oh * p.ow;
  var sum = 0.0;
  for (var r = rows.first; r < rows.end; r++) {
    for (var c = cols.first; c < cols.end; c++) {
      sum += x[base + r * p.ow + c] / avg_window(r, c).divisor;
    }
  }
  y[i] = sum;
}

@compute @workgroup_size(WG)
fn adaptive_avg_pool_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= p.total) { return; }
  let at = input_position(i);
  // Output i covers cell a exactly when i lies in [floor(a*out/in), ceil((a+1)*out/in)): the
  // window formula with the roles of input and output swapped.
  let rows = adaptive_span(at.row, p.oh, p.h);
  let cols = adaptive_span(at.col, p.ow, p.w);
  let base = at.plane * p.oh * p.ow;
  var sum = 0.0;
  for (var r = rows.first; r < rows.end; r++) {
    let win_rows = adaptive_span(r, p.h, p.oh);
    for (var c = cols.first; c < cols.end; c++) {
      let win_cols = adaptive_span(c, p.w, p.ow);
      sum += x[base + r * p.ow + c] / f32((win_rows.end - win_rows.first) * (win_cols.end - win_cols.first));
    }
  }
  y[i] = sum;
}

@compute @workgroup_size(WG)
fn global_avg_pool_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= p.total) { return; }
  let n = p.h * p.w;
  y[i] = x[i / n] / f32(n);
}
