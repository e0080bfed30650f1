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

// Two sums at once, each component summed as workgroup_sum sums.
fn workgroup_sum2(v: vec2f, lid: u32) -> vec2f {
  wg_sum2[lid] = v;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half /= 2u) {
    if (lid < half) { wg_sum2[lid] += wg_sum2[lid + half]; }
    workgroupBarrier();
  }
  return wg_sum2[0];
}
