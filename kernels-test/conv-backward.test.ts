// Convolution backward passes: the CPU references against central finite differences of the
// reference forward passes (float64), the GPU kernels against the references on awkward shapes
// (both input-gradient routes where both apply, every subset of gradients), and argument errors.
import { describe, expect, it } from 'vitest';
import { conv1dBackward, conv2dBackward, conv3dBackward, type ConvBackwardNeeds, type ConvBackwardOptions, type ConvGradients } from '../src/ops/conv-backward.js';
import { checkConv } from '../src/ops/conv-args.js';
import { planBlock } from '../src/ops/conv-plan.js';
import { conv2d } from '../src/ops/conv.js';
import { conv1dBackwardRef, conv2dBackwardRef, conv3dBackwardRef, type ConvGradientsRef } from '../src/reference/conv-backward.js';
import { conv1dRef, conv2dRef, conv3dRef, type ConvRefOptions } from '../src/reference/conv.js';
import { host, type HostTensor } from '../src/reference/host-tensor.js';
import { numel, type Tensor } from '../src/runtime/tensor.js';
import { checkGradient, dot } from './gradcheck.js';
import { assertClose, gradient, random, useEngine, useLimitedEngines } from './helpers.js';

const engine = useEngine();
const limited = useLimitedEngines();
let seed = 9100;

type ConvRef = typeof conv2dRef;
type BackwardRef = typeof conv2dBackwardRef;
type Backward = typeof conv2dBackward;

const REFS: Record<1 | 2 | 3, { forward: ConvRef; backward: BackwardRef; gpu: Backward }> = {
  1: { forward: conv1dRef, backward: conv1dBackwardRef, gpu: conv1dBackward },
  2: { forward: conv2dRef, backward: conv2dBackwardRef, gpu: conv2dBackward },
  3: { forward: conv3dRef, backward: conv3dBackwardRef, gpu: conv3dBackward },
};

interface Case {
  name: string;
  x: number[];
  w: number[];
  options?: ConvBackwardOptions;
}

const dimsOf = (c: Case) => (c.w.length - 2) as 1 | 2 | 3;

function hostRandom(shape: number[]): HostTensor {
  return host(random(numel(shape), seed++), shape);
}

describe('backward references agree with finite differences', () => {
  const cases: Case[] = [
    { name: 'conv2d stride 2, padding 1', x: [2, 3, 5, 6], w: [4, 3, 3, 3], options: { stride: 2, padding: 1 } },
    { name: 'conv2d dilation 2, groups 2, non-square kernel', x: [1, 4, 6, 7], w: [2, 2, 2, 3], options: { dilation: 2, groups: 2, padding: [1, 2] } },
    { name: "conv2d 'same' with an even kernel (asymmetric padding)", x: [1, 2, 5, 4], w: [3, 2, 2, 4], options: { padding: 'same' } },
    { name: 'conv1d stride 3, depthwise', x: [2, 3, 10], w: [3, 1, 3], options: { stride: 3, groups: 3, padding: 2 } },
    { name: 'conv3d stride (1, 2, 1), padding larger than half the kernel', x: [1, 2, 3, 4, 5], w: [3, 2, 2, 3, 2], options: { stride: [1, 2, 1], padding: [2, 1, 2] } },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const { forward, backward } = REFS[dimsOf(c)];
      const x = hostRandom(c.x);
      const w = hostRandom(c.w);
      const b = hostRandom([c.w[0]!]);
      const y = forward(x, w, b, c.options);
      const gradOut = random(y.data.length, seed++);
      const loss = () => dot(forward(x, w, b, c.options).data, gradOut);
      const grads = backward(host(gradOut, y.shape), x, w, c.options);
      expect(grads.gradInput.shape).toEqual(c.x);
      expect(grads.gradWeight.shape).toEqual(c.w);
      checkGradient(grads.gradInput.data, loss, x.data, `${c.name}: input`);
      checkGradient(grads.gradWeight.data, loss, w.data, `${c.name}: weight`);
      checkGradient(grads.gradBias.data, loss, b.data, `${c.name}: bias`);
    });
  }
});

const ALL: ConvBackwardNeeds = { input: true, weight: true, bias: true };

