// Cross-entropy (log-softmax + negative log-likelihood, fused) over logits [N, C] and int32 class
// indices [N], with PyTorch's class weights, ignore_index and label smoothing:
//   loss_i = (1 - eps) * nll_i + eps / C * smooth_i
//   nll_i = -w[t_i] * logp[i, t_i],  smooth_i = -sum_c w[c] * logp[i, c]  (w = 1 without weights)
//   an ignored sample has loss 0 and weight 0; a target outside [0, C) gives NaN.
//   A row holding a NaN or +inf logit, or only -inf, has no log-softmax (PyTorch's is NaN): its
//   loss is NaN unless ignored, and its gradient NaN even when ignored (0 * NaN in PyTorch's
//   backward).
// Its gradient, with prob = softmax(logits[i]) and W = sum_c w[c]:
//   d loss_i / d logits[i, c] = (1 - eps) * w[t_i] * (prob_c - [c == t_i]) + eps / C * (W * prob_c - w[c])
//   (0 for an ignored sample unless its row has no log-softmax, NaN for a bad target), times
//   grad_scale, divided by the summed target weights (divisor[0]) for the mean.
// Defines: WG (workgroup size, a power of two).
// Entry points, and the bindings each uses (they are ordered so that each entry point uses the
// first few: 0-2, 0-3, 0-4 or all of them):
//   reduce:     labels = the per-sample values [N] or [N, 2], float32 read through their bits ->
//               out[0] = sum_i loss_i, divided by sum_i w[t_i] (each loss's neighbour) when p.mean == 1
//   weight_sum: labels, weight -> out[0] = sum_i w[t_i] over the non-ignored samples (the mean's divisor)
//   rows:       labels, weight, logits -> out: one invocation per sample (few classes)
//   wide:       labels, weight, logits -> out: one workgroup per sample (many classes)
//               out[i] = loss_i or, when flags bit 1 is set, out[2i] = loss_i and out[2i + 1] = w[t_i]
//               (0 if ignored): a sample's values side by side, so that a run of samples is one range
//   rows_grad, wide_grad: the same, and in the same pass grad [N, C]; the mean reads divisor[0]
//! include lib/grid
//! include lib/float_bits
//! include lib/workgroup_sum

struct Params {
  rows: u32,
  classes: u32,
  flags: u32,        // bit 0: class weights given, bit 1: write each per-sample weight beside its loss
  mean: u32,
  ignore_index: i32,
  smoothing: f32,
  grad_scale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> labels: array<i32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;
@group(0) @binding(4) var<storage, read> logits: array<f32>;
@group(0) @binding(5) var<storage, read_write> grad: array<f32>;
@group(0) @binding(6) var<storage, read> divisor: array<f32>;

fn class_weight(c: u32) -> f32 { return select(1.0, weight[c], (p.flags & 1u) != 0u); }

fn is_ignored(t: i32) -> bool { return t == p.ignore_index; }
fn is_class(t: i32) -> bool { return t >= 0 && t < i32(p.classes); }

// Sample i's share of the mean's divisor: w[t_i], 0 when ignored, NaN for a bad target.
fn target_weight(i: u32) -> f32 {
  let t = labels[i];
  if (is_ignored(t)) { return 0.0; }
  if (is_class(t)) { return class_weight(u32(t)); }
  return nan();
}

// What a row contributes: max m, sum of exp(x - m), and for label smoothing the class-weighted
// sum of (x - shift) and the sum of the weights. The shift (the row's first finite logit) keeps
// the weighted sum free of cancellation when all logits share a large offset. m is NaN, for good,
// once a logit poisons the row.
struct Partial { m: f32, s: f32, wx: f32, w: f32 }

// Whether the row has no distribution: poisoned, or all -inf (nothing pushed but -inf).
fn undefined_row(st: Partial) -> bool { return is_nan(st.m) || is_neg_inf(st.m); }

fn push(a: Partial, v: f32, c: u32, shift: f32) -> Partial {
  var r = a;
  if (is_nan(r.m)) { return r; }
  if (is_nan_or_pos_inf(v)) { // the row has no distribution
    r.m = nan();
    return r;
  }
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
  if (is_nan(a.m)) { return a; }
  if (is_nan(b.m)) { return b; }
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
  if (!is_ignored(t)) {
    if (is_class(t) && !undefined_row(st)) {
      let cls = u32(t);
      // logp_c = (x_c - m) - log(s): measured from the max, so a large common offset cancels exactly.
      let log_s = log(st.s);
      loss = -class_weight(cls) * ((logits[base + cls] - st.m) - log_s);
      if (p.smoothing != 0.0) {
        // -sum_c w_c logp_c, with x_c measured from the shift
        let smoothing_term = -(st.wx - ((st.m - shift) + log_s) * st.w);
        loss = (1.0 - p.smoothing) * loss + p.smoothing / f32(p.classes) * smoothing_term;
      }
    } else {
      loss = nan();
    }
  }
  if ((p.flags & 2u) != 0u) {
    out[2u * i] = loss;
    out[2u * i + 1u] = target_weight(i);
  } else {
    out[i] = loss;
  }
}

// Writes grad[i, c] for c = first, first + step, ... (see the formula at the top).
fn write_grad(i: u32, base: u32, st: Partial, first: u32, step: u32) {
  let t = labels[i];
  let ignored = is_ignored(t);
  let valid = is_class(t);
  let cls = select(0u, u32(t), valid);
  let w_t = select(0.0, class_weight(cls), valid);
  let norm = select(p.grad_scale, p.grad_scale / divisor[0], p.mean == 1u);
  let inv_s = 1.0 / st.s;
  let per_class = p.smoothing / f32(p.classes);
  let undefined = undefined_row(st);
  for (var c = first; c < p.classes; c += step) {
    var g = 0.0;
    if (undefined) {
      g = nan();
    } else if (!ignored) {
      if (valid) {
        let prob = exp(logits[base + c] - st.m) * inv_s;
        g = (1.0 - p.smoothing) * w_t * (prob - select(0.0, 1.0, c == cls));
        if (p.smoothing != 0.0) { g += per_class * (st.w * prob - class_weight(c)); }
        g *= norm;
      } else {
        g = nan();
      }
    }
    grad[base + c] = g;
  }
}

fn row_stats(base: u32, shift: f32, first: u32, step: u32) -> Partial {
  var st = Partial(neg_inf(), 0.0, 0.0, 0.0);
  for (var c = first; c < p.classes; c += step) {
    st = push(st, logits[base + c], c, shift);
  }
  return st;
}

@compute @workgroup_size(WG)
fn rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= p.rows) { return; }
  let base = i * p.classes;
  let shift = row_shift(base);
  write_sample(i, base, shift, row_stats(base, shift, 0u, 1u));
}

