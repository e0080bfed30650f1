// The small reductions behind explanation maps (src/ops/attribution.ts).
// Defines: WG (workgroup size, a power of two).
// Entry points:
//   min_max_normalize: one workgroup per sample of x viewed as [samples, len]: the sample's min and
//     max by a shared-memory tree, then y = (x - min) / (max - min), or 0 where max == min. A NaN
//     anywhere in the sample makes its min and max NaN, so the whole sample comes out NaN (as
//     torch.amin / amax propagate NaN).
//   channel_abs_max: one invocation per output of x viewed as [outer, channels, inner]:
//     y[o, i] = max over c of |x[o, c, i]|, NaN if any of them is NaN (torch.amax).
// NaN is told by its bit pattern: WGSL's min/max leave NaN to the implementation.
//! include lib/grid
//! include lib/float_bits

struct Params { samples: u32, len: u32, inner: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

fn pos_inf() -> f32 { let bits = 0x7f800000u; return bitcast<f32>(bits); }

// NaN-propagating min and max.
fn nan_min(a: f32, b: f32) -> f32 { return select(select(b, a, a < b), nan(), is_nan(a) || is_nan(b)); }
fn nan_max(a: f32, b: f32) -> f32 { return select(select(b, a, a > b), nan(), is_nan(a) || is_nan(b)); }

var<workgroup> shared_min: array<f32, WG>;
var<workgroup> shared_max: array<f32, WG>;

@compute @workgroup_size(WG)
fn min_max_normalize(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let sample = workgroup_index(wid, nwg);
  if (sample >= p.samples) { return; } // the same for the whole workgroup
  let base = sample * p.len;
  var lo = pos_inf();
  var hi = -pos_inf();
  for (var i = lid; i < p.len; i += WG) {
    let v = x[base + i];
    lo = nan_min(lo, v);
    hi = nan_max(hi, v);
  }
  shared_min[lid] = lo;
  shared_max[lid] = hi;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half /= 2u) {
    if (lid < half) {
      shared_min[lid] = nan_min(shared_min[lid], shared_min[lid + half]);
      shared_max[lid] = nan_max(shared_max[lid], shared_max[lid + half]);
    }
    workgroupBarrier();
  }
  let mn = shared_min[0];
  let mx = shared_max[0];
  let undefined_sample = is_nan(mn) || is_nan(mx);
  let flat = !undefined_sample && mx == mn;
  let range = mx - mn;
  for (var i = lid; i < p.len; i += WG) {
    let v = x[base + i];
    y[base + i] = select(select((v - mn) / range, 0.0, flat), nan(), undefined_sample);
  }
}

@compute @workgroup_size(WG)
fn channel_abs_max(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let index = linear_index(wid, nwg, lid);
  if (index >= p.samples * p.inner) { return; }
  let o = index / p.inner;
  let i = index - o * p.inner;
  let base = o * p.len * p.inner + i;
  var m = 0.0;
  for (var c = 0u; c < p.len; c++) {
    m = nan_max(m, abs(x[base + c * p.inner]));
  }
  y[index] = m;
}