/** The reductions behind each gradient element, for the tolerance. */
function reductions(c: Case, gradOutShape: number[]): { input: number; weight: number; bias: number } {
  const groups = c.options?.groups ?? 1;
  const kernelVolume = numel(c.w.slice(2));
  const perChannel = numel(gradOutShape) / gradOutShape[1]!;
  return { input: (c.w[0]! / groups) * kernelVolume, weight: perChannel, bias: perChannel };
}

async function expectGradients(got: ConvGradients, want: ConvGradientsRef, c: Case, needs: ConvBackwardNeeds, k: ReturnType<typeof reductions>, what: string): Promise<void> {
  for (const key of ['input', 'weight', 'bias'] as const) {
    const name = key === 'input' ? 'gradInput' : key === 'weight' ? 'gradWeight' : 'gradBias';
    const tensor = got[name];
    if (!needs[key]) {
      expect(tensor, `${what}: ${name} was not asked for`).toBeUndefined();
      continue;
    }
    expect(tensor, `${what}: ${name}`).toBeDefined();
    expect(tensor!.shape).toEqual(key === 'input' ? c.x : key === 'weight' ? c.w : [c.w[0]]);
    assertClose(await tensor!.toArray(), want[name].data, gradient(k[key]), `${what}: ${name}`);
    tensor!.dispose();
  }
}

type Routes = Pick<ConvBackwardOptions, 'inputGradient' | 'weightGradient'>;

/** Every route: both input-gradient routes and both weight-gradient routes (stride 1 only). */
const BOTH: Routes[] = [
  { inputGradient: 'transposed', weightGradient: 'shifted' },
  { inputGradient: 'col2im', weightGradient: 'im2col' },
];
const AUTO: Routes[] = [{}];

/** Runs a case on the GPU (through every listed choice of routes) against the reference. */
async function check(c: Case, variants: Routes[], needs: ConvBackwardNeeds = ALL): Promise<void> {
  const { forward, backward, gpu } = REFS[dimsOf(c)];
  const x = hostRandom(c.x);
  const w = hostRandom(c.w);
  const refOptions = c.options as ConvRefOptions | undefined;
  const outShape = forward(x, w, undefined, refOptions).shape;
  const gradOut = hostRandom(outShape);
  const want = backward(gradOut, x, w, refOptions);
  const e = engine();
  const [xg, wg, gg] = [e.tensor(x.data, x.shape), e.tensor(w.data, w.shape), e.tensor(gradOut.data, gradOut.shape)];
  for (const routes of variants) {
    const got = gpu(gg, xg, wg, { ...c.options, ...routes }, needs);
    await expectGradients(got, want, c, needs, reductions(c, outShape), `${c.name} ${JSON.stringify(routes)}`);
  }
  for (const t of [xg, wg, gg]) t.dispose();
}

