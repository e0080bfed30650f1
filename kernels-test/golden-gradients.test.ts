// Every differentiable op's gradients against PyTorch's: each case of
// kernels-test/fixtures/gradients/*.json (written by scripts/golden/make_training_fixtures.py)
// runs the forward op and the backward pass on the GPU and compares the outputs and the gradients
// of exactly the inputs that require one. Where the Tape has the op, the case goes through it (the
// end-to-end path training takes: what is recorded, which gradients are computed, how they are
// accumulated into the leaves); conv1d/conv3d, max_pool1d, interpolate and the dropout backward
// kernel with a given mask are called as ops. Tolerances: reduction(k) for forward outputs,
// gradient(k) for gradients, ELEMENTWISE where the case says exact (k null); see
// kernels-test/helpers.ts.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Tape, type TapeConvOptions } from '../src/autograd/tape.js';
import { constant, parameter, type Variable } from '../src/autograd/variable.js';
import { conv1dBackward, conv3dBackward } from '../src/ops/conv-backward.js';
import { conv1d, conv3d, type ConvOptions } from '../src/ops/conv.js';
import { dropoutBackward, type DropoutOptions } from '../src/ops/dropout.js';
import { mul } from '../src/ops/elementwise.js';
import type { CrossEntropyOptions } from '../src/ops/loss.js';
import { maxPool1dBackward, maxPool1dWithIndices, type AvgPoolOptions, type MaxPoolOptions } from '../src/ops/pool.js';
import { interpolate, interpolateBackward, type InterpolateOptions } from '../src/ops/resize.js';
import type { Engine } from '../src/runtime/engine.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { FIXTURE_DIR, type FixtureTensor } from './fixtures.js';
import { ELEMENTWISE, assertClose, gradient, reduction, useEngine } from './helpers.js';

const engine = useEngine();
const GRADIENT_DIR = join(FIXTURE_DIR, 'gradients');

interface GradientCase {
  name: string;
  op: string;
  torch: string;
  inputs: Record<string, FixtureTensor>;
  /** Inputs that are parameters; the others are constants and must get no gradient. */
  requiresGrad: string[];
  options: Record<string, unknown>;
  outputs: Record<string, FixtureTensor>;
  gradients: Record<string, FixtureTensor>;
  /** Reduction length per output and gradient name; null = exact. */
  k: Record<string, number | null>;
}

// ---- reading the fixtures (strict: a malformed case fails loudly, naming itself) ---------------

function decodeTensor(raw: unknown, where: string): FixtureTensor {
  const t = raw as { shape?: unknown; data?: unknown };
  if (!Array.isArray(t?.shape) || !Array.isArray(t?.data) || !t.shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new Error(`${where}: expected {shape: int[], data: number[]}`);
  }
  const shape = t.shape as number[];
  const n = shape.reduce((a, b) => a * b, 1);
  if (t.data.length !== n || !t.data.every((v) => typeof v === 'number')) throw new Error(`${where}: expected ${n} numbers`);
  return { shape, data: Float32Array.from(t.data as number[]) };
}

function decodeTensors(raw: unknown, where: string): Record<string, FixtureTensor> {
  if (typeof raw !== 'object' || raw === null) throw new Error(`${where}: expected an object of tensors`);
  return Object.fromEntries(Object.entries(raw).map(([name, t]) => [name, decodeTensor(t, `${where}.${name}`)]));
}

