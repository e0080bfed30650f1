// The Node path to WebGPU: Dawn's dawn.node from the `webgpu` npm package. Imported lazily by
// device.ts only when no `navigator.gpu` exists, so browser bundles never load it.
import { create, globals } from 'webgpu';

let gpu: GPU | undefined;

export function nodeGpu(): GPU {
  if (!gpu) {
    // The GPU* classes (GPUBufferUsage, ...) must be globals, as they are in a browser.
    Object.assign(globalThis, globals);
    gpu = create([]);
  }
  return gpu;
}