describe('conv2dBackward', () => {
  const both: Case[] = [
    { name: '3x3 pad 1, odd channels', x: [1, 3, 9, 11], w: [5, 3, 3, 3], options: { padding: 1 } },
    { name: 'batch 3, no padding, 7 output channels', x: [3, 5, 8, 7], w: [7, 5, 3, 3] },
    { name: 'dilation 2', x: [2, 3, 10, 9], w: [6, 3, 3, 3], options: { dilation: 2, padding: 2 } },
    { name: 'groups 2, non-square kernel', x: [2, 6, 8, 7], w: [4, 3, 3, 5], options: { groups: 2, padding: [1, 2] } },
    { name: 'depthwise', x: [2, 5, 9, 8], w: [5, 1, 3, 3], options: { groups: 5, padding: 1 } },
    { name: 'depthwise multiplier 2, 5x5', x: [1, 3, 7, 7], w: [6, 1, 5, 5], options: { groups: 3, padding: 2 } },
    { name: '1x1 (a plain GEMM), groups 2', x: [3, 6, 5, 7], w: [8, 3, 1, 1], options: { groups: 2 } },
    { name: '32 output channels (M tiles), 7x7 kernel', x: [1, 3, 12, 12], w: [33, 3, 7, 7], options: { padding: 3 } },
    { name: '16 channels per group, batch 3 (the aligned fast paths)', x: [3, 32, 6, 7], w: [8, 16, 3, 3], options: { groups: 2, padding: 1 } },
  ];
  for (const c of both) {
    it(c.name, () => check(c, BOTH));
  }
  it('the transposed route through both forward algorithms', async () => {
    const c = both[0]!;
    const transposed: Routes[] = [{ inputGradient: 'transposed' }];
    const needs = { input: true, weight: false, bias: false };
    await check({ ...c, name: `${c.name}, implicit`, options: { ...c.options, algorithm: 'implicit' } }, transposed, needs);
    await check({ ...c, name: `${c.name}, im2col`, options: { ...c.options, algorithm: 'im2col' } }, transposed, needs);
  });

  const col2imOnly: Case[] = [
    { name: 'stride 2, batch 3', x: [3, 5, 10, 9], w: [7, 5, 3, 3], options: { stride: 2, padding: 1 } },
    { name: 'stride 3, no padding', x: [2, 3, 11, 13], w: [4, 3, 3, 3], options: { stride: 3 } },
    { name: 'stride (1, 2) with dilation (2, 1)', x: [1, 4, 11, 10], w: [5, 4, 3, 3], options: { stride: [1, 2], dilation: [2, 1], padding: [2, 1] } },
    { name: 'padding larger than half the kernel', x: [1, 3, 5, 6], w: [5, 3, 3, 3], options: { padding: 3 } },
    { name: "'same' with an even kernel", x: [2, 3, 7, 9], w: [4, 3, 4, 2], options: { padding: 'same' } },
    { name: 'depthwise stride 2', x: [2, 5, 9, 8], w: [5, 1, 3, 3], options: { groups: 5, padding: 1, stride: 2 } },
    { name: '7x7 stride 2 pad 3 (ResNet stem shape)', x: [1, 3, 23, 23], w: [8, 3, 7, 7], options: { stride: 2, padding: 3 } },
    { name: '1x1 stride 2 (a downsampling shortcut)', x: [2, 5, 7, 7], w: [6, 5, 1, 1], options: { stride: 2 } },
  ];
  for (const c of col2imOnly) {
    it(c.name, () => check(c, AUTO));
  }

  it('computes only the gradients asked for', async () => {
    const c: Case = { name: 'subsets', x: [2, 3, 7, 6], w: [5, 3, 3, 3], options: { stride: 2, padding: 1 } };
    for (const needs of [
      { input: true, weight: false, bias: false },
      { input: false, weight: true, bias: false },
      { input: false, weight: false, bias: true },
      { input: false, weight: true, bias: true },
      { input: false, weight: false, bias: false },
    ]) {
      await check({ ...c, name: `needs ${JSON.stringify(needs)}` }, AUTO, needs);
    }
  });

  it('splits the weight GEMM over images when it has few tiles (batch 9, 2 output channels)', async () => {
    // One tile of output channels and kernel positions: the reduction runs in several pieces.
    await check({ name: 'split', x: [9, 1, 28, 28], w: [2, 1, 3, 3], options: { padding: 1 } }, [{ weightGradient: 'im2col' }]);
  });

  it('takes unbatched input and gradOut', async () => {
    const e = engine();
    const x = hostRandom([3, 6, 5]);
    const w = hostRandom([4, 3, 3, 3]);
    const g = hostRandom([4, 2, 2]);
    const options = { stride: 2 };
    const want = conv2dBackwardRef({ shape: [1, 4, 2, 2], data: g.data }, { shape: [1, 3, 6, 5], data: x.data }, w, options);
    const [xg, wg, gg] = [e.tensor(x.data, x.shape), e.tensor(w.data, w.shape), e.tensor(g.data, g.shape)];
    const got = conv2dBackward(gg, xg, wg, options, ALL);
    expect(got.gradInput!.shape).toEqual([3, 6, 5]);
    assertClose(await got.gradInput!.toArray(), want.gradInput.data, gradient(36), 'unbatched gradInput');
    assertClose(await got.gradWeight!.toArray(), want.gradWeight.data, gradient(4), 'unbatched gradWeight');
    assertClose(await got.gradBias!.toArray(), want.gradBias.data, gradient(4), 'unbatched gradBias');
    for (const t of [xg, wg, gg, got.gradInput!, got.gradWeight!, got.gradBias!]) t.dispose();
  });

  it('agrees with the forward pass: <gradOut, conv(x, w)> = <gradInput, x> = <gradWeight, w>', async () => {
    // The adjoint identity of a linear map, through the GPU forward and backward only.
    const e = engine();
    const options = { stride: 2, padding: 2, dilation: 2, groups: 2 };
    const x = e.tensor(random(2 * 4 * 9 * 10, 71), [2, 4, 9, 10]);
    const w = e.tensor(random(6 * 2 * 3 * 3, 72), [6, 2, 3, 3]);
    const y = conv2d(x, w, undefined, options);
    const g = e.tensor(random(y.size, 73), y.shape);
    const grads = conv2dBackward(g, x, w, options, { input: true, weight: true, bias: false });
    const inner = async (a: Tensor, b: Tensor) => dot(await a.toArray(), await b.toArray());
    const forward = await inner(g, y);
    expect(await inner(grads.gradInput!, x)).toBeCloseTo(forward, 3);
    expect(await inner(grads.gradWeight!, w)).toBeCloseTo(forward, 3);
    for (const t of [x, w, y, g, grads.gradInput!, grads.gradWeight!]) t.dispose();
  });
});

