// Swaps the middle two axes of src [G][A][B][L] into dst [G][B][Ap][L], optionally reversing L,
// with zeros in the padding rows a >= A (Ap >= A). The backward passes use it to turn weights
// and gradients into the row-major operands the GEMM core reads fastest:
//   - a convolution's weight [O, C/G, k...] into its transposed, flipped kernel [C, O/G, k...]
//     (A = O/G, B = C/G, L = the kernel volume, reversed), for the input gradient as a convolution;
//   - W_g [O/G, K] into W_g^T [K, O/G] padded to a multiple of 4 (L = 1), for W^T x gradOut;
//   - a linear layer's gradOut [R, out] into [out, R] (G = 1, L = 1), for gradOut^T x x.
// One invocation per dst element. Define: WG. The grid may be folded into two dimensions (grid1d).
//! include lib/grid

struct Params {
  total: u32,   // dst elements: G * B * Ap * L
  A: u32,
  B: u32,
  L: u32,
  Ap: u32,
  reverse: u32, // 1: dst[.., l] = src[.., L - 1 - l]
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= p.total) { return; }
  let l = i % p.L;
  let t = i / p.L;
  let a = t % p.Ap;
  let gb = t / p.Ap;
  let b = gb % p.B;
  let g = gb / p.B;
  var v = 0.0;
  if (a < p.A) {
    let sl = select(l, p.L - 1u - l, p.reverse == 1u);
    v = src[((g * p.A + a) * p.B + b) * p.L + sl];
  }
  dst[i] = v;
}
