// The convolution planner and the device profiles: plans pinned per profile for a table of
// problems (ResNet18's and the Fashion-MNIST CNN's convolutions, odd shapes, 1-D and 3-D, groups
// and depthwise, forced routes), the refusals, the chunk sizes under a lowered binding limit, the
// GEMM planner, and how the engine picks (or is forced to) a profile. Planning is pure: only the
// last block opens a device.
import { describe, expect, it } from 'vitest';
import { convProblem, type ConvRouteOptions } from '../src/ops/conv-args.js';
import type { ConvOptions } from '../src/ops/conv.js';
import { backwardScratch, convUnits, describePlan, forwardScratch, planBlock, planConvolution, planForward, planRoutes, type ConvPlan } from '../src/ops/conv-plan.js';
import { gemmTileFor, planGemm, planLinearWeightGradient } from '../src/ops/gemm-tile.js';
import { CPU_PROFILE, DISCRETE_PROFILE, isCpuAdapter, profileForAdapter, type DeviceProfile, type PlanTarget } from '../src/runtime/device-profile.js';
import { Engine } from '../src/runtime/engine.js';

const MiB = 1024 * 1024;
const target = (profile: DeviceProfile, maxBindingBytes = 128 * MiB, subgroups = true): PlanTarget => ({ profile, subgroups, maxBindingBytes });

type Options = Omit<ConvOptions, 'residual'> & ConvRouteOptions;

function problem(x: number[], w: number[], options: Options = {}) {
  const dims = w.length - 2;
  return convProblem(`conv${dims}d`, dims, x, w, undefined, options);
}

const plan = (x: number[], w: number[], options: Options, t: PlanTarget): ConvPlan => planConvolution(problem(x, w, options), t);

/**
 * [name, x, weight, options, plan on the CPU profile, plan on the discrete profile] (describePlan's
 * words: route, GEMM tile as sg: subgroup / pt: portable / tl: workgroup-memory, the GEMM's K,
 * chunks; the gradients' routes and tiles, split-K). The CPU column is exactly what the routes
 * chose before the planner existed (every dispatch of these shapes, forward and backward, was
 * recorded before and after and compared): lavapipe keeps its measured routes and tiles.
 */