describe('conv1dBackward and conv3dBackward', () => {
  const cases: Array<[Case, Routes[]]> = [
    [{ name: 'conv1d pad 2, 5 channels', x: [3, 5, 17], w: [7, 5, 5], options: { padding: 2 } }, BOTH],
    [{ name: 'conv1d stride 2, dilation 3, groups 2', x: [2, 4, 23], w: [6, 2, 3], options: { stride: 2, dilation: 3, padding: 1, groups: 2 } }, AUTO],
    [{ name: 'conv1d batch 1, kernel 1', x: [1, 3, 8], w: [5, 3, 1] }, BOTH],
    [{ name: 'conv3d 3x3x3 pad 1', x: [2, 3, 5, 6, 4], w: [5, 3, 3, 3, 3], options: { padding: 1 } }, BOTH],
    [{ name: 'conv3d stride (2, 1, 3), non-cubic kernel', x: [1, 2, 7, 5, 9], w: [3, 2, 3, 2, 3], options: { stride: [2, 1, 3], padding: [1, 0, 1] } }, AUTO],
    [{ name: 'conv3d depthwise, dilation 2', x: [2, 3, 6, 6, 6], w: [3, 1, 2, 2, 2], options: { groups: 3, dilation: 2, padding: 1 } }, BOTH],
    [{ name: 'conv3d dilation (1, 2, 1), 8 channels (shifted, aligned)', x: [2, 8, 4, 7, 5], w: [4, 8, 2, 3, 3], options: { dilation: [1, 2, 1], padding: [1, 2, 1] } }, BOTH],
  ];
  for (const [c, variants] of cases) {
    it(c.name, () => check(c, variants));
  }
});

