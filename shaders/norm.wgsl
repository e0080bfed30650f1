// Batch normalisation over x [N, C, S] (S: the spatial dimensions flattened, 1 for [N, C]), forward
// and backward. Statistics per channel are gathered as (count, mean, M2) moments, merged with Chan's
// formula, which stays accurate when the mean is large against the spread (no E[x^2] - E[x]^2
// cancellation). The moments are those of x - pivot, the pivot being the channel's first value
// (0 if that is not finite): the shifted mean is of the order of the spread, so the rounding of
// Welford's running mean is too. Unshifted, with a mean 1e4 times the spread, each update rounded
// at the mean's ulp and the mean drifted by about two of them over 8192 values (PyTorch's float32
// statistics, accumulated in double, round once).
// Defines: WG (workgroup size, a power of two).
// Every entry point shares one binding layout; each says what its src0..src3 and dst hold
// (unused sources are bound to any read-only buffer). The per-channel coefficients `coef` are
// [mean | scale | shift | unbiased variance | inverse std], each C long: y = (x - mean) * scale + shift.
// Past the binding limit the runtime splits x by images, and one image by channels: a dispatch sees
// `view_channels` channels from `channel0` of a run of images (x's own layout, with fewer images
// or channels). The partial entry points see `count` values per channel, `chunks` chunks of them,
// and write their chunks' results at slots slot0.. of `slots` per channel, which the finalize
// entry points merge.
//   partial_stats:     src0 x, src1 x's first image (the pivots) -> dst moments [C, slots, 3]: (mean, M2, count),
//                      then the C pivots
//   finalize:          src0 moments, src1 weight, src2 bias     -> dst coef (5C)
//   eval_coefficients: src0 running mean, src1 running var,
//                      src2 weight, src3 bias                    -> dst coef (first 3C)
//   update_running:    src0 coef                                 -> dst running mean or var, in place
//   normalize:         src0 x, src1 coef                         -> dst y
// Backward in training mode, with xhat = (x - mean) * invstd and m = N * S values per channel:
//   grad_bias = sum g,  grad_weight = sum g * xhat,
//   grad_x = weight * invstd * (g - sum g / m - xhat * sum(g * xhat) / m)
//          = a * (g - b) - d * (x - mean)   with a = weight * invstd, b = sum g / m,
//                                                d = a * invstd * sum(g * xhat) / m
// The per-channel backward coefficients `bcoef` are [sum g | sum g * xhat | a | b | d], each C long.
//   backward_partial:  src0 g, src1 x, src2 mean                -> dst sums [C, slots, 2]: sum g, sum g * (x - mean)
//   backward_finalize: src0 sums, src1 weight, src2 invstd      -> dst bcoef (5C)
//   backward_input:    src0 g, src1 x, src2 bcoef, src3 mean    -> dst grad_x
//   eval_backward:     src0 g, src1 running var, src2 weight    -> dst grad_x = g * weight / sqrt(var + eps)
// partial_stats4 and backward_partial4 are partial_stats and backward_partial for S a multiple of 4,
// reading vec4 (a chunk, a multiple of 4 long, then never splits a vec4 between planes).
// normalize_planes and backward_input_planes do what normalize and backward_input do, for S a
// multiple of 4: one workgroup per (n, c) plane, which loads its channel's coefficients once and
// reads the plane as vec4. On CPU adapters (lavapipe) that runs ~6x faster than an invocation per
// value, which pays an integer division and several scattered loads per value; on GPUs the
// accesses are just as contiguous.
//! include lib/grid
//! include lib/float_bits
//! include lib/workgroup_sum

