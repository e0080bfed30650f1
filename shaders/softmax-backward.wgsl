// Gradients of softmax and log-softmax along one dimension, from the forward output y:
//   softmax:     grad_x = y * (g - sum_d g_d * y_d)
//   log-softmax: grad_x = g - exp(y) * sum_d g_d
// Each row's sum is gathered first, then the row is written. The tensor is viewed as
// [outer, len, inner] as in softmax.wgsl: a row is the `len` values at a fixed (outer, inner),
// `inner` apart.
// Defines: WG (workgroup size, a power of two), LOG (bool: log-softmax's gradient).
// Entry points:
//   rows: one invocation per row (short rows); the grid may be folded into two dimensions.
//   wide: one workgroup per row (long rows), partial sums merged by a shared-memory tree.
//! include lib/grid
//! include lib/workgroup_sum

struct Params { rows: u32, len: u32, inner: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> grad_out: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad_in: array<f32>;

fn row_base(row: u32) -> u32 {
  let outer = row / p.inner;
  return outer * p.len * p.inner + (row - outer * p.inner);
}

// This invocation's share (d = first, first + step, ...) of the row's sum.
fn partial_sum(base: u32, first: u32, step: u32) -> f32 {
  var sum = 0.0;
  for (var d = first; d < p.len; d += step) {
    let i = base + d * p.inner;
    sum += select(grad_out[i] * y[i], grad_out[i], LOG);
  }
  return sum;
}

fn write_row(base: u32, sum: f32, first: u32, step: u32) {
  for (var d = first; d < p.len; d += step) {
    let i = base + d * p.inner;
    if (LOG) {
      grad_in[i] = grad_out[i] - exp(y[i]) * sum;
    } else {
      grad_in[i] = y[i] * (grad_out[i] - sum);
    }
  }
}

@compute @workgroup_size(WG)
fn rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = linear_index(wid, nwg, lid);
  if (row >= p.rows) { return; }
  let base = row_base(row);
  write_row(base, partial_sum(base, 0u, 1u), 0u, 1u);
}

@compute @workgroup_size(WG)
fn wide(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = workgroup_index(wid, nwg);
  if (row >= p.rows) { return; } // the same for the whole workgroup
  let base = row_base(row);
  write_row(base, workgroup_sum(partial_sum(base, lid, WG), lid), lid, WG);
}