describe('argument errors', () => {
  it('rejects gradOut, x, weight, options and needs that do not fit together', () => {
    const e = engine();
    const x = e.tensor(random(2 * 3 * 8 * 8, 1), [2, 3, 8, 8]);
    const w = e.tensor(random(4 * 3 * 3 * 3, 2), [4, 3, 3, 3]);
    const g = e.tensor(random(2 * 4 * 6 * 6, 3), [2, 4, 6, 6]);
    const gPadded = e.tensor(random(2 * 4 * 8 * 8, 3), [2, 4, 8, 8]);
    expect(() => conv2dBackward(gPadded, x, w, {}, ALL)).toThrow(
      'conv2dBackward: expected gradOut of shape [2, 4, 6, 6] (the output for input [2, 3, 8, 8] and weight [4, 3, 3, 3]), got [2, 4, 8, 8]',
    );
    expect(() => conv2dBackward(g, x, w, { stride: 2 }, ALL)).toThrow(/conv2dBackward: expected gradOut of shape \[2, 4, 3, 3\]/);
    const x4 = e.tensor(random(2 * 4 * 8 * 8, 1), [2, 4, 8, 8]);
    expect(() => conv2dBackward(g, x4, w, {}, ALL)).toThrow(
      'conv2dBackward: expected input with 3 channels (weight [4, 3, 3, 3], groups 1), got input [2, 4, 8, 8]',
    );
    expect(() => conv2dBackward(g, x, w, { groups: 2 }, ALL)).toThrow('conv2dBackward: in channels 3 (input [2, 3, 8, 8]) must be divisible by groups 2');
    expect(() => conv2dBackward(g, x, w, { relu: true }, ALL)).toThrow(
      'conv2dBackward: relu: true belongs to the forward pass only; apply reluBackward to gradOut first',
    );
    expect(() => conv2dBackward(g, x, w, { stride: 0 }, ALL)).toThrow('conv2dBackward: stride must be an integer >= 1 or a tuple of 2 of them, got 0');
    expect(() => conv2dBackward(g, x, w, {}, { input: true, weight: true } as ConvBackwardNeeds)).toThrow(
      'conv2dBackward: needs must be { input: boolean, weight: boolean, bias: boolean }, got {"input":true,"weight":true}',
    );
    expect(() => conv2dBackward(g, x, w, { inputGradient: 'fast' as 'auto' }, ALL)).toThrow(
      `conv2dBackward: inputGradient must be 'auto', 'transposed' or 'col2im', got "fast"`,
    );
    expect(() => conv2dBackward(g, x, w, { weightGradient: 'fast' as 'auto' }, ALL)).toThrow(
      `conv2dBackward: weightGradient must be 'auto', 'shifted' or 'im2col', got "fast"`,
    );
    const g2 = e.tensor(random(2 * 4 * 3 * 3, 3), [2, 4, 3, 3]);
    expect(() => conv2dBackward(g2, x, w, { stride: 2, weightGradient: 'shifted' }, ALL)).toThrow(
      "conv2dBackward: weightGradient 'shifted' needs stride 1",
    );
    expect(() => conv2dBackward(g2, x, w, { stride: 2, inputGradient: 'transposed' }, ALL)).toThrow(
      "conv2dBackward: inputGradient 'transposed' needs stride 1 and symmetric padding no larger than dilation * (kernel - 1) on every axis",
    );
    expect(() => conv1dBackward(g, x, w, {}, ALL)).toThrow(/conv1dBackward: expected weight of rank 3/);
    const x5 = x.reshape([2, 3, 1, 8, 8]);
    expect(() => conv3dBackward(g, x5, w, {}, ALL)).toThrow(/conv3dBackward: expected weight of rank 5/);
    const disposed = e.tensor([1, 2, 3, 4], [1, 1, 2, 2]);
    disposed.dispose();
    expect(() => conv2dBackward(disposed, x, w, {}, ALL)).toThrow('conv2dBackward: a tensor of shape [1, 1, 2, 2] was used after dispose()');
    for (const t of [x, w, g, gPadded, x4, g2, x5]) t.dispose();
  });
});

