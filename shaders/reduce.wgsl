// Sums over every dimension but one. The input is viewed as [outer, len, inner]; out[k] is the sum
// of x[o, k, i] over all o and i (sumRows: [M, N] as outer M, len N, inner 1; sumPerChannel:
// [N, C, S...] as outer N, len C, inner S). Long sums are cut into chunks, each reduced by one
// workgroup with a shared-memory tree; the chunks' partial sums are reduced again by the same
// kernels until one value per k is left.
// Defines: WG (workgroup size, a power of two), LANES (columns: rows summed side by side).
// Entry points:
//   channels: one workgroup per (k, chunk of `chunk` values of the o-major (o, i) sequence);
//             writes partial[k * chunks + chunk]. For inner > 1: each run of `inner` is contiguous.
//   channel_rows: the same sums for inner >= WG, with `chunk` counting whole rows (runs of `inner`)
//             per workgroup: the invocations stride along each contiguous row, so no index needs a
//             division per value.
//   channel_rows4: channel_rows for inner a multiple of 4, read as vec4 by workgroups of ROWS4_WG:
//             on CPU adapters (lavapipe) a quarter of the loads, and a short tree, run 3-9x faster.
//   columns:  inner == 1, the input is a row-major [outer, len] matrix. A workgroup owns WG / LANES
//             adjacent columns and a block of `chunk` rows; LANES invocations per column stride
//             through the rows (so neighbouring invocations read neighbouring addresses), then a
//             tree merges the lanes. Writes partial[row_block * len + k].
//! include lib/grid
//! include lib/workgroup_sum

struct Params {
  outer: u32,
  len: u32,
  inner: u32,
  chunk: u32,  // channels: values per workgroup; columns: rows per workgroup
  chunks: u32, // channels: chunks per k; columns: row blocks
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> partial: array<f32>;
// x as vec4, for channel_rows4 (which uses no other view of it).
@group(0) @binding(1) var<storage, read> x4: array<vec4f>;

@compute @workgroup_size(WG)
fn channels(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let group = workgroup_index(wid, nwg);
  if (group >= p.len * p.chunks) { return; } // the same for the whole workgroup
  let k = group / p.chunks;
  let chunk = group - k * p.chunks;
  let first = chunk * p.chunk;
  let end = min(first + p.chunk, p.outer * p.inner);
  var sum = 0.0;
  for (var j = first + lid; j < end; j += WG) {
    let o = j / p.inner;
    sum += x[(o * p.len + k) * p.inner + (j - o * p.inner)];
  }
  let total = workgroup_sum(sum, lid);
  if (lid == 0u) { partial[group] = total; }
}

@compute @workgroup_size(WG)
fn channel_rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let group = workgroup_index(wid, nwg);
  if (group >= p.len * p.chunks) { return; } // the same for the whole workgroup
  let k = group / p.chunks;
  let first = (group - k * p.chunks) * p.chunk;
  let end = min(first + p.chunk, p.outer);
  var sum = 0.0;
  for (var o = first; o < end; o++) {
    let row = (o * p.len + k) * p.inner;
    for (var i = lid; i < p.inner; i += WG) {
      sum += x[row + i];
    }
  }
  let total = workgroup_sum(sum, lid);
  if (lid == 0u) { partial[group] = total; }
}

const ROWS4_WG: u32 = 64u;
const_assert ROWS4_WG <= WG;

@compute @workgroup_size(ROWS4_WG)
fn channel_rows4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let group = workgroup_index(wid, nwg);
  if (group >= p.len * p.chunks) { return; } // the same for the whole workgroup
  let k = group / p.chunks;
  let first = (group - k * p.chunks) * p.chunk;
  let end = min(first + p.chunk, p.outer);
  let inner4 = p.inner / 4u;
  var sum = vec4f(0.0);
  for (var o = first; o < end; o++) {
    let row = (o * p.len + k) * inner4;
    for (var i = lid; i < inner4; i += ROWS4_WG) {
      sum += x4[row + i];
    }
  }
  workgroup_fold(sum.x + sum.y + sum.z + sum.w, lid, ROWS4_WG, 1u);
  if (lid == 0u) { partial[group] = wg_sum[0]; }
}

const COLS: u32 = WG / LANES;

@compute @workgroup_size(WG)
fn columns(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let col_groups = (p.len + COLS - 1u) / COLS;
  let group = workgroup_index(wid, nwg);
  if (group >= col_groups * p.chunks) { return; } // the same for the whole workgroup
  let row_block = group / col_groups;
  let col = (group - row_block * col_groups) * COLS + lid % COLS;
  let lane = lid / COLS;
  let first = row_block * p.chunk;
  let end = min(first + p.chunk, p.outer);
  var sum = 0.0;
  if (col < p.len) {
    for (var r = first + lane; r < end; r += LANES) {
      sum += x[r * p.len + col];
    }
  }
  // Lane l of a column sits at lid = l * COLS + column: folding the workgroup down to COLS slots
  // leaves column j's sum in slot j.
  workgroup_fold(sum, lid, WG, COLS);
  if (lid < COLS && col < p.len) { partial[row_block * p.len + col] = wg_sum[lid]; }
}
