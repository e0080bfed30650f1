// Sums across a workgroup: a tree in workgroup memory, halving the live slots each step. Requires
// WG (the workgroup size, a power of two) from the including shader. Call these from uniform
// control flow (every invocation of the workgroup, with the same width and keep); a second call
// in the same invocation needs a workgroupBarrier() before it, as the first one's result is read
// from the slots the second writes.

var<workgroup> wg_sum: array<f32, WG>;
var<workgroup> wg_sum2: array<vec2f, WG>;

// Sums v over invocations [0, width) (width a power of two, at most WG) until `keep` partial sums
// are left: wg_sum[j], j < keep, then holds the sum over invocations j, j + keep, j + 2 keep, ...
fn workgroup_fold(v: f32, lid: u32, width: u32, keep: u32) {
  wg_sum[lid] = v;
  workgroupBarrier();
  for (var half = width / 2u; half >= keep; half /= 2u) {
    if (lid < half) { wg_sum[lid] += wg_sum[lid + half]; }
    workgroupBarrier();
  }
}

// The sum of v over the workgroup, returned to every invocation.
fn workgroup_sum(v: f32, lid: u32) -> f32 {
  workgroup_fold(v, lid, WG, 1u);
  return wg_sum[0];
}

var<workgroup> wg_sum2_eighths: array<vec2f, WG / 8u>;

// Two sums at once, returned to every invocation: eighths of the workgroup summed by WG / 8
// invocations, then the eighths by everyone (WG a multiple of 8). Two barriers, where a tree takes
// 1 + log2(WG): on CPU adapters each barrier switches between the workgroup's SIMD batches, which
// cost twice the time of the rest on rows of a few hundred values (measured for group norm). Calls
// may follow each other: a call writes the eighths only after its first barrier, which every
// invocation reaches after reading the previous call's.
fn workgroup_sum2(v: vec2f, lid: u32) -> vec2f {
  wg_sum2[lid] = v;
  workgroupBarrier();
  if (lid < WG / 8u) {
    var s = vec2f(0.0);
    for (var k = 0u; k < 8u; k++) { s += wg_sum2[8u * lid + k]; }
    wg_sum2_eighths[lid] = s;
  }
  workgroupBarrier();
  var total = vec2f(0.0);
  for (var k = 0u; k < WG / 8u; k++) { total += wg_sum2_eighths[k]; }
  return total;
}