@compute @workgroup_size(WG)
fn rows_grad(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= p.rows) { return; }
  let base = i * p.classes;
  let shift = row_shift(base);
  let st = row_stats(base, shift, 0u, 1u);
  write_sample(i, base, shift, st);
  write_grad(i, base, st, 0u, 1u);
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

// The whole workgroup gathers row i's statistics; every invocation gets them.
fn wide_stats(base: u32, shift: f32, lid: u32) -> Partial {
  store_partial(lid, row_stats(base, shift, lid, WG));
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half /= 2u) {
    if (lid < half) { store_partial(lid, merge(shared_partial(lid), shared_partial(lid + half))); }
    workgroupBarrier();
  }
  return shared_partial(0u);
}

@compute @workgroup_size(WG)
fn wide(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = workgroup_index(wid, nwg);
  if (i >= p.rows) { return; } // the same for the whole workgroup
  let base = i * p.classes;
  let shift = row_shift(base);
  let st = wide_stats(base, shift, lid);
  if (lid == 0u) { write_sample(i, base, shift, st); }
}

@compute @workgroup_size(WG)
fn wide_grad(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = workgroup_index(wid, nwg);
  if (i >= p.rows) { return; } // the same for the whole workgroup
  let base = i * p.classes;
  let shift = row_shift(base);
  let st = wide_stats(base, shift, lid);
  if (lid == 0u) { write_sample(i, base, shift, st); }
  write_grad(i, base, st, lid, WG);
}

@compute @workgroup_size(WG)
fn weight_sum(@builtin(local_invocation_index) lid: u32) {
  var w = 0.0;
  for (var i = lid; i < p.rows; i += WG) { w += target_weight(i); }
  let total = workgroup_sum(w, lid);
  if (lid == 0u) { out[0] = total; }
}

@compute @workgroup_size(WG)
fn reduce(@builtin(local_invocation_index) lid: u32) {
  // Here `labels` holds the per-sample losses, each followed by its weight for the mean.
  var loss = 0.0;
  var w = 0.0;
  for (var i = lid; i < p.rows; i += WG) {
    if (p.mean == 1u) {
      loss += bitcast<f32>(labels[2u * i]);
      w += bitcast<f32>(labels[2u * i + 1u]);
    } else {
      loss += bitcast<f32>(labels[i]);
    }
  }
  let sums = workgroup_sum2(vec2f(loss, w), lid);
  if (lid == 0u) { out[0] = select(sums.x, sums.x / sums.y, p.mean == 1u); }
}
