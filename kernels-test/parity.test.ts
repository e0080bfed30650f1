// Training parity with PyTorch in the spirit of llm.c's test_gpt2: the Fashion-MNIST CNN and DNN
// (src/nn/models/fashion.ts) with the same seeded weights, the same batch (the first 16 training
// images) and the same dropout masks as scripts/golden/make_training_fixtures.py gave PyTorch,
// trained for 5 Adam steps (lr 1e-3) in training mode: batch norm with batch statistics, dropout
// on (our Philox mask, which the script draws too). The loss of every step, and of a sixth forward
// pass after the last update, must match PyTorch's float64 run within 1e-4 relative; tensors
// after the fifth update are compared too (see PARAMETER below for their tolerances).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Tape } from '../src/autograd/tape.js';
import { constant } from '../src/autograd/variable.js';
import { normalisationTable } from '../src/data/fashion-mnist.js';
import { crc32 } from 'node:zlib';
import { fashionCnn, fashionDnn, type FashionCNN, type FashionDNN } from '../src/nn/models/fashion.js';
import { seededTensor } from '../src/nn/models/seeded-weights.js';
import { Adam } from '../src/optim/adam.js';
import { dropoutMask } from '../src/ops/dropout.js';
import type { Engine } from '../src/runtime/engine.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { FIXTURE_DIR, type FixtureTensor } from './fixtures.js';
import { GRADIENT, assertClose, type Tolerance, useEngine } from './helpers.js';

const engine = useEngine();

interface ModelFixture {
  weightSeed: number;
  /** (scale, offset) of seededTensor per state-dict name. */
  init: Record<string, [number, number]>;
  initCrc32: Record<string, number>;
  droppedPerStep: number[];
  losses: number[];
  finalLoss: number;
  float32Torch: { losses: number[]; finalLoss: number; maxWeightDrift: Record<string, number> };
  after: Record<string, FixtureTensor>;
  afterRows: Record<string, FixtureTensor & { rows: number }>;
  expAvg: Record<string, FixtureTensor>;
}

interface ParityFixture {
  batch: { count: number; labels: number[]; pixelsHex: string[] };
  optimizer: { lr: number; betas: [number, number]; eps: number; steps: number };
  dropout: { p: number; seed: number; offsets: number[] };
  models: Record<'cnn' | 'dnn', ModelFixture>;
}

const fixture = JSON.parse(readFileSync(join(FIXTURE_DIR, 'training', 'fashion-parity.json'), 'utf8')) as ParityFixture;

/** The loss tolerance of the issue: 1e-4 relative to PyTorch's float64 loss. */
const LOSS_RTOL = 1e-4;

/**
 * Tensors after 5 updates. Adam divides each gradient by its running RMS, so a parameter whose
 * gradient is tiny against its rounding noise takes noise-driven steps (up to lr each): PyTorch's
 * own float32 run drifts from float64 by up to 2e-4 in fc1/fc2 weights (the script prints it), and
 * the fixture leaves out the convolution biases and running means for that reason (see its AFTER).
 * What it holds has well-conditioned updates: batch norm's affine parameters and running
 * variances, the first convolution's weight, fc3, the first rows of fc1 and layer2.0 (PyTorch
 * float32 drifts there by at most 8e-6, ours measured 4e-6). Parameters: 1e-4 relative plus 2e-5
 * absolute (1/50 of one step's size, lr). Adam's first moment is linear in the gradients: GRADIENT.
 */
const PARAMETER: Tolerance = { rtol: 1e-4, atol: 2e-5 };

function images(e: Engine): Tensor {
  const table = normalisationTable('standard');
  const { count, pixelsHex } = fixture.batch;
  const data = new Float32Array(count * 784);
  pixelsHex.forEach((hex, i) => {
    if (hex.length !== 2 * 784) throw new Error(`fixture image ${i}: expected 784 bytes`);
    for (let p = 0; p < 784; p++) data[i * 784 + p] = table[parseInt(hex.slice(2 * p, 2 * p + 2), 16)]!;
  });
  return e.tensor(data, [count, 1, 28, 28]);
}

/** Loads the seeded weights the fixture was computed from (checking their bits) into `model`. */
async function loadSeededWeights(e: Engine, model: FashionCNN | FashionDNN, m: ModelFixture): Promise<void> {
  const state = new Map<string, Tensor>();
  const mismatched: string[] = [];
  for (const [name, t] of model.stateDict()) {
    const init = m.init[name];
    if (!init) throw new Error(`fixture has no initialisation for '${name}' (regenerate it?)`);
    const s = seededTensor(name, m.weightSeed, t.shape, init[0], init[1]);
    if (crc32(new Uint8Array(s.data.buffer)) !== m.initCrc32[name]) mismatched.push(name);
    state.set(name, e.tensor(s.data, s.shape));
  }
  expect(mismatched, 'seeded weights differ from the ones PyTorch trained').toEqual([]);
  model.loadStateDict(state);
  await e.flush();
  for (const t of state.values()) t.dispose();
}