const PLANS: Array<[string, number[], number[], Options, string, string]> = [
  // ResNet18 at 224x224: the bench's conv shapes (batch 1), bench/conv-backward's (batch 8), fine-tuning at batch 64.
  [
    'resnet18 conv1 7x7/2, batch 1',
    [1, 3, 224, 224], [64, 3, 7, 7], { stride: 2, padding: 3 },
    'implicit sg:16x4x8 k=148 | grad in col2im sg:16x4x8, weight im2col sg:16x4x8',
    'implicit tl:64x64x16 k=147 | grad in col2im tl:64x64x16, weight im2col tl:64x64x16',
  ],
  [
    'resnet18 layer1 3x3, batch 1',
    [1, 64, 56, 56], [64, 64, 3, 3], { padding: 1 },
    'winograd4 sg:16x4x8 k=64, 1 image a chunk | grad in transposed (winograd4 sg:16x4x8 k=64, 1 image a chunk), weight shifted sg:16x4x8',
    'implicit tl:64x64x16 k=576 | grad in transposed (implicit tl:64x64x16 k=576), weight shifted tl:64x64x16',
  ],
  [
    'resnet18 layer2.0 3x3/2, batch 1',
    [1, 64, 56, 56], [128, 64, 3, 3], { stride: 2, padding: 1 },
    'im2col sg:16x4x8 k=576, columns of 1 image x 28 rows | grad in col2im sg:16x4x8, weight im2col sg:16x4x8',
    'implicit tl:64x64x16 k=576 | grad in col2im tl:64x64x16, weight im2col tl:64x64x16',
  ],
  [
    'resnet18 layer2.0 downsample 1x1/2, batch 1',
    [1, 64, 56, 56], [128, 64, 1, 1], { stride: 2 },
    'im2col sg:16x4x8 k=64, columns of 1 image x 28 rows | grad in col2im sg:16x4x8, weight im2col sg:16x4x8',
    'implicit tl:64x64x16 k=64 | grad in col2im tl:64x64x16, weight im2col tl:64x64x16',
  ],
  [
    'resnet18 layer2 3x3, batch 1',
    [1, 128, 28, 28], [128, 128, 3, 3], { padding: 1 },
    'winograd4 sg:16x4x8 k=128, 1 image a chunk | grad in transposed (winograd4 sg:16x4x8 k=128, 1 image a chunk), weight shifted sg:16x4x8',
    'implicit tl:64x64x16 k=1152 | grad in transposed (implicit tl:64x64x16 k=1152), weight shifted tl:64x64x16',
  ],
  [
    'resnet18 layer3 3x3, batch 1',
    [1, 256, 14, 14], [256, 256, 3, 3], { padding: 1 },
    'winograd2 sg:16x4x8 k=256, 1 image a chunk | grad in transposed (winograd2 sg:16x4x8 k=256, 1 image a chunk), weight im2col sg:16x4x8',
    'implicit tl:64x64x16 k=2304 | grad in transposed (implicit tl:64x64x16 k=2304), weight im2col tl:64x64x16',
  ],
  [
    'resnet18 layer4.0 3x3/2, batch 1',
    [1, 256, 14, 14], [512, 256, 3, 3], { stride: 2, padding: 1 },
    'im2col sg:16x4x8 k=2304, columns of 1 image x 7 rows | grad in col2im sg:16x4x8, weight im2col sg:16x4x8',
    'implicit tl:64x64x16 k=2304 | grad in col2im tl:64x64x16, weight im2col tl:64x64x16',
  ],
  [
    'resnet18 layer4 3x3, batch 1',
    [1, 512, 7, 7], [512, 512, 3, 3], { padding: 1 },
    'im2col sg:16x4x8 k=4608, columns of 1 image x 7 rows | grad in transposed (im2col sg:16x4x8 k=4608, columns of 1 image x 7 rows), weight im2col sg:16x4x8',
    'implicit tl:64x64x16 k=4608 | grad in transposed (implicit tl:64x64x16 k=4608), weight im2col tl:64x64x16',
  ],
  [
    'resnet18 conv1 7x7/2, batch 8',
    [8, 3, 224, 224], [64, 3, 7, 7], { stride: 2, padding: 3 },
    'implicit sg:16x4x8 k=148 | grad in col2im sg:16x4x8, weight im2col sg:16x4x8',
    'implicit tl:64x64x16 k=147 | grad in col2im tl:64x64x16, weight im2col tl:64x64x16 split 8',
  ],
  [
    'resnet18 layer1 3x3, batch 8',
    [8, 64, 56, 56], [64, 64, 3, 3], { padding: 1 },
    'winograd4 sg:16x4x8 k=64, 8 images a chunk | grad in transposed (winograd4 sg:16x4x8 k=64, 8 images a chunk), weight shifted sg:16x4x8',
    'winograd4 tl:64x64x16 k=64, 8 images a chunk | grad in transposed (winograd4 tl:64x64x16 k=64, 8 images a chunk), weight shifted tl:64x64x16',
  ],
  [
    'resnet18 layer2.0 3x3/2, batch 8',
    [8, 64, 56, 56], [128, 64, 3, 3], { stride: 2, padding: 1 },
    'im2col sg:16x4x8 k=576, columns of 8 images x 28 rows | grad in col2im sg:16x4x8, weight im2col sg:16x4x8',
    'implicit tl:64x64x16 k=576 | grad in col2im tl:64x64x16, weight im2col tl:64x64x16 split 4',
  ],
  [
    'resnet18 layer3.0 downsample 1x1/2, batch 8',
    [8, 128, 28, 28], [256, 128, 1, 1], { stride: 2 },
    'im2col sg:16x4x8 k=128, columns of 8 images x 14 rows | grad in col2im sg:16x4x8, weight im2col sg:16x4x8',
    'implicit tl:64x64x16 k=128 | grad in col2im tl:64x64x16, weight im2col tl:64x64x16',
  ],
  [
    'resnet18 layer4 3x3, batch 8',
    [8, 512, 7, 7], [512, 512, 3, 3], { padding: 1 },
    'winograd4 sg:16x4x8 k=512, 8 images a chunk | grad in transposed (winograd4 sg:16x4x8 k=512, 8 images a chunk), weight im2col sg:16x4x8',
    'implicit tl:64x64x16 k=4608 | grad in transposed (implicit tl:64x64x16 k=4608), weight im2col tl:64x64x16',
  ],
  [
    // Its output is over the binding limit: the runtime splits the operands into blocks of images,
    // each planned as a block (see 'plans blocks'); this is the plan of the problem as one block.
    'resnet18 conv1 7x7/2, batch 64',
    [64, 3, 224, 224], [64, 3, 7, 7], { stride: 2, padding: 3 },
    'implicit sg:16x4x8 k=148 | grad in col2im sg:16x4x8, weight im2col sg:16x4x8, columns in 4 chunks',
    'implicit tl:64x64x16 k=147 | grad in col2im tl:64x64x16, weight im2col tl:64x64x16 split 16, columns in 4 chunks',
  ],
  [
    'resnet18 layer1 3x3, batch 64',
    [64, 64, 56, 56], [64, 64, 3, 3], { padding: 1 },
    'winograd4 sg:16x4x8 k=64, 64 images a chunk | grad in transposed (winograd4 sg:16x4x8 k=64, 64 images a chunk), weight shifted sg:16x4x8',
    'winograd4 tl:64x64x16 k=64, 64 images a chunk | grad in transposed (winograd4 tl:64x64x16 k=64, 64 images a chunk), weight shifted tl:64x64x16',
  ],
  // The Fashion-MNIST CNN at batch 100 (bench/training.ts, bench/conv-backward.ts).
  [
    'fashion conv1 1->32 3x3 pad 1, batch 100',
    [100, 1, 28, 28], [32, 1, 3, 3], { padding: 1 },
    'im2col pt:8x4x64 k=12, columns of 100 images x 28 rows | grad in col2im sg:16x4x8, weight im2col sg:16x4x8 split 8',
    'implicit tl:32x64x16 k=9 | grad in col2im pt:8x2x64, weight im2col tl:32x64x16 split 50',
  ],
  [
    'fashion conv2 32->64 3x3, batch 100',
    [100, 32, 14, 14], [64, 32, 3, 3], {},
    'winograd4 sg:16x4x8 k=32, 100 images a chunk | grad in transposed (winograd4 sg:16x4x8 k=64, 100 images a chunk), weight im2col sg:16x4x8',
    'implicit tl:64x64x16 k=288 | grad in transposed (implicit tl:32x64x16 k=576), weight im2col tl:64x64x16 split 13',
  ],
  // Odd shapes, groups, 1-D and 3-D.
  [
    'odd channels and sizes',
    [1, 3, 9, 11], [5, 3, 3, 3], { padding: 1 },
    'im2col sg:8x4x8 k=28, columns of 1 image x 9 rows | grad in col2im pt:8x4x64, weight im2col sg:8x4x8',
    'implicit pt:8x2x64 k=27 | grad in col2im tl:32x64x16, weight im2col pt:8x2x64',
  ],
  [
    'stride 3, dilation 2, per-axis padding',
    [2, 3, 11, 13], [4, 3, 3, 3], { stride: [3, 1], dilation: [1, 2], padding: [1, 2] },
    'im2col sg:8x4x8 k=28, columns of 2 images x 4 rows | grad in col2im pt:8x4x64, weight im2col sg:8x4x8',
    'implicit pt:4x2x64 k=27 | grad in col2im tl:32x64x16, weight im2col pt:4x2x64',
  ],
  [
    "even kernel, 'same'",
    [1, 3, 7, 9], [4, 3, 4, 2], { padding: 'same' },
    'im2col sg:8x4x8 k=24, columns of 1 image x 7 rows | grad in col2im pt:8x4x64, weight im2col sg:8x4x8',
    'implicit pt:4x2x64 k=24 | grad in col2im tl:32x64x16, weight im2col pt:4x2x64',
  ],
  [
    'groups 2',
    [2, 6, 8, 7], [4, 3, 3, 3], { groups: 2, padding: 1 },
    'im2col sg:8x4x8 k=28, columns of 2 images x 8 rows | grad in col2im pt:8x4x64, weight im2col sg:8x4x8',
    'implicit pt:2x2x64 k=27 | grad in col2im tl:32x64x16, weight im2col pt:2x2x64',
  ],
  [
    'depthwise, stride 2',
    [2, 5, 9, 8], [5, 1, 3, 3], { groups: 5, padding: 1, stride: 2 },
    'im2col pt:1x4x64 k=12, columns of 2 images x 5 rows | grad in col2im pt:8x4x64, weight im2col sg:8x4x8',
    'implicit pt:1x4x64 k=9 | grad in col2im pt:8x4x64, weight im2col pt:1x2x64',
  ],
  [
    'depthwise, 32 channels',
    [4, 32, 28, 28], [32, 1, 3, 3], { groups: 32, padding: 1 },
    'im2col pt:1x4x64 k=12, columns of 4 images x 28 rows | grad in col2im pt:8x4x64, weight im2col sg:8x4x8',
    'implicit pt:1x4x64 k=9 | grad in col2im pt:8x4x64, weight im2col pt:1x2x64 split 2',
  ],
  [
    'grouped 1x1, 16 channels per group (positions not a multiple of 4)',
    [3, 32, 6, 7], [8, 16, 1, 1], { groups: 2 },
    'pointwise pt:4x2x8 k=16 | grad in transposed (pointwise pt:8x4x64 k=4), weight shifted sg:8x4x8',
    'pointwise pt:4x2x64 k=16 | grad in transposed (pointwise tl:32x64x16 k=4), weight shifted pt:4x2x64',
  ],
  [
    '1x1, 7 channels',
    [1, 7, 3, 3], [33, 7, 1, 1], {},
    'pointwise pt:8x4x64 k=7 | grad in transposed (pointwise pt:8x2x8 k=33), weight im2col pt:8x4x64',
    'pointwise tl:32x64x16 k=7 | grad in transposed (pointwise pt:8x2x64 k=33), weight im2col tl:32x64x16',
  ],
  [
    '32->40 at 28x28, batch 2',
    [2, 32, 28, 28], [40, 32, 3, 3], { padding: 1 },
    'winograd4 sg:16x4x8 k=32, 2 images a chunk | grad in transposed (winograd4 sg:16x4x8 k=40, 2 images a chunk), weight shifted sg:16x4x8',
    'implicit tl:32x64x16 k=288 | grad in transposed (implicit tl:32x64x16 k=360), weight shifted tl:32x64x16',
  ],
  [
    '96 channels at 14x14',
    [1, 96, 14, 14], [96, 96, 3, 3], { padding: 1 },
    'winograd2 sg:16x4x8 k=96, 1 image a chunk | grad in transposed (winograd2 sg:16x4x8 k=96, 1 image a chunk), weight im2col sg:16x4x8',
    'implicit tl:64x64x16 k=864 | grad in transposed (implicit tl:64x64x16 k=864), weight im2col tl:64x64x16',
  ],
  [
    'conv1d, padding 2',
    [2, 3, 17], [5, 3, 5], { padding: 2 },
    'im2col sg:8x4x8 k=16, columns of 2 images x 1 rows | grad in col2im pt:8x4x64, weight im2col sg:8x4x8',
    'implicit pt:8x4x64 k=15 | grad in col2im pt:8x4x64, weight im2col pt:8x2x64',
  ],
  [
    'conv1d, 64 channels over 1000 positions',
    [4, 64, 1000], [64, 64, 3], { padding: 1 },
    'im2col sg:16x4x8 k=192, columns of 4 images x 1 rows | grad in transposed (im2col sg:16x4x8 k=192, columns of 4 images x 1 rows), weight shifted sg:16x4x8',
    'implicit tl:64x64x16 k=192 | grad in transposed (implicit tl:64x64x16 k=192), weight shifted tl:64x64x16',
  ],
  [
    'conv3d 3x3x3, padding 1',
    [2, 3, 5, 6, 4], [4, 3, 3, 3, 3], { padding: 1 },
    'im2col sg:8x4x8 k=84, columns of 2 images x 30 rows | grad in col2im pt:8x4x64, weight im2col sg:8x4x8',
    'im2col pt:4x2x64 k=84, columns of 2 images x 30 rows | grad in col2im tl:64x64x16, weight im2col pt:4x2x64',
  ],
  [
    'conv3d 16 channels 3x3x3',
    [2, 16, 8, 8, 8], [16, 16, 3, 3, 3], { padding: 1 },
    'im2col sg:16x4x8 k=432, columns of 2 images x 64 rows | grad in transposed (im2col sg:16x4x8 k=432, columns of 2 images x 64 rows), weight im2col sg:16x4x8',
    'im2col tl:32x64x16 k=432, columns of 2 images x 64 rows | grad in transposed (im2col tl:32x64x16 k=432, columns of 2 images x 64 rows), weight im2col tl:32x64x16',
  ],
  // Forced routes: overrides, the rest still planned.
  [
    "forced 'implicit'",
    [1, 64, 56, 56], [64, 64, 3, 3], { padding: 1, algorithm: 'implicit' },
    'implicit sg:16x4x8 k=576 | grad in transposed (implicit sg:16x4x8 k=576), weight shifted sg:16x4x8',
    'implicit tl:64x64x16 k=576 | grad in transposed (implicit tl:64x64x16 k=576), weight shifted tl:64x64x16',
  ],
  [
    "forced 'im2col'",
    [1, 64, 56, 56], [64, 64, 3, 3], { padding: 1, algorithm: 'im2col' },
    'im2col sg:16x4x8 k=576, columns of 1 image x 56 rows | grad in transposed (im2col sg:16x4x8 k=576, columns of 1 image x 56 rows), weight shifted sg:16x4x8',
    'im2col tl:64x64x16 k=576, columns of 1 image x 56 rows | grad in transposed (im2col tl:64x64x16 k=576, columns of 1 image x 56 rows), weight shifted tl:64x64x16',
  ],
  [
    "forced 'winograd2' on 8 channels",
    [1, 8, 9, 9], [8, 8, 3, 3], { padding: 1, algorithm: 'winograd2' },
    'winograd2 pt:8x4x64 k=8, 1 image a chunk | grad in transposed (winograd2 pt:8x4x64 k=8, 1 image a chunk), weight im2col sg:8x4x8',
    'winograd2 pt:8x4x64 k=8, 1 image a chunk | grad in col2im tl:64x64x16, weight im2col pt:8x2x64',
  ],
  [
    "forced 'col2im' and 'shifted'",
    [8, 64, 56, 56], [64, 64, 3, 3], { padding: 1, inputGradient: 'col2im', weightGradient: 'shifted' },
    'winograd4 sg:16x4x8 k=64, 8 images a chunk | grad in col2im sg:16x4x8, weight shifted sg:16x4x8',
    'winograd4 tl:64x64x16 k=64, 8 images a chunk | grad in col2im tl:64x64x16, weight shifted tl:64x64x16',
  ],
  [
    "forced 'transposed' and 'im2col'",
    [2, 3, 9, 9], [5, 3, 3, 3], { padding: 1, inputGradient: 'transposed', weightGradient: 'im2col' },
    'im2col sg:8x4x8 k=28, columns of 2 images x 9 rows | grad in transposed (im2col sg:8x4x8 k=48, columns of 2 images x 9 rows), weight im2col sg:8x4x8',
    'implicit pt:8x2x64 k=27 | grad in transposed (implicit pt:4x2x64 k=45), weight im2col pt:8x2x64',
  ],
];

