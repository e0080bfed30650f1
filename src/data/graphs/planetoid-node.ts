// Node-only: reads a Planetoid dataset's <name>.content and <name>.cites from disk and parses them
// (src/data/graphs/planetoid.ts).
import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { parsePlanetoid, type Planetoid } from './planetoid.js';

/**
 * `path` is either a directory holding exactly one *.content file and its .cites file, or the
 * files' common stem (`data/cora`), with or without the `.content` / `.cites` extension.
 */
export async function readPlanetoid(path: string): Promise<Planetoid> {
  const stem = await planetoidStem(path);
  const [contentPath, citesPath] = [`${stem}.content`, `${stem}.cites`];
  const read = (file: string) =>
    readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new Error(`readPlanetoid: cannot read ${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
    });
  const [content, cites] = await Promise.all([read(contentPath), read(citesPath)]);
  return parsePlanetoid(content, cites, { content: contentPath, cites: citesPath });
}

async function planetoidStem(path: string): Promise<string> {
  const isDirectory = await stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!isDirectory) return path.replace(/\.(content|cites)$/, '');
  const found = (await readdir(path)).filter((f) => f.endsWith('.content')).sort();
  if (found.length !== 1) {
    throw new Error(
      `readPlanetoid: expected one <name>.content file in ${path}, found ${found.length === 0 ? 'none' : found.join(', ')}`,
    );
  }
  return join(path, basename(found[0]!, '.content'));
}
