// Kernel benchmarks, ours beside TensorFlow.js's WebGPU backend on the same adapter in the same
// process. Measures and prints; never a test. See bench/README.md for how to read the table.
//
//   npx tsx bench/run.ts [--only gemm,conv] [--reps N] [--mode wait|readback] [--repeat K]
//                        [--warmup N] [--budget SECONDS] [--json out.json]
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, homedir, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { nodeGpu } from '../src/gpu/node-gpu.js';
import { conv2d, conv2dPlan } from '../src/ops/conv.js';
import { forwardLabel } from '../src/ops/conv-plan.js';
import { add, relu } from '../src/ops/elementwise.js';
import { matmul } from '../src/ops/gemm.js';
import { Engine } from '../src/runtime/engine.js';
import { GROUPS, suite, type BenchCase, type OurOps, type Side } from './kernels.js';
import { loadTfjs, type TfjsPeer } from './tfjs-peer.js';
import { paired, timeOnce, type PairedResult, type Summary, type Workload } from './timing.js';
import { integerOption } from './args.js';

type Mode = 'wait' | 'readback';

interface Options {
  only: string[];
  reps: number;
  warmup: number;
  repeat: number;
  budgetSeconds: number;
  mode: Mode;
  json?: string;
  deviceProfile?: 'cpu' | 'discrete';
}

const USAGE = `usage: npx tsx bench/run.ts [options]
  --only LIST     comma-separated groups (${GROUPS.join(', ')}, resnet18, training) or words of case names; default gemm,conv
                  (resnet18: the whole model at 224x224, batch 1 and 8, see bench/resnet18.ts;
                  training: the Fashion-MNIST CNN's training step at batch 100, see bench/training.ts)
  --reps N        timed pairs (ours, tfjs) per case; default 15
  --warmup N      untimed runs per side after the first call; default 2
  --repeat K      ops recorded per wait (per-submit overhead divided by K); default 1
  --mode M        wait: submit and wait for the GPU, no readback (default);
                  readback: read the whole result back to the CPU each time (both sides)
  --budget S      stop adding pairs to a case after S seconds (at least 5 pairs); default 30
  --json FILE     also write every sample as JSON
  --device-profile P  plan our routes and tiles with device profile cpu or discrete (default: the adapter's)`;

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      only: { type: 'string' },
      reps: { type: 'string' },
      warmup: { type: 'string' },
      repeat: { type: 'string' },
      budget: { type: 'string' },
      mode: { type: 'string' },
      json: { type: 'string' },
      'device-profile': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const int = integerOption(USAGE);
  const mode = values.mode ?? 'wait';
  if (mode !== 'wait' && mode !== 'readback') throw new Error(`--mode must be wait or readback, got '${mode}'\n${USAGE}`);
  const deviceProfile = values['device-profile'];
  if (deviceProfile !== undefined && deviceProfile !== 'cpu' && deviceProfile !== 'discrete') {
    throw new Error(`--device-profile must be cpu or discrete, got '${deviceProfile}'\n${USAGE}`);
  }
  return {
    only: (values.only ?? 'gemm,conv').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean),
    reps: int('reps', values.reps, 15, 1),
    warmup: int('warmup', values.warmup, 2, 0),
    repeat: int('repeat', values.repeat, 1, 1),
    budgetSeconds: int('budget', values.budget, 30, 1),
    mode,
    json: values.json,
    deviceProfile,
  };
}

function selected(c: BenchCase, only: string[]): boolean {
  return only.some((word) => word === c.group || c.name.toLowerCase().includes(word));
}

// ---- Mesa's disk shader cache ---------------------------------------------------------------

function directoryBytes(path: string): number {
  let total = 0;
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    const full = join(path, entry.name);
    if (entry.isDirectory()) total += directoryBytes(full);
    else if (entry.isFile()) total += statSync(full).size;
  }
  return total;
}

/**
 * Whether pipeline compiles (the "first call" column) may hit Mesa's on-disk shader cache:
 * cold when MESA_SHADER_CACHE_DISABLE is set, else warm, with the cache's size before this run.
 */
