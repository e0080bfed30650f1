// The registry-driven conformance test, in the spirit of tinygrad's helper_test_op: every case of
// kernels-test/op-cases/ runs its op from the registry on the GPU and checks
//   - the op's float64 reference against PyTorch;
//   - the output (and operands updated in place) against the reference and PyTorch;
//   - the gradients of the operands that require one, through the Tape, against PyTorch and
//     against central finite differences of the float64 reference (small cases);
//   - that operands requiring no gradient get none;
//   - a variant with NaN, +inf and -inf in the first operand, against the reference and PyTorch
//     (every position: which ones are NaN or infinite, and the finite values);
//   - the output, updated operands and gradients again on engines whose binding limit is lowered to
//     a few hundred bytes, so that the runtime chunker splits the op (the case's tensors are larger
//     than the limit), against the unsplit run and the reference.
// The PyTorch values come from scripts/golden/make_op_fixtures.py (npm run golden:ops). A registered
// op without cases, or differentiable without a gradient check, fails the first test.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Tape } from '../src/autograd/tape.js';
import { Variable } from '../src/autograd/variable.js';
import { getOp, isDifferentiable, registeredOps, type AnyTensor, type Op, type ReferenceResult } from '../src/ops/index.js';
import { host, type HostTensor } from '../src/reference/host-tensor.js';
import type { Engine } from '../src/runtime/engine.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { FIXTURE_DIR, decodeTensor, type FixtureTensor } from './fixtures.js';
import { finiteDifferences } from './gradcheck.js';
import { ELEMENTWISE, TILED_EVERYWHERE, assertClose, gradient, reduction, useEngine, type Tolerance } from './helpers.js';
import { caseDigest, gradOutValues, loadOpCases, tensorValues, withNonFinite, type OpCase } from './op-cases/case.js';

const defaultEngine = useEngine();
/** The engine the cases run on: the file's, or (in the tiled block) one with another device profile. */
let engine = defaultEngine;
/** Lowered binding limits (bytes), smallest first: each split case runs under the smallest its units fit. */
const LIMITS = [256, 512, 1024, 2048, 4096];
const limited = LIMITS.map((limit) => useEngine({ maxStorageBufferBindingSize: limit }));

/** Finite differences run where the operands requiring a gradient hold at most this many values. */
const FINITE_DIFFERENCE_BUDGET = 1500;

interface Fixture {
  digest: string;
  out: FixtureTensor;
  updated: Record<string, FixtureTensor>;
  gradients?: Record<string, FixtureTensor>;
  nonFinite?: FixtureTensor;
}

function loadFixtures(): Map<string, Fixture> {
  const dir = join(FIXTURE_DIR, 'ops');
  const fixtures = new Map<string, Fixture>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
    const parsed = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { op: string; cases: Record<string, Record<string, unknown>> };
    for (const [name, raw] of Object.entries(parsed.cases)) {
      const where = `fixtures/ops/${file}: ${name}`;
      const tensors = (o: unknown) => Object.fromEntries(Object.entries((o ?? {}) as object).map(([k, t]) => [k, decodeTensor(t, `${where}.${k}`)]));
      fixtures.set(`${parsed.op}/${name}`, {
        digest: String(raw.digest),
        out: decodeTensor(raw.out, `${where}.out`),
        updated: tensors(raw.updated),
        gradients: raw.gradients === undefined ? undefined : tensors(raw.gradients),
        nonFinite: raw.nonFinite === undefined ? undefined : decodeTensor(raw.nonFinite, `${where}.nonFinite`),
      });
    }
  }
  return fixtures;
}

const cases = await loadOpCases();
const fixtures = loadFixtures();

/** A case's tensors: its operands' values and everything derived from them. */
class CaseData {
  readonly op: Op;
  readonly values: Record<string, Float32Array> = {};
  readonly shape: readonly number[];
  readonly grad: string[];

  constructor(readonly c: OpCase) {
    this.op = getOp(c.op);
    for (const [name, spec] of Object.entries(c.inputs)) {
      if (!this.op.operands.some((o) => o.name === name)) throw new Error(`${c.op}/${c.name}: ${c.op} has no operand '${name}'`);
      this.values[name] = tensorValues(c, name, spec);
    }
    this.shape = this.op.check(this.shapes(), this.options).shape;
    this.grad = this.op.differentiable ? (c.grad ?? this.op.operands.filter((o) => o.name in c.inputs && isDifferentiable(o)).map((o) => o.name)) : [];
  }

  get options(): Record<string, unknown> {
    return this.c.options ?? {};
  }

