// The symmetric normalisation of a graph convolution on a CSR graph (src/ops/sparse.ts, gcnNorm):
// rows are targets, columns sources, w [nnz] the weight of each slot (self-loops included, as the
// host added them). PyTorch Geometric's gcn_norm:
//   deg[i] = sum of w over row i (the weight into node i),  dis = deg^-1/2 (0 where deg = 0),
//   norm[s] = dis[col[s]] * w[s] * dis[row of s].
// The backward pass, for upstream g [nnz] (see gcnConvBackwardRef in src/reference/graph.ts):
//   ds[k]  = sum over row k of g w dis[col]  +  sum over column k of g w dis[row]  (the transpose),
//   ddeg[k] = ds[k] * (-1/2) deg[k]^-3/2  (NaN where deg = 0, as PyTorch's pow backward gives),
//   dw[s]  = g[s] dis[col[s]] dis[row] + ddeg[row].
// Every value has one writer: one invocation per row (a gather; no atomics).
// Defines: WG (invocations per workgroup).
// Entry points (each one invocation per row or node):
//   degree        dd[i] = deg[i], dd[rows + i] = dis[i]
//   normalize     norm[s]
//   scale_grad_in   a[k] = the row part of ds[k]
//   degree_grad   a[k] := ddeg[k] (adds the column part through the transpose, in place)
//   weight_grad   dw[s]
//! include lib/grid
//! include lib/float_bits

struct Params {
  rows: u32,
  nnz: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> row_ptr: array<u32>; // t_row_ptr in degree_grad
@group(0) @binding(2) var<storage, read> col_idx: array<u32>; // t_col_idx in degree_grad
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read> dd: array<f32>; // [deg | dis], 2 * rows
@group(0) @binding(5) var<storage, read> g: array<f32>;
@group(0) @binding(6) var<storage, read_write> a: array<f32>;
@group(0) @binding(7) var<storage, read> perm: array<u32>; // the transpose's slot -> original slot
// degree writes dd; normalize writes norm; weight_grad reads ddeg and writes dw.
@group(0) @binding(2) var<storage, read_write> dd_out: array<f32>;
@group(0) @binding(5) var<storage, read_write> norm: array<f32>;
@group(0) @binding(3) var<storage, read_write> dw: array<f32>;
@group(0) @binding(6) var<storage, read> ddeg: array<f32>;

fn inf() -> f32 { let bits = 0x7f800000u; return bitcast<f32>(bits); }
// Tested by bit patterns, which no float optimisation can assume away.
fn is_inf(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) == 0x7f800000u; }


// Slots of row r as [start, end); an empty range when it is not inside [0, nnz].
fn row_range(r: u32) -> vec2u {
  let start = row_ptr[r];
  let end = row_ptr[r + 1u];
  if (start > end || end > p.nnz) { return vec2u(0u, 0u); }
  return vec2u(start, end);
}

// deg^-1/2 as torch.pow gives it, with gcn_norm's inf -> 0: 0 for deg = 0 and +inf, NaN for a
// negative degree (-inf included: torch.pow's, unlike C's pow) or NaN.
fn inv_sqrt_degree(d: f32) -> f32 {
  if (is_nan(d) || d < 0.0) { return nan(); }
  if (d == 0.0 || is_inf(d)) { return 0.0; }
  return 1.0 / sqrt(d);
}

@compute @workgroup_size(WG)
fn degree(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= p.rows) { return; }
  let range = row_range(i);
  var deg = 0.0;
  for (var s = range.x; s < range.y; s++) { deg += w[s]; }
  dd_out[i] = deg;
  dd_out[p.rows + i] = inv_sqrt_degree(deg);
}

@compute @workgroup_size(WG)
fn normalize(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= p.rows) { return; }
  let range = row_range(i);
  let dis_i = dd[p.rows + i];
  for (var s = range.x; s < range.y; s++) {
    let c = col_idx[s];
    norm[s] = select(nan(), dd[p.rows + min(c, p.rows - 1u)], c < p.rows) * w[s] * dis_i;
  }
}

@compute @workgroup_size(WG)
fn scale_grad_in(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let k = linear_index(wid, nwg, lid);
  if (k >= p.rows) { return; }
  let range = row_range(k);
  var sum = 0.0;
  for (var s = range.x; s < range.y; s++) {
    let c = col_idx[s];
    sum += g[s] * w[s] * select(nan(), dd[p.rows + min(c, p.rows - 1u)], c < p.rows);
  }
  a[k] = sum;
}

@compute @workgroup_size(WG)
fn degree_grad(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let k = linear_index(wid, nwg, lid);
  if (k >= p.rows) { return; }
  let range = row_range(k); // row k of the transpose: the slots whose source is k
  var sum = a[k];
  for (var t = range.x; t < range.y; t++) {
    let s = min(perm[t], p.nnz - 1u);
    let r = col_idx[t]; // the slot's target
    sum += g[s] * w[s] * select(nan(), dd[p.rows + min(r, p.rows - 1u)], r < p.rows && perm[t] < p.nnz);
  }
  // d(deg^-1/2)/d(deg) = -1/2 deg^-3/2 = -1/2 dis^3: NaN where dis is (deg < 0 or NaN), 0 at
  // +-inf (torch.pow(-inf, -3/2) is 0), and NaN at deg = 0, where gcn_norm zeroes the gradient
  // of the masked inf and then multiplies by the derivative there (0 * inf).
  let d = dd[k];
  let dis = dd[p.rows + k];
  var derivative = -0.5 * (dis * dis * dis);
  if (is_inf(d)) { derivative = 0.0; }
  a[k] = select(sum * derivative, nan(), d == 0.0);
}

@compute @workgroup_size(WG)
fn weight_grad(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= p.rows) { return; }
  let range = row_range(i);
  let dis_i = dd[p.rows + i];
  let ddeg_i = ddeg[i];
  for (var s = range.x; s < range.y; s++) {
    let c = col_idx[s];
    dw[s] = g[s] * select(nan(), dd[p.rows + min(c, p.rows - 1u)], c < p.rows) * dis_i + ddeg_i;
  }
}
