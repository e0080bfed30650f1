// webgpu-cnn's public API: an Engine (one WebGPU device with its caches), float32 Tensors, and the
// ops, all with torch.nn.functional semantics (NCHW, OIHW weights).
export { Engine, DeviceLostError, grid1d, type EngineOptions } from './runtime/engine.js';
export { Tensor, numel, shapeString, type Shape } from './runtime/tensor.js';
export { acquireDevice, describeAdapter, type DeviceOptions } from './gpu/device.js';
export type { KernelSpec, BindingKind } from './runtime/kernel.js';
export { params } from './runtime/uniforms.js';
export { OpError } from './ops/check.js';

export { relu, add } from './ops/elementwise.js';
export { matmul, linear, gemm, type MatmulOptions, type GemmArgs } from './ops/gemm.js';
export { conv1d, conv2d, conv3d, type ConvOptions } from './ops/conv.js';
export { maxPool1d, maxPool2d, maxPool2dWithIndices, avgPool2d, adaptiveAvgPool2d, type MaxPoolOptions, type AvgPoolOptions } from './ops/pool.js';
export { interpolate, type InterpolateOptions } from './ops/resize.js';
export { batchNorm, type BatchNormOptions } from './ops/norm.js';
export { softmax, logSoftmax } from './ops/softmax.js';
export { crossEntropy, crossEntropyWithIndices, type CrossEntropyOptions } from './ops/loss.js';
export { dropout, dropoutMask, type DropoutOptions } from './ops/dropout.js';
