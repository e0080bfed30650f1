// Softmax and log-softmax along one dimension, and their gradients. The tensor is viewed as
// [outer, len, inner]; a row is the `len` values at a fixed (outer, inner), `inner` apart
// (inner == 1: contiguous). Defines: WG (workgroup size, a power of two), LOG (bool: log-softmax).
// Forward, fused: each row's max and sum of exp(x - max) are gathered in one online pass, then the
// row is written. As in PyTorch, a row holding a NaN or +inf anywhere (exp(inf - inf) is NaN
// there), or holding only -inf, has no defined distribution and is written as NaN; -inf entries
// otherwise give 0.
// Backward, from the forward output y: each row's sum is gathered first, then the row is written:
//   softmax:     grad_x = y * (g - sum_d g_d * y_d)
//   log-softmax: grad_x = g - exp(y) * sum_d g_d
// Entry points, each pair one invocation per row (short rows; the grid may be folded into two
// dimensions), or one workgroup per row (long rows, partial results merged by a shared-memory tree):
//   rows, wide:                    x -> y
//   backward_rows, backward_wide:  grad_out, saved_y (the forward's y) -> grad_in
//! include lib/grid
//! include lib/float_bits
//! include lib/workgroup_sum

struct Params { rows: u32, len: u32, inner: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
// The backward entry points' bindings (no entry point uses both sets).
@group(0) @binding(1) var<storage, read> grad_out: array<f32>;
@group(0) @binding(2) var<storage, read> saved_y: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad_in: array<f32>;

fn row_base(row: u32) -> u32 {
  let outer = row / p.inner;
  return outer * p.len * p.inner + (row - outer * p.inner);
}

// Running statistics of a set of values: their max m and sum of exp(v - m). Empty: (-inf, 0).
// m is NaN, for good, once a value poisons the set.
struct Stats { m: f32, s: f32 }

fn push(st: Stats, v: f32) -> Stats {
  if (is_nan(st.m)) { return st; }
  if (is_nan_or_pos_inf(v)) { return Stats(nan(), nan()); } // poisons the row
  if (is_neg_inf(v)) { return st; } // contributes exp(-inf) = 0
  if (v > st.m) {
    // The old sum is rescaled to the new max (an empty set has nothing to rescale).
    let rescaled = select(st.s * exp(st.m - v), 0.0, is_neg_inf(st.m));
    return Stats(v, rescaled + 1.0);
  }
  return Stats(st.m, st.s + exp(v - st.m));
}

fn merge(a: Stats, b: Stats) -> Stats {
  if (is_nan(a.m)) { return a; }
  if (is_nan(b.m)) { return b; }
  if (is_neg_inf(a.m)) { return b; }
  if (is_neg_inf(b.m)) { return a; }
  let m = max(a.m, b.m);
  return Stats(m, a.s * exp(a.m - m) + b.s * exp(b.m - m));
}

fn write_row(base: u32, st: Stats, first: u32, step: u32) {
  let undefined_row = is_neg_inf(st.m) || is_nan(st.m);
  let log_sum = log(st.s);
  let inv_sum = 1.0 / st.s;
  for (var d = first; d < p.len; d += step) {
    let i = base + d * p.inner;
    let v = x[i];
    var value: f32;
    if (undefined_row) {
      value = nan();
    } else if (LOG) {
      value = (v - st.m) - log_sum; // -inf stays -inf
    } else {
      value = select(exp(v - st.m) * inv_sum, 0.0, is_neg_inf(v));
    }
    y[i] = value;
  }
}

@compute @workgroup_size(WG)
fn rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = linear_index(wid, nwg, lid);
  if (row >= p.rows) { return; }
  let base = row_base(row);
  var st = Stats(neg_inf(), 0.0);
  for (var d = 0u; d < p.len; d++) {
    st = push(st, x[base + d * p.inner]);
  }
  write_row(base, st, 0u, 1u);
}

var<workgroup> shared_m: array<f32, WG>;
var<workgroup> shared_s: array<f32, WG>;

@compute @workgroup_size(WG)
fn wide(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = workgroup_index(wid, nwg);
  if (row >= p.rows) { return; } // the same for the whole workgroup
  let base = row_base(row);
  var st = Stats(neg_inf(), 0.0);
  for (var d = lid; d < p.len; d += WG) {
    st = push(st, x[base + d * p.inner]);
  }
  shared_m[lid] = st.m;
  shared_s[lid] = st.s;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half /= 2u) {
    if (lid < half) {
      let merged = merge(Stats(shared_m[lid], shared_s[lid]), Stats(shared_m[lid + half], shared_s[lid + half]));
      shared_m[lid] = merged.m;
      shared_s[lid] = merged.s;
    }
    workgroupBarrier();
  }
  write_row(base, Stats(shared_m[0], shared_s[0]), lid, WG);
}

// ---- backward ----------------------------------------------------------------------------------

// This invocation's share (d = first, first + step, ...) of the row's sum.
fn grad_partial_sum(base: u32, first: u32, step: u32) -> f32 {
  var sum = 0.0;
  for (var d = first; d < p.len; d += step) {
    let i = base + d * p.inner;
    sum += select(grad_out[i] * saved_y[i], grad_out[i], LOG);
  }
  return sum;
}

fn write_grad_row(base: u32, sum: f32, first: u32, step: u32) {
  for (var d = first; d < p.len; d += step) {
    let i = base + d * p.inner;
    if (LOG) {
      grad_in[i] = grad_out[i] - exp(saved_y[i]) * sum;
    } else {
      grad_in[i] = saved_y[i] * (grad_out[i] - sum);
    }
  }
}

@compute @workgroup_size(WG)
fn backward_rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = linear_index(wid, nwg, lid);
  if (row >= p.rows) { return; }
  let base = row_base(row);
  write_grad_row(base, grad_partial_sum(base, 0u, 1u), 0u, 1u);
}

@compute @workgroup_size(WG)
fn backward_wide(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = workgroup_index(wid, nwg);
  if (row >= p.rows) { return; } // the same for the whole workgroup
  let base = row_base(row);
  write_grad_row(base, workgroup_sum(grad_partial_sum(base, lid, WG), lid), lid, WG);
}
