// webgpu-cnn's Node entry: the whole public API of src/index.ts, with dawn.node (the optional peer
// dependency `webgpu`, loaded on first use) as the GPU when there is no navigator.gpu. Under Node,
// `import ... from 'webgpu-cnn'` resolves here (package.json "exports"); 'webgpu-cnn/node' names it.
// New exports go into src/index.ts, never here: both entries must offer the same names.
import { useNodeGpu } from './gpu/node-gpu.js';

export * from './index.js';

useNodeGpu();
