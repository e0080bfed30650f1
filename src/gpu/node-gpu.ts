// The Node path to WebGPU: Dawn's dawn.node from the `webgpu` npm package, an optional peer
// dependency loaded on first use. Only the Node entry (src/node.ts), the CLI and the tests import
// this file; the browser entry (src/index.ts) never does, so bundles cannot reach dawn.node.
import { setDefaultGpu } from './device.js';

interface DawnNode {
  create(flags: string[]): GPU;
  globals: Record<string, unknown>;
}

/** How dawn.node is imported: `import('webgpu')`, or a stand-in in the test of the not-installed error. */
export type DawnNodeImporter = () => Promise<DawnNode>;

export const WEBGPU_MISSING =
  "dawn.node is not installed: webgpu-cnn runs WebGPU in Node through the optional peer dependency 'webgpu' " +
  "(Dawn's native binaries, about 140 MB): npm install webgpu";

let gpu: Promise<GPU> | undefined;

/** dawn.node's GPU, created once per process (a failed attempt is retried on the next call). */
export function nodeGpu(): Promise<GPU> {
  gpu ??= createNodeGpu(() => import('webgpu') as Promise<DawnNode>).catch((err: unknown) => {
    gpu = undefined;
    throw err;
  });
  return gpu;
}

/** Imports dawn.node and creates a GPU; says how to install it when it is missing. */
export async function createNodeGpu(importer: DawnNodeImporter): Promise<GPU> {
  let dawn: DawnNode;
  try {
    dawn = await importer();
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const notFound = code === 'ERR_MODULE_NOT_FOUND' && /'webgpu'/.test(String((err as Error).message));
    if (notFound) throw new Error(WEBGPU_MISSING, { cause: err });
    throw err;
  }
  // The GPU* classes (GPUBufferUsage, ...) must be globals, as they are in a browser.
  Object.assign(globalThis, dawn.globals);
  return dawn.create([]);
}

/** Makes dawn.node the GPU that Engine.create and acquireDevice use when there is no navigator.gpu. */
export function useNodeGpu(): void {
  setDefaultGpu(() => nodeGpu());
}
