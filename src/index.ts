// webgpu-cnn's public API: an Engine (one WebGPU device with its caches), float32 Tensors, and the
// ops, all with torch.nn.functional semantics (NCHW, OIHW weights).
//
// This is the browser (and default) entry: it and everything it imports stay free of `node:`
// modules and of dawn.node. src/node.ts re-exports it and adds dawn.node as the Node GPU, so a new
// export is added here only, and shows in both entries. The package test bundles this entry for
// the browser and fails on any Node-only import.
//
// The types use WebGPU's (GPUDevice, GPUBuffer, ...): the reference below is kept in the emitted
// index.d.ts, so a consumer's tsc finds them (@webgpu/types is a dependency of the package).
/// <reference types="@webgpu/types" preserve="true" />
export { Engine, DeviceLostError, grid1d, type EngineOptions } from './runtime/engine.js';
export { CPU_PROFILE, DISCRETE_PROFILE, profileForAdapter, type DeviceProfile, type PlanTarget } from './runtime/device-profile.js';
export { Tensor, numel, shapeString, type Shape } from './runtime/tensor.js';
export { acquireDevice, describeAdapter, type DeviceOptions, type AcquiredDevice } from './gpu/device.js';
export type { KernelSpec, BindingKind } from './runtime/kernel.js';
export { planSplit, runSplit, type Chunk, type PerUnit, type Split, type SplitPlan } from './runtime/split.js';
export { params } from './runtime/uniforms.js';
export { OpError } from './ops/check.js';

// The ops: every op family's module (its registered ops' functions, options types, backward
// functions) and the registry itself, so a new op declared in one of them is public at once, and
// users can declare ops of their own with defineOp.
export * from './ops/index.js';
export { gemm, type GemmArgs } from './ops/gemm.js';
export { conv1dBackward, conv2dBackward, conv3dBackward } from './ops/conv-backward.js';
export { planConvolution, planForward, describePlan, type ConvPlan, type ConvPasses } from './ops/conv-plan.js';
export { linearBackward, matmulBackward } from './ops/linear-backward.js';
export { sumRows, sumPerChannel } from './ops/reduce.js';
export { augmentBatch, centerCropBatch, sampleAugmentParams, sampleRandomResizedCrop } from './ops/augment.js';
export { preprocessImages, IMAGENET_MEAN, IMAGENET_STD, type RgbaImage } from './ops/preprocess.js';

// Training: autodiff, optimisers, modules and models.
export { Tape } from './autograd/tape.js';
export { Variable, parameter, constant, type Placeholder } from './autograd/variable.js';
export { traceModule, runGraph, TraceError, TrainingModeError, type TraceOptions } from './autograd/trace.js';
export { SGD, type SGDOptions } from './optim/sgd.js';
export { Adam, AdamW, type AdamOptions } from './optim/adam.js';
export * from './nn/module.js';
export * from './nn/conv.js';
export * from './nn/linear.js';
export * from './nn/norm.js';
export * from './nn/layers.js';
export * from './nn/sequential.js';
export { META_ENGINE, isMeta } from './nn/meta.js';
export { HashStream, Mulberry32, Xoshiro128, RandomGenerator } from './data/random.js';
export { fashionCnn, fashionDnn, FashionCNN, FashionDNN } from './nn/models/fashion.js';

// Graph convolutional networks (the graph data loaders live in src/data/graphs).
export * from './nn/gcn.js';
export * from './nn/gcn-graph.js';
export type { Graph, NodeDataset } from './data/graphs/graph.js';
export type { Csr } from './data/graphs/csr.js';

// Inference graphs and ResNet18.
export * from './graph/index.js';
export { ResNet18, loadResNet18, resnet18Graph, resnet18FromArrays, checkStateDict, StateDictError } from './nn/models/resnet18.js';
export { encodeSafetensors, decodeSafetensors, SafetensorsError } from './io/safetensors.js';

// Using trained models and explaining them: any model file of the CLI loaded with its class names,
// pictures turned into its input, feature maps, Grad-CAM, saliency, probabilities and pictures.
export { loadModel, ModelFileError, type LoadedModel, type LoadedModelKind } from './nn/load-model.js';
export { modelInput, inputNormalisation, type ModelInputOptions, type InputNormalisation } from './nn/model-input.js';
export { fashionPixels, fashionTensor, type FashionPixels } from './data/fashion-input.js';
export * from './nn/explain/index.js';
