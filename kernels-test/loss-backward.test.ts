import { describe, expect, it } from 'vitest';
import { crossEntropy, crossEntropyWithGrad, type CrossEntropyGradOptions } from '../src/ops/loss.js';
import { host } from '../src/reference/host-tensor.js';
import { crossEntropyBackwardRef, crossEntropyRef, type CrossEntropyGradRefOptions } from '../src/reference/loss.js';
import { checkGradient, dot } from './gradcheck.js';
import { assertClose, gradient, random, reduction, useEngine } from './helpers.js';

const engine = useEngine();

/** Class indices in [0, classes), with every `ignoreEvery`-th replaced by `ignore`. */
function targets(rows: number, classes: number, seed: number, ignore?: number, ignoreEvery = 4): number[] {
  return Array.from(random(rows, seed, 0, classes), (v, i) => (ignore !== undefined && i % ignoreEvery === 1 ? ignore : Math.floor(v)));
}

describe('cross-entropy reference gradient against finite differences', () => {
  const variants: Array<[string, CrossEntropyGradRefOptions, boolean]> = [
    ['plain', {}, false],
    ['ignored targets', { ignoreIndex: 2 }, true],
    ['label smoothing', { labelSmoothing: 0.2 }, false],
    ['class weights, ignored targets and label smoothing', { labelSmoothing: 0.3, ignoreIndex: -100 }, true],
  ];
  for (const red of ['mean', 'sum', 'none'] as const) {
    for (const [name, opts, ignored] of variants) {
      it(`${red}: ${name}`, () => {
        const [rows, classes] = [5, 4];
        const logits = host(random(rows * classes, 1, -3, 3), [rows, classes]);
        const t = host(targets(rows, classes, 2, ignored ? (opts.ignoreIndex ?? -100) : undefined, 3), [rows]);
        const weight = name.startsWith('class weights') ? host(random(classes, 3, 0.2, 2), [classes]) : undefined;
        const options: CrossEntropyGradRefOptions = { ...opts, reduction: red, weight, gradScale: 1.7 };
        // 'none' is differentiated as the summed losses, times gradScale.
        const loss = () => 1.7 * crossEntropyRef(logits, t, options).data.reduce((a, b) => a + b, 0);
        checkGradient(crossEntropyBackwardRef(logits, t, options).data, loss, logits.data, `${red} ${name}`);
      });
    }
  }

  it('dot() projects a vector loss the same way (sanity of the "none" convention)', () => {
    const logits = host(random(6, 4, -1, 1), [2, 3]);
    const t = host([0, 2], [2]);
    const up = [1.7, 1.7];
    const loss = () => dot(crossEntropyRef(logits, t, { reduction: 'none' }).data, up);
    checkGradient(crossEntropyBackwardRef(logits, t, { reduction: 'none', gradScale: 1.7 }).data, loss, logits.data, 'none');
  });
});

interface Case {
  rows: number;
  classes: number;
  reduction: 'mean' | 'sum' | 'none';
  ignoreIndex?: number;
  ignored?: boolean;
  labelSmoothing?: number;
  weighted?: boolean;
  gradScale?: number;
}

