// Node side of loading a model (src/nn/load-model.ts): the file's header is checked before the
// rest is read (readSafetensorsFile), and a file that is not safetensors at all gets an error that
// says what the command expected and, where it can tell, what the file is instead.
import { sniffImageFormat } from '../io/image-node.js';
import { openRegularFile, readAt } from '../io/regular-file.js';
import { SafetensorsError } from '../io/safetensors.js';
import { readSafetensorsFile } from '../io/safetensors-file.js';
import { loadModel, type LoadedModel } from '../nn/load-model.js';
import type { Engine } from '../runtime/engine.js';

export const MODEL_FILES = 'a checkpoint of train or transfer-train, or ResNet18 weights in safetensors (scripts/export_resnet18.py)';

/** What a file that is not safetensors is, from its first bytes ('' when unknown). */
async function whatItIs(path: string): Promise<string> {
  try {
    const file = await openRegularFile(path);
    try {
      const format = sniffImageFormat(await readAt(file, 0, Math.min(16, file.size)));
      return format ? ` (it is a ${format.toUpperCase()} image)` : '';
    } finally {
      await file.handle.close();
    }
  } catch {
    return '';
  }
}

/** Reads and loads the model file at `path` (see loadModel), in evaluation mode, frozen. */
export async function readModel(engine: Engine, path: string): Promise<LoadedModel> {
  let bytes: Uint8Array;
  try {
    bytes = await readSafetensorsFile(path, 'weights file');
  } catch (err) {
    if (!(err instanceof SafetensorsError)) throw err;
    const prefix = `safetensors (${path}): `;
    const reason = err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
    throw new SafetensorsError(path, `${reason}; expected ${MODEL_FILES}${await whatItIs(path)}`);
  }
  return loadModel(engine, bytes, { source: path });
}
