// Fused pooling: max pooling over relu(x) and over relu(batchNorm(x)) without writing the
// intermediates, its backward pass (one candidate window per cell where windows do not overlap,
// the gather path where they do), the tape ops built on them and Sequential's fusion, each against
// the CPU references and the unfused GPU ops.
import { describe, expect, it } from 'vitest';
import { Tape } from '../src/autograd/tape.js';
import { constant, parameter, type Variable } from '../src/autograd/variable.js';
import { BatchNorm2d } from '../src/nn/norm.js';
import { MaxPool2d, ReLU } from '../src/nn/layers.js';
import { Sequential } from '../src/nn/sequential.js';
import { relu } from '../src/ops/elementwise.js';
import { batchNorm, batchNormCoefficients } from '../src/ops/norm.js';
import { maxPool2dFused, maxPool2dWithIndices, reluMaxPool2dBackward, type MaxPoolOptions } from '../src/ops/pool.js';
import { reluBackwardRef, reluRef } from '../src/reference/elementwise.js';
import { host } from '../src/reference/host-tensor.js';
import { batchNormRef } from '../src/reference/norm.js';
import { maxPool2dBackwardRef, maxPool2dWithIndicesRef } from '../src/reference/pool.js';
import { numel, shapeString, type Tensor } from '../src/runtime/tensor.js';
import { assertClose, ELEMENTWISE, EXACT, GRADIENT, random, reduction, useEngine } from './helpers.js';

const engine = useEngine();

const CASES: Array<[number[], MaxPoolOptions]> = [
  // The Fashion CNN's pools on odd sizes: disjoint windows, a leftover row and column
  [[2, 3, 7, 9], { kernelSize: 2, stride: 2 }],
  [[3, 5, 7, 9], { kernelSize: 2, stride: 2, ceilMode: true }],
  // stride past the kernel: cells no window covers
  [[1, 3, 10, 11], { kernelSize: [2, 3], stride: [3, 4], padding: [1, 1] }],
  // disjoint with dilation (stride 5 >= 2 * 2 + 1) and padding
  [[2, 3, 11, 12], { kernelSize: [3, 2], stride: [5, 2], dilation: [2, 1], padding: [1, 0] }],
  // overlapping windows: the gather fallback
  [[1, 5, 13, 13], { kernelSize: 3, stride: 2, padding: 1 }],
  [[2, 3, 9, 7], { kernelSize: 3, stride: 1 }],
  // unbatched
  [[5, 7, 9], { kernelSize: 3, stride: 3, padding: 1, ceilMode: true }],
];

const label = (shape: readonly number[], options: unknown) => `${shapeString(shape)} ${JSON.stringify(options)}`;

describe('maxPool2dFused with relu', () => {
  it.each(CASES)('pools relu(x) as relu then maxPool2dWithIndices do, on %j %j', async (shape, options) => {
    const e = engine();
    // Shifted negative, so many windows hold no positive value (their gradient must vanish).
    const data = random(numel(shape), 101 + numel(shape), -1.5, 1);
    const x = e.tensor(data, shape);
    const { output, indices } = maxPool2dFused(x, options, { relu: true });
    const want = maxPool2dWithIndicesRef(reluRef(host(data, shape)), options);
    expect(output.shape).toEqual(want.output.shape);
    assertClose(await output.toArray(), want.output.data, EXACT, `output ${label(shape, options)}`);
    assertClose(await indices.toArray(), want.indices.data, EXACT, `indices ${label(shape, options)}`);

    const gradData = random(output.size, 7);
    const gradOut = e.tensor(gradData, output.shape);
    const grad = reluMaxPool2dBackward(gradOut, indices, output, shape, options);
    const routed = maxPool2dBackwardRef(host(gradData, output.shape), want.indices, shape);
    const expected = reluBackwardRef(routed, host(data, shape));
    expect(grad.shape).toEqual(shape);
    assertClose(await grad.toArray(), expected.data, reduction(9), `gradient ${label(shape, options)}`);
    for (const t of [x, output, indices, gradOut, grad]) t.dispose();
  });

  it('gives no gradient where the pooled value is exactly 0 (relu at 0), as PyTorch', async () => {
    const e = engine();
    // Window 0: all negative; window 1: a 0 is the max; window 2: a positive max.
    const data = [-1, -2, -3, 0, 0.5, -1, -2, -3, -0.5, -1, 2, 1];
    const x = e.tensor(data, [1, 1, 2, 6]);
    const { output, indices } = maxPool2dFused(x, { kernelSize: 2 }, { relu: true });
    assertClose(await output.toArray(), [0, 0, 2], EXACT, 'output');
    const gradOut = e.tensor([1, 2, 3], [1, 1, 1, 3]);
    const grad = reluMaxPool2dBackward(gradOut, indices, output, [1, 1, 2, 6], { kernelSize: 2 });
    assertClose(await grad.toArray(), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0], EXACT, 'gradient');
    for (const t of [x, output, indices, gradOut, grad]) t.dispose();
  });
});