describe('the convolution planner', () => {
  for (const [name, x, w, options, cpu, discrete] of PLANS) {
    it(name, () => {
      expect(describePlan(plan(x, w, options, target(CPU_PROFILE))), 'cpu profile').toBe(cpu);
      expect(describePlan(plan(x, w, options, target(DISCRETE_PROFILE))), 'discrete profile').toBe(discrete);
    });
  }

  it('takes the portable GEMM everywhere on a CPU adapter without subgroups', () => {
    const got = describePlan(plan([1, 64, 56, 56], [64, 64, 3, 3], { padding: 1 }, target(CPU_PROFILE, 128 * MiB, false)));
    expect(got).toBe('winograd4 pt:16x2x8 k=64, 1 image a chunk | grad in transposed (winograd4 pt:16x2x8 k=64, 1 image a chunk), weight shifted pt:16x2x8');
  });

  it('plans only the passes asked for, each with its own refusals', () => {
    // 20 floats of binding: x and the output fit, one output row of the backward columns does not.
    const p = problem([1, 2, 3, 3], [2, 2, 1, 1], { inputGradient: 'col2im' });
    const t = target(CPU_PROFILE, 20 * 4);
    const forward = planConvolution(p, t, { forward: true, input: false, weight: false });
    expect(Object.keys(forward)).toEqual(['forward']);
    expect(forward.forward!.route).toBe('pointwise');
    expect(() => planConvolution(p, t)).toThrow(/conv2d: the backward column route needs scratch bindings of 96 bytes/);
    expect(planConvolution(p, target(CPU_PROFILE), { forward: false, input: false, weight: true }).inputGradient).toBeUndefined();
  });

  it('refuses forced routes that cannot compute the problem, naming why', () => {
    const cpu = target(CPU_PROFILE);
    expect(() => planForward(problem([1, 2, 4, 4, 4], [2, 2, 2, 2, 2], { algorithm: 'implicit' }), cpu)).toThrow(
      "conv3d: algorithm 'implicit' handles 1-D and 2-D convolutions; use 'auto' or 'im2col' for 3-D",
    );
    expect(() => planForward(problem([1, 4, 9, 9], [4, 4, 3, 3], { stride: 2, algorithm: 'winograd4' }), cpu)).toThrow(
      "conv2d: algorithm 'winograd4' cannot compute this convolution: it needs stride 1, got (2, 2); use 'auto', 'implicit' or 'im2col'",
    );
    expect(() => planConvolution(problem([1, 4, 9, 9], [4, 4, 3, 3], { stride: 2, inputGradient: 'transposed' }), cpu)).toThrow(
      "conv2d: inputGradient 'transposed' needs stride 1 and symmetric padding no larger than dilation * (kernel - 1) on every axis",
    );
    expect(() => planConvolution(problem([1, 4, 9, 9], [4, 4, 3, 3], { stride: 2, weightGradient: 'shifted' }), cpu)).toThrow(
      "conv2d: weightGradient 'shifted' needs stride 1",
    );
    // The transposed convolution is planned with the forced forward algorithm: its refusal names the forward op.
    const grouped = problem([2, 6, 8, 7], [4, 3, 3, 3], { groups: 2, padding: 1, algorithm: 'winograd2', inputGradient: 'transposed' });
    expect(() => planConvolution(grouped, cpu, { forward: false, input: true, weight: false })).toThrow(
      "conv2d: algorithm 'winograd2' cannot compute this convolution: it needs groups 1, got 2",
    );
    expect(() => problem([1, 4, 9, 9], [4, 4, 3, 3], { inputGradient: 'fast' as 'auto' })).toThrow(
      `conv2d: inputGradient must be 'auto', 'transposed' or 'col2im', got "fast"`,
    );
  });

  it('sizes scratch chunks for the binding limit and refuses a block whose least scratch cannot fit', () => {
    // [3, 4, 10, 10] -> 8 channels: 36 im2col rows of 100 positions per image.
    const p = problem([3, 4, 10, 10], [8, 4, 3, 3], { padding: 1, algorithm: 'im2col' });
    // Its operands are the runtime's to split; the columns (3600 floats an image) go in pieces of 4 output rows.
    expect(planForward(p, target(CPU_PROFILE, 1700 * 4))).toMatchObject({ route: 'im2col', k: 36, columnImages: 1, columnRows: 4 });
    expect(planForward(p, target(CPU_PROFILE, 8000 * 4))).toMatchObject({ columnImages: 2, columnRows: 10 });
    // The least: one output row of columns, 36 x (10 + 3) floats.
    expect(forwardScratch(p, target(CPU_PROFILE), 'im2col')).toBe(36 * 13);
    expect(() => planForward(p, target(CPU_PROFILE, 36 * 13 * 4 - 4))).toThrow(
      `conv2d: the im2col route needs a scratch binding of ${36 * 13 * 4} bytes (the K-padded weights, or the im2col columns of one output row), over the binding limit of ${36 * 13 * 4 - 4} bytes`,
    );
    // Nothing to refuse for an empty batch.
    expect(planForward(problem([0, 4, 10, 10], [8, 4, 3, 3], { padding: 1 }), target(CPU_PROFILE, 64)).route).toBe('im2col');
    // The backward routes' least: the columns of one output row (max(Og padded, K) = 36 rows) and
    // the transposed weight (36 x 8); x's padded copy with a zero image (2 x 144 x 4) beside gradOut's (144 x 8).
    expect(backwardScratch(p, { weight: 'im2col', input: 'col2im' })).toBe(36 * 13);
    expect(backwardScratch(p, { weight: 'shifted' })).toBe(144 * 8);
    expect(() => planBlock(p, target(CPU_PROFILE, 1000), { weight: 'shifted' })).toThrow(
      'conv2d: the shifted weight gradient needs scratch bindings of 4608 bytes (one image\'s padded copies), over the binding limit of 1000 bytes',
    );
  });

  it('plans blocks: the routes of the whole problem, the tiles and scratch chunks of the block', () => {
    // ResNet18's stem at batch 64: its output (205 MB) is over the binding limit, which splits it
    // into blocks of 32 images; each is planned on the whole problem's routes.
    const p = problem([64, 3, 224, 224], [64, 3, 7, 7], { stride: 2, padding: 3 });
    const t = target(CPU_PROFILE);
    const routes = planRoutes(p, t);
    expect(routes).toEqual({ forward: 'implicit', input: 'col2im', weight: 'im2col' });
    const u = convUnits(p);
    const block = u.block({ a0: 32, a: 32, b0: 0, b: 64 });
    expect(block).toMatchObject({ batch: 32, inChannels: 3, outChannels: 64, groups: 1, shape: [32, 64, 112, 112] });
    expect(describePlan(planBlock(block, t, routes))).toBe('implicit sg:16x4x8 k=148 | grad in col2im sg:16x4x8, weight im2col sg:16x4x8, columns in 2 chunks');
    // A block of output channels: its weight rows, bias and output channels; a group's input channels when grouped.
    expect(u.block({ a0: 3, a: 1, b0: 8, b: 16 })).toMatchObject({ batch: 1, inChannels: 3, outChannels: 16, shape: [1, 16, 112, 112] });
    const grouped = convUnits(problem([2, 6, 8, 7], [4, 3, 3, 3], { groups: 2, padding: 1 }));
    expect(grouped.axes.map((a) => `${a.name} ${a.size}`)).toEqual(['image 2', 'group 2']);
    expect([grouped.x, grouped.weight, grouped.bias, grouped.output]).toEqual([[6 * 56, 3 * 56], [0, 2 * 27], [0, 2], [4 * 56, 2 * 56]]);
    expect(grouped.block({ a0: 0, a: 1, b0: 1, b: 1 })).toMatchObject({ groups: 1, inChannels: 3, outChannels: 2 });
    // The transposed input gradient flips the whole weight: 'auto' takes col2im where it does not fit.
    const wide = problem([1, 64, 8, 8], [64, 64, 3, 3], { padding: 1 });
    expect(planRoutes(wide, t).input).toBe('transposed');
    expect(planRoutes(wide, target(CPU_PROFILE, 64 * 64 * 9 * 4 - 4)).input).toBe('col2im');
    expect(() => planRoutes(problem([1, 64, 8, 8], [64, 64, 3, 3], { padding: 1, inputGradient: 'transposed' }), target(CPU_PROFILE, 1024))).toThrow(
      "conv2d: inputGradient 'transposed' flips the whole weight [64, 64, 3, 3] (147456 bytes), over the binding limit of 1024 bytes; use 'col2im' or 'auto'",
    );
  });
});

