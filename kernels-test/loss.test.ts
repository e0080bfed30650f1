import { describe, expect, it } from 'vitest';
import { crossEntropy, crossEntropyWithIndices, type CrossEntropyOptions } from '../src/ops/loss.js';
import { host } from '../src/reference/host-tensor.js';
import { crossEntropyRef } from '../src/reference/loss.js';
import { assertClose, random, reduction, useEngine } from './helpers.js';

const engine = useEngine();

/** Class indices in [0, classes), with every `ignoreEvery`-th replaced by `ignore`. */
function targets(rows: number, classes: number, seed: number, ignore?: number, ignoreEvery = 4): number[] {
  return Array.from(random(rows, seed, 0, classes), (v, i) => (ignore !== undefined && i % ignoreEvery === 1 ? ignore : Math.floor(v)));
}

interface Case {
  rows: number;
  classes: number;
  reduction: 'mean' | 'sum' | 'none';
  ignoreIndex?: number;
  ignored?: boolean;
  labelSmoothing?: number;
  weighted?: boolean;
}

async function check(c: Case, seed: number, logitsData?: Float32Array): Promise<void> {
  const e = engine();
  const data = logitsData ?? random(c.rows * c.classes, seed, -5, 5);
  const t = targets(c.rows, c.classes, seed + 1, c.ignored ? (c.ignoreIndex ?? -100) : undefined);
  const w = c.weighted ? random(c.classes, seed + 2, 0.2, 2) : undefined;
  const logits = e.tensor(data, [c.rows, c.classes]);
  const target = e.tensor(Int32Array.from(t), [c.rows]);
  const weight = w && e.tensor(w, [c.classes]);
  const options: CrossEntropyOptions = { reduction: c.reduction, ignoreIndex: c.ignoreIndex, labelSmoothing: c.labelSmoothing, weight };
  const loss = crossEntropy(logits, target, options);
  expect(loss.shape).toEqual(c.reduction === 'none' ? [c.rows] : []);
  const ref = crossEntropyRef(host(data, [c.rows, c.classes]), host(t, [c.rows]), {
    ...options,
    weight: w && host(w, [c.classes]),
  });
  const k = c.reduction === 'none' ? c.classes : c.rows * c.classes;
  assertClose(await loss.toArray(), ref.data, reduction(k), `cross entropy ${JSON.stringify(c)}`);
  for (const x of [logits, target, weight, loss]) x?.dispose();
}

describe('crossEntropy against the reference', () => {
  const sizes: Array<[number, number]> = [
    [4, 10], // one invocation per row
    [7, 3],
    [1, 1],
    [300, 7], // more samples than the reduction workgroup
    [5, 65], // one workgroup per row
    [3, 1000],
  ];
  for (const [rows, classes] of sizes) {
    for (const red of ['mean', 'sum', 'none'] as const) {
      it(`[${rows}, ${classes}] ${red}: plain, ignored targets, label smoothing, class weights, all together`, async () => {
        const seed = rows * 31 + classes;
        await check({ rows, classes, reduction: red }, seed);
        await check({ rows, classes, reduction: red, ignored: true }, seed + 10);
        await check({ rows, classes, reduction: red, ignored: true, ignoreIndex: 2 % classes }, seed + 15);
        await check({ rows, classes, reduction: red, labelSmoothing: 0.1 }, seed + 20);
        await check({ rows, classes, reduction: red, weighted: true }, seed + 30);
        await check({ rows, classes, reduction: red, weighted: true, ignored: true, labelSmoothing: 0.3 }, seed + 40);
      });
    }
  }

  it('is accurate for logits with a large common offset, with label smoothing and weights', async () => {
    for (const classes of [10, 500]) {
      const rows = 6;
      const data = random(rows * classes, 3, 1000, 1004);
      await check({ rows, classes, reduction: 'none', labelSmoothing: 0.2, weighted: true }, 3, data);
    }
  });

  it('handles -inf and huge logits', async () => {
    for (const classes of [10, 200]) {
      const rows = 4;
      const data = random(rows * classes, 8, -3, 3);
      data[3] = Number.NEGATIVE_INFINITY; // row 0: an impossible class that is not the target
      data[classes + 5] = 1e30; // row 1: a huge logit
      data[2 * classes] = -1e30;
      const e = engine();
      const logits = e.tensor(data, [rows, classes]);
      const t = [0, 5, 1, 2];
      const target = e.tensor(Int32Array.from(t), [rows]);
      const ref = crossEntropyRef(host(data, [rows, classes]), host(t, [rows]), { reduction: 'none' });
      const got = await crossEntropy(logits, target, { reduction: 'none' }).toArray();
      assertClose(got, ref.data, reduction(classes), `-inf and huge logits, ${classes} classes`);
      expect(Number.isFinite(got[0])).toBe(true);
      expect(Math.abs(got[1]!)).toBe(0); // the huge logit is the target
      // With label smoothing the -inf logit makes the smoothing term infinite, as in PyTorch.
      const smoothed = await crossEntropy(logits, target, { reduction: 'none', labelSmoothing: 0.1 }).toArray();
      expect(smoothed[0]).toBe(Number.POSITIVE_INFINITY);
      logits.dispose();
      target.dispose();
    }
  });

  it('gives NaN for a target out of range (GPU targets are not checked) and for a mean over nothing', async () => {
    const e = engine();
    const logits = e.tensor(random(4 * 5, 2), [4, 5]);
    const bad = e.tensor(Int32Array.of(1, 5, 2, 9), [4]);
    const perSample = await crossEntropy(logits, bad, { reduction: 'none' }).toArray();
    expect(Number.isFinite(perSample[0])).toBe(true);
    expect(Number.isNaN(perSample[1])).toBe(true); // class 5 of 5
    expect(Number.isFinite(perSample[2])).toBe(true);
    expect(Number.isNaN(perSample[3])).toBe(true); // class 9 of 5
    expect(Number.isNaN((await crossEntropy(logits, bad).toArray())[0])).toBe(true);
    const negative = e.tensor(Int32Array.of(-1, 0, 0, 0), [4]);
    expect(Number.isNaN((await crossEntropy(logits, negative, { reduction: 'none' }).toArray())[0])).toBe(true);
    const allIgnored = e.tensor(Int32Array.of(-100, -100, -100, -100), [4]);
    expect(Number.isNaN((await crossEntropy(logits, allIgnored).toArray())[0])).toBe(true);
    expect(Array.from(await crossEntropy(logits, allIgnored, { reduction: 'sum' }).toArray())).toEqual([0]);
    for (const t of [logits, bad, negative, allIgnored]) t.dispose();
    // An empty batch: PyTorch's mean is NaN, its sum 0.
    const none = e.empty([0, 5]);
    const noTargets = e.empty([0], undefined, 'int32');
    expect(Number.isNaN((await crossEntropy(none, noTargets).toArray())[0])).toBe(true);
    expect(Array.from(await crossEntropy(none, noTargets, { reduction: 'sum' }).toArray())).toEqual([0]);
    expect(crossEntropy(none, noTargets, { reduction: 'none' }).shape).toEqual([0]);
  });

  it('crossEntropyWithIndices uploads host targets and matches crossEntropy', async () => {
    const e = engine();
    const data = random(6 * 9, 4, -2, 2);
    const t = [0, 8, 3, -100, 4, 1];
    const logits = e.tensor(data, [6, 9]);
    const weight = e.tensor(random(9, 5, 0.5, 1.5), [9]);
    const options: CrossEntropyOptions = { weight, labelSmoothing: 0.05 };
    const fromArray = await crossEntropyWithIndices(logits, t, options).toArray();
    const fromInt32 = await crossEntropyWithIndices(logits, Int32Array.from(t), options).toArray();
    const target = e.tensor(Int32Array.from(t), [6]);
    const direct = await crossEntropy(logits, target, options).toArray();
    expect(fromArray).toEqual(direct);
    expect(fromInt32).toEqual(direct);
    for (const x of [logits, weight, target]) x.dispose();
  });
});