function decodeCase(raw: Record<string, unknown>, file: string): GradientCase {
  const where = `${file}: case ${JSON.stringify(raw.name)}`;
  if (typeof raw.name !== 'string' || typeof raw.op !== 'string' || typeof raw.torch !== 'string') throw new Error(`${where}: needs name, op and torch`);
  const c: GradientCase = {
    name: raw.name,
    op: raw.op,
    torch: raw.torch,
    inputs: decodeTensors(raw.inputs, `${where} inputs`),
    requiresGrad: raw.requiresGrad as string[],
    options: (raw.options ?? {}) as Record<string, unknown>,
    outputs: decodeTensors(raw.outputs, `${where} outputs`),
    gradients: decodeTensors(raw.gradients, `${where} gradients`),
    k: raw.k as Record<string, number | null>,
  };
  if (!Array.isArray(c.requiresGrad) || c.requiresGrad.length === 0 || !c.requiresGrad.every((n) => n in c.inputs)) {
    throw new Error(`${where}: requiresGrad must name some of its inputs`);
  }
  const gradNames = Object.keys(c.gradients).sort();
  if (gradNames.join() !== [...c.requiresGrad].sort().join()) throw new Error(`${where}: gradients [${gradNames}] differ from requiresGrad [${c.requiresGrad}]`);
  if (!('out' in c.outputs)) throw new Error(`${where}: has no "out" output`);
  for (const name of [...Object.keys(c.outputs), ...gradNames]) {
    const k = c.k?.[name];
    if (k !== null && !(Number.isInteger(k) && k! > 0)) throw new Error(`${where}: k.${name} must be a positive integer or null`);
  }
  return c;
}

function loadCases(): Array<GradientCase & { file: string }> {
  const files = readdirSync(GRADIENT_DIR).filter((f) => f.endsWith('.json')).sort();
  if (files.length === 0) throw new Error(`no fixtures in ${GRADIENT_DIR}: run /usr/bin/python3 scripts/golden/make_training_fixtures.py`);
  return files.flatMap((file) => {
    const parsed = JSON.parse(readFileSync(join(GRADIENT_DIR, file), 'utf8')) as { cases?: unknown };
    if (!Array.isArray(parsed.cases) || parsed.cases.length === 0) throw new Error(`${file}: no cases`);
    return parsed.cases.map((raw) => ({ ...decodeCase(raw as Record<string, unknown>, file), file }));
  });
}

// ---- running a case ------------------------------------------------------------------------

/** A case's inputs on the GPU: leaves (parameters or constants) and raw tensors. */
class Inputs {
  private readonly tensors = new Map<string, Tensor>();
  private readonly leaves = new Map<string, Variable>();

  constructor(e: Engine, readonly c: GradientCase) {
    for (const [name, t] of Object.entries(c.inputs)) this.tensors.set(name, e.tensor(t.data, t.shape));
  }

  tensor(name: string): Tensor {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`${this.c.name}: fixture has no input '${name}'`);
    return t;
  }

  maybe(name: string): Tensor | undefined {
    return this.tensors.get(name);
  }

  /** The input as a leaf: a parameter when the case says it requires a gradient, else a constant. */
  leaf(name: string): Variable {
    let v = this.leaves.get(name);
    if (!v) {
      const t = this.tensor(name);
      v = this.c.requiresGrad.includes(name) ? parameter(t, name) : constant(t, name);
      this.leaves.set(name, v);
    }
    return v;
  }

  maybeLeaf(name: string): Variable | undefined {
    return this.tensors.has(name) ? this.leaf(name) : undefined;
  }

  /** Gradients the leaves received, by input name. */
  grads(): Record<string, Tensor | undefined> {
    return Object.fromEntries([...this.leaves].map(([name, v]) => [name, v.grad]));
  }

  dispose(): void {
    for (const v of this.leaves.values()) v.clearGrad();
    for (const t of this.tensors.values()) t.dispose();
  }
}

interface Produced {
  outputs: Record<string, Tensor>;
  /** Gradient per input name (undefined: none was produced). */
  gradients: Record<string, Tensor | undefined>;
}

/** A differentiable call recorded on a tape, then backward from "gradOut" (or from 1 for a scalar). */
type TapeRunner = (tape: Tape, x: Inputs, o: Record<string, unknown>) => { out: Variable; extra?: Record<string, Tensor> };
/** A case computed with the ops directly; `owned` are results to free afterwards. */
type OpRunner = (x: Inputs, o: Record<string, unknown>) => Produced & { owned: Tensor[] };

function options<T>(o: Record<string, unknown>): T {
  return o as unknown as T;
}

