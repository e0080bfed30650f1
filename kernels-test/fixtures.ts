// Reads the PyTorch golden fixtures in kernels-test/fixtures/*.json, written by
// scripts/golden/make_forward_fixtures.py (see its header for the format and how to regenerate).
// A malformed fixture throws here, naming the file and case, rather than passing vacuously.
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ELEMENTWISE, reduction, type Tolerance } from './helpers.js';

export const FIXTURE_DIR = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');

export interface FixtureTensor {
  shape: number[];
  data: Float32Array;
}

export interface GoldenCase {
  /** "<family>/<what is awkward about it>", unique over all files. */
  name: string;
  /** The webgpu-cnn op to call, e.g. 'conv2d'. */
  op: string;
  /** The PyTorch call that produced the outputs. */
  torch: string;
  inputs: Record<string, FixtureTensor>;
  /** The op's options as the TypeScript API spells them; tensors among them are in `inputs`. */
  options: Record<string, unknown>;
  outputs: Record<string, FixtureTensor>;
  /** Reduction length behind each output value, or null for exact (elementwise) ops. */
  k: number | null;
  /** The fixture file the case came from. */
  file: string;
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

function decodeTensors(raw: unknown, where: string): Record<string, FixtureTensor> {
  if (typeof raw !== 'object' || raw === null) throw new Error(`${where}: expected an object of tensors`);
  return Object.fromEntries(Object.entries(raw).map(([name, t]) => [name, decodeTensor(t, `${where}.${name}`)]));
}

function decodeCase(raw: unknown, file: string): GoldenCase {
  const c = raw as Record<string, unknown>;
  const where = `${file}: case ${JSON.stringify(c?.name)}`;
  if (typeof c?.name !== 'string' || typeof c.op !== 'string' || typeof c.torch !== 'string') {
    throw new Error(`${where}: needs string fields name, op and torch`);
  }
  if (c.k !== null && !(typeof c.k === 'number' && Number.isInteger(c.k) && c.k > 0)) {
    throw new Error(`${where}: k must be a positive integer or null, got ${JSON.stringify(c.k)}`);
  }
  const outputs = decodeTensors(c.outputs, `${where} outputs`);
  if (!('out' in outputs)) throw new Error(`${where}: has no "out" output`);
  return {
    name: c.name,
    op: c.op,
    torch: c.torch,
    inputs: decodeTensors(c.inputs, `${where} inputs`),
    options: (c.options ?? {}) as Record<string, unknown>,
    outputs,
    k: c.k,
    file,
  };
}

/** Every case of every fixture file, in file then case order. */
export function loadGoldenCases(dir = FIXTURE_DIR): GoldenCase[] {
  const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  if (files.length === 0) throw new Error(`no fixtures in ${dir}: run /usr/bin/python3 scripts/golden/make_forward_fixtures.py`);
  const cases = files.flatMap((file) => {
    const parsed = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { cases?: unknown };
    if (!Array.isArray(parsed.cases) || parsed.cases.length === 0) throw new Error(`${file}: no cases`);
    return parsed.cases.map((c) => decodeCase(c, file));
  });
  const seen = new Set<string>();
  for (const c of cases) {
    if (seen.has(c.name)) throw new Error(`golden case ${c.name} appears twice`);
    seen.add(c.name);
  }
  return cases;
}

/** The tolerance a case is held to (kernels-test/helpers.ts's policy). */
export function caseTolerance(c: GoldenCase): Tolerance {
  return c.k === null ? ELEMENTWISE : reduction(c.k);
}
