// Every forward op against PyTorch: each case of kernels-test/fixtures/*.json (written by
// scripts/golden/make_forward_fixtures.py) runs our op on the GPU and compares every output with
// PyTorch's, under the tolerance the case records. An op module that is missing, or a fixture op
// with no runner here, fails its cases by name; nothing is skipped.
import { describe, expect, it } from 'vitest';
import type { Engine } from '../src/runtime/engine.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { caseTolerance, loadGoldenCases, type GoldenCase } from './fixtures.js';
import { assertClose, useEngine } from './helpers.js';

const engine = useEngine();

/** A case's inputs on the GPU, looked up by the names the generator gave them. */
class Inputs {
  private readonly tensors = new Map<string, Tensor>();

  constructor(e: Engine, readonly c: GoldenCase) {
    for (const [name, t] of Object.entries(c.inputs)) this.tensors.set(name, e.tensor(t.data, t.shape));
  }

  need(name: string): Tensor {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`${this.c.name}: fixture has no input '${name}'`);
    return t;
  }

  /** An optional input (bias, running statistics, class weights): absent in some cases. */
  maybe(name: string): Tensor | undefined {
    return this.tensors.get(name);
  }

  dispose(): void {
    for (const t of this.tensors.values()) t.dispose();
  }
}

type Outputs = Record<string, Tensor>;
type Runner = (x: Inputs, options: Record<string, unknown>) => Promise<Outputs>;

/**
 * Loads an op module. A module that does not exist (yet) fails the case with a message naming
 * the file, instead of failing the whole file at import time.
 */
async function opModule<M>(file: string, load: () => Promise<M>): Promise<M> {
  try {
    return await load();
  } catch (err) {
    throw new Error(`cannot load ${file} (is the op implemented?): ${(err as Error).message}`);
  }
}

const conv = () => opModule('src/ops/conv.ts', () => import('../src/ops/conv.js'));
const gemm = () => opModule('src/ops/gemm.ts', () => import('../src/ops/gemm.js'));
const pool = () => opModule('src/ops/pool.ts', () => import('../src/ops/pool.js'));
const resize = () => opModule('src/ops/resize.ts', () => import('../src/ops/resize.js'));
const norm = () => opModule('src/ops/norm.ts', () => import('../src/ops/norm.js'));
const softmax = () => opModule('src/ops/softmax.ts', () => import('../src/ops/softmax.js'));
const loss = () => opModule('src/ops/loss.ts', () => import('../src/ops/loss.js'));
const elementwise = () => opModule('src/ops/elementwise.ts', () => import('../src/ops/elementwise.js'));

/**
 * A fixture's options as the op's option type. The generator writes them in our API's spelling;
 * the op validates their values, and an option it ignored would show as values unlike PyTorch's.
 */
function options<T>(o: Record<string, unknown>): T {
  return o as unknown as T;
}

