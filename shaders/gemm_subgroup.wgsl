enable subgroups;

// The GEMM core for adapters with subgroups (the fast path on lavapipe): the same problem,
// parameters and epilogue as gemm.wgsl (lib/gemm.wgsl), for A stored [M, K] with K a multiple of 4.
//
// A workgroup is one subgroup of 8 invocations. It computes TM rows x (8 * TN) columns; each
// invocation owns TN = 4 * TN4 columns (4 adjacent ones per vec4, groups of 4 lanes x 8 apart)
// for all TM rows. Every row of A is needed by every invocation, so instead of each loading it,
// invocation l loads rows l, l + 8, ... (one vec4 = 4 steps of K each) and the others read them
// with subgroupShuffle: on a CPU adapter a storage load costs a scalar loop over the SIMD lanes,
// a shuffle a single register permute. Only B's values, each used by one invocation, are loaded
// by that invocation.
//
// Defines
//   TM      rows per workgroup, a multiple of 8
//   TN4     vec4 column groups per invocation
//   B_MODE  0: B is [K, N] with rows of ldb >= N rounded up to 4, read as vec4 along N
//           1: B is stored [N, K] (transB), read as vec4 along K
//           2: B is the im2col view of an image (implicit-GEMM convolution, as in gemm.wgsl);
//              K may be padded past channels * kH * kW (with zero weights), those terms read 0
// The host checks alignment: every A and B offset, stride and row length is a multiple of 4.
//! include lib/gemm

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4f>;
@group(0) @binding(2) var<storage, read> b: array<vec4f>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> residual: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
// B again, element by element (the image of an implicit-GEMM convolution).
@group(0) @binding(6) var<storage, read> image: array<f32>;