async function trainLikeTorch(kind: 'cnn' | 'dnn'): Promise<void> {
  const e = engine();
  const m = fixture.models[kind];
  const { lr, betas, eps, steps } = fixture.optimizer;
  const model = kind === 'cnn' ? fashionCnn(e) : fashionDnn(e);
  const x = constant(images(e));
  const target = e.tensor(Int32Array.from(fixture.batch.labels), [fixture.batch.count]);
  const optimizer = new Adam(model.parameters(), { lr, betas, eps });
  try {
    await loadSeededWeights(e, model, m);
    // The fixture's dropout stream: nn.Dropout draws its seed from the model's generator, which
    // Python does not replay, so the test gives it the seed PyTorch's masks were drawn with.
    (model.drop as { seed: number }).seed = fixture.dropout.seed;
    expect(model.drop.calls).toBe(0);
    const features = kind === 'cnn' ? 600 : 256;
    for (const [step, offset] of fixture.dropout.offsets.entries()) {
      const mask = dropoutMask(e, [fixture.batch.count, features], { p: fixture.dropout.p, seed: fixture.dropout.seed, offset });
      const dropped = (await mask.toArray()).filter((v) => v === 0).length;
      mask.dispose();
      expect(dropped, `dropout mask of step ${step}: dropped elements (Philox stream differs from the script's?)`).toBe(m.droppedPerStep[step]);
    }

    const losses: number[] = [];
    for (let step = 0; step < steps; step++) {
      const tape = new Tape(e);
      try {
        const loss = tape.crossEntropy(model.forward(tape, x), target);
        optimizer.zeroGrad();
        tape.backward(loss);
        optimizer.step();
        losses.push((await loss.value.toArray())[0]!);
      } finally {
        tape.dispose();
      }
    }
    const after = new Map<string, Float32Array>();
    for (const [name, t] of model.stateDict()) after.set(name, await t.toArray());
    const names = model.namedParameters().map(([name]) => name);
    const optimizerState = optimizer.stateDict().state;
    const expAvg = new Map<string, Float32Array>();
    for (const name of Object.keys(m.expAvg)) expAvg.set(name, await (optimizerState[`state.${names.indexOf(name)}.exp_avg`] as Tensor).toArray());

    // A sixth forward pass (training mode, no gradients) measures the fifth update.
    const tape = new Tape(e, { grad: false });
    let finalLoss: number;
    try {
      finalLoss = (await tape.crossEntropy(model.forward(tape, x), target).value.toArray())[0]!;
    } finally {
      tape.dispose();
    }

    const report = [...losses, finalLoss].map((v, i) => {
      const want = i < steps ? m.losses[i]! : m.finalLoss;
      return `${i < steps ? `step ${i + 1}` : 'after'}: ours ${v.toFixed(6)} torch ${want.toFixed(6)} rel ${(Math.abs(v - want) / Math.abs(want)).toExponential(1)}`;
    });
    console.log(`${kind} parity: ${report.join('; ')}`);
    for (const [i, v] of [...losses, finalLoss].entries()) {
      const want = i < steps ? m.losses[i]! : m.finalLoss;
      expect(Math.abs(v - want) / Math.abs(want), `${kind} loss ${i < steps ? `of step ${i + 1}` : 'after step 5'}: ours ${v}, PyTorch ${want}`).toBeLessThanOrEqual(LOSS_RTOL);
    }

    for (const [name, want] of Object.entries(m.after)) {
      assertClose(after.get(name)!, want.data, PARAMETER, `${kind} ${name} after step ${steps}`);
    }
    for (const [name, want] of Object.entries(m.afterRows)) {
      const got = after.get(name)!.subarray(0, want.data.length);
      assertClose(got, want.data, PARAMETER, `${kind} ${name} (first ${want.rows} rows) after step ${steps}`);
    }
    for (const [name, want] of Object.entries(m.expAvg)) {
      assertClose(expAvg.get(name)!, want.data, GRADIENT, `${kind} Adam exp_avg of ${name} after step ${steps}`);
    }
  } finally {
    optimizer.dispose();
    model.dispose();
    x.value.dispose();
    target.dispose();
  }
}

describe('training parity with PyTorch (5 Adam steps on a fixed Fashion-MNIST batch)', () => {
  it('the fixture is self-consistent: PyTorch float32 stays within the loss tolerance of float64', () => {
    for (const m of Object.values(fixture.models)) {
      const pairs = [...m.losses.map((v, i) => [v, m.float32Torch.losses[i]!]), [m.finalLoss, m.float32Torch.finalLoss]];
      for (const [f64, f32] of pairs) expect(Math.abs(f32! - f64!) / Math.abs(f64!)).toBeLessThan(LOSS_RTOL);
      // The loss falls: five steps did train.
      expect(m.finalLoss).toBeLessThan(m.losses[0]! * 0.8);
    }
  });

  it('CNN: losses and updated weights match PyTorch', () => trainLikeTorch('cnn'));
  it('DNN: losses and updated weights match PyTorch', () => trainLikeTorch('dnn'));
});
