// What gemm.wgsl, gemm_subgroup.wgsl and gemm_tiled.wgsl share: the problem's parameters, where each
// matrix of the grid starts, and the epilogue. Requires the including shader's bindings `p`
// (Params), `bias`, `residual` and `out` (array<f32>).
//
// The problem: out = epilogue(op(A) x op(B)) for a grid of (outer batch, inner group) problems;
// matrix z of the grid (outer = z / groups, inner = z % groups) starts at offset + outer * xOuter
// + inner * xInner in each of A, B and C (x = a, b, c).
//
// The epilogue (p.epilogue, a runtime parameter so that one pipeline serves every fused variant
// and a model compiles fewer pipelines): bits 0-1 the bias (0 none, 1 one value per output
// column, 2 one value per output row), bit 2 add a residual laid out like the output (before the
// ReLU), bit 3 ReLU, max(v, 0) keeping NaN, last.
//! include lib/float_bits

struct Params {
  M: u32, N: u32, K: u32, groups: u32,
  lda: u32, ldb: u32, ldc: u32, biasInner: u32,
  aOuter: u32, aInner: u32, bOuter: u32, bInner: u32,
  cOuter: u32, cInner: u32, aOffset: u32, bOffset: u32,
  cOffset: u32, biasOffset: u32,
  // first tile of this dispatch in each grid dimension (grids over the device limit are split)
  rowTile0: u32, colTile0: u32, batch0: u32,
  // implicit-GEMM convolution geometry (the im2col view of B)
  channels: u32, inH: u32, inW: u32, outW: u32,
  kH: u32, kW: u32, strideH: u32, strideW: u32,
  dilH: u32, dilW: u32, padH: u32, padW: u32,
  epilogue: u32,
}

// Where matrix z of the grid (this dispatch's wid.z, after p.batch0) starts in A, B and C, and
// its inner group (for the epilogue's bias).
struct GemmProblem { a: u32, b: u32, c: u32, inner: u32 }

fn gemm_problem(wz: u32) -> GemmProblem {
  let z = p.batch0 + wz;
  let outer = z / p.groups;
  let inner = z % p.groups;
  return GemmProblem(
    p.aOffset + outer * p.aOuter + inner * p.aInner,
    p.bOffset + outer * p.bOuter + inner * p.bInner,
    p.cOffset + outer * p.cOuter + inner * p.cInner,
    inner,
  );
}

// p.epilogue decoded for the problem's inner group.
struct Epilogue { biasBase: u32, biasMode: u32, addResidual: bool, relu: bool }

fn gemm_epilogue(inner: u32) -> Epilogue {
  return Epilogue(p.biasOffset + inner * p.biasInner, p.epilogue & 3u, (p.epilogue & 4u) != 0u, (p.epilogue & 8u) != 0u);
}

// The bias of output row m (bias mode 2), else 0: a row's bias is loaded once.
fn row_bias(e: Epilogue, m: u32) -> f32 {
  var rowBias = 0.0;
  if (e.biasMode == 2u) { rowBias = bias[e.biasBase + m]; }
  return rowBias;
}

// Stores output (row, n), v being the product plus its row's bias: adds the column's bias and the
// residual, then applies the ReLU.
fn store_epilogue(e: Epilogue, row: u32, n: u32, v: f32) {
  var value = v;
  if (e.biasMode == 1u) { value += bias[e.biasBase + n]; }
  if (e.addResidual) { value += residual[row + n]; }
  out[row + n] = select(value, 0.0, e.relu && not_positive(value));
}
