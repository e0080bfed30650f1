// Node-only: lists an image folder on disk (one sub-folder per class, files found recursively
// below each, symbolic links followed once, hidden files and folders (".name") skipped) and wires
// the loaders to the PNG/JPEG decoder. A name the dataset would load (.png, .jpg, .jpeg) that is
// not a regular file once links are followed (a FIFO, which would block the reader forever, a
// socket, a device, a dangling link) is refused when the folder is scanned, naming it: nothing is
// skipped silently, and nothing hangs.
import { readdir, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { readImage } from '../io/image-node.js';
import type { Engine } from '../runtime/engine.js';
import { ImageFolderError, ImageFolderLoader, indexImageFolder, isImageFileName, splitImageFolder, type ImageFolderIndex, type LoaderOptions, type SplitOptions } from './image-folder.js';

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false; // a dangling link
  }
}

/** Every file below `dir` (any kind: the index filters them), visiting each real directory once. */
async function filesBelow(dir: string, seen: Set<string>): Promise<string[]> {
  const real = await realpath(dir);
  if (seen.has(real)) return [];
  seen.add(real);
  const files: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory() || (entry.isSymbolicLink() && (await isDirectory(path)))) files.push(...(await filesBelow(path, seen)));
    else if (entry.isFile()) files.push(path);
    else if (isImageFileName(entry.name)) files.push(await regularFile(path));
  }
  return files;
}

/** `path` if it is a regular file once links are followed; else an error naming what it is. */
async function regularFile(path: string): Promise<string> {
  let stats;
  try {
    stats = await stat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ImageFolderError(`${path} is a link to nothing (${code === 'ENOENT' ? 'no such file' : (err as Error).message})`, { cause: err });
  }
  if (stats.isFile()) return path;
  const kind = stats.isFIFO() ? 'a FIFO (named pipe)' : stats.isSocket() ? 'a socket' : stats.isCharacterDevice() || stats.isBlockDevice() ? 'a device' : 'something else';
  throw new ImageFolderError(`${path} is ${kind}, not a regular file; only regular files are loaded (remove it or rename it)`);
}

/** Lists `root` and builds its index (see indexImageFolder). */
export async function scanImageFolder(root: string): Promise<ImageFolderIndex> {
  let entries;
  try {
    entries = await readdir(root, { withFileTypes: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such folder' : code === 'ENOTDIR' ? 'not a folder' : err instanceof Error ? err.message : String(err);
    throw new ImageFolderError(`cannot read ${root}: ${reason}`, { cause: err });
  }
  const listing = new Map<string, string[]>();
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    const path = join(root, entry.name);
    if (entry.isDirectory() || (entry.isSymbolicLink() && (await isDirectory(path)))) listing.set(entry.name, await filesBelow(path, new Set()));
  }
  return indexImageFolder(root, listing);
}

export interface ImageFolderLoaders {
  classes: readonly string[];
  train: ImageFolderLoader;
  /** Undefined when validationFraction is 0. */
  validation: ImageFolderLoader | undefined;
}

/**
 * Scans `root`, splits it (SplitOptions, seeded by `splitSeed`, default `seed`) and returns a
 * training loader ('train' mode) and a validation loader ('eval' mode, in order, the same size,
 * normalisation and batch size).
 */
export async function openImageFolder(engine: Engine, root: string, options: Omit<LoaderOptions, 'mode'> & SplitOptions & { splitSeed?: number }): Promise<ImageFolderLoaders> {
  const index = await scanImageFolder(root);
  const { train, validation } = splitImageFolder(index, { validationFraction: options.validationFraction, seed: options.splitSeed ?? options.seed ?? 0 });
  return {
    classes: index.classes,
    train: new ImageFolderLoader(engine, train, readImage, { ...options, mode: 'train' }),
    validation: validation.samples.length > 0 ? new ImageFolderLoader(engine, validation, readImage, { ...options, mode: 'eval', shuffle: false, dropLast: false }) : undefined,
  };
}