const TAPE: Record<string, TapeRunner> = {
  conv2d: (tape, x, o) => ({ out: tape.conv2d(x.leaf('x'), x.leaf('weight'), x.maybeLeaf('bias'), options<TapeConvOptions>(o)) }),
  linear: (tape, x) => ({ out: tape.linear(x.leaf('x'), x.leaf('weight'), x.maybeLeaf('bias')) }),
  maxPool2d: (tape, x, o) => ({ out: tape.maxPool2d(x.leaf('x'), options<MaxPoolOptions>(o)) }),
  avgPool2d: (tape, x, o) => ({ out: tape.avgPool2d(x.leaf('x'), options<AvgPoolOptions>(o)) }),
  adaptiveAvgPool2d: (tape, x, o) => ({ out: tape.adaptiveAvgPool2d(x.leaf('x'), o.outputSize as number | [number, number]) }),
  batchNorm: (tape, x, o) => {
    const [runningMean, runningVar] = [x.maybe('runningMean'), x.maybe('runningVar')];
    const out = tape.batchNorm(x.leaf('x'), runningMean, runningVar, x.maybeLeaf('weight'), x.maybeLeaf('bias'), options(o));
    // Training updates the running statistics in place, eval leaves them: PyTorch's values after the call.
    const extra: Record<string, Tensor> = {};
    if (runningMean) extra.runningMean = runningMean;
    if (runningVar) extra.runningVar = runningVar;
    return { out, extra };
  },
  relu: (tape, x) => ({ out: tape.relu(x.leaf('x')) }),
  add: (tape, x, o) => ({ out: tape.add(x.leaf('a'), o.same ? x.leaf('a') : x.leaf('b')) }),
  dropout: (tape, x, o) => ({ out: tape.dropout(x.leaf('x'), options<DropoutOptions>(o)) }),
  softmax: (tape, x, o) => ({ out: tape.softmax(x.leaf('x'), o.dim as number) }),
  logSoftmax: (tape, x, o) => ({ out: tape.logSoftmax(x.leaf('x'), o.dim as number) }),
  crossEntropy: (tape, x, o) => ({
    out: tape.crossEntropy(x.leaf('logits'), x.tensor('target'), { ...options<CrossEntropyOptions>(o), weight: x.maybe('weight') }),
  }),
  network: (tape, x) => {
    let h = tape.conv2d(x.leaf('x'), x.leaf('convWeight'), x.leaf('convBias'), { padding: 1 });
    h = tape.batchNorm(h, undefined, undefined, x.leaf('bnWeight'), x.leaf('bnBias'), { training: true });
    h = tape.maxPool2d(tape.relu(h), { kernelSize: 2 });
    const logits = tape.linear(tape.flatten(h, 1), x.leaf('fcWeight'), x.leaf('fcBias'));
    return { out: tape.crossEntropy(logits, x.tensor('target')) };
  },
};

/** needs in the ops' { input, weight, bias } form from the case's requiresGrad. */
function layerNeeds(c: GradientCase) {
  return { input: c.requiresGrad.includes('x'), weight: c.requiresGrad.includes('weight'), bias: c.requiresGrad.includes('bias') };
}

function convByOps(forward: typeof conv1d, backward: typeof conv1dBackward): OpRunner {
  return (x, o) => {
    const [input, weight, bias] = [x.tensor('x'), x.tensor('weight'), x.maybe('bias')];
    const out = forward(input, weight, bias, options<ConvOptions>(o));
    const g = backward(x.tensor('gradOut'), input, weight, options<ConvOptions>(o), layerNeeds(x.c));
    const gradients = { x: g.gradInput, weight: g.gradWeight, bias: g.gradBias };
    return { outputs: { out }, gradients, owned: [out, g.gradInput, g.gradWeight, g.gradBias].filter((t): t is Tensor => t !== undefined) };
  };
}

