// Group normalisation and layer normalisation, forward and backward. Both normalise rows of
// contiguous values by the row's own mean and biased variance:
//   group norm, x [N, C, S]: a row is the C/G channels of one (sample, group), len = C/G * S;
//   layer norm: a row is one run of the normalised trailing dimensions (G = 1, S = 1).
// The affine entry (weight and bias index) of value i of row r is
//   a = (r % G) * group_channels + i / S          (group norm: the channel; layer norm: i)
// and there are A = G * group_channels of them.
// Defines: WG (workgroup size, a multiple of 8).
//
// Statistics take two passes over the row. The first sums x - pivot, the pivot being the row's
// first value (0 if not finite), the second ((x - pivot) - mean)^2: with a mean 1e4 times the
// spread, x - pivot is exact and of the order of the spread, so neither the mean nor the variance
// loses float32 digits to it (an unshifted mean is rounded at the ulp of 1e4, an error of 1e-3 of
// the spread). The pivot and the shifted mean stay apart in the saved statistics for that reason.
//
// Entry points, by the suffix of how they run:
//   _rows:   an invocation per row, no barriers (short rows: a workgroup's barriers cost more on
//            CPU adapters than a few hundred values do);
//   (none):  a workgroup per row, scalar loads;
//   4:       a workgroup per row read as vec4 (len a multiple of 4, S a multiple of 4: one affine
//            entry per vec4);
//   4_elementwise: the same for S = 1 (len a multiple of 4), weight and bias read as vec4 too.
// and their bindings:
//   forward:        x, y (write), stats (write), weight, bias  -> y, stats [rows] (pivot, mean, rstd)
//   backward_input: x, g, stats, weight, grad_x (write)
//       grad_x = rstd * (dy - mean(dy) - xhat * mean(dy * xhat)) over the row,
//       xhat = ((x - pivot) - mean) * rstd, dy = g * weight[a]
//   affine_grads:   x, g, stats, grad_affine (write)            -> [sum g | sum g * xhat], A each,
//       from the N * S values of each affine entry: a workgroup per entry, or an invocation per
//       entry (_columns).
// A missing weight or bias (flags) is bound to x: `select` still reads it, and x holds at least A
// values.
//! include lib/grid
//! include lib/workgroup_sum
//! include lib/float_bits

struct Params {
  rows: u32,
  len: u32,             // values per row
  groups: u32,          // G
  group_channels: u32,  // affine entries per row
  spatial: u32,         // S: consecutive values of a row sharing an affine entry
  flags: u32,           // forward: bit 0 weight given, bit 1 bias given; backward_input: bit 0
                        // weight given; affine_grads: bit 0 the weight's gradient is wanted
  eps: f32,
}

