// Node-only: reading files that must be regular files. A FIFO, a socket or a device named like an
// image or a weights file (or a symbolic link to one) would block a plain readFile forever or
// stream without end: the file is opened without blocking, checked with fstat (links followed),
// and refused unless it is a regular file. Reads then go by position, so a caller can check a
// header before it reads (or allocates for) the rest.
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

/** A file that could not be read; `reason` is short ("no such file", "is a FIFO, not a regular file"). */
export class FileReadError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`${path}: ${reason}`, options);
    this.name = 'FileReadError';
  }
}

function kindOf(stats: { isDirectory(): boolean; isFIFO(): boolean; isSocket(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean }): string {
  if (stats.isDirectory()) return 'is a directory';
  if (stats.isFIFO()) return 'is a FIFO (named pipe), not a regular file';
  if (stats.isSocket()) return 'is a socket, not a regular file';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'is a device, not a regular file';
  return 'is not a regular file';
}

function reasonOf(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EISDIR') return 'is a directory';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  return err instanceof Error ? err.message : String(err);
}

export interface RegularFile {
  handle: FileHandle;
  size: number;
}

/** Opens `path` for reading if it is a regular file; the caller closes the handle. */
export async function openRegularFile(path: string): Promise<RegularFile> {
  let handle: FileHandle;
  try {
    // O_NONBLOCK: opening a FIFO would otherwise wait for a writer. It changes nothing for regular files.
    handle = await open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (err) {
    throw new FileReadError(path, reasonOf(err), { cause: err });
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new FileReadError(path, kindOf(stats));
    return { handle, size: stats.size };
  } catch (err) {
    await handle.close();
    throw err instanceof FileReadError ? err : new FileReadError(path, reasonOf(err), { cause: err });
  }
}

/** Fills `target` from the file at `position`; returns the bytes read (fewer only if the file ends first). */
export async function readInto(file: RegularFile, target: Uint8Array, position: number): Promise<number> {
  let done = 0;
  while (done < target.length) {
    const { bytesRead } = await file.handle.read(target, done, target.length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

/** `length` bytes from `position` (fewer only if the file ends first). */
export async function readAt(file: RegularFile, position: number, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  const done = await readInto(file, out, position);
  return done === length ? out : out.subarray(0, done);
}
