// Decodes the tensors of the PyTorch golden fixtures under kernels-test/fixtures/ (written by the
// scripts in scripts/golden/). A malformed fixture throws here, naming the file and case, rather
// than passing vacuously.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURE_DIR = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');

export interface FixtureTensor {
  shape: number[];
  data: Float32Array;
}

/** JSON has no infinities or NaN: the generator writes them as strings. */
function decodeNumber(v: unknown, where: string): number {
  if (typeof v === 'number') return v;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  if (v === 'NaN') return NaN;
  throw new Error(`${where}: bad value ${JSON.stringify(v)}`);
}

/** A fixture tensor {shape, data} as the generators write it; `where` names it in errors. */
export function decodeTensor(raw: unknown, where: string): FixtureTensor {
  const t = raw as { shape?: unknown; data?: unknown };
  if (!Array.isArray(t?.shape) || !Array.isArray(t?.data) || !t.shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new Error(`${where}: expected {shape: int[], data: number[]}`);
  }
  const shape = t.shape as number[];
  const n = shape.reduce((a, b) => a * b, 1);
  if (t.data.length !== n) throw new Error(`${where}: shape [${shape.join(', ')}] holds ${n} values, data has ${t.data.length}`);
  const data = new Float32Array(n);
  t.data.forEach((v, i) => (data[i] = decodeNumber(v, `${where}[${i}]`)));
  return { shape, data };
}