/** crossEntropyWithGrad on the GPU: the loss equals crossEntropy's, the gradient the reference's. */
async function check(c: Case, seed: number, logitsData?: Float32Array): Promise<void> {
  const e = engine();
  const data = logitsData ?? random(c.rows * c.classes, seed, -5, 5);
  const t = targets(c.rows, c.classes, seed + 1, c.ignored ? (c.ignoreIndex ?? -100) : undefined);
  const w = c.weighted ? random(c.classes, seed + 2, 0.2, 2) : undefined;
  const logits = e.tensor(data, [c.rows, c.classes]);
  const target = e.tensor(Int32Array.from(t), [c.rows]);
  const weight = w && e.tensor(w, [c.classes]);
  const options: CrossEntropyGradOptions = {
    reduction: c.reduction,
    ignoreIndex: c.ignoreIndex,
    labelSmoothing: c.labelSmoothing,
    weight,
    gradScale: c.gradScale,
  };
  const { loss, gradLogits } = crossEntropyWithGrad(logits, target, options);
  const alone = crossEntropy(logits, target, options);
  expect(loss.shape).toEqual(alone.shape);
  expect(gradLogits.shape).toEqual([c.rows, c.classes]);
  const lossValues = await loss.toArray();
  expect(lossValues).toEqual(await alone.toArray());
  const refOptions = { ...options, weight: w && host(w, [c.classes]) };
  const [hl, ht] = [host(data, [c.rows, c.classes]), host(t, [c.rows])];
  const k = c.reduction === 'none' ? c.classes : c.rows * c.classes;
  assertClose(lossValues, crossEntropyRef(hl, ht, refOptions).data, reduction(k), `loss ${JSON.stringify(c)}`);
  const want = crossEntropyBackwardRef(hl, ht, refOptions);
  const got = await gradLogits.toArray();
  assertClose(got, want.data, gradient(c.classes), `gradLogits ${JSON.stringify(c)}`);
  for (const x of [logits, target, weight, loss, gradLogits, alone]) x?.dispose();
}

describe('crossEntropyWithGrad against the reference', () => {
  const sizes: Array<[number, number]> = [
    [100, 10], // a Fashion-MNIST batch: one invocation per row
    [7, 3],
    [1, 1],
    [300, 7], // more samples than the reduction workgroup
    [5, 65], // one workgroup per row
    [3, 1000],
  ];
  for (const [rows, classes] of sizes) {
    it(`[${rows}, ${classes}]: plain, ignored targets, label smoothing, class weights, all together, gradScale`, async () => {
      for (const red of ['mean', 'sum', 'none'] as const) {
        const seed = rows * 31 + classes + (red === 'mean' ? 0 : red === 'sum' ? 100 : 200);
        await check({ rows, classes, reduction: red }, seed);
        await check({ rows, classes, reduction: red, ignored: true, ignoreIndex: 2 % classes }, seed + 15);
        await check({ rows, classes, reduction: red, labelSmoothing: 0.1 }, seed + 20);
        await check({ rows, classes, reduction: red, weighted: true, gradScale: 0.25 }, seed + 30);
        await check({ rows, classes, reduction: red, weighted: true, ignored: true, labelSmoothing: 0.3, gradScale: -3 }, seed + 40);
      }
    });
  }

  it('is accurate for logits with a large common offset, with label smoothing and weights', async () => {
    for (const classes of [10, 500]) {
      const data = random(6 * classes, 3, 1000, 1004);
      await check({ rows: 6, classes, reduction: 'mean', labelSmoothing: 0.2, weighted: true }, 3, data);
    }
  });

  it('handles -inf and huge logits', async () => {
    for (const classes of [10, 200]) {
      const data = random(4 * classes, 8, -3, 3);
      data[3] = Number.NEGATIVE_INFINITY; // row 0: an impossible class that is not the target
      data[classes + 5] = 1e30; // row 1: a huge logit
      data[2 * classes] = -1e30;
      const e = engine();
      const t = [0, 5, 1, 2];
      const [logits, target] = [e.tensor(data, [4, classes]), e.tensor(Int32Array.from(t), [4])];
      const { loss, gradLogits } = crossEntropyWithGrad(logits, target, { reduction: 'sum' });
      const want = crossEntropyBackwardRef(host(data, [4, classes]), host(t, [4]), { reduction: 'sum' });
      const got = await gradLogits.toArray();
      expect(got.every(Number.isFinite)).toBe(true);
      assertClose(got, want.data, gradient(classes), `-inf and huge logits, ${classes} classes`);
      expect(got[3]).toBe(0); // probability 0, not the target
      for (const x of [logits, target, loss, gradLogits]) x.dispose();
    }
  });

  it('gives NaN gradients for bad targets, zeros for ignored ones, and zeros when a mean has nothing to average', async () => {
    const e = engine();
    const logits = e.tensor(random(4 * 5, 2), [4, 5]);
    const bad = e.tensor(Int32Array.of(1, 5, -100, 9), [4]);
    const rowsOf = (a: Float32Array) => [0, 1, 2, 3].map((i) => Array.from(a.subarray(i * 5, i * 5 + 5)));
    const sum = rowsOf(await crossEntropyWithGrad(logits, bad, { reduction: 'sum' }).gradLogits.toArray());
    expect(sum[0]!.every(Number.isFinite)).toBe(true);
    expect(sum[1]!.every(Number.isNaN)).toBe(true); // class 5 of 5
    expect(sum[2]).toEqual([0, 0, 0, 0, 0]); // ignored
    expect(sum[3]!.every(Number.isNaN)).toBe(true); // class 9 of 5
    // The mean's divisor is NaN, so every row that is not ignored is NaN: no silent wrong gradient.
    const mean = rowsOf(await crossEntropyWithGrad(logits, bad).gradLogits.toArray());
    expect(mean[0]!.every(Number.isNaN)).toBe(true);
    expect(mean[2]).toEqual([0, 0, 0, 0, 0]);
    const allIgnored = e.tensor(Int32Array.of(-100, -100, -100, -100), [4]);
    const nothing = crossEntropyWithGrad(logits, allIgnored);
    expect(Number.isNaN((await nothing.loss.toArray())[0])).toBe(true); // as PyTorch
    expect(Array.from(await nothing.gradLogits.toArray()).every((v) => v === 0)).toBe(true);
    // An empty batch.
    const none = crossEntropyWithGrad(e.empty([0, 5]), e.empty([0], undefined, 'int32'), { reduction: 'sum' });
    expect(Array.from(await none.loss.toArray())).toEqual([0]);
    expect(none.gradLogits.shape).toEqual([0, 5]);
    for (const x of [logits, bad, allIgnored]) x.dispose();
  });
});