function mesaCacheState(): string {
  const disable = (process.env.MESA_SHADER_CACHE_DISABLE ?? '').toLowerCase();
  if (['1', 'true', 'y', 'yes'].includes(disable)) return 'cold (MESA_SHADER_CACHE_DISABLE=true)';
  const base = process.env.MESA_SHADER_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'));
  const dirs = ['mesa_shader_cache', 'mesa_shader_cache_db'].map((d) => join(base, d)).filter((d) => existsSync(d));
  const bytes = dirs.reduce((sum, d) => sum + directoryBytes(d), 0);
  const where = dirs.length > 0 ? dirs.join(', ') : join(base, 'mesa_shader_cache*');
  if (bytes === 0) return `warm cache enabled but empty before this run (effectively cold): ${where}`;
  return `warm (${(bytes / 2 ** 20).toFixed(1)} MiB in ${where} before this run; MESA_SHADER_CACHE_DISABLE=true for cold)`;
}

// ---- running one case -----------------------------------------------------------------------

function workload<T>(side: Side<T>, mode: Mode, wait: () => Promise<void>): Workload<T> {
  return {
    record: () => side.run(),
    finish: async (last) => {
      if (mode === 'readback') await side.read(last);
      else await wait();
    },
    release: (output) => side.release(output),
  };
}

interface Agreement {
  /** Largest |ours - tfjs| over the whole output. */
  maxAbsDiff: number;
  /** Largest |value| of tfjs's result, the scale the difference is read against. */
  maxAbs: number;
  /** Largest error of either side against float64 at SPOT_CHECKS sampled outputs. */
  spotError: number;
}

const SPOT_CHECKS = 64;

function compare(c: BenchCase, ours: Float32Array, theirs: Float32Array): Agreement {
  if (ours.length !== theirs.length) throw new Error(`results differ in size: ours ${ours.length}, tfjs ${theirs.length}`);
  let maxAbsDiff = 0;
  let maxAbs = 0;
  for (let i = 0; i < ours.length; i++) {
    const d = Math.abs(ours[i]! - theirs[i]!);
    maxAbsDiff = Number.isNaN(d) ? Infinity : Math.max(maxAbsDiff, d);
    maxAbs = Math.max(maxAbs, Math.abs(theirs[i]!));
  }
  let spotError = 0;
  for (let j = 0; j < SPOT_CHECKS; j++) {
    // Spread over the output, offset so that first and last rows/channels are both hit.
    const index = Math.min(ours.length - 1, Math.round((j * (ours.length - 1)) / (SPOT_CHECKS - 1)) + (j % 7));
    const want = c.expected(index);
    const err = Math.max(Math.abs(ours[index]! - want), Math.abs(theirs[index]! - want));
    spotError = Number.isNaN(err) ? Infinity : Math.max(spotError, err);
  }
  return { maxAbsDiff, maxAbs, spotError };
}

async function readOnce<T>(side: Side<T>): Promise<Float32Array> {
  const output = side.run();
  try {
    return await side.read(output);
  } finally {
    side.release(output);
  }
}

interface CaseResult {
  c: BenchCase;
  /** Our side's algorithm, where the op chooses one. */
  algorithm?: string;
  firstOurs: number;
  firstTfjs: number;
  agreement: Agreement;
  timing: PairedResult;
}

async function runCase(c: BenchCase, engine: Engine, ops: OurOps, peer: TfjsPeer, options: Options): Promise<CaseResult> {
  const ours = c.ours(engine, ops);
  const theirs = c.tfjs(peer.tf);
  try {
    const a = workload(ours, options.mode, () => engine.sync());
    const b = workload(theirs, options.mode, peer.sync);
    // First calls compile each side's pipelines (and upload its inputs): timed apart.
    const firstOurs = await timeOnce(a);
    const firstTfjs = await timeOnce(b);
    const agreement = compare(c, await readOnce(ours), await readOnce(theirs));
    const timing = await paired(a, b, { ...options, minReps: Math.min(5, options.reps) });
    return { c, algorithm: ours.algorithm, firstOurs, firstTfjs, agreement, timing };
  } finally {
    ours.dispose();
    theirs.dispose();
    await engine.sync();
    await peer.sync();
  }
}

// ---- printing -------------------------------------------------------------------------------

