// Elementwise ops over flat float32 arrays. Defines: OP (which op, below), WG (workgroup size).
// The grid may be folded into two dimensions (engine.grid1d); the linear index is recovered here.
//   0 relu           out = max(a, 0), NaN kept
//   1 add            out = a + b
//   2 add_relu       out = max(a + b, 0), NaN kept
//   3 relu_backward  out = 0 where b <= 0, else a    (a: gradient of the output, b: relu's input or
//                    output; NaN passes the gradient, as PyTorch's threshold_backward)
//   4 mul            out = a * b
//   5 scale          out = a * s
//   6 accumulate     out += b, in place (a is unused: one buffer cannot be bound both read-only
//                    and read-write in one dispatch, so the accumulator is only bound as out)
//! include lib/grid
//! include lib/float_bits

struct Params { n: u32, s: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= p.n) { return; }
  if (OP == 0u) {
    out[i] = select(a[i], 0.0, not_positive(a[i]));
  } else if (OP == 1u) {
    out[i] = a[i] + b[i];
  } else if (OP == 2u) {
    let v = a[i] + b[i];
    out[i] = select(v, 0.0, not_positive(v));
  } else if (OP == 3u) {
    out[i] = select(a[i], 0.0, not_positive(b[i]));
  } else if (OP == 4u) {
    out[i] = a[i] * b[i];
  } else if (OP == 5u) {
    out[i] = a[i] * p.s;
  } else {
    out[i] = out[i] + b[i];
  }
}
