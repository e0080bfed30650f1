// Inverted dropout with a counter-based generator, Philox4x32-10 (lib/philox), so a mask depends
// only on (seed, offset, element index), never on the dispatch layout. One invocation draws one
// Philox block of four words for four consecutive elements (a "quad"):
//   element i uses word i % 4 of philox(counter = (i / 4, 0, offset.lo, offset.hi), key = (seed.lo, seed.hi))
//   dropped when (word >> 8) < threshold, i.e. u = (word >> 8) * 2^-24 < p, with threshold = ceil(p * 2^24)
// Defines: WG (workgroup size). The grid may be folded into two dimensions (engine.grid1d).
// Past the binding limit the runtime splits the elements into runs (each a multiple of 4 long):
// a dispatch's x and out start at element 4 * quad0, and its n counts its own elements.
// Entry points: apply (out = x * (kept ? scale : 0): a dropped NaN or infinity gives NaN, as
// PyTorch's x * mask does) and mask (out = kept ? scale : 0; x is unused).
//! include lib/grid
//! include lib/philox

struct Params { n: u32, threshold: u32, seed_lo: u32, seed_hi: u32, offset_lo: u32, offset_hi: u32, scale: f32, quad0: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

fn quad_words(quad: u32) -> vec4u {
  return philox4x32_10(vec4u(p.quad0 + quad, 0u, p.offset_lo, p.offset_hi), vec2u(p.seed_lo, p.seed_hi));
}

@compute @workgroup_size(WG)
fn apply(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let quad = linear_index(wid, nwg, lid);
  if (quad >= (p.n + 3u) / 4u) { return; }
  let words = quad_words(quad);
  for (var lane = 0u; lane < 4u; lane++) {
    let i = quad * 4u + lane;
    if (i < p.n) { out[i] = x[i] * select(0.0, p.scale, (words[lane] >> 8u) >= p.threshold); }
  }
}

@compute @workgroup_size(WG)
fn mask(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let quad = linear_index(wid, nwg, lid);
  if (quad >= (p.n + 3u) / 4u) { return; }
  let words = quad_words(quad);
  for (var lane = 0u; lane < 4u; lane++) {
    let i = quad * 4u + lane;
    if (i < p.n) { out[i] = select(0.0, p.scale, (words[lane] >> 8u) >= p.threshold); }
  }
}