describe('maxPool2dFused with batch-norm coefficients', () => {
  it.each<[number[], MaxPoolOptions, boolean]>([
    [[3, 5, 7, 9], { kernelSize: 2, stride: 2 }, true],
    [[2, 3, 9, 7], { kernelSize: 3, stride: 1, padding: 1 }, true],
    [[2, 7, 6, 5], { kernelSize: 2, ceilMode: true }, false],
  ])('pools relu(batchNorm(x)) as the unfused ops do, on %j %j (training %s)', async (shape, options, training) => {
    const e = engine();
    const c = shape[1]!;
    const data = random(numel(shape), 31, -2, 3);
    const w = random(c, 32, -1.5, 1.5); // some negative: the order within a channel flips
    const b = random(c, 33);
    const rm = random(c, 34);
    const rv = random(c, 35, 0.5, 2);
    const x = e.tensor(data, shape);
    const [weight, bias] = [e.tensor(w, [c]), e.tensor(b, [c])];
    const stats = () => [e.tensor(rm, [c]), e.tensor(rv, [c])] as const;
    const [fusedMean, fusedVar] = stats();
    const [plainMean, plainVar] = stats();
    const bn = { training, momentum: 0.2, eps: 1e-3 };

    const { affine, saveMean, saveInvStd } = batchNormCoefficients(x, fusedMean, fusedVar, weight, bias, bn);
    expect(saveMean === undefined).toBe(!training);
    const fused = maxPool2dFused(x, options, { affine, relu: true });
    // The unfused GPU ops apply the same per-channel formula: the same bits.
    const normalised = batchNorm(x, plainMean, plainVar, weight, bias, bn);
    const rectified = relu(normalised);
    const plain = maxPool2dWithIndices(rectified, options);
    assertClose(await fused.output.toArray(), await plain.output.toArray(), EXACT, 'output against the unfused ops');
    assertClose(await fused.indices.toArray(), await plain.indices.toArray(), EXACT, 'indices against the unfused ops');
    assertClose(await fusedMean.toArray(), await plainMean.toArray(), EXACT, 'running mean');
    assertClose(await fusedVar.toArray(), await plainVar.toArray(), EXACT, 'running var');

    const ref = batchNormRef(host(data, shape), host(rm, [c]), host(rv, [c]), host(w, [c]), host(b, [c]), bn);
    const want = maxPool2dWithIndicesRef(reluRef(ref.output), options);
    assertClose(await fused.output.toArray(), want.output.data, reduction(numel(shape) / c), 'output against the reference');
    assertClose(await fused.indices.toArray(), want.indices.data, EXACT, 'indices against the reference');
    const [wantMean, wantVar] = training ? [ref.runningMean!.data, ref.runningVar!.data] : [rm, rv];
    assertClose(await fusedMean.toArray(), wantMean, reduction(numel(shape) / c), 'running mean against the reference');
    assertClose(await fusedVar.toArray(), wantVar, reduction(numel(shape) / c), 'running var against the reference');
    for (const t of [x, weight, bias, fusedMean, fusedVar, plainMean, plainVar, affine, fused.output, fused.indices, normalised, rectified, plain.output, plain.indices]) t.dispose();
    saveMean?.dispose();
    saveInvStd?.dispose();
  });
});

