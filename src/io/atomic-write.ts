// Node-only (the one file in src/io that imports `node:`): replaces a file so that a reader, or a
// crash at any moment, sees either the old contents or the new, never a torn file. The data goes
// to a temporary file in the same directory (rename is atomic only within one file system), is
// flushed to disk, and is then renamed over the target; the directory is flushed so the rename
// itself survives a power cut.
import { open, rename, unlink, mkdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const suffix = `${process.pid}.${Date.now().toString(36)}.${Math.random().toString(36).slice(2, 8)}`;
  const temp = join(dir, `.${basename(path)}.${suffix}.tmp`);
  const file = await open(temp, 'wx');
  try {
    try {
      await file.writeFile(data);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, path);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  await syncDirectory(dir);
}

async function syncDirectory(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // Some file systems (and Windows) cannot fsync a directory; the rename is still atomic.
  } finally {
    await handle?.close();
  }
}
