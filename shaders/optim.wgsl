// Optimiser updates, in place, one invocation per parameter element, following torch.optim's
// single-tensor formulas step by step (so float32 rounding matches PyTorch's as closely as it can).
// The element count is each parameter's binding length (arrayLength), so one uniform buffer serves
// every parameter of a step. Defines: WG (workgroup size). The grid may be folded into two
// dimensions (engine.grid1d).
// Entry points:
//   sgd:          param -= lr * (grad + weight_decay * param)
//   sgd_momentum: buf = first ? d : momentum * buf + (1 - dampening) * d   (d = grad + weight_decay * param)
//                 param -= lr * (nesterov ? d + momentum * buf : buf)
//   adam:         Adam (L2 weight decay added to the gradient) or AdamW (decoupled: param *= 1 - lr * wd)
//   fill:         param = fill (zeroing a gradient in place)
//! include lib/grid

// Coefficients such as 1 - beta1 are computed on the host in float64 and rounded once, as PyTorch
// computes its Python-float scalars before handing them to the float32 kernels.
struct Params {
  lr: f32,
  weight_decay: f32,
  // SGD
  momentum: f32,
  one_minus_dampening: f32,
  // Adam
  beta2: f32,
  one_minus_beta1: f32,
  one_minus_beta2: f32,
  eps: f32,
  step_size: f32,             // lr / (1 - beta1^t)
  bias_correction2_sqrt: f32, // sqrt(1 - beta2^t)
  decay_factor: f32,          // AdamW: 1 - lr * weight_decay
  // bit 0: nesterov, bit 1: first momentum step (the buffer starts as d), bit 2: decoupled weight decay
  flags: u32,
  fill: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> state0: array<f32>;
@group(0) @binding(4) var<storage, read_write> state1: array<f32>;

@compute @workgroup_size(WG)
fn sgd(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= arrayLength(&param)) { return; }
  var d = grad[i];
  if (p.weight_decay != 0.0) { d = d + p.weight_decay * param[i]; }
  param[i] = param[i] - p.lr * d;
}

@compute @workgroup_size(WG)
fn sgd_momentum(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= arrayLength(&param)) { return; }
  var d = grad[i];
  if (p.weight_decay != 0.0) { d = d + p.weight_decay * param[i]; }
  var buf = d;
  if ((p.flags & 2u) == 0u) { buf = p.momentum * state0[i] + p.one_minus_dampening * d; }
  state0[i] = buf;
  var step = buf;
  if ((p.flags & 1u) != 0u) { step = d + p.momentum * buf; }
  param[i] = param[i] - p.lr * step;
}

@compute @workgroup_size(WG)
fn adam(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= arrayLength(&param)) { return; }
  var g = grad[i];
  var w = param[i];
  if ((p.flags & 4u) != 0u) {
    w = w * p.decay_factor;
  } else if (p.weight_decay != 0.0) {
    g = g + p.weight_decay * w;
  }
  // exp_avg.lerp_(grad, 1 - beta1), exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1 - beta2)
  let m = state0[i] + p.one_minus_beta1 * (g - state0[i]);
  let v = p.beta2 * state1[i] + (p.one_minus_beta2 * g) * g;
  state0[i] = m;
  state1[i] = v;
  let denom = sqrt(v) / p.bias_correction2_sqrt + p.eps;
  param[i] = w - p.step_size * (m / denom);
}

@compute @workgroup_size(WG)
fn fill(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= arrayLength(&param)) { return; }
  param[i] = p.fill;
}