  shapes(): Array<number[] | undefined> {
    return this.op.operands.map((o) => this.c.inputs[o.name]?.shape);
  }

  /** The operands as host tensors (float64) for the reference, `replaced` ones swapped in. */
  host(replaced: Record<string, Float64Array> = {}): Array<HostTensor | undefined> {
    return this.op.operands.map((o) => {
      const spec = this.c.inputs[o.name];
      if (!spec) return undefined;
      return replaced[o.name] ? { shape: [...spec.shape], data: replaced[o.name]! } : host(this.values[o.name]!, spec.shape);
    });
  }

  /** Fresh GPU tensors of the operands (an op may update some in place). */
  upload(replaced: Record<string, Float32Array> = {}, e: Engine = engine()): Array<AnyTensor | undefined> {
    return this.op.operands.map((o) => {
      const spec = this.c.inputs[o.name];
      if (!spec) return undefined;
      const values = replaced[o.name] ?? this.values[o.name]!;
      return o.dtype === 'int32' ? e.tensor(Int32Array.from(values), spec.shape) : e.tensor(values, spec.shape);
    });
  }

  /** Bytes of the largest operand or output. */
  get largestBytes(): number {
    return 4 * Math.max(this.shape.reduce((a, b) => a * b, 1), ...Object.values(this.values).map((v) => v.length));
  }

  reference(inputs = this.host()): ReferenceResult {
    const r = this.op.reference(inputs, this.options);
    return 'updated' in r ? r : { output: r, updated: {} };
  }

  fixture(): Fixture {
    const id = `${this.c.op}/${this.c.name}`;
    const f = fixtures.get(id);
    const extra = Object.fromEntries(Object.entries(this.c.torchInputs ?? {}).map(([n, s]) => [n, tensorValues(this.c, n, s)]));
    const digest = caseDigest(this.c, { ...this.values, ...extra }, this.shape, this.grad);
    if (!f) throw new Error(`${id}: no PyTorch fixture; run npm run golden:ops`);
    if (f.digest !== digest) throw new Error(`${id}: the PyTorch fixture is stale (the case changed); run npm run golden:ops`);
    return f;
  }

  get tolerance(): Tolerance {
    return this.c.k ? reduction(this.c.k) : ELEMENTWISE;
  }

  get gradTolerance(): Tolerance {
    return gradient(this.c.gradK ?? this.c.k ?? 1);
  }
}

function expectShape(got: readonly number[], want: readonly number[], what: string): void {
  expect([...got], `${what}: shape`).toEqual([...want]);
}

async function checkForward(d: CaseData, f: Fixture): Promise<void> {
  const id = `${d.c.op}/${d.c.name}`;
  const tensors = d.upload();
  const ref = d.reference();
  try {
    const { output } = d.op.apply(tensors, d.options);
    try {
      expectShape(output.shape, ref.output.shape, id);
      const got = await output.toArray();
      assertClose(ref.output.data, f.out.data, d.tolerance, `${id}: float64 reference vs PyTorch`);
      assertClose(got, ref.output.data, d.tolerance, `${id}: output vs float64 reference`);
      assertClose(got, f.out.data, d.tolerance, `${id}: output vs PyTorch`);
    } finally {
      output.dispose();
    }
    for (const name of d.c.updates ?? []) {
      const i = d.op.operands.findIndex((o) => o.name === name);
      const got = await tensors[i]!.toArray();
      assertClose(got, ref.updated[name]!.data, d.tolerance, `${id}: ${name} after the call vs float64 reference`);
      assertClose(got, f.updated[name]!.data, d.tolerance, `${id}: ${name} after the call vs PyTorch`);
    }
  } finally {
    for (const t of tensors) t?.dispose();
  }
}

/** The gradients the Tape gives the operands, by name (undefined: none). */
async function tapeGradients(d: CaseData, e: Engine = engine()): Promise<Record<string, Float32Array | undefined>> {
  const tensors = d.upload({}, e);
  const tape = new Tape(e);
  const leaves = d.op.operands.map((o, i) => {
    const t = tensors[i];
    if (!t || !isDifferentiable(o)) return t;
    return new Variable(t as Tensor, { requiresGrad: d.grad.includes(o.name) });
  });
  let seed: Tensor | undefined;
  try {
    const y = tape.apply(d.op, leaves, d.options);
    seed = d.shape.length > 0 ? e.tensor(gradOutValues(d.c, d.shape), d.shape) : undefined;
    tape.backward(y, seed);
    const grads: Record<string, Float32Array | undefined> = {};
    for (const [i, leaf] of leaves.entries()) {
      if (leaf instanceof Variable) grads[d.op.operands[i]!.name] = leaf.grad && (await leaf.grad.toArray());
    }
    return grads;
  } finally {
    seed?.dispose();
    tape.dispose();
    for (const leaf of leaves) (leaf instanceof Variable ? leaf : undefined)?.dispose();
    for (const t of tensors) t?.dispose();
  }
}

