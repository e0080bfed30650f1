// Elementwise ops over flat float32 arrays. Defines: OP (0 relu, 1 add, 2 add+relu), WG (workgroup size).
// The grid may be folded into two dimensions (engine.grid1d); the linear index is recovered here.

struct Params { n: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= p.n) { return; }
  if (OP == 0u) {
    out[i] = max(a[i], 0.0);
  } else if (OP == 1u) {
    out[i] = a[i] + b[i];
  } else {
    out[i] = max(a[i] + b[i], 0.0);
  }
}
