// Every test file runs in Node: dawn.node is the GPU there, as in the package's Node entry.
import { useNodeGpu } from '../src/gpu/node-gpu.js';

useNodeGpu();
