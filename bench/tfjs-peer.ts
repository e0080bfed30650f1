// TensorFlow.js's WebGPU backend as a benchmark peer, running in Node on the same dawn.node GPU
// object as our Engine (each makes its own device on the same adapter).
//
// tfjs looks for `navigator.gpu` and the GPU* globals (GPUBufferUsage, ...) when its backend
// module is evaluated, so they are set first and tfjs is loaded with dynamic import() afterwards
// (static imports are hoisted above any code in this module).
import type * as TfCore from '@tensorflow/tfjs-core';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { createRequire } from 'node:module';
import { globals } from 'webgpu';

export type Tf = typeof TfCore;

export interface TfjsPeer {
  tf: Tf;
  backend: WebGPUBackend;
  version: string;
  /** The adapter tfjs's device came from, as tfjs reports it. */
  adapter: string;
  /** Submits what tfjs has recorded and waits for the GPU to finish it; reads nothing back. */
  sync(): Promise<void>;
}

/** Makes `gpu` visible to tfjs as `navigator.gpu` (Node 20 has no `navigator`; Node 21+ has one without `gpu`). */
function exposeGpu(gpu: GPU): void {
  Object.assign(globalThis, globals);
  const g = globalThis as { navigator?: object };
  if (g.navigator === undefined) {
    Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  } else if ((g.navigator as { gpu?: GPU }).gpu !== gpu) {
    Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true, writable: true });
  }
}

export async function loadTfjs(gpu: GPU): Promise<TfjsPeer> {
  exposeGpu(gpu);
  const tf: Tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-backend-webgpu');
  if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs: the webgpu backend failed to initialise');
  await tf.ready();
  const backend = tf.backend() as WebGPUBackend;
  for (const method of ['ensureCommandEncoderReady', 'endComputePassEncoder', 'submitQueue'] as const) {
    if (typeof backend[method] !== 'function') {
      throw new Error(`tfjs ${tf.version_core}: WebGPUBackend.${method} is missing; bench/tfjs-peer.ts needs updating`);
    }
  }
  const info = backend.adapterInfo as unknown as { vendor?: string; architecture?: string };
  return {
    tf,
    backend,
    version: tf.version_core,
    adapter: [info.vendor, info.architecture].filter(Boolean).join(' ') || 'unknown',
    sync: async () => {
      // tfjs keeps dispatches in an open compute pass until 15 are queued or data is read; this is
      // the sequence its own readback path runs before submitting, minus the copy to a staging buffer.
      backend.ensureCommandEncoderReady();
      backend.endComputePassEncoder();
      backend.submitQueue();
      await backend.queue.onSubmittedWorkDone();
    },
  };
}

/**
 * Registers tfjs-core's gradient functions (for tf.grad and optimizers). Only the @tensorflow/tfjs
 * union package does that, and only tfjs-core is installed: its Node bundle leaves them out, and
 * the ES modules that define them (dist/register_all_gradients.js) use extensionless imports Node
 * cannot load. So esbuild bundles that entry point and it is imported from memory. Its own copy of
 * the ops is harmless: tfjs keeps its engine and its kernel and gradient registries on globalThis,
 * shared by every copy, and recognises tensors of any copy.
 */
export async function registerTfjsGradients(): Promise<void> {
  const { build } = await import('esbuild');
  const entry = createRequire(import.meta.url).resolve('@tensorflow/tfjs-core/dist/register_all_gradients.js');
  const bundled = await build({ entryPoints: [entry], bundle: true, format: 'esm', platform: 'node', write: false, logLevel: 'silent' });
  await import(`data:text/javascript;base64,${Buffer.from(bundled.outputFiles[0]!.contents).toString('base64')}`);
}
