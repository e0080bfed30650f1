// Sparse x dense products over compressed sparse rows (src/ops/sparse.ts): out = A x (+ bias) for
// A [rows, cols] in CSR (row_ptr [rows + 1], col_idx [nnz], values [nnz]) and a row-major dense
// x [cols, F]; the same product with A's transpose (the gradient for x); and the gradient for
// A's values. Every output is written by exactly one invocation (a gather, no atomics).
//
// Indices are checked where they are read: a column outside [0, cols) (a negative int32 reads as
// a huge u32) or a row range outside [0, nnz] makes the row NaN instead of reading elsewhere.
//
// Defines:
//   WG      invocations per workgroup.
//   LANES   invocations sharing one row, side by side over its feature columns (divides WG). WG:
//           one row at a time per workgroup, so every lane walks the same slots and the index
//           loads are uniform; 1: one row per invocation.
//   ROWS    rows per workgroup (a multiple of WG / LANES).
//   CHUNK   (spmm4) adjacent vec4 columns a lane accumulates per pass over a row's slots.
//   BIAS    add bias [F] to every row.
//   PERMUTED  slot t of this CSR takes values[perm[t]]: the transpose of a CSR reads the values
//           in the original slot order, so they need no transposed copy (and may be computed).
// Entry points (the *4 ones read x, out, bias and grad_out as vec4: F % 4 == 0, width = F / 4):
//   spmm, spmm4  out = A x (+ bias), or A^T x with PERMUTED.
//   values_grad, values_grad4  per slot s of row r: grad_values[s] = dot(grad_out[r], x[col_idx[s]]);
//                one workgroup per ROWS rows, its lanes over each row's slots.
//   gather       out[i] = src[index[i]], or 1 where index[i] == -1 (a self-loop the host added);
//                NaN for any other index outside [0, len(src)).
//! include lib/grid
//! include lib/float_bits

struct Params {
  rows: u32,
  cols: u32,
  width: u32, // F, or F / 4 for the vec4 entry points
  nnz: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> row_ptr: array<u32>;
@group(0) @binding(2) var<storage, read> col_idx: array<u32>;
@group(0) @binding(3) var<storage, read> values: array<f32>;
@group(0) @binding(4) var<storage, read> x: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<storage, read> bias: array<f32>; // [F] (BIAS); a dummy otherwise
@group(0) @binding(7) var<storage, read> perm: array<u32>; // [nnz] (PERMUTED); a dummy otherwise
// The same buffers as vec4, for spmm4 and values_grad4.
@group(0) @binding(4) var<storage, read> x4: array<vec4f>;
@group(0) @binding(5) var<storage, read_write> out4: array<vec4f>;
@group(0) @binding(6) var<storage, read> bias4: array<vec4f>;



// The value of slot s (through the permutation when PERMUTED; NaN for a permutation entry out of range).
fn slot_value(s: u32) -> f32 {
  if (PERMUTED) {
    let t = perm[s];
    return select(nan(), values[min(t, p.nnz - 1u)], t < p.nnz);
  }
  return values[s];
}

// Slots of row r as [start, end), or start > end when the row's range is not inside [0, nnz].
fn row_range(r: u32) -> vec2u {
  let start = row_ptr[r];
  let end = row_ptr[r + 1u];
  if (start > end || end > p.nnz) { return vec2u(1u, 0u); }
  return vec2u(start, end);
}

@compute @workgroup_size(WG)
fn spmm(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let first_row = workgroup_index(wid, nwg) * ROWS;
  for (var rr = lid / LANES; rr < ROWS; rr += WG / LANES) {
    let r = first_row + rr;
    if (r >= p.rows) { break; }
    let range = row_range(r);
    for (var j = lid % LANES; j < p.width; j += LANES) {
      var acc = 0.0;
      var bad = range.x > range.y;
      for (var s = range.x; s < range.y; s++) {
        let c = col_idx[s];
        bad = bad || c >= p.cols;
        acc += slot_value(s) * x[min(c, p.cols - 1u) * p.width + j];
      }
      if (BIAS) { acc += bias[j]; }
      out[r * p.width + j] = select(acc, nan(), bad);
    }
  }
}

@compute @workgroup_size(WG)
fn spmm4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let first_row = workgroup_index(wid, nwg) * ROWS;
  for (var rr = lid / LANES; rr < ROWS; rr += WG / LANES) {
    let r = first_row + rr;
    if (r >= p.rows) { break; }
    let range = row_range(r);
    // CHUNK adjacent vec4 columns per pass over the row's slots: each slot's index and value are
    // loaded once per pass.
    for (var j0 = (lid % LANES) * CHUNK; j0 < p.width; j0 += LANES * CHUNK) {
      var acc = array<vec4f, CHUNK>(); // explicitly zeroed: a bare declaration in a loop was not re-zeroed here
      var bad = range.x > range.y;
      for (var s = range.x; s < range.y; s++) {
        let c = col_idx[s];
        bad = bad || c >= p.cols;
        let v = slot_value(s);
        let row = min(c, p.cols - 1u) * p.width;
        for (var k = 0u; k < CHUNK; k++) {
          if (j0 + k < p.width) { acc[k] += v * x4[row + j0 + k]; }
        }
      }
      for (var k = 0u; k < CHUNK; k++) {
        let j = j0 + k;
        if (j >= p.width) { break; }
        var result = acc[k];
        if (BIAS) { result += bias4[j]; }
        out4[r * p.width + j] = select(result, vec4f(nan()), bad);
      }
    }
  }
}

