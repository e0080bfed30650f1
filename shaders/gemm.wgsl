// The GEMM core: out = epilogue(op(A) x op(B)) for a grid of (outer batch, inner group) problems
// (lib/gemm.wgsl: the parameters and the epilogue, shared with gemm_subgroup.wgsl).
//
// Defines
//   TM, TN, WG   tile: a workgroup of WG invocations computes TM rows x (WG * TN) columns; each
//                invocation owns TM x TN outputs, its columns WG apart so that adjacent
//                invocations touch adjacent addresses.
//   TRANS_A      A is stored [K, M] (op(A) = A^T) instead of [M, K]
//   TRANS_B      B is stored [N, K] instead of [K, N]
//   IM2COL       B is not a matrix but the im2col view of an image (implicit GEMM convolution):
//                B[(c, kh, kw), (oh, ow)] = x[c, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw], or 0 in
//                the padding. K runs over (c, kh, kw) in that order, N over (oh, ow).
//
// Why the mapping: rows are shared by the whole workgroup, so A's addresses are uniform (GPUs
// serve them from one load) and each B value loaded feeds TM fused multiply-adds; adjacent
// invocations read adjacent B addresses. Out-of-range rows and columns are clamped for the loads
// (so the K loop has no bounds checks) and skipped at the store. On lavapipe every storage load
// in a loop costs a scalar loop over the SIMD lanes, uniform or not: gemm_subgroup.wgsl, the
// same core sharing A through subgroup shuffles, is the fast path there.
//! include lib/gemm

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> residual: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let problem = gemm_problem(wid.z);
  let aBase = problem.a;
  let bBase = problem.b;
  let cBase = problem.c;
  let m0 = (p.rowTile0 + wid.x) * TM;
  let n0 = (p.colTile0 + wid.y) * (WG * TN) + lid;

  // Where row i of op(A) starts, and how far one step along K moves.
  var rowA: array<u32, TM>;
  for (var i = 0u; i < TM; i++) {
    let m = min(m0 + i, p.M - 1u);
    rowA[i] = aBase + select(m * p.lda, m, TRANS_A);
  }
  let aStep = select(1u, p.lda, TRANS_A);

  var acc: array<f32, TM * TN>;
  for (var t = 0u; t < TM * TN; t++) {
    acc[t] = 0.0;
  }
  var bv: array<f32, TN>;

  if (IM2COL) {
    // Top-left input coordinate of each owned output position (may lie in the padding).
    var iy0: array<i32, TN>;
    var ix0: array<i32, TN>;
    for (var j = 0u; j < TN; j++) {
      let n = min(n0 + j * WG, p.N - 1u);
      iy0[j] = i32((n / p.outW) * p.strideH) - i32(p.padH);
      ix0[j] = i32((n % p.outW) * p.strideW) - i32(p.padW);
    }
    let plane = p.inH * p.inW;
    var kIndex = 0u;
    for (var c = 0u; c < p.channels; c++) {
      let xc = i32(bBase + c * plane);
      for (var kh = 0u; kh < p.kH; kh++) {
        let dy = i32(kh * p.dilH);
        var rowOk: array<bool, TN>;
        var rowStart: array<i32, TN>;
        for (var j = 0u; j < TN; j++) {
          let y = iy0[j] + dy;
          rowOk[j] = y >= 0 && y < i32(p.inH);
          rowStart[j] = xc + y * i32(p.inW);
        }
        for (var kw = 0u; kw < p.kW; kw++) {
          let dx = i32(kw * p.dilW);
          for (var j = 0u; j < TN; j++) {
            let x = ix0[j] + dx;
            let ok = rowOk[j] && x >= 0 && x < i32(p.inW);
            bv[j] = select(0.0, b[u32(max(rowStart[j] + x, 0))], ok);
          }
          for (var i = 0u; i < TM; i++) {
            let av = a[rowA[i] + kIndex];
            for (var j = 0u; j < TN; j++) {
              acc[i * TN + j] = fma(av, bv[j], acc[i * TN + j]);
            }
          }
          kIndex += 1u;
        }
      }
    }
  } else {
    var colB: array<u32, TN>;
    for (var j = 0u; j < TN; j++) {
      let n = min(n0 + j * WG, p.N - 1u);
      colB[j] = bBase + select(n, n * p.ldb, TRANS_B);
    }
    let bStep = select(p.ldb, 1u, TRANS_B);
    for (var k = 0u; k < p.K; k++) {
      for (var j = 0u; j < TN; j++) {
        bv[j] = b[colB[j] + k * bStep];
      }
      for (var i = 0u; i < TM; i++) {
        let av = a[rowA[i] + k * aStep];
        for (var j = 0u; j < TN; j++) {
          acc[i * TN + j] = fma(av, bv[j], acc[i * TN + j]);
        }
      }
    }
  }

  // Epilogue: bias, residual, ReLU, store (a row's bias loaded once, as in gemm_subgroup.wgsl).
  let e = gemm_epilogue(problem.inner);
  for (var i = 0u; i < TM; i++) {
    let m = m0 + i;
    if (m >= p.M) { break; }
    let row = cBase + m * p.ldc;
    let rowBias = row_bias(e, m);
    for (var j = 0u; j < TN; j++) {
      let n = n0 + j * WG;
      if (n < p.N) { store_epilogue(e, row, n, acc[i * TN + j] + rowBias); }
    }
  }
}