/** Central differences of sum(gradOut * reference) (the reference itself for a scalar) for one operand. */
function referenceGradient(d: CaseData, name: string): Float64Array {
  const values = Float64Array.from(d.values[name]!);
  const upstream = d.shape.length > 0 ? gradOutValues(d.c, d.shape) : Float32Array.of(1);
  const objective = () => {
    const out = d.reference(d.host({ [name]: values })).output.data;
    let sum = 0;
    for (let i = 0; i < out.length; i++) sum += out[i]! * upstream[i]!;
    return sum;
  };
  return finiteDifferences(objective, values);
}

async function checkGradients(d: CaseData, f: Fixture): Promise<void> {
  const id = `${d.c.op}/${d.c.name}`;
  const grads = await tapeGradients(d);
  for (const [name, got] of Object.entries(grads)) {
    if (!d.grad.includes(name)) {
      expect(got, `${id}: ${name} requires no gradient but got one`).toBeUndefined();
      continue;
    }
    if (!got) throw new Error(`${id}: no gradient for ${name}`);
    assertClose(got, f.gradients![name]!.data, d.gradTolerance, `${id}: d/d${name} vs PyTorch`);
    if (fdSize(d) <= FINITE_DIFFERENCE_BUDGET) {
      assertClose(got, referenceGradient(d, name), d.gradTolerance, `${id}: d/d${name} vs finite differences of the reference`);
    }
  }
  for (const name of d.grad) if (!(name in grads)) throw new Error(`${id}: ${name} is not a differentiable operand of ${d.c.op}`);
}

/** Values whose finite differences a case's gradient check takes. */
function fdSize(d: CaseData): number {
  return d.grad.reduce((n, name) => n + d.values[name]!.length, 0);
}

async function checkNonFinite(d: CaseData, f: Fixture): Promise<void> {
  const id = `${d.c.op}/${d.c.name}`;
  const first = d.op.operands[0]!.name;
  const bad = withNonFinite(d.values[first]!);
  const tensors = d.upload({ [first]: bad });
  try {
    const output = d.op.run(tensors, d.options);
    try {
      const got = await output.toArray();
      const ref = d.reference(d.host({ [first]: Float64Array.from(bad) })).output;
      assertClose(got, ref.data, d.tolerance, `${id} with NaN/inf in ${first}: output vs float64 reference`);
      assertClose(got, f.nonFinite!.data, d.tolerance, `${id} with NaN/inf in ${first}: output vs PyTorch`);
    } finally {
      output.dispose();
    }
  } finally {
    for (const t of tensors) t?.dispose();
  }
}

describe('the op registry', () => {
  it('has cases for every op, a gradient check for every differentiable one, and a fixture for every case', () => {
    const problems: string[] = [];
    for (const op of registeredOps()) {
      const mine = cases.filter((c) => c.op === op.name).map((c) => new CaseData(c));
      if (mine.length === 0) problems.push(`${op.name}: no cases in kernels-test/op-cases/`);
      if (typeof op.reference !== 'function') problems.push(`${op.name}: no float64 reference`);
      if (op.differentiable && !mine.some((d) => d.grad.length > 0 && fdSize(d) <= FINITE_DIFFERENCE_BUDGET)) {
        problems.push(`${op.name}: differentiable, but no case checks a gradient against finite differences`);
      }
      if (mine.length > 0 && mine.every((d) => d.c.skipNonFinite)) problems.push(`${op.name}: no case feeds it NaN and infinities`);
    }
    for (const c of cases) {
      try {
        new CaseData(c).fixture();
      } catch (err) {
        problems.push((err as Error).message);
      }
    }
    expect(problems).toEqual([]);
  });

  for (const op of [...new Set(cases.map((c) => c.op))]) {
    describe(op, () => {
      for (const c of cases.filter((k) => k.op === op)) it(c.name, () => checkCase(c));
    });
  }
});

async function checkCase(c: OpCase): Promise<void> {
  const d = new CaseData(c);
  const f = d.fixture();
  await checkForward(d, f);
  if (d.grad.length > 0) await checkGradients(d, f);
  if (!c.skipNonFinite) await checkNonFinite(d, f);
}

