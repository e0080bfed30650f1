// Reads the PyTorch golden values for graph convolution in kernels-test/fixtures/gcn/, written by
// scripts/golden/make_gcn_fixtures.py (its header describes every field). A malformed fixture
// throws here, naming the file and case, rather than passing vacuously.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURE_DIR } from './fixtures.js';

export interface GcnFixtureTensor {
  shape: number[];
  data: Float64Array;
}

export interface GcnConvCase {
  name: string;
  torch: string;
  graph: { numNodes: number; edgeIndex: Int32Array; components?: { numNodes: number; edgeIndex: Int32Array }[] };
  options: { normalize: boolean; addSelfLoops: boolean; bias: boolean };
  inputs: Record<string, GcnFixtureTensor>;
  outputs: { out: GcnFixtureTensor };
  gradients: Record<string, GcnFixtureTensor>;
}

export interface ReadoutCase {
  name: string;
  reduce: 'sum' | 'mean' | 'max';
  numGraphs: number;
  batch: Int32Array;
  inputs: { x: GcnFixtureTensor; gradOut: GcnFixtureTensor };
  outputs: { out: GcnFixtureTensor };
  gradients: { x: GcnFixtureTensor };
}

export interface KarateAdamFixture {
  hidden: number;
  optimizer: { lr: number; betas: [number, number]; eps: number; weightDecay: number; steps: number };
  trainNodes: number[];
  trainLabels: number[];
  edgeIndex: Int32Array;
  init: Record<string, GcnFixtureTensor>;
  losses: number[];
  finalLoss: number;
  after: Record<string, GcnFixtureTensor>;
}

const DIR = join(FIXTURE_DIR, 'gcn');

function number(v: unknown, where: string): number {
  if (typeof v === 'number') return v;
  const special: Record<string, number> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity };
  if (typeof v === 'string' && v in special) return special[v]!;
  throw new Error(`${where}: bad value ${JSON.stringify(v)}`);
}

function tensor(raw: unknown, where: string): GcnFixtureTensor {
  const t = raw as { shape?: unknown; data?: unknown };
  if (!Array.isArray(t?.shape) || !Array.isArray(t?.data)) throw new Error(`${where}: expected {shape, data}`);
  const shape = t.shape as number[];
  const n = shape.reduce((a, b) => a * b, 1);
  if (t.data.length !== n) throw new Error(`${where}: shape [${shape.join(', ')}] holds ${n} values, data has ${t.data.length}`);
  // Stored float32 values, widened exactly: the references compute from the same float32 inputs torch did.
  return { shape, data: Float64Array.from(t.data, (v, i) => Math.fround(number(v, `${where}[${i}]`))) };
}

function tensors(raw: unknown, where: string): Record<string, GcnFixtureTensor> {
  if (typeof raw !== 'object' || raw === null) throw new Error(`${where}: expected an object of tensors`);
  return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, tensor(v, `${where}.${k}`)]));
}

function indices(raw: unknown, where: string): Int32Array {
  if (!Array.isArray(raw) || !raw.every((v) => Number.isInteger(v))) throw new Error(`${where}: expected a list of integers`);
  return Int32Array.from(raw as number[]);
}

function cases(file: string): { name: string; raw: Record<string, unknown>; where: string }[] {
  const parsed = JSON.parse(readFileSync(join(DIR, file), 'utf8')) as { cases?: unknown };
  if (!Array.isArray(parsed.cases) || parsed.cases.length === 0) throw new Error(`${file}: no cases (run /usr/bin/python3 scripts/golden/make_gcn_fixtures.py)`);
  return parsed.cases.map((raw: Record<string, unknown>) => ({ name: String(raw.name), raw, where: `${file}: case ${JSON.stringify(raw.name)}` }));
}

export function loadGcnConvCases(): GcnConvCase[] {
  return cases('gcn-conv.json').map(({ name, raw, where }) => {
    const graph = raw.graph as { numNodes: number; edgeIndex: unknown; components?: { numNodes: number; edgeIndex: unknown }[] };
    return {
      name,
      torch: String(raw.torch),
      graph: {
        numNodes: graph.numNodes,
        edgeIndex: indices(graph.edgeIndex, `${where} edgeIndex`),
        ...(graph.components
          ? { components: graph.components.map((c, i) => ({ numNodes: c.numNodes, edgeIndex: indices(c.edgeIndex, `${where} component ${i}`) })) }
          : {}),
      },
      options: raw.options as GcnConvCase['options'],
      inputs: tensors(raw.inputs, `${where} inputs`),
      outputs: tensors(raw.outputs, `${where} outputs`) as GcnConvCase['outputs'],
      gradients: tensors(raw.gradients, `${where} gradients`),
    };
  });
}

export function loadReadoutCases(): ReadoutCase[] {
  return cases('readout.json').map(({ name, raw, where }) => {
    const inputs = raw.inputs as Record<string, unknown>;
    return {
      name,
      reduce: raw.reduce as ReadoutCase['reduce'],
      numGraphs: raw.numGraphs as number,
      batch: indices((inputs.batch as { data: unknown }).data, `${where} batch`),
      inputs: { x: tensor(inputs.x, `${where} x`), gradOut: tensor(inputs.gradOut, `${where} gradOut`) },
      outputs: tensors(raw.outputs, `${where} outputs`) as ReadoutCase['outputs'],
      gradients: tensors(raw.gradients, `${where} gradients`) as ReadoutCase['gradients'],
    };
  });
}

export function loadKarateAdam(): KarateAdamFixture {
  const file = 'karate-adam.json';
  const raw = JSON.parse(readFileSync(join(DIR, file), 'utf8')) as Record<string, unknown>;
  return {
    hidden: (raw.model as { hidden: number }).hidden,
    optimizer: raw.optimizer as KarateAdamFixture['optimizer'],
    trainNodes: raw.trainNodes as number[],
    trainLabels: raw.trainLabels as number[],
    edgeIndex: indices(raw.edgeIndex, `${file} edgeIndex`),
    init: tensors(raw.init, `${file} init`),
    losses: raw.losses as number[],
    finalLoss: raw.finalLoss as number,
    after: tensors(raw.after, `${file} after`),
  };
}