struct Params {
  n: u32,        // elements of x
  channels: u32,
  spatial: u32,
  count: u32,    // values per channel: N * S
  chunk: u32,    // values per channel reduced by one workgroup of partial_stats
  chunks: u32,   // ceil(count / chunk)
  stat: u32,     // update_running: 0 updates the mean, 3 the variance (the coef section it reads)
  flags: u32,    // bit 0: weight given, bit 1: bias given
  momentum: f32,
  eps: f32,
  slot0: u32,    // the partial entry points: the first slot this dispatch's chunks write
  slots: u32,    // slots per channel in the moments or sums (every dispatch's chunks)
  view_channels: u32, // the channels of x (and y, g) this dispatch sees, from channel0
  channel0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src0: array<f32>;
@group(0) @binding(2) var<storage, read> src1: array<f32>;
@group(0) @binding(3) var<storage, read> src2: array<f32>;
@group(0) @binding(4) var<storage, read> src3: array<f32>;
@group(0) @binding(5) var<storage, read_write> dst: array<f32>;
// The same buffers as vec4, for the per-plane entry points (no entry point uses both views).
@group(0) @binding(1) var<storage, read> src0_4: array<vec4f>;
@group(0) @binding(2) var<storage, read> src1_4: array<vec4f>;
@group(0) @binding(5) var<storage, read_write> dst_4: array<vec4f>;

struct Moments { n: u32, mean: f32, m2: f32 }

// Chan et al.'s pairwise update: exact in exact arithmetic, and stable in floating point.
fn combine(a: Moments, b: Moments) -> Moments {
  if (b.n == 0u) { return a; }
  if (a.n == 0u) { return b; }
  let n = a.n + b.n;
  let fraction_b = f32(b.n) / f32(n);
  let delta = b.mean - a.mean;
  return Moments(n, a.mean + delta * fraction_b, a.m2 + b.m2 + delta * delta * f32(a.n) * fraction_b);
}

// The pivot the moments are taken about, from the channel's first value: that value, if finite.
fn channel_pivot(first: f32) -> f32 {
  return select(0.0, first, is_finite(first));
}

var<workgroup> shared_n: array<u32, WG>;
var<workgroup> shared_mean: array<f32, WG>;
var<workgroup> shared_m2: array<f32, WG>;

@compute @workgroup_size(WG)
fn partial_stats(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let group = workgroup_index(wid, nwg);
  if (group >= p.view_channels * p.chunks) { return; } // the same for the whole workgroup
  let c = group / p.chunks;
  let first = (group - c * p.chunks) * p.chunk;
  let end = min(first + p.chunk, p.count);
  let pivot = channel_pivot(src1[c * p.spatial]);
  // Welford's running update over this invocation's share of the chunk.
  var m = Moments(0u, 0.0, 0.0);
  for (var j = first + lid; j < end; j += WG) {
    let batch = j / p.spatial;
    m = welford(m, src0[(batch * p.view_channels + c) * p.spatial + (j - batch * p.spatial)] - pivot);
  }
  reduce_moments(m, slot(group), lid);
  store_pivot(group, pivot, lid);
}

// The pivot of channel channel0 + c, after the moments (by the channel's first chunk; every
// dispatch over a run of images writes the same value).
fn store_pivot(group: u32, pivot: f32, lid: u32) {
  let c = group / p.chunks;
  if (lid == 0u && group == c * p.chunks) { dst[3u * p.channels * p.slots + p.channel0 + c] = pivot; }
}

// Where workgroup `group` (the chunk k of the dispatch's channel c) of a partial entry point
// writes: slot slot0 + k of channel channel0 + c.
fn slot(group: u32) -> u32 {
  let c = group / p.chunks;
  return (p.channel0 + c) * p.slots + p.slot0 + (group - c * p.chunks);
}

// The vec4 indices [first, end) of channel c's chunk that workgroup `group` of partial_stats4 or
// backward_partial4 reads, in the channel's (n, s) order.
struct Chunk4 { c: u32, first: u32, end: u32 }

fn chunk4(group: u32) -> Chunk4 {
  let c = group / p.chunks;
  let first = (group - c * p.chunks) * p.chunk / 4u;
  return Chunk4(c, first, min(first + p.chunk / 4u, p.count / 4u));
}

@compute @workgroup_size(WG)
fn partial_stats4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let group = workgroup_index(wid, nwg);
  if (group >= p.view_channels * p.chunks) { return; } // the same for the whole workgroup
  let k = chunk4(group);
  let s4 = p.spatial / 4u;
  let pivot = channel_pivot(src1_4[k.c * s4].x);
  var m = Moments(0u, 0.0, 0.0);
  for (var j = k.first + lid; j < k.end; j += WG) {
    let batch = j / s4;
    let v = src0_4[(batch * p.view_channels + k.c) * s4 + (j - batch * s4)] - pivot;
    m = welford(welford(welford(welford(m, v.x), v.y), v.z), v.w);
  }
  reduce_moments(m, slot(group), lid);
  store_pivot(group, pivot, lid);
}