describe('the GEMM-based ops with the discrete device profile, every product on its workgroup-memory kernel', () => {
  // Every route of the convolutions and every product of matmul and linear, forward and backward,
  // through shaders/gemm_tiled.wgsl (the GPU profile's kernel) on whatever adapter runs the tests.
  const tiled = useEngine({ profile: TILED_EVERYWHERE });
  beforeAll(() => {
    engine = tiled;
  });
  afterAll(() => {
    engine = defaultEngine;
  });
  for (const op of ['conv1d', 'conv2d', 'conv3d', 'matmul', 'linear']) {
    describe(op, () => {
      for (const c of cases.filter((k) => k.op === op)) it(c.name, () => checkCase(c));
    });
  }
});

/** A forward call's values: the output, and the operands it updates in place. */
async function forwardValues(d: CaseData, e: Engine): Promise<{ output: Float32Array; updated: Record<string, ArrayLike<number>>; dispatches: number }> {
  const tensors = d.upload({}, e);
  const spy = vi.spyOn(e, 'dispatch');
  try {
    const output = d.op.run(tensors, d.options);
    const dispatches = spy.mock.calls.length;
    spy.mockRestore();
    const updated: Record<string, ArrayLike<number>> = {};
    for (const name of d.c.updates ?? []) updated[name] = await tensors[d.op.operands.findIndex((o) => o.name === name)]!.toArray();
    const values = await output.toArray();
    output.dispose();
    return { output: values, updated, dispatches };
  } finally {
    spy.mockRestore();
    for (const t of tensors) t?.dispose();
  }
}

/** Whether `err` is the chunker's refusal of a unit that does not fit the binding limit. */
const refused = (err: unknown) => err instanceof Error && err.message.includes('cannot be split further');

describe('the op registry under a lowered binding limit (the runtime chunker)', () => {
  // Ops that only make views of their operand (no kernel) have nothing to split; the sparse ops
  // still bind each operand whole and refuse past the limit (see src/ops/sparse.ts).
  const VIEW_OPS = ['flatten', 'spmm', 'edgeWeightsToSlots', 'gcnNorm', 'readout'];
  const candidates = cases.filter((c) => !VIEW_OPS.includes(c.op) && new CaseData(c).largestBytes > LIMITS[0]!);
  /** The ops some case of which ran split. */
  const splitOps = new Set<string>();

  for (const c of candidates) {
    it(`${c.op}/${c.name}`, async () => {
      const d = new CaseData(c);
      const id = `${c.op}/${c.name}`;
      // The smallest limit whose units (one image, plane, row...) fit, forward and backward; a
      // case whose one unit is nearly the whole tensor may fit none below its size, the chunker
      // refusing it cleanly.
      let at = -1;
      let got: Awaited<ReturnType<typeof forwardValues>> | undefined;
      let grads: Record<string, Float32Array | undefined> = {};
      for (let i = 0; i < LIMITS.length && LIMITS[i]! < d.largestBytes && !got; i++) {
        try {
          const forward = await forwardValues(d, limited[i]!());
          grads = d.grad.length > 0 ? await tapeGradients(d, limited[i]!()) : {};
          [got, at] = [forward, i];
        } catch (err) {
          if (!refused(err)) throw err;
        }
      }
      if (!got) return;
      splitOps.add(c.op);
      const whole = await forwardValues(d, engine());
      expect(got.dispatches, `${id}: dispatches under ${LIMITS[at]} bytes vs unsplit`).toBeGreaterThan(whole.dispatches);
      const ref = d.reference();
      assertClose(got.output, whole.output, d.tolerance, `${id}: split output vs unsplit`);
      assertClose(got.output, ref.output.data, d.tolerance, `${id}: split output vs float64 reference`);
      for (const name of c.updates ?? []) assertClose(got.updated[name]!, whole.updated[name]!, d.tolerance, `${id}: ${name} after the split call vs unsplit`);
      const wholeGrads = d.grad.length > 0 ? await tapeGradients(d) : {};
      for (const name of d.grad) {
        assertClose(grads[name]!, wholeGrads[name]!, d.gradTolerance, `${id}: d/d${name} split vs unsplit`);
      }
    });
  }

  it('ran every op with a kernel split in some case', () => {
    const missing = registeredOps().filter((op) => !VIEW_OPS.includes(op.name) && !splitOps.has(op.name)).map((op) => op.name);
    expect(missing).toEqual([]);
  });
});