describe('the GEMM planner', () => {
  it('takes the profile kernel where the product suits it, the portable kernel elsewhere', () => {
    const cpu = target(CPU_PROFILE);
    const gpu = target(DISCRETE_PROFILE);
    expect(planGemm(cpu, { M: 100, K: 64, subgroupFits: true })).toEqual({ kernel: 'subgroup', rows: 16, cols: 4, threads: 8 });
    expect(planGemm(cpu, { M: 5, K: 64, subgroupFits: true })).toEqual({ kernel: 'subgroup', rows: 8, cols: 4, threads: 8 });
    expect(planGemm(cpu, { M: 100, K: 64, subgroupFits: false })).toEqual({ kernel: 'portable', rows: 16, cols: 2, threads: 8 });
    expect(planGemm(cpu, { M: 100, K: 15, subgroupFits: true })).toEqual({ kernel: 'portable', rows: 8, cols: 4, threads: 64 });
    expect(planGemm(cpu, { M: 3, K: 64, subgroupFits: false })).toEqual({ kernel: 'portable', rows: 4, cols: 2, threads: 8 });
    expect(planGemm(gpu, { M: 100, K: 64, subgroupFits: true })).toEqual({ kernel: 'tiled', rows: 64, cols: 64, depth: 16, threads: 256 });
    expect(planGemm(gpu, { M: 40, K: 3, subgroupFits: false })).toEqual({ kernel: 'tiled', rows: 32, cols: 64, depth: 16, threads: 128 });
    expect(planGemm(gpu, { M: 8, K: 64, subgroupFits: true })).toEqual({ kernel: 'portable', rows: 8, cols: 2, threads: 64 });
    expect(gemmTileFor(DISCRETE_PROFILE, 'subgroup', 9)).toEqual({ kernel: 'subgroup', rows: 16, cols: 4, threads: 8 });
  });

  it("transposes linear's weight-gradient operands only for the subgroup kernel", () => {
    expect(planLinearWeightGradient(target(CPU_PROFILE), 100, 256, 784)).toBe('transposeGradOut');
    expect(planLinearWeightGradient(target(CPU_PROFILE), 3, 4, 6)).toBe('transposeBoth');
    expect(planLinearWeightGradient(target(CPU_PROFILE, 128 * MiB, false), 100, 256, 784)).toBe('direct');
    expect(planLinearWeightGradient(target(DISCRETE_PROFILE), 100, 256, 784)).toBe('direct');
  });
});

