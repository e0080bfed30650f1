// 2-D pooling over NCHW planes (PyTorch semantics). A tensor is `planes` = N*C planes of H x W;
// outputs are planes of OH x OW. Define: WG (workgroup size; a power of two for global_avg_pool).
// Entry points:
//   max_pool, max_pool_indices: one invocation per output; the window's max (NaN wins, as in
//     PyTorch) and, for max_pool_indices, its flat index ih * W + iw within the plane, as f32.
//   avg_pool: one invocation per output; the divisor follows PyTorch's count_include_pad rule.
//   adaptive_avg_pool: one invocation per output, window [floor(i*in/out), ceil((i+1)*in/out)).
//   global_avg_pool: one workgroup per plane, partial sums merged by a workgroup-shared tree.
// The one-invocation-per-output grids may be folded into two dimensions (engine.grid1d).

struct Params {
  total: u32, // outputs (N*C*OH*OW), or planes for global_avg_pool
  h: u32,
  w: u32,
  oh: u32,
  ow: u32,
  kh: u32,
  kw: u32,
  sh: u32,
  sw: u32,
  ph: u32,
  pw: u32,
  dh: u32,
  dw: u32,
  // avg_pool: 0 counts padded cells in the divisor, 1 counts only input cells, 2 divides by `divisor`.
  divisor_mode: u32,
  divisor: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> indices: array<f32>;

var<workgroup> partial: array<f32, WG>;

fn linear_index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid;
}

// NaN is tested by its bit pattern, which no float optimisation can assume away.
fn is_nan(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

// An output position: its plane and row/column in the output.
struct Out { plane: u32, row: u32, col: u32 }

fn output_position(o: u32) -> Out {
  let col = o % p.ow;
  let t = o / p.ow;
  return Out(t / p.oh, t % p.oh, col);
}

struct Max { value: f32, index: u32 }

// PyTorch's scan: window cells in row-major order, the first strict maximum kept, any NaN taken
// (so NaN propagates). The rules on padding guarantee at least one cell lies inside the input.
fn window_max(at: Out) -> Max {
  let base = at.plane * p.h * p.w;
  let h0 = i32(at.row * p.sh) - i32(p.ph);
  let w0 = i32(at.col * p.sw) - i32(p.pw);
  var best = Max(0.0, 0u);
  var seen = false;
  for (var i = 0u; i < p.kh; i++) {
    let ih = h0 + i32(i * p.dh);
    if (ih < 0 || ih >= i32(p.h)) { continue; }
    for (var j = 0u; j < p.kw; j++) {
      let iw = w0 + i32(j * p.dw);
      if (iw < 0 || iw >= i32(p.w)) { continue; }
      let index = u32(ih) * p.w + u32(iw);
      let v = x[base + index];
      if (!seen || v > best.value || is_nan(v)) {
        best = Max(v, index);
        seen = true;
      }
    }
  }
  return best;
}

@compute @workgroup_size(WG)
fn max_pool(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let o = linear_index(wid, nwg, lid);
  if (o >= p.total) { return; }
  y[o] = window_max(output_position(o)).value;
}

@compute @workgroup_size(WG)
fn max_pool_indices(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let o = linear_index(wid, nwg, lid);
  if (o >= p.total) { return; }
  let best = window_max(output_position(o));
  y[o] = best.value;
  indices[o] = f32(best.index);
}

@compute @workgroup_size(WG)
fn avg_pool(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let o = linear_index(wid, nwg, lid);
  if (o >= p.total) { return; }
  let at = output_position(o);
  // The window, first clipped to the padded input (whose size is the count_include_pad divisor),
  // then to the input itself.
  var h0 = i32(at.row * p.sh) - i32(p.ph);
  var w0 = i32(at.col * p.sw) - i32(p.pw);
  var h1 = min(h0 + i32(p.kh), i32(p.h + p.ph));
  var w1 = min(w0 + i32(p.kw), i32(p.w + p.pw));
  let padded_count = (h1 - h0) * (w1 - w0);
  h0 = max(h0, 0);
  w0 = max(w0, 0);
  h1 = min(h1, i32(p.h));
  w1 = min(w1, i32(p.w));
  let base = at.plane * p.h * p.w;
  var sum = 0.0;
  for (var ih = h0; ih < h1; ih++) {
    let row = base + u32(ih) * p.w;
    for (var iw = w0; iw < w1; iw++) {
      sum += x[row + u32(iw)];
    }
  }
  var divisor = p.divisor;
  if (p.divisor_mode == 0u) {
    divisor = f32(padded_count);
  } else if (p.divisor_mode == 1u) {
    divisor = f32((h1 - h0) * (w1 - w0));
  }
  y[o] = sum / divisor;
}

@compute @workgroup_size(WG)
fn adaptive_avg_pool(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let o = linear_index(wid, nwg, lid);
  if (o >= p.total) { return; }
  let at = output_position(o);
  let h0 = (at.row * p.h) / p.oh;
  let h1 = ((at.row + 1u) * p.h + p.oh - 1u) / p.oh;
  let w0 = (at.col * p.w) / p.ow;
  let w1 = ((at.col + 1u) * p.w + p.ow - 1u) / p.ow;
  let base = at.plane * p.h * p.w;
  var sum = 0.0;
  for (var ih = h0; ih < h1; ih++) {
    let row = base + ih * p.w;
    for (var iw = w0; iw < w1; iw++) {
      sum += x[row + iw];
    }
  }
  y[o] = sum / f32((h1 - h0) * (w1 - w0));
}

@compute @workgroup_size(WG)
fn global_avg_pool(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  // The plane index is the same for the whole workgroup, so leaving early keeps barriers uniform.
  let plane = wid.y * nwg.x + wid.x;
  if (plane >= p.total) { return; }
  let n = p.h * p.w;
  let base = plane * n;
  var sum = 0.0;
  for (var i = lid; i < n; i += WG) {
    sum += x[base + i];
  }
  partial[lid] = sum;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half /= 2u) {
    if (lid < half) {
      partial[lid] += partial[lid + half];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    y[plane] = partial[0] / f32(n);
  }
}
