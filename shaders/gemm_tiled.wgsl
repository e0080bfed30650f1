// The GEMM core for GPUs (the discrete device profile): the same problem, parameters, bindings
// and epilogue (lib/gemm) as gemm.wgsl, with both operands staged through workgroup memory.
//
// A workgroup computes a BM x BN block of the output. Per stage, its invocations copy a BM x BK
// slab of op(A) and a BK x BN slab of op(B) into workgroup memory (each global value loaded once
// per workgroup, by adjacent invocations at adjacent addresses where the layout allows), then each
// invocation accumulates its 4 x 4 outputs from the shared slabs: 8 shared loads per 16
// multiply-adds. Out-of-range rows, columns and K steps are loaded as zeros, so the inner loop has
// no bounds checks and the block needs no alignment.
//
// Defines
//   BM, BN      block rows and columns, multiples of 16; (BM / 4) x (BN / 4) invocations
//   BK          K steps per stage; BK * 16 must be a multiple of BM and of BN (whole loads per invocation)
//   TRANS_A, TRANS_B, IM2COL   as in gemm.wgsl; with IM2COL, K may run past channels * kH * kW
//               (weights padded with zero columns): those steps read zeros from the image
// Workgroup memory: BK * (BM + BN) floats (8 KiB for 64 x 64 x 16).
//
// Written without a GPU to measure on: correct everywhere (the tests run it on lavapipe), the
// block shape a parameter of the device profile, to be tuned where a GPU is available.

//! include lib/gemm

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> residual: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

const TM = 4u;
const TN = 4u;
const TX = BN / TN;
const TY = BM / TM;
const WG = TX * TY;
const A_LOADS = BM * BK / WG;
const B_LOADS = BK * BN / WG;
// K steps between one invocation's successive B loads when B's columns are the fast axis.
const STEP = WG / BN;

// Slabs, K-major: slabA[k * BM + m], slabB[k * BN + n].
var<workgroup> slabA: array<f32, BK * BM>;
var<workgroup> slabB: array<f32, BK * BN>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let problem = gemm_problem(wid.z);
  let aBase = problem.a;
  let bBase = problem.b;
  let cBase = problem.c;
  let m0 = (p.rowTile0 + wid.x) * BM;
  let n0 = (p.colTile0 + wid.y) * BN;
  let tx = lid % TX;
  let ty = lid / TX;

  // Implicit GEMM. B's columns are the fast axis of its loads and WG is a multiple of BN, so this
  // invocation always loads column n0 + lid % BN (its window's top-left input coordinate is fixed)
  // at K steps lid / BN, then every STEP after it, through every stage: its (c, kh, kw) advance by
  // STEP's decomposition with carries, no division in the loop.
  let nFixed = n0 + lid % BN;
  let nClamped = min(nFixed, p.N - 1u);
  let outW = max(p.outW, 1u);
  let iy0 = i32((nClamped / outW) * p.strideH) - i32(p.padH);
  let ix0 = i32((nClamped % outW) * p.strideW) - i32(p.padW);
  let plane = p.inH * p.inW;
  let kW = max(p.kW, 1u);
  let taps = max(p.kH, 1u) * kW;
  let first = lid / BN;
  var kc = first / taps;
  var kh = (first % taps) / kW;
  var kw = first % kW;
  let stepC = STEP / taps;
  let stepH = (STEP % taps) / kW;
  let stepW = STEP % kW;

  var acc: array<f32, TM * TN>;
  for (var t = 0u; t < TM * TN; t++) {
    acc[t] = 0.0;
  }

  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    // op(A)[m, k]: along k when A is [M, K], along m when it is stored [K, M].
    for (var s = 0u; s < A_LOADS; s++) {
      let e = lid + s * WG;
      var mm: u32;
      var kk: u32;
      if (TRANS_A) {
        mm = e % BM;
        kk = e / BM;
      } else {
        kk = e % BK;
        mm = e / BK;
      }
      let m = m0 + mm;
      let k = k0 + kk;
      let ok = m < p.M && k < p.K;
      let at = select(aBase + min(m, p.M - 1u) * p.lda + min(k, p.K - 1u), aBase + min(k, p.K - 1u) * p.lda + min(m, p.M - 1u), TRANS_A);
      slabA[kk * BM + mm] = select(0.0, a[at], ok);
    }
    // op(B)[k, n]: along n, except stored [N, K] (along k).
    for (var s = 0u; s < B_LOADS; s++) {
      let e = lid + s * WG;
      var nn: u32;
      var kk: u32;
      if (TRANS_B) {
        kk = e % BK;
        nn = e / BK;
      } else {
        nn = e % BN;
        kk = e / BN;
      }
      let n = n0 + nn;
      let k = k0 + kk;
      var v = 0.0;
      if (IM2COL) {
        // k = (kc, kh, kw), n = nFixed. K steps past the image's (zero-padded weights, or past
        // K) have kc >= channels and read zero.
        let y = iy0 + i32(kh * p.dilH);
        let x = ix0 + i32(kw * p.dilW);
        let ok = nFixed < p.N && kc < p.channels && y >= 0 && y < i32(p.inH) && x >= 0 && x < i32(p.inW);
        let at = i32(bBase + min(kc, p.channels - 1u) * plane) + y * i32(p.inW) + x;
        v = select(0.0, b[u32(max(at, 0))], ok);
        kw += stepW;
        kh += stepH;
        kc += stepC;
        if (kw >= kW) {
          kw -= kW;
          kh += 1u;
        }
        if (kh >= p.kH) {
          kh -= p.kH;
          kc += 1u;
        }
      } else {
        let ok = n < p.N && k < p.K;
        let nc = min(n, p.N - 1u);
        let kc = min(k, p.K - 1u);
        v = select(0.0, b[select(bBase + kc * p.ldb + nc, bBase + nc * p.ldb + kc, TRANS_B)], ok);
      }
      slabB[kk * BN + nn] = v;
    }
    workgroupBarrier();
    // A uniform runtime bound rather than BK: lavapipe compiled the fully unrolled loop 4x slower
    // (11 s of CPU against 2.7), and the last stage skips its zero steps.
    let depth = min(BK, p.K - k0);
    for (var kk = 0u; kk < depth; kk++) {
      var av: array<f32, TM>;
      var bv: array<f32, TN>;
      for (var i = 0u; i < TM; i++) {
        av[i] = slabA[kk * BM + ty + i * TY];
      }
      for (var j = 0u; j < TN; j++) {
        bv[j] = slabB[kk * BN + tx + j * TX];
      }
      for (var i = 0u; i < TM; i++) {
        for (var j = 0u; j < TN; j++) {
          acc[i * TN + j] = fma(av[i], bv[j], acc[i * TN + j]);
        }
      }
    }
    workgroupBarrier();
  }

  // Epilogue (lib/gemm): bias, residual, ReLU, store; row ty + i * TY, column tx + j * TX.
  let e = gemm_epilogue(problem.inner);
  for (var i = 0u; i < TM; i++) {
    let m = m0 + ty + i * TY;
    if (m >= p.M) { break; }
    let row = cBase + m * p.ldc;
    let rowBias = row_bias(e, m);
    for (var j = 0u; j < TN; j++) {
      let n = n0 + tx + j * TX;
      if (n < p.N) { store_epilogue(e, row, n, acc[i * TN + j] + rowBias); }
    }
  }
}
