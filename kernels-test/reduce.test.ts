import { describe, expect, it } from 'vitest';
import { sumPerChannel, sumRows } from '../src/ops/reduce.js';
import { host } from '../src/reference/host-tensor.js';
import { sumPerChannelRef, sumRowsRef } from '../src/reference/reduce.js';
import { assertClose, random, reduction, useEngine } from './helpers.js';

const engine = useEngine();

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

async function check(op: 'sumRows' | 'sumPerChannel', shape: number[], seed: number): Promise<void> {
  const e = engine();
  const data = random(size(shape), seed, -1, 1);
  const x = e.tensor(data, shape);
  const got = op === 'sumRows' ? sumRows(x) : sumPerChannel(x);
  expect(got.shape).toEqual([shape[1]]);
  const want = (op === 'sumRows' ? sumRowsRef : sumPerChannelRef)(host(data, shape));
  const k = size(shape) / shape[1]!;
  assertClose(await got.toArray(), want.data, reduction(k), `${op} [${shape.join(', ')}]`);
  x.dispose();
  got.dispose();
}

describe('sumRows against the reference', () => {
  const shapes = [
    [1, 1],
    [100, 600], // a linear layer's bias gradient at batch 100
    [7, 65], // columns that do not fill the last workgroup
    [300, 5], // two row blocks merged by a second pass
    [70000, 3], // three passes: 274 row blocks, then 2, then 1
  ];
  for (const shape of shapes) {
    it(`[${shape.join(', ')}]`, async () => {
      await check('sumRows', shape, shape[0]! + shape[1]!);
    });
  }
});

describe('sumPerChannel against the reference', () => {
  const shapes = [
    [1, 3, 5, 5], // batch 1
    [4, 7], // [N, C]: inner 1 uses the column kernel
    [2, 5, 1, 1], // spatial 1x1
    [3, 5, 7], // [N, C, L]
    [2, 3, 3, 4, 5], // [N, C, D, H, W]
    [5, 3, 33, 31], // 5115 values per channel: two chunks merged by a second pass
    // planes of a multiple of 4 are summed whole rows at a time, as vec4:
    [20, 32, 28, 28], // the Fashion-MNIST CNN's first conv layer at batch 20: one chunk a channel
    [3, 2, 16, 16],
    [7, 3, 20, 30],
    [30, 2, 32, 32], // 16 rows a chunk: two chunks, the last of 14 rows, merged by a second pass
    [3, 2, 2, 2], // below 16 values: the generic kernel
    // other planes of at least a workgroup (256) too, as scalars:
    [5, 2, 17, 17], // 289 values a plane: one chunk of 5 rows
    [2, 3, 70, 65], // a plane longer than a chunk: one row per chunk
    [1, 5, 17, 19], // batch 1, one chunk
  ];
  for (const shape of shapes) {
    it(`[${shape.join(', ')}]`, async () => {
      await check('sumPerChannel', shape, size(shape));
    });
  }

  it('returns zeros for an empty batch and an empty tensor for no channels', async () => {
    const e = engine();
    const x = e.empty([0, 3, 4]);
    expect(Array.from(await sumPerChannel(x).toArray())).toEqual([0, 0, 0]);
    expect(Array.from(await sumRows(e.empty([0, 2])).toArray())).toEqual([0, 0]);
    expect(sumPerChannel(e.empty([2, 0, 3])).shape).toEqual([0]);
    x.dispose();
  });
});

describe('reduction argument errors', () => {
  it('names each bad input', () => {
    const e = engine();
    const v = e.tensor([1, 2, 3], [3]);
    const t = e.tensor(random(8, 1), [2, 2, 2]);
    expect(() => sumRows(v)).toThrow('sumRows: expected input of rank 2, got shape [3]');
    expect(() => sumRows(t)).toThrow('sumRows: expected input of rank 2, got shape [2, 2, 2]');
    expect(() => sumPerChannel(v)).toThrow('sumPerChannel: expected input of rank 2 or more ([N, C, ...]), got shape [3]');
    v.dispose();
    t.dispose();
  });
});
