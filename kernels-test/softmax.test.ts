import { describe, expect, it } from 'vitest';
import { logSoftmax, softmax } from '../src/ops/softmax.js';
import { host } from '../src/reference/host-tensor.js';
import { logSoftmaxRef, softmaxRef } from '../src/reference/softmax.js';
import { assertClose, random, reduction, useEngine } from './helpers.js';

const engine = useEngine();

/** Runs softmax and log-softmax on the GPU and compares both with the reference. */
async function check(shape: number[], dim: number, data: Float32Array): Promise<void> {
  const e = engine();
  const x = e.tensor(data, shape);
  const sm = softmax(x, dim);
  const lsm = logSoftmax(x, dim);
  expect(sm.shape).toEqual(shape);
  const r = Math.max(shape.length, 1);
  const len = shape.length === 0 ? 1 : shape[(dim + r) % r]!;
  const hx = host(data, shape);
  const what = `[${shape.join(', ')}] dim ${dim}`;
  assertClose(await sm.toArray(), softmaxRef(hx, dim).data, reduction(len), `softmax ${what}`);
  assertClose(await lsm.toArray(), logSoftmaxRef(hx, dim).data, reduction(len), `logSoftmax ${what}`);
  for (const t of [x, sm, lsm]) t.dispose();
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

describe('softmax and logSoftmax against the reference', () => {
  const cases: Array<[number[], number]> = [
    [[3, 7], -1], // short contiguous rows
    [[3, 7], 0], // short strided rows
    [[5, 1], 1], // rows of length 1
    [[1, 6], 0], // rows of length 1, strided
    [[4, 1000], 1], // long contiguous rows: one workgroup each
    [[3, 5000], -1],
    [[5000, 3], 0], // long strided rows (inner 3)
    [[2, 1000, 3], 1], // long strided rows with outer 2
    [[2, 7, 3, 5], 1], // rank 4 over channels
    [[2, 7, 3, 5], -1],
    [[2, 7, 3, 5], 0],
    [[4, 3, 65], -2],
    [[], 0], // a 0-d tensor is its own row of length 1
    [[], -1],
  ];
  for (const [shape, dim] of cases) {
    it(`[${shape.join(', ')}] over dim ${dim}`, async () => {
      await check(shape, dim, random(size(shape), 11 + shape.length + dim, -4, 4));
    });
  }

  it('folds more than 65535 long rows into a two-dimensional grid', async () => {
    const e = engine();
    const shape = [65600, 65];
    const data = random(size(shape), 5, -3, 3);
    const x = e.tensor(data, shape);
    const y = logSoftmax(x, 1);
    assertClose(await y.toArray(), logSoftmaxRef(host(data, shape), 1).data, reduction(65), 'logSoftmax [65600, 65]');
    x.dispose();
    y.dispose();
  });

  it('is stable with huge entries and handles -inf entries and an all -inf row', async () => {
    const inf = Number.NEGATIVE_INFINITY;
    // Row length 7 (one invocation per row) and 300 (a workgroup per row), each with awkward rows.
    for (const len of [7, 300]) {
      const rows = 5;
      const data = random(rows * len, 9 + len, -2, 2);
      data[0] = 1e30; // row 0: one huge entry dominates
      data[1] = -1e30;
      data[len + 2] = inf; // row 1: some -inf entries
      data[len + len - 1] = inf;
      data.fill(inf, 2 * len, 3 * len); // row 2: all -inf gives NaN
      data.fill(1e30, 3 * len, 4 * len); // row 3: all huge
      data[4 * len] = 50; // row 4: exp(50) would overflow a naive sum
      data[4 * len + 1] = 60;
      await check([rows, len], 1, data);
      await check([len, rows], 0, transpose(data, rows, len));
      const e = engine();
      const x = e.tensor(data, [rows, len]);
      const sm = await softmax(x, 1).toArray();
      const lsm = await logSoftmax(x, 1).toArray();
      expect(sm[0]).toBe(1);
      expect(sm[len + 2]).toBe(0);
      expect(lsm[len + 2]).toBe(inf);
      expect(Array.from(sm.subarray(2 * len, 3 * len)).every(Number.isNaN)).toBe(true);
      expect(Array.from(lsm.subarray(2 * len, 3 * len)).every(Number.isNaN)).toBe(true);
      expect(sm[3 * len]).toBeCloseTo(1 / len, 6);
      x.dispose();
    }
  });

  it('gives rows that sum to one', async () => {
    const e = engine();
    const x = e.tensor(random(6 * 5000, 3, -20, 20), [6, 5000]);
    const sm = await softmax(x, 1).toArray();
    for (let r = 0; r < 6; r++) {
      const sum = sm.subarray(r * 5000, (r + 1) * 5000).reduce((a, b) => a + b, 0);
      expect(Math.abs(sum - 1)).toBeLessThan(1e-4);
    }
    x.dispose();
  });
});

function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!;
  return out;
}

describe('softmax argument errors', () => {
  it('refuses a dimension out of range, with PyTorch’s message', () => {
    const x = engine().tensor(random(6, 1), [2, 3]);
    expect(() => softmax(x, 2)).toThrow('softmax: dimension out of range (expected to be in range of [-2, 1], but got 2)');
    expect(() => logSoftmax(x, -3)).toThrow('logSoftmax: dimension out of range (expected to be in range of [-2, 1], but got -3)');
    expect(() => softmax(x, 0.5)).toThrow(/softmax: dimension out of range .* but got 0.5/);
    const s = engine().tensor([1], []);
    expect(() => softmax(s, 1)).toThrow('softmax: dimension out of range (expected to be in range of [-1, 0], but got 1)');
    x.dispose();
    s.dispose();
    expect(() => softmax(x, 0)).toThrow('softmax: x [2, 3] was used after dispose()');
  });
});