struct RowStats { pivot: f32, mean: f32, rstd: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> x4: array<vec4f>;
// forward
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> y4: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> stats: array<RowStats>;
@group(0) @binding(4) var<storage, read> weight: array<f32>;
@group(0) @binding(4) var<storage, read> weight4: array<vec4f>;
@group(0) @binding(5) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read> bias4: array<vec4f>;
// backward
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> g4: array<vec4f>;
@group(0) @binding(3) var<storage, read> saved: array<RowStats>;
@group(0) @binding(4) var<storage, read_write> grad_affine: array<f32>;
@group(0) @binding(5) var<storage, read_write> grad_x: array<f32>;
@group(0) @binding(5) var<storage, read_write> grad_x4: array<vec4f>;

fn pivot_of(first: f32) -> f32 { return select(0.0, first, is_finite(first)); }

fn horizontal(v: vec4f) -> f32 { return (v.x + v.y) + (v.z + v.w); }

// The quotient and remainder of an index by a divisor, advanced by a fixed step without dividing.
struct Cursor { q: u32, r: u32 }

fn cursor(i: u32, d: u32) -> Cursor { return Cursor(i / d, i % d); }

fn advance(c: Cursor, step: Cursor, d: u32) -> Cursor {
  var q = c.q + step.q;
  var r = c.r + step.r;
  if (r >= d) { r -= d; q += 1u; }
  return Cursor(q, r);
}

// Bit 0 of the flags: the weight is given (forward, backward_input), its gradient wanted (affine_grads).
fn flag_weight() -> bool { return (p.flags & 1u) != 0u; }

fn weight_at(a: u32) -> f32 { return select(1.0, weight[a], flag_weight()); }

fn bias_at(a: u32) -> f32 { return select(0.0, bias[a], (p.flags & 2u) != 0u); }

// Affine entries a..a+3 (a a multiple of 4).
fn weight4_at(a: u32) -> vec4f { return select(vec4f(1.0), weight4[a / 4u], flag_weight()); }

fn bias4_at(a: u32) -> vec4f { return select(vec4f(0.0), bias4[a / 4u], (p.flags & 2u) != 0u); }


// The affine entry of the row's first value.
fn affine_base(row: u32) -> u32 { return (row % p.groups) * p.group_channels; }

fn xhat(v: f32, st: RowStats) -> f32 { return ((v - st.pivot) - st.mean) * st.rstd; }

fn xhat4(v: vec4f, st: RowStats) -> vec4f { return ((v - st.pivot) - st.mean) * st.rstd; }

// ---- forward ------------------------------------------------------------------------------

@compute @workgroup_size(WG)
fn forward_rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = linear_index(wid, nwg, lid);
  if (row >= p.rows) { return; }
  let start = row * p.len;
  let pivot = pivot_of(x[start]);
  var s = 0.0;
  for (var i = 0u; i < p.len; i++) { s += x[start + i] - pivot; }
  let mean = s / f32(p.len);
  var q = 0.0;
  for (var i = 0u; i < p.len; i++) {
    let d = (x[start + i] - pivot) - mean;
    q += d * d;
  }
  let st = RowStats(pivot, mean, inverseSqrt(q / f32(p.len) + p.eps));
  stats[row] = st;
  let base = affine_base(row);
  var c = Cursor(0u, 0u);
  let step = cursor(1u, p.spatial);
  for (var i = 0u; i < p.len; i++) {
    y[start + i] = xhat(x[start + i], st) * weight_at(base + c.q) + bias_at(base + c.q);
    c = advance(c, step, p.spatial);
  }
}

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = workgroup_index(wid, nwg);
  if (row >= p.rows) { return; } // the same for the whole workgroup
  let start = row * p.len;
  let pivot = pivot_of(x[start]);
  var s = 0.0;
  for (var i = lid; i < p.len; i += WG) { s += x[start + i] - pivot; }
  let mean = workgroup_sum2(vec2f(s, 0.0), lid).x / f32(p.len);
  var q = 0.0;
  for (var i = lid; i < p.len; i += WG) {
    let d = (x[start + i] - pivot) - mean;
    q += d * d;
  }
  let st = RowStats(pivot, mean, inverseSqrt(workgroup_sum2(vec2f(q, 0.0), lid).x / f32(p.len) + p.eps));
  if (lid == 0u) { stats[row] = st; }
  let base = affine_base(row);
  var c = cursor(lid, p.spatial);
  let step = cursor(WG, p.spatial);
  for (var i = lid; i < p.len; i += WG) {
    y[start + i] = xhat(x[start + i], st) * weight_at(base + c.q) + bias_at(base + c.q);
    c = advance(c, step, p.spatial);
  }
}

// The statistics of a row read as vec4, starting at vec4 index start4.
fn row_stats4(start4: u32, lid: u32) -> RowStats {
  let pivot = pivot_of(x4[start4].x);
  let len4 = p.len / 4u;
  var s = vec4f(0.0);
  for (var j = lid; j < len4; j += WG) { s += x4[start4 + j] - pivot; }
  let mean = workgroup_sum2(vec2f(horizontal(s), 0.0), lid).x / f32(p.len);
  var q = vec4f(0.0);
  for (var j = lid; j < len4; j += WG) {
    let d = (x4[start4 + j] - pivot) - mean;
    q += d * d;
  }
  let variance = workgroup_sum2(vec2f(horizontal(q), 0.0), lid).x / f32(p.len);
  return RowStats(pivot, mean, inverseSqrt(variance + p.eps));
}