fn welford(m: Moments, v: f32) -> Moments {
  let n = m.n + 1u;
  let delta = v - m.mean;
  let mean = m.mean + delta / f32(n);
  return Moments(n, mean, m.m2 + delta * (v - mean));
}

// Merges the workgroup's moments (a tree of Chan's updates) and writes them at moments slot `at`.
fn reduce_moments(m: Moments, at: u32, lid: u32) {
  shared_n[lid] = m.n;
  shared_mean[lid] = m.mean;
  shared_m2[lid] = m.m2;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half /= 2u) {
    if (lid < half) {
      let merged = combine(
        Moments(shared_n[lid], shared_mean[lid], shared_m2[lid]),
        Moments(shared_n[lid + half], shared_mean[lid + half], shared_m2[lid + half]),
      );
      shared_n[lid] = merged.n;
      shared_mean[lid] = merged.mean;
      shared_m2[lid] = merged.m2;
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    dst[3u * at] = shared_mean[0];
    dst[3u * at + 1u] = shared_m2[0];
    dst[3u * at + 2u] = f32(shared_n[0]); // at most `chunk` values: exact
  }
}

@compute @workgroup_size(WG)
fn finalize(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.x;
  if (c >= p.channels) { return; }
  var m = Moments(0u, 0.0, 0.0);
  for (var k = c * p.slots; k < (c + 1u) * p.slots; k++) {
    m = combine(m, Moments(u32(src0[3u * k + 2u]), src0[3u * k], src0[3u * k + 1u]));
  }
  let biased_var = m.m2 / f32(m.n);
  let weight = select(1.0, src1[c], (p.flags & 1u) != 0u);
  let bias = select(0.0, src2[c], (p.flags & 2u) != 0u);
  let C = p.channels;
  dst[c] = src0[3u * C * p.slots + c] + m.mean;
  dst[C + c] = weight * inverseSqrt(biased_var + p.eps);
  dst[2u * C + c] = bias;
  dst[3u * C + c] = m.m2 / f32(m.n - 1u);
  dst[4u * C + c] = inverseSqrt(biased_var + p.eps);
}

@compute @workgroup_size(WG)
fn eval_coefficients(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.x;
  if (c >= p.channels) { return; }
  let weight = select(1.0, src2[c], (p.flags & 1u) != 0u);
  let bias = select(0.0, src3[c], (p.flags & 2u) != 0u);
  let C = p.channels;
  dst[c] = src0[c];
  dst[C + c] = weight * inverseSqrt(src1[c] + p.eps);
  dst[2u * C + c] = bias;
}

@compute @workgroup_size(WG)
fn update_running(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.x;
  if (c >= p.channels) { return; }
  dst[c] = (1.0 - p.momentum) * dst[c] + p.momentum * src0[p.stat * p.channels + c];
}

@compute @workgroup_size(WG)
fn normalize(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= p.n) { return; }
  let c = p.channel0 + (i / p.spatial) % p.view_channels;
  let C = p.channels;
  dst[i] = (src0[i] - src1[c]) * src1[C + c] + src1[2u * C + c];
}

@compute @workgroup_size(WG)
fn normalize_planes(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let plane = workgroup_index(wid, nwg);
  let s4 = p.spatial / 4u;
  if (plane * s4 * 4u >= p.n) { return; }
  let c = p.channel0 + plane % p.view_channels;
  let C = p.channels;
  let mean = src1[c];
  let scale = src1[C + c];
  let shift = src1[2u * C + c];
  for (var j = plane * s4 + lid; j < (plane + 1u) * s4; j += WG) {
    dst_4[j] = (src0_4[j] - mean) * scale + shift;
  }
}

// ---- backward ----------------------------------------------------------------------------------

