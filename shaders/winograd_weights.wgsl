// Winograd F(TILE x TILE, 3 x 3), weight transform: U = G g G^T for every (output channel o,
// input channel c), written as ALPHA^2 matrices [O, Cp] (U[xi][o][c], xi = ALPHA * row +
// column; ALPHA = TILE + 2), the A operands of the batched GEMM. Channels c >= C (K padded to a
// multiple of 4) get zeros. G holds the kernel's values at the interpolation points (see
// conv-winograd.ts): 0, 1, -1, infinity for TILE 2; 0, 1, -1, 2, -1/2, infinity for TILE 4.
// One invocation per (o, c). Defines: WG (workgroup size), TILE (2 or 4). The grid may be
// folded into two dimensions (engine.grid1d).
//! include lib/grid

struct Params {
  total: u32,           // O * Cp
  channels: u32,        // C
  paddedChannels: u32,  // Cp
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> weight: array<f32>;
@group(0) @binding(2) var<storage, read_write> u: array<f32>;

const ALPHA = TILE + 2u;

// G g for one row or column of the kernel (the first ALPHA entries are used).
fn interpolate(g0: f32, g1: f32, g2: f32) -> array<f32, 6> {
  if (TILE == 2u) {
    return array<f32, 6>(g0, 0.5 * (g0 + g1 + g2), 0.5 * (g0 - g1 + g2), g2, 0.0, 0.0);
  }
  return array<f32, 6>(
    g0,
    -(g0 + g1 + g2) / 3.0,
    (g0 - g1 + g2) / 3.0,
    (g0 + 2.0 * g1 + 4.0 * g2) / 15.0,
    (8.0 * g1 - 16.0 * g0 - 4.0 * g2) / 15.0,
    g2,
  );
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= p.total) { return; }
  let o = i / p.paddedChannels;
  let c = i % p.paddedChannels;
  var g: array<f32, 9>;
  if (c < p.channels) {
    let base = (o * p.channels + c) * 9u;
    for (var k = 0u; k < 9u; k++) { g[k] = weight[base + k]; }
  }
  // Along each kernel row first (kw), then down the columns (kh).
  let r0 = interpolate(g[0], g[1], g[2]);
  let r1 = interpolate(g[3], g[4], g[5]);
  let r2 = interpolate(g[6], g[7], g[8]);
  for (var col = 0u; col < ALPHA; col++) {
    let v = interpolate(r0[col], r1[col], r2[col]);
    for (var row = 0u; row < ALPHA; row++) {
      u[(ALPHA * row + col) * p.total + i] = v[row];
    }
  }
}
