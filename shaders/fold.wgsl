// Folds an inference batch norm into the convolution before it (a graph rewrite, run once when a
// graph is compiled), so the pair becomes one GEMM with a bias:
//   scale[o] = gamma[o] / sqrt(var[o] + eps)
//   w'[o, k] = w[o, k] * scale[o]            k < per_channel (the weights of one output channel)
//   b'[o]    = (b[o] - mean[o]) * scale[o] + beta[o]
// Defines: WG (workgroup size). One workgroup per output channel (the grid may be folded into two
// dimensions, engine.grid1d), its invocations striding over the channel's weights: one scale per
// workgroup, no division per weight, and few workgroups (lavapipe pays per workgroup).
//! include lib/grid

struct Params {
  out_channels: u32,
  per_channel: u32,
  flags: u32,   // bit 0: the conv has a bias, bit 1: gamma given (else 1), bit 2: beta given (else 0)
  eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> weight: array<f32>;
@group(0) @binding(2) var<storage, read> conv_bias: array<f32>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> variance: array<f32>;
@group(0) @binding(5) var<storage, read> gamma: array<f32>;
@group(0) @binding(6) var<storage, read> beta: array<f32>;
@group(0) @binding(7) var<storage, read_write> weight_out: array<f32>;
@group(0) @binding(8) var<storage, read_write> bias_out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let o = workgroup_index(wid, nwg);
  if (o >= p.out_channels) { return; }
  let g = select(1.0, gamma[o], (p.flags & 2u) != 0u);
  let scale = g / sqrt(variance[o] + p.eps);
  let base = o * p.per_channel;
  for (var k = lid; k < p.per_channel; k += WG) {
    weight_out[base + k] = weight[base + k] * scale;
  }
  if (lid == 0u) {
    let b = select(0.0, conv_bias[o], (p.flags & 1u) != 0u);
    let shift = select(0.0, beta[o], (p.flags & 4u) != 0u);
    bias_out[o] = (b - mean[o]) * scale + shift;
  }
}
