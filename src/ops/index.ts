// Every op module: importing this registers every op (src/ops/registry.ts), so graphs can name
// any of them. A new family of ops adds its module here.
export * from './attribution.js';
export * from './conv.js';
export * from './dropout.js';
export * from './elementwise.js';
export * from './gemm.js';
export * from './loss.js';
export * from './norm.js';
export * from './pool.js';
export * from './resize.js';
export * from './softmax.js';
export * from './sparse.js';
export * from './view.js';
export * from './registry.js';
