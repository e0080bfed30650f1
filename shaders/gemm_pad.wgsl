// Copies groups of [rows, K] matrices (row stride lda, group stride groupStride, from offset) into
// packed [groups, rows, Kp] with zeros in columns K..Kp: the GEMM's subgroup path reads A as vec4
// along K, so a convolution's weights with K % 4 != 0 are padded once per call. Define: WG.
// The grid may be folded into two dimensions (engine.grid1d).
//! include lib/grid

struct Params {
  total: u32, rows: u32, K: u32, Kp: u32,
  lda: u32, groupStride: u32, offset: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= p.total) { return; }
  let k = i % p.Kp;
  let row = (i / p.Kp) % p.rows;
  let group = i / (p.Kp * p.rows);
  var v = 0.0;
  if (k < p.K) {
    v = src[p.offset + group * p.groupStride + row * p.lda + k];
  }
  dst[i] = v;
}
