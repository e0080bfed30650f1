// One convolution layer on the GPU: conv2d with bias and ReLU fused, then 2x2 max pooling.
// Run it where webgpu-cnn and webgpu are installed: node conv-layer.mjs
import { Engine, conv2d, maxPool2d } from 'webgpu-cnn';

const engine = await Engine.create(); // navigator.gpu in a browser, dawn.node (the `webgpu` package) in Node
const pixels = Float32Array.from({ length: 6 * 6 }, (_, i) => Math.sin(i)); // one 6x6 grey image
const weights = Float32Array.from({ length: 2 * 3 * 3 }, (_, i) => Math.cos(i)); // two 3x3 filters
const x = engine.tensor(pixels, [1, 1, 6, 6]); // float32, NCHW
const w = engine.tensor(weights, [2, 1, 3, 3]); // OIHW
const b = engine.tensor([0.1, -0.1], [2]);
const y = conv2d(x, w, b, { padding: 1, relu: true }); // bias and ReLU fused into the GEMM
const p = maxPool2d(y, { kernelSize: 2 });
const values = await p.toArray(); // the first readback submits everything recorded
console.log(`pooled ${p.shape.join('x')}:`, Array.from(values, (v) => v.toFixed(4)).join(' '));
for (const t of [x, w, b, y, p]) t.dispose(); // GPU memory is owned explicitly
engine.dispose();
