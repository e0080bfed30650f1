// The CPU reference implementations (float64, written straight from the definitions): the oracle
// the GPU kernels are tested against, usable by anyone who wants to check a result.
export { host, hostZeros, type HostTensor } from './host-tensor.js';
export { matmulRef, linearRef } from './gemm.js';
export { conv1dRef, conv2dRef, conv3dRef } from './conv.js';
export { maxPool1dRef, maxPool2dRef, maxPool2dWithIndicesRef, avgPool2dRef, adaptiveAvgPool2dRef } from './pool.js';
export { interpolateRef } from './resize.js';
export { batchNormRef } from './norm.js';
export { softmaxRef, logSoftmaxRef } from './softmax.js';
export { crossEntropyRef } from './loss.js';
export { dropoutRef, dropoutMaskRef } from './dropout.js';
export { minMaxNormalizeRef, channelAbsMaxRef } from './attribution.js';
