// Node-only: replaces a file so that a reader, or a crash at any moment, sees either the old
// contents or the new, never a torn file. The data goes to a temporary file in the same directory
// (rename is atomic only within one file system), is flushed to disk, and is then renamed over the
// target; the directory is flushed so the rename itself survives a power cut.
//
// A writer killed before its rename leaves its temporary file behind. The temporary file's name
// carries the writer's pid (`.<target>.<pid>.<time>.<random>.tmp`), so the next write to the same
// target removes those whose writer is no longer alive, and never a live writer's (nor this
// process's own: it may be another write in progress). The pid is checked on this machine only:
// a directory shared over a network by writers on several machines is not supported.
//
// Test hook (used only by kernels-test/crash-resume.test.ts): with the environment variable
// WEBGPU_CNN_PAUSE_BEFORE_RENAME_MS=N set, the writer prints `atomic-write: writing <target>` to
// stderr when it starts, and `atomic-write: pausing before rename <target>` once the temporary
// file is complete, then waits N ms before renaming it, so that a test can kill the process at a
// chosen moment of a save.
import { open, readdir, rename, unlink, mkdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

const PAUSE_ENV = 'WEBGPU_CNN_PAUSE_BEFORE_RENAME_MS';

export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const dir = dirname(path);
  if (pauseMs() > 0) process.stderr.write(`atomic-write: writing ${path}\n`);
  await mkdir(dir, { recursive: true });
  await removeStaleTemporaries(dir, basename(path));
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
    await pauseForTests(path);
    await rename(temp, path);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  await syncDirectory(dir);
}

/** The pid in a temporary file's name if it is one of `target`'s, else undefined. */
function temporaryOwner(name: string, target: string): number | undefined {
  const prefix = `.${target}.`;
  if (!name.startsWith(prefix)) return undefined;
  const match = /^(\d+)\.[0-9a-z]+\.[0-9a-z]+\.tmp$/.exec(name.slice(prefix.length));
  return match ? Number(match[1]) : undefined;
}

function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0); // signal 0: only asks whether the process exists
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to another user. Only ESRCH says it is gone.
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** Removes the temporary files that dead writers to `target` left in `dir`. */
async function removeStaleTemporaries(dir: string, target: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return; // nothing to clean where nothing can be listed; the write reports its own errors
  }
  for (const name of names) {
    const pid = temporaryOwner(name, target);
    if (pid !== undefined && !isAlive(pid)) await unlink(join(dir, name)).catch(() => undefined);
  }
}

const pauseMs = (): number => Number(process.env[PAUSE_ENV] ?? 0) || 0;

async function pauseForTests(path: string): Promise<void> {
  const ms = pauseMs();
  if (ms <= 0) return;
  process.stderr.write(`atomic-write: pausing before rename ${path}\n`);
  await new Promise((resolve) => setTimeout(resolve, ms));
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