/** How each fixture op calls ours. */
const RUNNERS: Record<string, Runner> = {
  conv1d: async (x, o) => {
    const { conv1d } = await conv();
    return { out: conv1d(x.need('x'), x.need('weight'), x.maybe('bias'), options<Parameters<typeof conv1d>[3]>(o)) };
  },
  conv2d: async (x, o) => {
    const { conv2d } = await conv();
    return { out: conv2d(x.need('x'), x.need('weight'), x.maybe('bias'), options<Parameters<typeof conv2d>[3]>(o)) };
  },
  conv3d: async (x, o) => {
    const { conv3d } = await conv();
    return { out: conv3d(x.need('x'), x.need('weight'), x.maybe('bias'), options<Parameters<typeof conv3d>[3]>(o)) };
  },
  linear: async (x) => {
    const { linear } = await gemm();
    return { out: linear(x.need('x'), x.need('weight'), x.maybe('bias')) };
  },
  matmul: async (x, o) => {
    const { matmul } = await gemm();
    return { out: matmul(x.need('a'), x.need('b'), { ...options<Parameters<typeof matmul>[2]>(o), bias: x.maybe('bias') }) };
  },
  maxPool1d: async (x, o) => {
    const { maxPool1d } = await pool();
    return { out: maxPool1d(x.need('x'), options<Parameters<typeof maxPool1d>[1]>(o)) };
  },
  maxPool2d: async (x, o) => {
    const { maxPool2d } = await pool();
    return { out: maxPool2d(x.need('x'), options<Parameters<typeof maxPool2d>[1]>(o)) };
  },
  avgPool2d: async (x, o) => {
    const { avgPool2d } = await pool();
    return { out: avgPool2d(x.need('x'), options<Parameters<typeof avgPool2d>[1]>(o)) };
  },
  adaptiveAvgPool2d: async (x, o) => {
    const { adaptiveAvgPool2d } = await pool();
    return { out: adaptiveAvgPool2d(x.need('x'), o.outputSize as Parameters<typeof adaptiveAvgPool2d>[1]) };
  },
  interpolate: async (x, o) => {
    const { interpolate } = await resize();
    return { out: interpolate(x.need('x'), options<Parameters<typeof interpolate>[1]>(o)) };
  },
  batchNorm: async (x, o) => {
    const { batchNorm } = await norm();
    const runningMean = x.maybe('runningMean');
    const runningVar = x.maybe('runningVar');
    const out = batchNorm(x.need('x'), runningMean, runningVar, x.maybe('weight'), x.maybe('bias'), options<Parameters<typeof batchNorm>[5]>(o));
    // Training updates the running statistics in place and eval must not touch them; the fixture
    // holds their values after PyTorch's call.
    const outputs: Outputs = { out };
    if (runningMean) outputs.runningMean = runningMean;
    if (runningVar) outputs.runningVar = runningVar;
    return outputs;
  },
  softmax: async (x, o) => ({ out: (await softmax()).softmax(x.need('x'), o.dim as number) }),
  logSoftmax: async (x, o) => ({ out: (await softmax()).logSoftmax(x.need('x'), o.dim as number) }),
  crossEntropy: async (x, o) => {
    const { crossEntropy } = await loss();
    const opts = { ...options<Parameters<typeof crossEntropy>[2]>(o), weight: x.maybe('weight') };
    return { out: crossEntropy(x.need('logits'), x.need('target'), opts) };
  },
  relu: async (x) => ({ out: (await elementwise()).relu(x.need('x')) }),
  add: async (x) => ({ out: (await elementwise()).add(x.need('a'), x.need('b')) }),
};

const cases = loadGoldenCases();

async function runCase(c: GoldenCase): Promise<void> {
  const runner = RUNNERS[c.op];
  if (!runner) throw new Error(`${c.name}: no runner for op '${c.op}' in kernels-test/golden.test.ts`);
  const inputs = new Inputs(engine(), c);
  const produced: Tensor[] = [];
  try {
    const outputs = await runner(inputs, c.options);
    produced.push(...Object.values(outputs));
    const names = Object.keys(outputs).sort();
    expect(names, `${c.name}: outputs`).toEqual(Object.keys(c.outputs).sort());
    for (const [name, want] of Object.entries(c.outputs)) {
      const got = outputs[name]!;
      expect([...got.shape], `${c.name}: shape of ${name}`).toEqual(want.shape);
      assertClose(await got.toArray(), want.data, caseTolerance(c), `${c.name}: ${name} vs PyTorch ${c.torch}`);
    }
  } finally {
    for (const t of produced) t.dispose();
    inputs.dispose();
  }
}

describe('PyTorch golden values', () => {
  it('has a runner for every op in the fixtures and a case for every runner', () => {
    const fixtureOps = new Set(cases.map((c) => c.op));
    expect([...fixtureOps].filter((op) => !(op in RUNNERS)), 'fixture ops without a runner').toEqual([]);
    expect(Object.keys(RUNNERS).filter((op) => !fixtureOps.has(op)), 'runners without a case').toEqual([]);
  });

  const families = [...new Set(cases.map((c) => c.name.split('/')[0]!))];
  for (const family of families) {
    describe(family, () => {
      for (const c of cases.filter((c) => c.name.startsWith(`${family}/`))) {
        it(c.name, () => runCase(c));
      }
    });
  }
});
