// Tuning benchmark for the GEMM core and the convolution routes: median time and GFLOPS per
// tile shape on this adapter (conv GFLOPS count the direct convolution's FLOPs, so Winograd's are
// effective rates). Usage:
//   npx tsx bench/gemm-tune.ts [--tiles sg:24x4x8,pt:16x2x8,tl:64x64x16] [--only gemm|conv] [--runs 7] [--profile cpu|discrete]
// A tile is kernel:rows x cols x threads, kernel 'sg' (subgroup) or 'pt' (portable), e.g. sg:24x4x8;
// or tl:rows x cols x depth for the workgroup-memory kernel. Without --tiles, the device profile's
// choice (the engine's, or the one --profile forces).
import { conv2d, conv2dPlan, type ConvOptions } from '../src/ops/conv.js';
import { gemm, matmul, padColumns, planGemm, type GemmTile } from '../src/ops/gemm.js';
import { tileLabel } from '../src/ops/gemm-tile.js';
import { nodeGpu } from '../src/gpu/node-gpu.js';
import { Engine } from '../src/runtime/engine.js';
import type { Tensor } from '../src/runtime/tensor.js';

const args = process.argv.slice(2);
const arg = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const runs = Number(arg('runs') ?? 7);
const only = arg('only');
const tiles: Array<GemmTile | undefined> = arg('tiles')
  ? arg('tiles')!.split(',').map((s) => {
      const [kind, shape] = s.split(':') as [string, string];
      const [rows, cols, third] = shape.split('x').map(Number) as [number, number, number];
      if (kind === 'tl') return { kernel: 'tiled' as const, rows, cols, depth: third, threads: (rows * cols) / 16 };
      return { kernel: kind === 'sg' ? ('subgroup' as const) : ('portable' as const), rows, cols, threads: third };
    })
  : [undefined];

const profile = arg('profile') as 'cpu' | 'discrete' | undefined;
const engine = await Engine.create({ gpu: await nodeGpu(), ...(profile ? { profile } : {}) });
console.log(`adapter: ${engine.adapterName}`);

function randomTensor(shape: number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = Math.sin(i * 12.9898) * 0.5;
  return engine.tensor(data, shape);
}

interface Timing {
  /** Median wall-clock milliseconds per run. */
  ms: number;
  /** Median CPU milliseconds per run of this process (lavapipe's threads included): less
   * sensitive than wall time to other processes sharing the cores. */
  cpuMs: number;
}

/** Medians of `run` (each run recorded, submitted and awaited), after one warm-up. */
async function time(run: () => Tensor | void): Promise<Timing> {
  const once = async () => {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const out = run();
    await engine.sync();
    const ms = performance.now() - t0;
    const c = process.cpuUsage(c0);
    if (out) out.dispose();
    return { ms, cpuMs: (c.user + c.system) / 1000 };
  };
  await once();
  const all: Timing[] = [];
  for (let i = 0; i < runs; i++) all.push(await once());
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return { ms: median(all.map((t) => t.ms)), cpuMs: median(all.map((t) => t.cpuMs)) };
}

function report(name: string, tile: GemmTile | undefined, flops: number, t: Timing): void {
  const shape = tile ? tileLabel(tile) : 'default';
  console.log(
    `${name.padEnd(32)} ${shape.padEnd(12)} ${t.ms.toFixed(2).padStart(8)} ms ${(flops / t.ms / 1e6).toFixed(2).padStart(7)} GFLOPS` +
      `   (cpu ${t.cpuMs.toFixed(1).padStart(7)} ms: ${((2 * flops) / t.cpuMs / 1e6).toFixed(2).padStart(6)} GFLOPS on 2 idle cores)`,
  );
}

if (only !== 'conv') {
  for (const n of [512, 1024]) {
    const a = randomTensor([n, n]);
    const b = randomTensor([n, n]);
    for (const tile of tiles) {
      const out = engine.empty([n, n]);
      const t = await time(() => (tile ? gemm(engine, { a, b, out, M: n, N: n, K: n, tile }) : matmul(a, b)));
      report(`gemm ${n}^3`, tile ?? planGemm(engine.planTarget, { M: n, K: n, subgroupFits: true }), 2 * n ** 3, t);
      out.dispose();
    }
    a.dispose();
    b.dispose();
  }
}

interface ConvCase {
  name: string;
  x: number[];
  w: number[];
  options: ConvOptions;
}
const convs: ConvCase[] = [
  { name: 'conv 64@56 3x3', x: [1, 64, 56, 56], w: [64, 64, 3, 3], options: { padding: 1 } },
  { name: 'conv 128@28 3x3', x: [1, 128, 28, 28], w: [128, 128, 3, 3], options: { padding: 1 } },
  { name: 'conv 256@14 3x3', x: [1, 256, 14, 14], w: [256, 256, 3, 3], options: { padding: 1 } },
  { name: 'conv 512@7 3x3', x: [1, 512, 7, 7], w: [512, 512, 3, 3], options: { padding: 1 } },
  { name: 'conv 3->64 7x7 s2 @224', x: [1, 3, 224, 224], w: [64, 3, 7, 7], options: { stride: 2, padding: 3 } },
];

if (only !== 'gemm') {
  for (const c of convs) {
    const x = randomTensor(c.x);
    const w = randomTensor(c.w);
    const probe = conv2d(x, w, undefined, c.options);
    const [, O, OH, OW] = probe.shape as [number, number, number, number];
    probe.dispose();
    const flops = 2 * c.x[0]! * O * OH * OW * c.w[1]! * c.w[2]! * c.w[3]!;
    const winograd = c.w[2] === 3 && c.w[3] === 3 && (c.options.stride ?? 1) === 1;
    const algorithms = ['implicit', 'im2col', ...(winograd ? (['winograd2', 'winograd4'] as const) : [])] as const;
    for (const algorithm of algorithms) {
      for (const tile of tiles) {
        const t = await time(() => {
          if (!tile) return conv2d(x, w, undefined, { ...c.options, algorithm });
          if (algorithm !== 'implicit') return conv2d(x, w, undefined, { ...c.options, algorithm });
          const out = engine.empty([1, O, OH, OW]);
          const s = (c.options.stride as number) ?? 1;
          const p = (c.options.padding as number) ?? 0;
          // The subgroup kernel reads the weights as vec4: pad K to a multiple of 4 (as the implicit route does).
          const K = c.w[1]! * c.w[2]! * c.w[3]!;
          const Kp = tile.kernel === 'subgroup' ? Math.ceil(K / 4) * 4 : K;
          const a = Kp === K ? w : padColumns(engine, w, 1, O, K, Kp, K, 0, 0);
          gemm(engine, {
            a,
            b: x,
            out,
            M: O,
            N: OH * OW,
            K: Kp,
            tile,
            conv: { channels: c.w[1]!, inH: c.x[2]!, inW: c.x[3]!, outW: OW, kH: c.w[2]!, kW: c.w[3]!, strideH: s, strideW: s, dilH: 1, dilW: 1, padH: p, padW: p },
          });
          if (a !== w) a.dispose();
          return out;
        });
        report(`${c.name} ${algorithm}`, tile ?? conv2dPlan(x, w, undefined, { ...c.options, algorithm }, { forward: true, input: false, weight: false }).forward!.gemm, flops, t);
        if (algorithm !== 'implicit' && tile) break;
      }
    }
    x.dispose();
    w.dispose();
  }
}
engine.dispose();
