// Winograd F(TILE x TILE, 3 x 3), output transform: Y = A^T M A for every output channel o and
// tile n, where M[xi][o][n] are the ALPHA^2 products of the batched GEMM (ALPHA = TILE + 2,
// row stride Np). Then bias, residual and ReLU, and the TILE x TILE block is stored into the
// NCHW output, cut at its right and bottom edges. One invocation per (o, n).
// Non-finite values: one NaN or infinity in a tile's input patch (or in the weights) reaches every
// product of the tile, so the transforms would spread it over the whole tile (and, with the ReLU,
// corrupt its finite outputs), where the direct convolution has it only in the outputs whose
// windows hold it. A tile whose transformed values are not all finite is therefore recomputed
// directly from x and the weights (as the implicit GEMM sums them, padding taps multiplying
// zeros); finite data never takes that path, and overflow in the transforms is caught too.
// Defines: WG (workgroup size), TILE (2 or 4). The epilogue is a runtime parameter (one pipeline
// for every fused variant), as in gemm.wgsl: bits 0-1 the bias (2: one per output channel, i.e. per
// row of M; 0 none), bit 2 residual, bit 3 ReLU. The grid may be folded into two dimensions
// (engine.grid1d).
//! include lib/grid
//! include lib/float_bits

struct Params {
  total: u32,          // O * N
  outChannels: u32,
  tiles: u32,          // N
  paddedTiles: u32,    // Np
  tilesPerImage: u32,
  tilesW: u32,
  outH: u32,
  outW: u32,
  image0: u32,         // the chunk's first image in x and out
  epilogue: u32,
  channels: u32,       // C, and the input geometry, for the direct recomputation
  inH: u32,
  inW: u32,
  padH: u32,
  padW: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> m: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read> residual: array<f32>;
@group(0) @binding(4) var<storage, read> x: array<f32>;
@group(0) @binding(5) var<storage, read> weight: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

const ALPHA = TILE + 2u;

// A^T m for one row or column of the products (the first TILE entries are used).
fn gather(d: array<f32, 6>) -> vec4f {
  if (TILE == 2u) {
    return vec4f(d[0] + d[1] + d[2], d[1] - d[2] - d[3], 0.0, 0.0);
  }
  let sum = d[1] + d[2];
  let dif = d[1] - d[2];
  return vec4f(
    d[0] + sum + d[3] + d[4],
    dif + 2.0 * d[3] - 0.5 * d[4],
    sum + 4.0 * d[3] + 0.25 * d[4],
    dif + 8.0 * d[3] - 0.125 * d[4] + d[5],
  );
}

// Output (oy, ox) of channel o of `image`, summed directly over (c, ky, kx).
fn direct(image: u32, o: u32, oy: u32, ox: u32) -> f32 {
  var sum = 0.0;
  for (var c = 0u; c < p.channels; c++) {
    let plane = i32((image * p.channels + c) * p.inH * p.inW);
    let taps = (o * p.channels + c) * 9u;
    for (var ky = 0u; ky < 3u; ky++) {
      let y = i32(oy + ky) - i32(p.padH);
      let rowOk = y >= 0 && y < i32(p.inH);
      for (var kx = 0u; kx < 3u; kx++) {
        let xx = i32(ox + kx) - i32(p.padW);
        let ok = rowOk && xx >= 0 && xx < i32(p.inW);
        let v = select(0.0, x[u32(max(plane + y * i32(p.inW) + xx, 0))], ok);
        sum = fma(v, weight[taps + 3u * ky + kx], sum);
      }
    }
  }
  return sum;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= p.total) { return; }
  let o = i / p.tiles;
  let n = i % p.tiles;
  let plane = p.outChannels * p.paddedTiles;
  let at = o * p.paddedTiles + n;

  // Each row of products gathered along x as it is read: rows[r][s] = (M A)[r][s].
  var rows: array<vec4f, 6>;
  for (var r = 0u; r < ALPHA; r++) {
    var d: array<f32, 6>;
    for (var s = 0u; s < ALPHA; s++) { d[s] = m[(ALPHA * r + s) * plane + at]; }
    rows[r] = gather(d);
  }

  let t = n % p.tilesPerImage;
  let image = p.image0 + n / p.tilesPerImage;
  let oy0 = (t / p.tilesW) * TILE;
  let ox0 = (t % p.tilesW) * TILE;
  var b = 0.0;
  if ((p.epilogue & 3u) != 0u) { b = bias[o]; }
  let addResidual = (p.epilogue & 4u) != 0u;
  let relu = (p.epilogue & 8u) != 0u;
  let base = (image * p.outChannels + o) * p.outH * p.outW;
  // Then along y, one output column at a time, the whole tile checked before any of it is stored.
  var cols: array<vec4f, 4>;
  var finite = true;
  for (var s = 0u; s < TILE; s++) {
    var d: array<f32, 6>;
    for (var r = 0u; r < ALPHA; r++) { d[r] = rows[r][s]; }
    cols[s] = gather(d);
    finite = finite && all_finite(cols[s]);
  }
  for (var s = 0u; s < TILE; s++) {
    let ox = ox0 + s;
    for (var r = 0u; r < TILE; r++) {
      let oy = oy0 + r;
      if (oy < p.outH && ox < p.outW) {
        let dst = base + oy * p.outW + ox;
        var value = cols[s][r];
        if (!finite) { value = direct(image, o, oy, ox); }
        value += b;
        if (addResidual) { value += residual[dst]; }
        if (relu && not_positive(value)) { value = 0.0; }
        out[dst] = value;
      }
    }
  }
}
