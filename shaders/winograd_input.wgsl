// Winograd F(TILE x TILE, 3 x 3), input transform: V = B^T d B for every input channel c and
// tile n, where d is the ALPHA x ALPHA input patch (ALPHA = TILE + 2) whose top-left corner is
// at (TILE ty - padH, TILE tx - padW), zeros outside the image. V is written as ALPHA^2
// matrices [Cp, Np] (V[xi][c][n], xi = ALPHA * row + column), the B operands of the batched
// GEMM. Tiles n run over the chunk's images, then tile rows, then tile columns. Channels
// c >= C and tiles n >= N (K and N padded to multiples of 4) are written as zeros.
// One invocation per (c, n), adjacent invocations on adjacent tiles. Defines: WG (workgroup
// size), TILE (2 or 4). The grid may be folded into two dimensions (engine.grid1d).
//! include lib/grid

struct Params {
  total: u32,          // Cp * Np
  channels: u32,       // C
  tiles: u32,          // N = images * tilesPerImage
  paddedTiles: u32,    // Np
  tilesPerImage: u32,
  tilesW: u32,
  inH: u32,
  inW: u32,
  padH: u32,
  padW: u32,
  image0: u32,         // the chunk's first image in x
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> v: array<f32>;

const ALPHA = TILE + 2u;

// B^T d for one row or column of the patch (the first ALPHA entries are used).
fn project(d: array<f32, 6>) -> array<f32, 6> {
  if (TILE == 2u) {
    return array<f32, 6>(d[0] - d[2], d[1] + d[2], d[2] - d[1], d[1] - d[3], 0.0, 0.0);
  }
  return array<f32, 6>(
    d[0] + 1.5 * d[1] - 2.0 * d[2] - 1.5 * d[3] + d[4],
    d[4] - d[1] - 2.5 * d[2] - 0.5 * d[3],
    d[1] + 0.5 * d[2] - 2.5 * d[3] + d[4],
    0.5 * (d[3] - d[1]) - d[2] + d[4],
    2.0 * (d[1] - d[3]) - d[2] + d[4],
    d[1] + 1.5 * d[2] - 2.0 * d[3] - 1.5 * d[4] + d[5],
  );
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= p.total) { return; }
  let c = i / p.paddedTiles;
  let n = i % p.paddedTiles;
  let live = c < p.channels && n < p.tiles;
  // Padded channels and tiles locate a real patch (what they read is discarded).
  let tile = min(n, p.tiles - 1u);
  let t = tile % p.tilesPerImage;
  let image = p.image0 + tile / p.tilesPerImage;
  let y0 = i32((t / p.tilesW) * TILE) - i32(p.padH);
  let x0 = i32((t % p.tilesW) * TILE) - i32(p.padW);
  let plane = i32((image * p.channels + min(c, p.channels - 1u)) * p.inH * p.inW);

  // Each patch row projected along x as it is read.
  var rows: array<array<f32, 6>, 6>;
  for (var r = 0u; r < ALPHA; r++) {
    let y = y0 + i32(r);
    let rowOk = live && y >= 0 && y < i32(p.inH);
    var d: array<f32, 6>;
    for (var s = 0u; s < ALPHA; s++) {
      let xx = x0 + i32(s);
      let ok = rowOk && xx >= 0 && xx < i32(p.inW);
      d[s] = select(0.0, x[u32(max(plane + y * i32(p.inW) + xx, 0))], ok);
    }
    rows[r] = project(d);
  }
  // Then along y, one column at a time.
  for (var s = 0u; s < ALPHA; s++) {
    var d: array<f32, 6>;
    for (var r = 0u; r < ALPHA; r++) { d[r] = rows[r][s]; }
    let col = project(d);
    for (var r = 0u; r < ALPHA; r++) {
      v[(ALPHA * r + s) * p.total + i] = col[r];
    }
  }
}