function ms(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

function rate(work: number, msValue: number): string {
  return (work / (msValue * 1e6)).toFixed(1);
}

/** Median with the interquartile half-width as a percentage of it ("24.1 ±3%"). */
function withSpread(s: Summary, format: (v: number) => string): string {
  const spread = s.median > 0 ? ((s.q3 - s.q1) / 2 / s.median) * 100 : 0;
  return `${format(s.median)} ±${spread.toFixed(0)}%`;
}

function table(rows: string[][], rightAligned: (i: number) => boolean): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((cell, i) => (rightAligned(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ');
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(rows[0]!), rule, ...rows.slice(1).map(line)].join('\n');
}

function report(results: CaseResult[]): string {
  const header = ['case', 'shape', 'ours via', 'work', 'ours ms', 'ours rate', 'tfjs ms', 'tfjs rate', 'tfjs/ours', 'pairs', 'max|diff|', 'vs f64', 'first ours', 'first tfjs'];
  const rows = results.map(({ c, algorithm, timing, agreement, firstOurs, firstTfjs }) => {
    const unit = c.unit === 'GFLOPS' ? 'GFLOPS' : 'GB/s';
    const work = c.unit === 'GFLOPS' ? `${(c.work / 1e9).toFixed(3)} GFLOP` : `${(c.work / 2 ** 20).toFixed(0)} MiB`;
    const scale = Math.max(agreement.maxAbs, 1e-30);
    const flag = (err: number) => `${err.toExponential(1)}${err > 1e-4 * scale ? ' !' : ''}`;
    return [
      c.name,
      c.detail,
      algorithm ?? '',
      work,
      withSpread(timing.a, ms),
      `${rate(c.work, timing.a.median)} ${unit}`,
      withSpread(timing.b, ms),
      `${rate(c.work, timing.b.median)} ${unit}`,
      withSpread(timing.ratio, (v) => v.toFixed(2)),
      `${timing.samplesA.length}${timing.truncated ? '*' : ''}`,
      flag(agreement.maxAbsDiff),
      flag(agreement.spotError),
      ms(firstOurs),
      ms(firstTfjs),
    ];
  });
  return table([header, ...rows], (i) => i >= 3);
}

// ---- main -----------------------------------------------------------------------------------

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const withResNet18 = options.only.includes('resnet18');
  const withTraining = options.only.includes('training');
  const kernelWords = options.only.filter((w) => w !== 'resnet18' && w !== 'training');
  const cases = suite().filter((c) => selected(c, kernelWords));
  if (cases.length === 0 && !withResNet18 && !withTraining) throw new Error(`--only ${options.only.join(',')} selects no case\n${USAGE}`);

  const cache = mesaCacheState(); // before anything compiles
  const loadBefore = loadavg()[0]!;
  const gpu = await nodeGpu();
  const engine = await Engine.create({ gpu, ...(options.deviceProfile ? { profile: options.deviceProfile } : {}) });
  const peer = await loadTfjs(gpu);
  const ops: OurOps = {
    matmul: (a, b) => matmul(a, b),
    conv2d,
    conv2dPlanLabel: (x, w, bias, options) => forwardLabel(conv2dPlan(x, w, bias, options, { forward: true, input: false, weight: false }).forward!),
    relu,
    add,
  };

  const log = (s: string) => process.stderr.write(`${s}\n`);
  if (cases.length > 0) log(`running ${cases.length} case(s): ${cases.map((c) => c.name).join(', ')}`);
  const results: CaseResult[] = [];
  for (const c of cases) {
    const r = await runCase(c, engine, ops, peer, options);
    results.push(r);
    log(`  ${c.name}: ours ${ms(r.timing.a.median)} ms, tfjs ${ms(r.timing.b.median)} ms, tfjs/ours ${r.timing.ratio.median.toFixed(2)}`);
  }
  // Loaded only when asked for: it builds the whole model on both sides.
  const resnet = withResNet18 ? await import('./resnet18.js') : undefined;
  const resnetResults = resnet ? await resnet.runResNet18Bench(engine, peer, { ...options, log }) : [];
  const training = withTraining ? await import('./training.js') : undefined;
  const trainingResult = training ? await training.runTrainingBench(engine, peer, { ...options, log }) : undefined;

  const method =
    options.mode === 'wait'
      ? 'record op, submit, wait for the GPU (onSubmittedWorkDone); no readback'
      : 'record op, submit, read the whole result back to the CPU';
  console.log(`adapter:      ${engine.adapterName} (tfjs's device: ${peer.adapter}, same GPU object); our device profile: ${engine.profile.name}`);
  console.log(`shader cache: ${cache}`);
  const loadAfter = loadavg()[0]!;
  // Other processes' load slows both sides, not always equally: the numbers need it beside them.
  console.log(`machine:      ${availableParallelism()} CPUs; 1-min load average ${loadBefore.toFixed(1)} at start, ${loadAfter.toFixed(1)} at end`);
  console.log(`peer:         TensorFlow.js ${peer.version} WebGPU backend; node ${process.versions.node}`);
  if (results.length > 0) {
    console.log(
      `method:       ${method}; ${options.repeat} op(s) per wait; ${options.warmup} warm-up run(s) per side; ` +
        `pairs alternate ours, tfjs; medians ±half the interquartile range; tfjs/ours = median of per-pair ratios (>1: ours faster)`,
    );
  }
  if (results.length > 0) {
    console.log('');
    console.log(report(results));
    console.log('');
    console.log(`max|diff| = largest |ours - tfjs| over the whole output; vs f64 = largest error of either side against a float64`);
    console.log(`CPU sum at ${SPOT_CHECKS} sampled outputs; ! = over 1e-4 of the largest |value|. "first" = first call (ms), compiling`);
    console.log(`pipelines and uploading inputs.${results.some((r) => r.timing.truncated) ? ' * = the time budget cut the pairs short.' : ''}`);
  if (results.some((r) => r.algorithm?.startsWith('winograd'))) {
    // Winograd does fewer multiplies than the direct sum; the rate column still counts the direct sum's.
    console.log(`"ours via" = our conv2d's algorithm. Rates count a direct convolution's FLOPs on both sides: for winograd2 / winograd4`);
    console.log(`(Winograd F(2x2,3x3) / F(4x4,3x3), 2.25x / 4x fewer multiplies; tfjs has no Winograd) ours is an effective rate.`);
  }
  }
  if (resnet) {
    console.log('');
    console.log(resnet.formatResNet18Report(resnetResults));
    console.log('');
    console.log(resnet.RESNET18_NOTES);
    if (resnetResults.some((r) => r.timing.truncated)) console.log('* = the time budget cut the pairs short.');
  }
  if (training && trainingResult) {
    console.log('');
    console.log(training.formatTrainingReport(trainingResult));
    console.log('');
    console.log(training.TRAINING_NOTES);
    if (trainingResult.timing.truncated) console.log('* = the time budget cut the pairs short.');
  }

  if (options.json) {
    const side = (samples: number[], s: Summary, first: number, work: number) => ({
      firstMs: first,
      medianMs: s.median,
      q1Ms: s.q1,
      q3Ms: s.q3,
      rate: work / (s.median * 1e6),
      samplesMs: samples,
    });
    const json = {
      adapter: engine.adapterName,
      tfjsAdapter: peer.adapter,
      tfjsVersion: peer.version,
      node: process.versions.node,
      shaderCache: cache,
      cpus: availableParallelism(),
      loadAverage: { start: loadBefore, end: loadAfter },
      options,
      cases: results.map(({ c, algorithm, timing, agreement, firstOurs, firstTfjs }) => ({
        name: c.name,
        group: c.group,
        detail: c.detail,
        oursAlgorithm: algorithm,
        work: c.work,
        unit: c.unit,
        ours: side(timing.samplesA, timing.a, firstOurs, c.work),
        tfjs: side(timing.samplesB, timing.b, firstTfjs, c.work),
        ratio: { median: timing.ratio.median, q1: timing.ratio.q1, q3: timing.ratio.q3, perPair: timing.ratios },
        agreement,
      })),
      resnet18: resnetResults.map(({ timing, ...r }) => ({
        ...r,
        ours: { medianMs: timing.a.median, q1Ms: timing.a.q1, q3Ms: timing.a.q3, samplesMs: timing.samplesA },
        tfjs: { medianMs: timing.b.median, q1Ms: timing.b.q1, q3Ms: timing.b.q3, samplesMs: timing.samplesB },
        ratio: { median: timing.ratio.median, q1: timing.ratio.q1, q3: timing.ratio.q3, perPair: timing.ratios },
      })),
      training: trainingResult,
    };
    writeFileSync(options.json, `${JSON.stringify(json, null, 2)}\n`);
    log(`wrote ${options.json}`);
  }
  engine.dispose();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exit(1);
  },
);
