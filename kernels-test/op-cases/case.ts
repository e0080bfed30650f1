// What a conformance case is: an op from the registry, its operands' shapes and values (seeded, so
// TypeScript and the PyTorch fixture script see the same numbers), its options, and the PyTorch
// expression that computes the same thing. kernels-test/ops.test.ts runs every case of every file
// in this folder; scripts/golden/make_op_fixtures.py evaluates the `torch` expressions.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { seededUniform } from '../../src/data/random.js';

/** How one tensor's values are made. */
export interface TensorSpec {
  shape: number[];
  /** Uniform values in [lo, hi) (default [-1, 1)). */
  range?: [number, number];
  /** Uniform integers in [0, n), as float32 (class targets). */
  integers?: number;
  /** The values themselves (length = the shape's size), or a function of the case that makes them. */
  values?: readonly number[] | ((c: OpCase) => ArrayLike<number>);
}

export interface OpCase {
  /** A registered op's name. */
  op: string;
  /** Unique within the op: what is awkward about the case. */
  name: string;
  /** Operands by the op's operand names; an optional operand left out is absent. */
  inputs: Record<string, TensorSpec>;
  /** Tensors only the torch expression reads (a dropout mask drawn by our generator). */
  torchInputs?: Record<string, TensorSpec>;
  /** The op's options, as its registry declaration takes them. */
  options?: Record<string, unknown>;
  /**
   * The PyTorch expression computing the output from tensors named as the inputs (float64;
   * `torch` and `F` are in scope). Operands it updates in place are listed in `updates`.
   */
  torch: string;
  /** Operands the op updates in place (batch norm's running statistics): checked after the call. */
  updates?: string[];
  /** Operands that require a gradient (default: every differentiable operand given); [] for none. */
  grad?: string[];
  /** The longest reduction behind one output value (the tolerance grows with it); default 1. */
  k?: number;
  /** The same for one gradient value; default k. */
  gradK?: number;
  /** Leave out the NaN / infinity variant, saying why. */
  skipNonFinite?: string;
}

/** FNV-1a of a string: the seed of one tensor of one case. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** The values of one tensor of a case (float32). */
export function tensorValues(c: OpCase, name: string, spec: TensorSpec): Float32Array {
  const n = size(spec.shape);
  let out: Float32Array;
  if (spec.values !== undefined) {
    out = Float32Array.from(typeof spec.values === 'function' ? spec.values(c) : spec.values);
  } else if (spec.integers !== undefined) {
    const u = seededUniform(n, hash(`${c.op}/${c.name}/${name}`), 0, spec.integers);
    out = u.map(Math.floor);
  } else {
    const [lo, hi] = spec.range ?? [-1, 1];
    out = seededUniform(n, hash(`${c.op}/${c.name}/${name}`), lo, hi);
  }
  if (out.length !== n) throw new Error(`${c.op}/${c.name}: ${name} has ${out.length} values for shape [${spec.shape.join(', ')}]`);
  return out;
}

/** The upstream gradient of a case's backward pass: seeded, shaped like the output. */
export function gradOutValues(c: OpCase, shape: readonly number[]): Float32Array {
  return seededUniform(size(shape), hash(`${c.op}/${c.name}/gradOut`), -1, 1);
}

/**
 * The values the NaN / infinity variant gives operand `name` (the op's first operand): NaN, +inf
 * and -inf at three spread positions (as many as fit), the rest as in the plain case.
 */
export function withNonFinite(values: Float32Array): Float32Array {
  const out = Float32Array.from(values);
  const n = out.length;
  const specials = [NaN, Infinity, -Infinity];
  const positions = [Math.floor(n / 7), Math.floor(n / 2), n - 1 - Math.floor(n / 5)];
  specials.forEach((v, i) => {
    if (n >= 3) out[positions[i]!] = v;
  });
  return out;
}

/** A digest of everything that determines a case's fixture, to tell a stale fixture. */
export function caseDigest(c: OpCase, inputs: Record<string, Float32Array>, outShape: readonly number[], grad: readonly string[]): string {
  let h = hash(JSON.stringify([c.op, c.name, c.options ?? {}, c.torch, c.updates ?? [], grad, outShape]));
  for (const [name, values] of Object.entries(inputs).sort(([a], [b]) => a.localeCompare(b))) {
    h = hash(`${h}:${name}:${Array.from(new Uint32Array(values.buffer, values.byteOffset, values.length)).join(',')}`);
  }
  return h.toString(16).padStart(8, '0');
}

/** Every case of every file in this folder, by file. */
export async function loadOpCases(): Promise<OpCase[]> {
  const dir = dirname(fileURLToPath(import.meta.url));
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts') && f !== 'case.ts').sort();
  const cases: OpCase[] = [];
  for (const file of files) {
    const module = (await import(pathToFileURL(join(dir, file)).href)) as { cases?: OpCase[] };
    if (!Array.isArray(module.cases)) throw new Error(`kernels-test/op-cases/${file} exports no 'cases' array`);
    cases.push(...module.cases);
  }
  const seen = new Set<string>();
  for (const c of cases) {
    const id = `${c.op}/${c.name}`;
    if (seen.has(id)) throw new Error(`op case ${id} is defined twice`);
    seen.add(id);
  }
  return cases;
}