// values_grad's bindings: grad_out [rows, F] at binding 3, x [cols, F] at 4, grad_values [nnz] at 5.
@group(0) @binding(3) var<storage, read> grad_out: array<f32>;
@group(0) @binding(3) var<storage, read> grad_out4: array<vec4f>;

@compute @workgroup_size(WG)
fn values_grad(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let first_row = workgroup_index(wid, nwg) * ROWS;
  for (var rr = 0u; rr < ROWS; rr++) {
    let r = first_row + rr;
    if (r >= p.rows) { break; }
    let range = row_range(r);
    for (var s = range.x + lid; s < range.y; s += WG) {
      let c = col_idx[s];
      var acc = 0.0;
      for (var j = 0u; j < p.width; j++) { acc += grad_out[r * p.width + j] * x[min(c, p.cols - 1u) * p.width + j]; }
      out[s] = select(acc, nan(), c >= p.cols);
    }
  }
}

@compute @workgroup_size(WG)
fn values_grad4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let first_row = workgroup_index(wid, nwg) * ROWS;
  for (var rr = 0u; rr < ROWS; rr++) {
    let r = first_row + rr;
    if (r >= p.rows) { break; }
    let range = row_range(r);
    for (var s = range.x + lid; s < range.y; s += WG) {
      let c = col_idx[s];
      var acc = vec4f(0.0);
      for (var j = 0u; j < p.width; j++) { acc += grad_out4[r * p.width + j] * x4[min(c, p.cols - 1u) * p.width + j]; }
      out[s] = select(acc.x + acc.y + acc.z + acc.w, nan(), c >= p.cols);
    }
  }
}

// gather's bindings: index [n] (int32) at 1, src at 2, out [n] at 3; p.rows = n, p.cols = len(src).
@group(0) @binding(1) var<storage, read> gather_index: array<i32>;
@group(0) @binding(2) var<storage, read> gather_src: array<f32>;
@group(0) @binding(3) var<storage, read_write> gather_out: array<f32>;

@compute @workgroup_size(WG)
fn gather(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = workgroup_index(wid, nwg) * WG + lid;
  if (i >= p.rows) { return; }
  let k = gather_index[i];
  var v = nan();
  if (k == -1) {
    v = 1.0;
  } else if (k >= 0 && u32(k) < p.cols) {
    v = gather_src[k];
  }
  gather_out[i] = v;
}