const OPS: Record<string, OpRunner> = {
  conv1d: convByOps(conv1d, conv1dBackward),
  conv3d: convByOps(conv3d, conv3dBackward),
  maxPool1d: (x, o) => {
    const { output, indices } = maxPool1dWithIndices(x.tensor('x'), options<MaxPoolOptions>(o));
    const gx = maxPool1dBackward(x.tensor('gradOut'), indices, x.tensor('x').shape, options<MaxPoolOptions>(o));
    return { outputs: { out: output }, gradients: { x: gx }, owned: [output, indices, gx] };
  },
  // Not on the Tape yet; resize-backward.test.ts checks these cases too.
  interpolate: (x, o) => {
    const out = interpolate(x.tensor('x'), options<InterpolateOptions>(o));
    const gx = interpolateBackward(x.tensor('gradOut'), x.tensor('x').shape, options<InterpolateOptions>(o));
    return { outputs: { out }, gradients: { x: gx }, owned: [out, gx] };
  },
  dropoutBackward: (x) => {
    const out = mul(x.tensor('x'), x.tensor('mask'));
    const gx = dropoutBackward(x.tensor('gradOut'), x.tensor('mask'));
    return { outputs: { out }, gradients: { x: gx }, owned: [out, gx] };
  },
};

async function read(produced: Produced): Promise<{ outputs: Record<string, Float32Array>; gradients: Record<string, Float32Array | undefined> }> {
  const outputs: Record<string, Float32Array> = {};
  for (const [name, t] of Object.entries(produced.outputs)) outputs[name] = await t.toArray();
  const gradients: Record<string, Float32Array | undefined> = {};
  for (const [name, t] of Object.entries(produced.gradients)) gradients[name] = t ? await t.toArray() : undefined;
  return { outputs, gradients };
}

async function runCase(c: GradientCase): Promise<void> {
  const e = engine();
  const x = new Inputs(e, c);
  let result: Awaited<ReturnType<typeof read>>;
  try {
    if (c.op in TAPE) {
      const tape = new Tape(e);
      try {
        const { out, extra } = TAPE[c.op]!(tape, x, c.options);
        const upstream = x.maybe('gradOut');
        tape.backward(out, upstream);
        result = await read({ outputs: { out: out.value, ...extra }, gradients: x.grads() });
      } finally {
        tape.dispose();
      }
    } else if (c.op in OPS) {
      const produced = OPS[c.op]!(x, c.options);
      try {
        result = await read(produced);
      } finally {
        for (const t of produced.owned) t.dispose();
      }
    } else {
      throw new Error(`${c.name}: no runner for op '${c.op}' in kernels-test/golden-gradients.test.ts`);
    }
  } finally {
    x.dispose();
  }

  for (const [name, want] of Object.entries(c.outputs)) {
    const got = result.outputs[name];
    if (!got) throw new Error(`${c.name}: produced no output '${name}'`);
    const k = c.k[name]!;
    assertClose(got, want.data, k === null ? ELEMENTWISE : reduction(k), `${c.name} ${name}`);
  }
  for (const [name, got] of Object.entries(result.gradients)) {
    const want = c.gradients[name];
    // A constant (data, a frozen weight) gets no gradient, and nothing is computed for it.
    if (!want) {
      expect(got, `${c.name}: '${name}' requires no gradient but got one`).toBeUndefined();
      continue;
    }
    if (!got) throw new Error(`${c.name}: no gradient for '${name}'`);
    const k = c.k[name]!;
    assertClose(got, want.data, k === null ? ELEMENTWISE : gradient(k), `${c.name} d/d${name}`);
  }
  for (const name of c.requiresGrad) if (!(name in result.gradients)) throw new Error(`${c.name}: no gradient for '${name}'`);
}

const cases = loadCases();
const families = [...new Set(cases.map((c) => c.file))];

describe('PyTorch golden gradients', () => {
  it('covers every differentiable op family', () => {
    const ops = new Set(cases.map((c) => c.op));
    for (const op of ['conv1d', 'conv2d', 'conv3d', 'linear', 'maxPool1d', 'maxPool2d', 'avgPool2d', 'adaptiveAvgPool2d', 'batchNorm', 'relu', 'add', 'dropout', 'dropoutBackward', 'softmax', 'logSoftmax', 'crossEntropy', 'network']) {
      expect(ops.has(op), `no golden gradient case for ${op}`).toBe(true);
    }
  });

  for (const file of families) {
    describe(file, () => {
      for (const c of cases.filter((k) => k.file === file)) it(c.name, () => runCase(c));
    });
  }
});