@compute @workgroup_size(WG)
fn forward4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = workgroup_index(wid, nwg);
  if (row >= p.rows) { return; }
  let len4 = p.len / 4u;
  let start4 = row * len4;
  let st = row_stats4(start4, lid);
  if (lid == 0u) { stats[row] = st; }
  let base = affine_base(row);
  let s4 = p.spatial / 4u;
  var c = cursor(lid, s4);
  let step = cursor(WG, s4);
  for (var j = lid; j < len4; j += WG) {
    y4[start4 + j] = xhat4(x4[start4 + j], st) * weight_at(base + c.q) + bias_at(base + c.q);
    c = advance(c, step, s4);
  }
}

@compute @workgroup_size(WG)
fn forward4_elementwise(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = workgroup_index(wid, nwg);
  if (row >= p.rows) { return; }
  let len4 = p.len / 4u;
  let start4 = row * len4;
  let st = row_stats4(start4, lid);
  if (lid == 0u) { stats[row] = st; }
  let base = affine_base(row);
  for (var j = lid; j < len4; j += WG) {
    let a = base + 4u * j;
    y4[start4 + j] = xhat4(x4[start4 + j], st) * weight4_at(a) + bias4_at(a);
  }
}

// ---- backward: the input's gradient -------------------------------------------------------

@compute @workgroup_size(WG)
fn backward_input_rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = linear_index(wid, nwg, lid);
  if (row >= p.rows) { return; }
  let start = row * p.len;
  let st = saved[row];
  let base = affine_base(row);
  let step = cursor(1u, p.spatial);
  var sums = vec2f(0.0);
  var c = Cursor(0u, 0u);
  for (var i = 0u; i < p.len; i++) {
    let dy = g[start + i] * weight_at(base + c.q);
    sums += vec2f(dy, dy * xhat(x[start + i], st));
    c = advance(c, step, p.spatial);
  }
  let means = sums / f32(p.len);
  c = Cursor(0u, 0u);
  for (var i = 0u; i < p.len; i++) {
    let dy = g[start + i] * weight_at(base + c.q);
    grad_x[start + i] = st.rstd * ((dy - means.x) - xhat(x[start + i], st) * means.y);
    c = advance(c, step, p.spatial);
  }
}

@compute @workgroup_size(WG)
fn backward_input(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = workgroup_index(wid, nwg);
  if (row >= p.rows) { return; }
  let start = row * p.len;
  let st = saved[row];
  let base = affine_base(row);
  let step = cursor(WG, p.spatial);
  var sums = vec2f(0.0);
  var c = cursor(lid, p.spatial);
  for (var i = lid; i < p.len; i += WG) {
    let dy = g[start + i] * weight_at(base + c.q);
    sums += vec2f(dy, dy * xhat(x[start + i], st));
    c = advance(c, step, p.spatial);
  }
  let means = workgroup_sum2(sums, lid) / f32(p.len);
  c = cursor(lid, p.spatial);
  for (var i = lid; i < p.len; i += WG) {
    let dy = g[start + i] * weight_at(base + c.q);
    grad_x[start + i] = st.rstd * ((dy - means.x) - xhat(x[start + i], st) * means.y);
    c = advance(c, step, p.spatial);
  }
}

@compute @workgroup_size(WG)
fn backward_input4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = workgroup_index(wid, nwg);
  if (row >= p.rows) { return; }
  let len4 = p.len / 4u;
  let start4 = row * len4;
  let st = saved[row];
  let base = affine_base(row);
  let s4 = p.spatial / 4u;
  let step = cursor(WG, s4);
  var s1 = vec4f(0.0);
  var s2 = vec4f(0.0);
  var c = cursor(lid, s4);
  for (var j = lid; j < len4; j += WG) {
    let dy = g4[start4 + j] * weight_at(base + c.q);
    s1 += dy;
    s2 += dy * xhat4(x4[start4 + j], st);
    c = advance(c, step, s4);
  }
  let means = workgroup_sum2(vec2f(horizontal(s1), horizontal(s2)), lid) / f32(p.len);
  c = cursor(lid, s4);
  for (var j = lid; j < len4; j += WG) {
    let dy = g4[start4 + j] * weight_at(base + c.q);
    grad_x4[start4 + j] = st.rstd * ((dy - means.x) - xhat4(x4[start4 + j], st) * means.y);
    c = advance(c, step, s4);
  }
}