describe('the fused tape ops and Sequential', () => {
  interface Run {
    out: number[];
    grads: number[][];
    running: number[][];
    ops: number;
  }

  /** One forward and backward pass through BN -> ReLU -> MaxPool2d, fused or one op at a time. */
  async function run(fused: boolean, training: boolean, shape: number[], pool: MaxPoolOptions): Promise<Run> {
    const e = engine();
    const c = shape[1]!;
    const x = parameter(e.tensor(random(numel(shape), 41, -2, 2), shape));
    const bn = new BatchNorm2d(e, c, { momentum: 0.3 });
    const affine = { weight: e.tensor(random(c, 42, -1.5, 1.5), [c]), bias: e.tensor(random(c, 43), [c]) };
    bn.loadStateDict(affine, { strict: false });
    affine.weight.dispose();
    affine.bias.dispose();
    bn.train(training);
    const block = new Sequential(bn, new ReLU(), new MaxPool2d(pool.kernelSize as number, { stride: pool.stride as number }));
    const tape = new Tape(e);
    const y: Variable = fused ? block.forward(tape, x) : block.at(2)!.forward(tape, block.at(1)!.forward(tape, bn.forward(tape, x)));
    const ops = tape.recordedOps;
    const gradOut = e.tensor(random(y.value.size, 44), y.shape);
    tape.backward(y, gradOut);
    const result: Run = {
      out: [...(await y.value.toArray())],
      grads: [[...(await x.grad!.toArray())], [...(await bn.weight!.grad!.toArray())], [...(await bn.bias!.grad!.toArray())]],
      running: [[...(await bn.runningMean!.toArray())], [...(await bn.runningVar!.toArray())]],
      ops,
    };
    tape.dispose();
    gradOut.dispose();
    x.dispose();
    bn.dispose();
    return result;
  }

  it.each<[boolean, number[], MaxPoolOptions]>([
    [true, [3, 5, 7, 9], { kernelSize: 2, stride: 2 }],
    [true, [2, 3, 9, 7], { kernelSize: 3, stride: 2 }],
    [false, [2, 7, 6, 6], { kernelSize: 2, stride: 2 }],
  ])('BatchNorm2d, ReLU, MaxPool2d run as one op with the same values and gradients (training %s, %j %j)', async (training, shape, pool) => {
    const fused = await run(true, training, shape, pool);
    const plain = await run(false, training, shape, pool);
    expect(fused.ops).toBe(1);
    expect(plain.ops).toBe(3);
    assertClose(fused.out, plain.out, EXACT, 'output');
    assertClose(fused.running[0]!, plain.running[0]!, EXACT, 'running mean');
    assertClose(fused.running[1]!, plain.running[1]!, EXACT, 'running var');
    ['input', 'weight', 'bias'].forEach((what, i) => assertClose(fused.grads[i]!, plain.grads[i]!, GRADIENT, `${what} gradient`));
  });

  it('ReLU, MaxPool2d run as one op; without a gradient nothing is recorded', async () => {
    const e = engine();
    const shape = [2, 3, 7, 7];
    const data = random(numel(shape), 51);
    const block = new Sequential(new ReLU(), new MaxPool2d(2));
    const x = parameter(e.tensor(data, shape));
    const tape = new Tape(e);
    const y = block.forward(tape, x);
    expect(tape.recordedOps).toBe(1);
    const want = maxPool2dWithIndicesRef(reluRef(host(data, shape)), { kernelSize: 2 });
    assertClose(await y.value.toArray(), want.output.data, EXACT, 'output');
    const gradData = random(y.value.size, 52);
    const gradOut = e.tensor(gradData, y.shape);
    tape.backward(y, gradOut);
    const expected = reluBackwardRef(maxPool2dBackwardRef(host(gradData, y.shape), want.indices, shape), host(data, shape));
    assertClose(await x.grad!.toArray(), expected.data, ELEMENTWISE, 'input gradient');
    tape.dispose();
    gradOut.dispose();

    const frozen = new Tape(e);
    const z = block.forward(frozen, constant(x.value));
    expect(frozen.recordedOps).toBe(0);
    assertClose(await z.value.toArray(), want.output.data, EXACT, 'output without recording');
    frozen.dispose();
    x.dispose();
  });
});

describe('argument errors', () => {
  it('maxPool2dFused checks the coefficients against the channels', () => {
    const e = engine();
    const x = e.tensor(random(2 * 3 * 4 * 4, 61), [2, 3, 4, 4]);
    const affine = e.tensor(random(8, 62), [8]);
    expect(() => maxPool2dFused(x, { kernelSize: 2 }, { affine })).toThrow(
      'maxPool2dFused: affine should hold at least 3 * 3 per-channel coefficients (input [2, 3, 4, 4]), got [8]',
    );
    expect(() => maxPool2dFused(x, { kernelSize: 5 }, { relu: true })).toThrow('maxPool2dFused: output size is too small');
    x.dispose();
    affine.dispose();
  });

  it('reluMaxPool2dBackward checks gradOut, indices and the pooled output', () => {
    const e = engine();
    const g = e.tensor(random(12, 63), [1, 3, 2, 2]);
    const bad = e.tensor(random(12, 64), [1, 3, 4]);
    const indices = e.tensor(new Int32Array(12), [1, 3, 2, 2]);
    const badIndices = e.tensor(new Int32Array(12), [1, 3, 4]);
    const options = { kernelSize: 2 };
    expect(() => reluMaxPool2dBackward(g, indices, bad, [1, 3, 4, 4], options)).toThrow(
      'reluMaxPool2dBackward: expected output of the same shape as gradOut [1, 3, 2, 2], got [1, 3, 4]',
    );
    expect(() => reluMaxPool2dBackward(g, badIndices, g, [1, 3, 4, 4], options)).toThrow(
      'reluMaxPool2dBackward: expected indices of the same shape as gradOut [1, 3, 2, 2], got [1, 3, 4]',
    );
    expect(() => reluMaxPool2dBackward(g, g as unknown as Tensor<'int32'>, g, [1, 3, 4, 4], options)).toThrow(
      'reluMaxPool2dBackward: expected indices of dtype int32 (from maxPool2dWithIndices), got float32 [1, 3, 2, 2]',
    );
    expect(() => reluMaxPool2dBackward(g, indices, g, [1, 3, 5, 6], options)).toThrow(
      'reluMaxPool2dBackward: expected gradOut of shape [1, 3, 2, 3] (the output for input [1, 3, 5, 6] with kernelSize [2, 2], stride [2, 2], padding [0, 0] and dilation [1, 1]), got [1, 3, 2, 2]',
    );
    for (const t of [g, bad, indices, badIndices]) t.dispose();
  });
});
