// Node-only: reads a safetensors file header first. The 8-byte length and the JSON header are read
// and checked against the file's size (decodeSafetensorsHeader) before the rest is read, so a file
// that is not safetensors (or is torn, or describes other sizes) is refused after a few bytes
// instead of being read whole.
import { FileReadError, openRegularFile, readAt, readInto } from './regular-file.js';
import { decodeSafetensorsHeader, safetensorsHeaderLength } from './safetensors.js';

export { FileReadError };

/**
 * The bytes of a safetensors file whose header has been checked (decodeSafetensors then parses
 * them). Throws FileReadError ("PATH: cannot read the WHAT: no such file") when the file cannot be
 * read or is not a regular file, and SafetensorsError, naming `path`, when its header is bad.
 */
export async function readSafetensorsFile(path: string, what = 'safetensors file'): Promise<Uint8Array> {
  let file;
  try {
    file = await openRegularFile(path);
  } catch (err) {
    throw err instanceof FileReadError ? new FileReadError(path, `cannot read the ${what}: ${err.reason}`, { cause: err }) : err;
  }
  try {
    const headerLength = safetensorsHeaderLength(await readAt(file, 0, Math.min(8, file.size)), file.size, path);
    const head = await readAt(file, 0, 8 + headerLength);
    decodeSafetensorsHeader(head, file.size, path);
    const bytes = new Uint8Array(file.size);
    bytes.set(head);
    const rest = bytes.subarray(head.length);
    if ((await readInto(file, rest, head.length)) !== rest.length) throw new FileReadError(path, `the file shrank while it was read (from ${file.size} bytes)`);
    return bytes;
  } finally {
    await file.handle.close();
  }
}