describe('crossEntropyWithGrad argument errors', () => {
  it('names each bad input', () => {
    const e = engine();
    const logits = e.tensor(random(4 * 10, 1), [4, 10]);
    const target = e.tensor(Int32Array.of(0, 1, 2, 3), [4]);
    const short = e.tensor(Int32Array.of(0, 1, 2), [3]);
    const twoWeights = e.tensor([1, 2], [2]);
    const flat = e.tensor(random(10, 1), [10]);
    expect(() => crossEntropyWithGrad(logits, short)).toThrow(
      'crossEntropyWithGrad: expected target of shape [4] (one class index per row of logits [4, 10]), got [3]',
    );
    expect(() => crossEntropyWithGrad(flat, target)).toThrow('crossEntropyWithGrad: expected logits of rank 2, got shape [10]');
    expect(() => crossEntropyWithGrad(logits, target, { weight: twoWeights })).toThrow(
      'crossEntropyWithGrad: weight should have shape [10] (one value per class of logits [4, 10]), got [2]',
    );
    expect(() => crossEntropyWithGrad(logits, target, { labelSmoothing: 2 })).toThrow(
      'crossEntropyWithGrad: labelSmoothing must be between 0.0 and 1.0, got 2',
    );
    expect(() => crossEntropyWithGrad(logits, target, { gradScale: Number.POSITIVE_INFINITY })).toThrow(
      'crossEntropyWithGrad: gradScale must be a finite number, got Infinity',
    );
    expect(() => crossEntropyWithGrad(logits, target, { reduction: 'avg' as 'mean' })).toThrow(
      "crossEntropyWithGrad: reduction must be 'mean', 'sum' or 'none', got 'avg'",
    );
    for (const t of [logits, target, short, twoWeights, flat]) t.dispose();
  });
});