describe('buffers over the binding limit', () => {
  // Under a lowered binding limit the runtime splits x and gradOut by images (an image too big
  // alone, by output channels or groups, the input gradient added up over the channels), and the
  // column routes chunk their column buffers by images or output rows.
  // Limits in floats, for each problem: x and gradOut whole, column buffers in chunks of images;
  // then x and gradOut split by images, the columns in output rows; then an image split by output
  // channels (or groups), down to a few channels a piece.
  const problems: Array<[Case, number[]]> = [
    [{ name: 'stride 1, padding 1', x: [5, 3, 9, 8], w: [12, 3, 3, 3], options: { padding: 1 } }, [6000, 1500, 729, 400]],
    [{ name: 'stride 2, dilation 2, groups 2', x: [3, 4, 11, 10], w: [6, 2, 3, 3], options: { stride: 2, dilation: 2, padding: 2, groups: 2 } }, [2500, 1000, 500, 300]],
    [{ name: '1x1 stride 2', x: [5, 6, 8, 8], w: [5, 6, 1, 1], options: { stride: 2 } }, [800, 384]],
  ];
  for (const [c, limits] of problems) {
    it(c.name, async () => {
      const x = hostRandom(c.x);
      const w = hostRandom(c.w);
      const outShape = conv2dRef(x, w, undefined, c.options as ConvRefOptions).shape;
      const gradOut = hostRandom(outShape);
      const want = conv2dBackwardRef(gradOut, x, w, c.options as ConvRefOptions);
      const k = reductions(c, outShape);
      for (const floats of limits) {
        const e = await limited(floats * 4);
        const [xg, wg, gg] = [e.tensor(x.data, x.shape), e.tensor(w.data, w.shape), e.tensor(gradOut.data, gradOut.shape)];
        const got = conv2dBackward(gg, xg, wg, { ...c.options, inputGradient: 'col2im', weightGradient: 'im2col' }, { input: true, weight: true, bias: false });
        assertClose(await got.gradWeight!.toArray(), want.gradWeight.data, gradient(k.weight), `${c.name}, limit ${floats} floats: gradWeight`);
        assertClose(await got.gradInput!.toArray(), want.gradInput.data, gradient(k.input), `${c.name}, limit ${floats} floats: gradInput`);
        for (const t of [xg, wg, gg, got.gradWeight!, got.gradInput!]) t.dispose();
      }
    });
  }

  it('the shifted weight gradient in chunks of images, with x split by images, and by output channels', async () => {
    const c: Case = { name: 'shifted', x: [5, 8, 6, 5], w: [16, 8, 3, 3], options: { padding: 1, dilation: [1, 2] } };
    const x = hostRandom(c.x);
    const w = hostRandom(c.w);
    const outShape = conv2dRef(x, w, undefined, c.options as ConvRefOptions).shape;
    const gradOut = hostRandom(outShape);
    const want = conv2dBackwardRef(gradOut, x, w, c.options as ConvRefOptions);
    // Padded grid 8 x 7 = 56 values per channel (x padded: 448 an image, gradOut: 896): 3 images
    // per chunk at 3000 floats (x, gradOut and the weight gradient bound whole); at 1400 gradOut
    // (1440) splits by images; at 1000 the weight gradient (1152) splits by output channels.
    for (const floats of [3000, 1400, 1000]) {
      const e = await limited(floats * 4);
      const [xg, wg, gg] = [e.tensor(x.data, x.shape), e.tensor(w.data, w.shape), e.tensor(gradOut.data, gradOut.shape)];
      if (floats === 3000) {
        // The whole problem is one block; its plan chunks the padded copies by 3 images.
        const p = checkConv('conv2dBackward', 2, xg, wg, undefined, c.options ?? {});
        const plan = planBlock(p, e.planTarget, { weight: 'shifted' }).weightGradient!;
        expect(plan.route === 'shifted' && plan.chunks.map((chunk) => chunk.images)).toEqual([3, 2]);
      }
      const got = conv2dBackward(gg, xg, wg, { ...c.options, weightGradient: 'shifted' }, { input: false, weight: true, bias: false });
      assertClose(await got.gradWeight!.toArray(), want.gradWeight.data, gradient(reductions(c, outShape).weight), `limit ${floats} floats`);
      for (const t of [xg, wg, gg, got.gradWeight!]) t.dispose();
    }
  });

  it('refuses, before recording or allocating anything, when one image or one output row of columns cannot fit', async () => {
    const e = await limited(1024);
    // K = 75 column rows of 12 (9, rounded up to 4) positions: 3600 bytes for one output row.
    const x = e.tensor(random(3 * 81, 5), [1, 3, 9, 9]);
    const w = e.tensor(random(4 * 75, 6), [4, 3, 5, 5]);
    const g = e.tensor(random(4 * 81, 7), [1, 4, 9, 9]);
    // A 1x1 convolution: x's one image, 8 x 81 floats, cannot split by output channels.
    const x8 = e.tensor(random(8 * 81, 8), [1, 8, 9, 9]);
    const w1 = e.tensor(random(4 * 8, 9), [4, 8, 1, 1]);
    const before = { pending: e.pending, inUse: e.pool.stats().bytesInUse };
    const limit = 'over the storage-binding limit of 1024 bytes (lowered by EngineOptions.maxStorageBufferBindingSize), and cannot be split further';
    expect(() => conv2dBackward(g, x, w, { padding: 2, weightGradient: 'im2col' }, { input: false, weight: true, bias: false })).toThrow(
      `conv2dBackward: one image's output channel needs a binding of 3600 bytes (its scratch buffers; gradOut [1, 4, 9, 9], x [1, 3, 9, 9]), ${limit}`,
    );
    expect(() => conv2dBackward(g, x8, w1, {}, { input: false, weight: true, bias: false })).toThrow(
      `conv2dBackward: one image's output channel needs a binding of 2592 bytes (x; gradOut [1, 4, 9, 9], x [1, 8, 9, 9]), ${limit}`,
    );
    expect({ pending: e.pending, inUse: e.pool.stats().bytesInUse }).toEqual(before);
    for (const t of [x, w, g, x8, w1]) t.dispose();
  });
});