const TN = 4u * TN4;
const ROW_LOADS = TM / 8u;

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let problem = gemm_problem(wid.z);
  let aBase = problem.a;
  let bBase = problem.b;
  let cBase = problem.c;
  let m0 = (p.rowTile0 + wid.x) * TM;
  // Column group jj of this invocation starts at col0 + 32 * jj.
  let col0 = (p.colTile0 + wid.y) * (8u * TN) + 4u * lane;

  // The rows of A this invocation loads for the whole subgroup (clamped: extra rows are never stored).
  var rowA: array<u32, ROW_LOADS>;
  for (var r = 0u; r < ROW_LOADS; r++) {
    rowA[r] = (aBase + min(m0 + 8u * r + lane, p.M - 1u) * p.lda) / 4u;
  }

  // Where this invocation's B values live (vec4 indices, or image coordinates).
  var colB: array<u32, TN4>;
  var rowsB: array<u32, TN>;
  var iy0: array<i32, TN>;
  var ix0: array<i32, TN>;
  if (B_MODE == 0u) {
    for (var jj = 0u; jj < TN4; jj++) {
      // Rows are padded to a multiple of 4 (ldb), so the last vec4 may run into the padding.
      colB[jj] = (bBase + min(col0 + 32u * jj, ((p.N + 3u) / 4u) * 4u - 4u)) / 4u;
    }
  } else {
    for (var t = 0u; t < TN; t++) {
      let n = min(col0 + 32u * (t / 4u) + t % 4u, p.N - 1u);
      rowsB[t] = (bBase + n * p.ldb) / 4u;
      iy0[t] = i32((n / p.outW) * p.strideH) - i32(p.padH);
      ix0[t] = i32((n % p.outW) * p.strideW) - i32(p.padW);
    }
  }
  let ldb4 = p.ldb / 4u;
  let plane = p.inH * p.inW;
  // im2col position along K, advanced one step at a time (no divisions in the loop).
  var kc = 0u;
  var kh = 0u;
  var kw = 0u;

  var acc: array<vec4f, TM * TN4>;
  let K4 = p.K / 4u;
  for (var k4 = 0u; k4 < K4; k4++) {
    // bk[kk * TN4 + jj]: this invocation's 4 columns of group jj at K step 4 * k4 + kk.
    var bk: array<vec4f, 4u * TN4>;
    if (B_MODE == 0u) {
      for (var kk = 0u; kk < 4u; kk++) {
        for (var jj = 0u; jj < TN4; jj++) {
          bk[kk * TN4 + jj] = b[colB[jj] + (4u * k4 + kk) * ldb4];
        }
      }
    } else if (B_MODE == 1u) {
      for (var jj = 0u; jj < TN4; jj++) {
        let c0 = b[rowsB[4u * jj] + k4];
        let c1 = b[rowsB[4u * jj + 1u] + k4];
        let c2 = b[rowsB[4u * jj + 2u] + k4];
        let c3 = b[rowsB[4u * jj + 3u] + k4];
        bk[jj] = vec4f(c0.x, c1.x, c2.x, c3.x);
        bk[TN4 + jj] = vec4f(c0.y, c1.y, c2.y, c3.y);
        bk[2u * TN4 + jj] = vec4f(c0.z, c1.z, c2.z, c3.z);
        bk[3u * TN4 + jj] = vec4f(c0.w, c1.w, c2.w, c3.w);
      }
    } else {
      for (var kk = 0u; kk < 4u; kk++) {
        let dy = i32(kh * p.dilH);
        let dx = i32(kw * p.dilW);
        let channelOk = kc < p.channels;
        let xc = i32(bBase + kc * plane);
        for (var jj = 0u; jj < TN4; jj++) {
          var v: vec4f;
          for (var q = 0u; q < 4u; q++) {
            let t = 4u * jj + q;
            let y = iy0[t] + dy;
            let x = ix0[t] + dx;
            let ok = channelOk && y >= 0 && y < i32(p.inH) && x >= 0 && x < i32(p.inW);
            v[q] = select(0.0, image[u32(max(xc + y * i32(p.inW) + x, 0))], ok);
          }
          bk[kk * TN4 + jj] = v;
        }
        // Next (c, kh, kw), branch-free.
        kw += 1u;
        let wrapW = kw == p.kW;
        kw = select(kw, 0u, wrapW);
        kh = select(kh, kh + 1u, wrapW);
        let wrapH = kh == p.kH;
        kh = select(kh, 0u, wrapH);
        kc = select(kc, kc + 1u, wrapH);
      }
    }

    for (var r = 0u; r < ROW_LOADS; r++) {
      let mine = a[rowA[r] + k4];
      for (var l = 0u; l < 8u; l++) {
        let av = subgroupShuffle(mine, l);
        let i = 8u * r + l;
        for (var jj = 0u; jj < TN4; jj++) {
          let t = i * TN4 + jj;
          acc[t] = fma(vec4f(av.x), bk[jj], fma(vec4f(av.y), bk[TN4 + jj], fma(vec4f(av.z), bk[2u * TN4 + jj], fma(vec4f(av.w), bk[3u * TN4 + jj], acc[t]))));
        }
      }
    }
  }

  // Epilogue: bias, residual, ReLU, store. The flags are tested per row where they can be (a row's
  // bias is loaded once) and the plain store has its own loop, so that a runtime epilogue costs
  // about what a specialised one did.
  let e = gemm_epilogue(problem.inner);
  for (var i = 0u; i < TM; i++) {
    let m = m0 + i;
    if (m >= p.M) { break; }
    let row = cBase + m * p.ldc;
    if (p.epilogue == 0u) {
      for (var jj = 0u; jj < TN4; jj++) {
        for (var q = 0u; q < 4u; q++) {
          let n = col0 + 32u * jj + q;
          if (n < p.N) { out[row + n] = acc[i * TN4 + jj][q]; }
        }
      }
      continue;
    }
    let rowBias = row_bias(e, m);
    for (var jj = 0u; jj < TN4; jj++) {
      for (var q = 0u; q < 4u; q++) {
        let n = col0 + 32u * jj + q;
        if (n < p.N) { store_epilogue(e, row, n, acc[i * TN4 + jj][q] + rowBias); }
      }
    }
  }
}