@compute @workgroup_size(WG)
fn backward_partial(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let group = workgroup_index(wid, nwg);
  if (group >= p.view_channels * p.chunks) { return; } // the same for the whole workgroup
  let c = group / p.chunks;
  let first = (group - c * p.chunks) * p.chunk;
  let end = min(first + p.chunk, p.count);
  let mean = src2[p.channel0 + c];
  // Both sums in one sweep over the chunk; measuring x from the mean keeps sum g * (x - mean)
  // free of cancellation when the mean is large.
  var sum_g = 0.0;
  var sum_gx = 0.0;
  for (var j = first + lid; j < end; j += WG) {
    let batch = j / p.spatial;
    let i = (batch * p.view_channels + c) * p.spatial + (j - batch * p.spatial);
    let g = src0[i];
    sum_g += g;
    sum_gx += g * (src1[i] - mean);
  }
  reduce_grad_sums(sum_g, sum_gx, slot(group), lid);
}

@compute @workgroup_size(WG)
fn backward_partial4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let group = workgroup_index(wid, nwg);
  if (group >= p.view_channels * p.chunks) { return; } // the same for the whole workgroup
  let k = chunk4(group);
  let s4 = p.spatial / 4u;
  let mean = src2[p.channel0 + k.c];
  var sum_g = vec4f(0.0);
  var sum_gx = vec4f(0.0);
  for (var j = k.first + lid; j < k.end; j += WG) {
    let batch = j / s4;
    let i = (batch * p.view_channels + k.c) * s4 + (j - batch * s4);
    let g = src0_4[i];
    sum_g += g;
    sum_gx += g * (src1_4[i] - mean);
  }
  reduce_grad_sums(sum_g.x + sum_g.y + sum_g.z + sum_g.w, sum_gx.x + sum_gx.y + sum_gx.z + sum_gx.w, slot(group), lid);
}

// Adds up the workgroup's two sums and writes them at sums slot `at`.
fn reduce_grad_sums(sum_g: f32, sum_gx: f32, at: u32, lid: u32) {
  let sums = workgroup_sum2(vec2f(sum_g, sum_gx), lid);
  if (lid == 0u) {
    dst[2u * at] = sums.x;
    dst[2u * at + 1u] = sums.y;
  }
}

@compute @workgroup_size(WG)
fn backward_finalize(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.x;
  if (c >= p.channels) { return; }
  var sum_g = 0.0;
  var sum_gx = 0.0;
  for (var k = c * p.slots; k < (c + 1u) * p.slots; k++) {
    sum_g += src0[2u * k];
    sum_gx += src0[2u * k + 1u];
  }
  let invstd = src2[c];
  let sum_gxhat = sum_gx * invstd;
  let a = select(1.0, src1[c], (p.flags & 1u) != 0u) * invstd;
  let m = f32(p.count);
  let C = p.channels;
  dst[c] = sum_g;
  dst[C + c] = sum_gxhat;
  dst[2u * C + c] = a;
  dst[3u * C + c] = sum_g / m;
  dst[4u * C + c] = a * invstd * sum_gxhat / m;
}

@compute @workgroup_size(WG)
fn backward_input(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= p.n) { return; }
  let c = p.channel0 + (i / p.spatial) % p.view_channels;
  let C = p.channels;
  dst[i] = src2[2u * C + c] * (src0[i] - src2[3u * C + c]) - src2[4u * C + c] * (src1[i] - src3[c]);
}

@compute @workgroup_size(WG)
fn backward_input_planes(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let plane = workgroup_index(wid, nwg);
  let s4 = p.spatial / 4u;
  if (plane * s4 * 4u >= p.n) { return; }
  let c = p.channel0 + plane % p.view_channels;
  let C = p.channels;
  let a = src2[2u * C + c];
  let b = src2[3u * C + c];
  let d = src2[4u * C + c];
  let mean = src3[c];
  for (var j = plane * s4 + lid; j < (plane + 1u) * s4; j += WG) {
    dst_4[j] = a * (src0_4[j] - b) - d * (src1_4[j] - mean);
  }
}

@compute @workgroup_size(WG)
fn eval_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= p.n) { return; }
  let c = p.channel0 + (i / p.spatial) % p.view_channels;
  let weight = select(1.0, src2[c], (p.flags & 1u) != 0u);
  dst[i] = src0[i] * weight * inverseSqrt(src1[c] + p.eps);
}