@compute @workgroup_size(WG)
fn backward_input4_elementwise(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = workgroup_index(wid, nwg);
  if (row >= p.rows) { return; }
  let len4 = p.len / 4u;
  let start4 = row * len4;
  let st = saved[row];
  let base = affine_base(row);
  var s1 = vec4f(0.0);
  var s2 = vec4f(0.0);
  for (var j = lid; j < len4; j += WG) {
    let dy = g4[start4 + j] * weight4_at(base + 4u * j);
    s1 += dy;
    s2 += dy * xhat4(x4[start4 + j], st);
  }
  let means = workgroup_sum2(vec2f(horizontal(s1), horizontal(s2)), lid) / f32(p.len);
  for (var j = lid; j < len4; j += WG) {
    let dy = g4[start4 + j] * weight4_at(base + 4u * j);
    grad_x4[start4 + j] = st.rstd * ((dy - means.x) - xhat4(x4[start4 + j], st) * means.y);
  }
}

// ---- backward: the affine parameters' gradients -------------------------------------------
// Affine entry a's values are the S-long runs at (n * A + a) * S, n < N (the samples), each
// normalised with the statistics of row n * G + a / group_channels.

fn affine_count() -> u32 { return p.groups * p.group_channels; }

fn write_affine(a: u32, sums: vec2f) {
  grad_affine[a] = sums.x;
  grad_affine[affine_count() + a] = sums.y;
}

@compute @workgroup_size(WG)
fn affine_grads_columns(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let a = linear_index(wid, nwg, lid);
  let count = affine_count();
  if (a >= count) { return; }
  let samples = p.rows / p.groups;
  let group = a / p.group_channels;
  var sums = vec2f(0.0);
  for (var n = 0u; n < samples; n++) {
    let st = saved[n * p.groups + group];
    let first = (n * count + a) * p.spatial;
    for (var i = first; i < first + p.spatial; i++) {
      let gi = g[i];
      sums.x += gi;
      if (flag_weight()) { sums.y += gi * xhat(x[i], st); }
    }
  }
  write_affine(a, sums);
}

@compute @workgroup_size(WG)
fn affine_grads(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let a = workgroup_index(wid, nwg);
  let count = affine_count();
  if (a >= count) { return; }
  let samples = p.rows / p.groups;
  let group = a / p.group_channels;
  var sums = vec2f(0.0);
  var c = cursor(lid, p.spatial); // (sample, position)
  let step = cursor(WG, p.spatial);
  for (var k = lid; k < samples * p.spatial; k += WG) {
    let i = (c.q * count + a) * p.spatial + c.r;
    let gi = g[i];
    sums.x += gi;
    if (flag_weight()) { sums.y += gi * xhat(x[i], saved[c.q * p.groups + group]); }
    c = advance(c, step, p.spatial);
  }
  let total = workgroup_sum2(sums, lid);
  if (lid == 0u) { write_affine(a, total); }
}

@compute @workgroup_size(WG)
fn affine_grads4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let a = workgroup_index(wid, nwg);
  let count = affine_count();
  if (a >= count) { return; }
  let samples = p.rows / p.groups;
  let group = a / p.group_channels;
  let s4 = p.spatial / 4u;
  var s1 = vec4f(0.0);
  var s2 = vec4f(0.0);
  var c = cursor(lid, s4);
  let step = cursor(WG, s4);
  for (var k = lid; k < samples * s4; k += WG) {
    let i = (c.q * count + a) * s4 + c.r;
    let gi = g4[i];
    s1 += gi;
    if (flag_weight()) { s2 += gi * xhat4(x4[i], saved[c.q * p.groups + group]); }
    c = advance(c, step, s4);
  }
  let total = workgroup_sum2(vec2f(horizontal(s1), horizontal(s2)), lid);
  if (lid == 0u) { write_affine(a, total); }
}