describe('crossEntropy argument errors', () => {
  it('names each bad input', () => {
    const e = engine();
    const logits = e.tensor(random(4 * 10, 1), [4, 10]);
    const target = e.tensor(Int32Array.of(0, 1, 2, 3), [4]);
    const flat = e.tensor(random(10, 1), [10]);
    const short = e.tensor(Int32Array.of(0, 1, 2), [3]);
    const column = e.tensor(Int32Array.of(0, 1, 2, 3), [4, 1]);
    const twoWeights = e.tensor([1, 2], [2]);
    const noClasses = e.empty([4, 0]);
    expect(() => crossEntropy(flat, target)).toThrow('crossEntropy: expected logits of rank 2, got shape [10]');
    const floats = e.tensor([0, 1, 2, 3], [4]);
    expect(() => crossEntropy(logits, floats as never)).toThrow('crossEntropy: expected target of dtype int32, got float32 [4]');
    floats.dispose();
    expect(() => crossEntropy(logits, short)).toThrow(
      'crossEntropy: expected target of shape [4] (one class index per row of logits [4, 10]), got [3]',
    );
    expect(() => crossEntropy(logits, column)).toThrow(/expected target of shape \[4\] .* got \[4, 1\]/);
    expect(() => crossEntropy(logits, target, { weight: twoWeights })).toThrow(
      'crossEntropy: weight should have shape [10] (one value per class of logits [4, 10]), got [2]',
    );
    expect(() => crossEntropy(logits, target, { reduction: 'avg' as 'mean' })).toThrow(
      "crossEntropy: reduction must be 'mean', 'sum' or 'none', got 'avg'",
    );
    expect(() => crossEntropy(logits, target, { labelSmoothing: 1.5 })).toThrow('crossEntropy: labelSmoothing must be between 0.0 and 1.0, got 1.5');
    expect(() => crossEntropy(logits, target, { labelSmoothing: -0.1 })).toThrow(/labelSmoothing must be between 0.0 and 1.0, got -0.1/);
    expect(() => crossEntropy(logits, target, { ignoreIndex: 0.5 })).toThrow(
      'crossEntropy: ignoreIndex must be an int32, got 0.5',
    );
    expect(() => crossEntropy(noClasses, target)).toThrow('crossEntropy: expected at least one class, got logits [4, 0]');
    expect(() => crossEntropyWithIndices(logits, [1, 2, 3, 12])).toThrow('crossEntropy: target 12 at index 3 is out of range for 10 classes');
    expect(() => crossEntropyWithIndices(logits, [1, -1, 3, 4])).toThrow('crossEntropy: target -1 at index 1 is out of range for 10 classes');
    expect(() => crossEntropyWithIndices(logits, [1, 2.5, 3, 4])).toThrow('crossEntropy: target 2.5 at index 1 is not an integer class index');
    expect(() => crossEntropyWithIndices(logits, [1, 2, 3])).toThrow(
      'crossEntropy: expected 4 target indices (one per row of logits [4, 10]), got 3',
    );
    // ignoreIndex is allowed even though it is out of range
    crossEntropyWithIndices(logits, [1, 2, 3, -100]).dispose();
    crossEntropyWithIndices(logits, [1, 2, 3, 77], { ignoreIndex: 77 }).dispose();
    for (const t of [logits, target, flat, short, column, twoWeights, noClasses]) t.dispose();
  });
});
