// Cross-entropy (log-softmax + negative log-likelihood, fused) over logits [N, C] and targets [N]
// holding class indices as float32, with PyTorch's class weights, ignore_index and label smoothing:
//   loss_i = (1 - eps) * nll_i + eps / C * smooth_i
//   nll_i = -w[t_i] * logp[i, t_i],  smooth_i = -sum_c w[c] * logp[i, c]  (w = 1 without weights)
//   an ignored sample has loss 0 and weight 0; a target that is not an integer in [0, C) gives NaN.
// Defines: WG (workgroup size, a power of two).
// Entry points (one binding layout):
//   rows:   one invocation per sample (few classes)       logits, labels, weight -> out
//   wide:   one workgroup per sample (many classes)       logits, labels, weight -> out
//           out[i] = loss_i and, when flags bit 1 is set, out[N + i] = w[t_i] (0 if ignored)
//   reduce: one workgroup: out[0] = sum_i loss_i, divided by sum_i w[t_i] when p.mean == 1
//           (logits holds the per-sample values [2N]; labels and weight are unused)

struct Params {
  rows: u32,
  classes: u32,
  flags: u32,        // bit 0: class weights given, bit 1: write the per-sample weights after the losses
  mean: u32,
  ignore_index: f32, // an integer, exactly representable
  smoothing: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<f32>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

fn is_neg_inf(v: f32) -> bool { return bitcast<u32>(v) == 0xff800000u; }
fn is_finite(v: f32) -> bool { return (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u; }
fn neg_inf() -> f32 { let bits = 0xff800000u; return bitcast<f32>(bits); }
fn nan() -> f32 { let bits = 0x7fc00000u; return bitcast<f32>(bits); }

fn class_weight(c: u32) -> f32 { return select(1.0, weight[c], (p.flags & 1u) != 0u); }

// What a row contributes: max m, sum of exp(x - m), and for label smoothing the class-weighted
// sum of (x - shift) and the sum of the weights. The shift (the row's first finite logit) keeps
// the weighted sum free of cancellation when all logits share a large offset.
struct Partial { m: f32, s: f32, wx: f32, w: f32 }

fn push(a: Partial, v: f32, c: u32, shift: f32) -> Partial {
  var r = a;
  if (p.smoothing != 0.0) {
    let w = class_weight(c);
    r.wx += w * (v - shift);
    r.w += w;
  }
  if (is_neg_inf(v)) { return r; }
  if (v > r.m) {
    r.s = select(r.s * exp(r.m - v), 0.0, is_neg_inf(r.m)) + 1.0;
    r.m = v;
  } else {
    r.s += exp(v - r.m);
  }
  return r;
}

fn merge(a: Partial, b: Partial) -> Partial {
  var r = Partial(max(a.m, b.m), 0.0, a.wx + b.wx, a.w + b.w);
  if (is_neg_inf(a.m)) { r.s = b.s; } else if (is_neg_inf(b.m)) { r.s = a.s; } else {
    r.s = a.s * exp(a.m - r.m) + b.s * exp(b.m - r.m);
  }
  return r;
}

fn row_shift(base: u32) -> f32 {
  let first = logits[base];
  return select(0.0, first, is_finite(first));
}

fn write_sample(i: u32, base: u32, shift: f32, st: Partial) {
  let t = labels[i];
  var loss = 0.0;
  var w = 0.0;
  if (t != p.ignore_index) {
    if (t >= 0.0 && t < f32(p.classes) && fract(t) == 0.0) {
      let cls = u32(t);
      let log_sum = st.m + log(st.s); // log sum_c exp(x_c)
      w = class_weight(cls);
      loss = -w * (logits[base + cls] - log_sum);
      if (p.smoothing != 0.0) {
        // -sum_c w_c (x_c - log_sum), with x_c measured from the shift
        let smoothing_term = -(st.wx - (log_sum - shift) * st.w);
        loss = (1.0 - p.smoothing) * loss + p.smoothing / f32(p.classes) * smoothing_term;
      }
    } else {
      loss = nan();
      w = nan();
    }
  }
  out[i] = loss;
  if ((p.flags & 2u) != 0u) { out[p.rows + i] = w; }
}

@compute @workgroup_size(WG)
fn rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= p.rows) { return; }
  let base = i * p.classes;
  let shift = row_shift(base);
  var st = Partial(neg_inf(), 0.0, 0.0, 0.0);
  for (var c = 0u; c < p.classes; c++) {
    st = push(st, logits[base + c], c, shift);
  }
  write_sample(i, base, shift, st);
}

var<workgroup> shared_m: array<f32, WG>;
var<workgroup> shared_s: array<f32, WG>;
var<workgroup> shared_wx: array<f32, WG>;
var<workgroup> shared_w: array<f32, WG>;

fn shared_partial(k: u32) -> Partial { return Partial(shared_m[k], shared_s[k], shared_wx[k], shared_w[k]); }

fn store_partial(k: u32, v: Partial) {
  shared_m[k] = v.m;
  shared_s[k] = v.s;
  shared_wx[k] = v.wx;
  shared_w[k] = v.w;
}

@compute @workgroup_size(WG)
fn wide(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = wid.y * nwg.x + wid.x;
  if (i >= p.rows) { return; } // the same for the whole workgroup
  let base = i * p.classes;
  let shift = row_shift(base);
  var st = Partial(neg_inf(), 0.0, 0.0, 0.0);
  for (var c = lid; c < p.classes; c += WG) {
    st = push(st, logits[base + c], c, shift);
  }
  store_partial(lid, st);
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half /= 2u) {
    if (lid < half) { store_partial(lid, merge(shared_partial(lid), shared_partial(lid + half))); }
    workgroupBarrier();
  }
  if (lid == 0u) { write_sample(i, base, shift, shared_partial(0u)); }
}

@compute @workgroup_size(WG)
fn reduce(@builtin(local_invocation_index) lid: u32) {
  // shared_m collects losses and shared_s weights here.
  var loss = 0.0;
  var w = 0.0;
  for (var i = lid; i < p.rows; i += WG) {
    loss += logits[i];
    if (p.mean == 1u) { w += logits[p.rows + i]; }
  }
  shared_m[lid] = loss;
  shared_s[lid] = w;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half /= 2u) {
    if (lid < half) {
      shared_m[lid] += shared_m[lid + half];
      shared_s[lid] += shared_s[lid + half];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let total = shared_m[0];
    out[0] = select(total, total / shared_s[0], p.mean == 1u);
  }
}