describe('device profiles', () => {
  it('are picked from the adapter: CPU adapters get the measured one', () => {
    for (const name of ['llvmpipe (LLVM 15.0.6, 256 bits)', 'Google SwiftShader', 'Microsoft Basic Render Driver (WARP)', 'mesa lavapipe']) {
      expect(isCpuAdapter(name), name).toBe(true);
      expect(profileForAdapter(name)).toBe(CPU_PROFILE);
    }
    for (const name of ['nvidia ada NVIDIA GeForce RTX 4090', 'apple metal-3 Apple M2', 'amd rdna-3']) {
      expect(profileForAdapter(name), name).toBe(DISCRETE_PROFILE);
    }
  });

  it('are chosen by the engine from its adapter, or forced by EngineOptions', async () => {
    const auto = await Engine.create();
    const forced = await Engine.create({ profile: 'discrete' });
    try {
      expect(auto.profile).toBe(profileForAdapter(auto.adapterName));
      expect(auto.planTarget.maxBindingBytes).toBe(auto.limits.maxStorageBufferBindingSize);
      expect(forced.profile).toBe(DISCRETE_PROFILE);
      await expect(Engine.create({ profile: 'gpu' as 'discrete' })).rejects.toThrow(
        "Engine.create: profile must be 'cpu' or 'discrete' or a DeviceProfile, got 'gpu'",
      );
    } finally {
      auto.dispose();
      forced.dispose();
    }
  });
});
