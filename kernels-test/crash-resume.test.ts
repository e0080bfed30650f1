// Crash safety of the training commands. `train` and `transfer-train` run as child processes and
// are killed (SIGKILL) at seeded moments of their checkpoint saves, then resumed, until they
// finish. A test hook in src/io/atomic-write.ts (WEBGPU_CNN_PAUSE_BEFORE_RENAME_MS) announces each
// write on stderr and pauses it between the complete temporary file and the rename, so a kill can
// be aimed at the save: during the write, between write and rename, or just after the rename.
// After every kill the checkpoint on disk (if any) loads completely; the next run resumes from it
// (or starts afresh when the first save never landed); no temporary file outlives the finished
// run; and the final weights and optimiser state equal an uninterrupted run's bit for bit. Bit
// for bit, not within a tolerance: everything a step depends on (weights, optimiser moments, step
// count, data order, dropout counters, augmentation draws) is in the checkpoint or a function of
// (seed, position), and the kernels are deterministic (no atomics), so a resumed run performs the
// same float operations in the same order as the uninterrupted one.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { trainFashion } from '../src/cli/train-fashion.js';
import { runTransferCommand } from '../src/cli/transfer.js';
import { seededRandom } from '../src/data/shuffle.js';
import { loadFashionMnist } from '../src/data/fashion-mnist-node.js';
import { writeFileAtomic } from '../src/io/atomic-write.js';
import { encodePng } from '../src/io/image-node.js';
import { decodeTrainingCheckpoint, type TrainingCheckpoint } from '../src/io/training-checkpoint.js';
import { seededResNet18Safetensors } from '../src/nn/models/seeded-weights.js';
import { random, useEngine } from './helpers.js';

const engine = useEngine();
const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');
const PAUSE_MS = 250;
const root = mkdtempSync(join(tmpdir(), 'crash-resume-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const quiet = { log: () => undefined, progress: { write: () => undefined, isTTY: false } };

/** Where and when a run is killed: `delayMs` after the `marker` of its `save`-th checkpoint write. */
interface Kill {
  save: number;
  marker: 'writing' | 'pausing before rename';
  delayMs: number;
}

/** Runs the CLI (killed as `kill` says, if given); resolves when the process has ended. */
function runCli(args: string[], checkpoint: string, kill?: Kill): Promise<{ killed: boolean; code: number | null; output: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    cwd: REPO,
    env: { ...process.env, WEBGPU_CNN_PAUSE_BEFORE_RENAME_MS: String(PAUSE_MS) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let saves = 0;
  let killed = false;
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  createInterface({ input: child.stderr }).on('line', (line) => {
    output += `${line}\n`;
    if (line === `atomic-write: writing ${checkpoint}`) saves++;
    if (kill && saves === kill.save && line === `atomic-write: ${kill.marker} ${checkpoint}`) {
      setTimeout(() => (killed = child.kill('SIGKILL')), kill.delayMs);
    }
  });
  return new Promise((resolve) => child.on('exit', (code) => resolve({ killed, code, output })));
}

/**
 * Kills `kills` runs at seeded moments, checking the checkpoint after each, then lets one run
 * finish. A run is killed at one of its saves before the last of the whole training (so that work
 * is left for the next run): the first kill lands between write and rename, the others anywhere
 * from the start of the write to a little after the rename. Returns the final checkpoint and what
 * happened along the way.
 */
async function crashAndFinish(o: {
  dir: string;
  checkpoint: string;
  fresh: string[];
  resume: string[];
  /** Checkpoint saves still to come after `position` (undefined: from the start). */
  savesLeft: (position: TrainingCheckpoint['position'] | undefined) => number;
  kills: number;
  seed: number;
}) {
  const rng = seededRandom(o.seed);
  const story: string[] = [];
  let leftovers = 0;
  let position: TrainingCheckpoint['position'] | undefined;
  for (let run = 0; run <= o.kills; run++) {
    const left = o.savesLeft(position);
    const kill: Kill | undefined =
      run < o.kills && left > 1
        ? {
            save: 1 + Math.floor(rng() * (left - 1)),
            marker: run === 0 ? 'pausing before rename' : 'writing',
            delayMs: Math.floor(rng() * (run === 0 ? 0.8 * PAUSE_MS : PAUSE_MS + 300)),
          }
        : undefined;
    const resuming = position !== undefined;
    const result = await runCli(resuming ? o.resume : o.fresh, o.checkpoint, kill);
    if (resuming) expect(result.output).toMatch(/resuming /);
    if (kill === undefined) expect(result.code, result.output).toBe(0);
    else expect(result.killed, `the run ended before its kill (exit ${result.code}):\n${result.output}`).toBe(true);
    // Whatever the moment, the checkpoint on disk is whole.
    position = existsSync(o.checkpoint) ? decodeTrainingCheckpoint(readFileSync(o.checkpoint), o.checkpoint).position : undefined;
    const temps = readdirSync(o.dir).filter((f) => f.endsWith('.tmp'));
    leftovers += temps.length;
    story.push(`${resuming ? 'resumed' : 'fresh'} run ${kill ? `killed ${kill.delayMs} ms after "${kill.marker}" of its save ${kill.save}` : 'finished'}: checkpoint at ${JSON.stringify(position)}, ${temps.length} temporary file(s)`);
    if (kill === undefined) break;
  }
  // The finished run removed what killed writers left.
  expect(readdirSync(o.dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  return { final: decodeTrainingCheckpoint(readFileSync(o.checkpoint), o.checkpoint), story, leftovers };
}

/** Model and optimiser tensors of two checkpoints, compared bit for bit. */
function expectSameState(a: TrainingCheckpoint, b: TrainingCheckpoint): void {
  expect(a.position).toEqual(b.position);
  expect(a.seed).toEqual(b.seed);
  expect(a.modules).toEqual(b.modules);
  expect(a.optimizer.numbers).toEqual(b.optimizer.numbers);
  for (const [part, x, y] of [['model', a.model, b.model], ['optimizer', a.optimizer.tensors, b.optimizer.tensors]] as const) {
    expect([...x.keys()].sort(), part).toEqual([...y.keys()].sort());
    const differing = [...x].filter(([name, t]) => !(t.data as Float32Array).every((v, i) => Object.is(v, (y.get(name)!.data as Float32Array)[i])));
    expect(differing.map(([name]) => `${part}.${name}`)).toEqual([]);
  }
}

describe('killed during checkpoint saves and resumed', () => {
  it('train: every checkpoint loads, and the final weights equal an uninterrupted run bit for bit', async () => {
    const settings = { epochs: 3, batchSize: 32, lr: 1e-3, schedule: 'cosine' as const, seed: 5, limitTrain: 256, limitTest: 64, readEvery: 4, evalBatchSize: 64 };
    const reference = join(root, 'train-reference');
    await trainFashion(engine(), await loadFashionMnist(), 'dnn', { ...settings, outDir: reference }, quiet);

    const dir = join(root, 'train-crashed');
    const args = ['train', '--model', 'dnn', '--epochs', '3', '--batch', '32', '--lr', '0.001', '--schedule', 'cosine', '--seed', '5'];
    const fresh = [...args, '--limit-train', '256', '--limit-test', '64', '--read-every', '4', '--out', dir];
    const checkpoint = join(dir, 'fashion-dnn.safetensors');
    const savesLeft = (p?: { epoch: number }) => 3 - (p?.epoch ?? 0); // one per epoch
    const { final, story, leftovers } = await crashAndFinish({ dir, checkpoint, fresh, resume: [...fresh, '--resume'], savesLeft, kills: 2, seed: 1 });
    console.log(`train:\n  ${story.join('\n  ')}`);
    expect(leftovers).toBeGreaterThan(0); // a kill did land between write and rename
    expectSameState(final, decodeTrainingCheckpoint(readFileSync(join(reference, 'fashion-dnn.safetensors'))));
    expect(final.position).toEqual({ epoch: 3, batch: 0, step: 24 });
  }, 180_000);

  it('transfer-train (checkpoints within epochs too): the same', async () => {
    // Two classes of six small PNGs: 10 training images, 3 steps of up to 4 in the one epoch, a
    // checkpoint after each.
    const folder = join(root, 'blobs');
    for (const [c, name] of ['round', 'square'].entries()) {
      for (let i = 0; i < 6; i++) {
        const [w, h] = [36 + 2 * (i % 3), 34 + 3 * (i % 2)];
        const noise = random(w * h, 10 * c + i, 0, 40);
        const data = new Uint8Array(w * h * 4);
        for (let y = 0; y < h; y++) {
          for (let x = 0; x < w; x++) {
            const [dx, dy] = [x - w / 2, y - h / 2];
            const on = c === 0 ? dx * dx + dy * dy < 80 : Math.max(Math.abs(dx), Math.abs(dy)) < 9;
            const n = noise[y * w + x]!;
            data.set(on ? [210 - n, 90 + n, 40, 255] : [n, n, 70 + n, 255], (y * w + x) * 4);
          }
        }
        await writeFileAtomic(join(folder, name, `${i}.png`), encodePng({ width: w, height: h, data }));
      }
    }
    const weights = join(root, 'resnet18.safetensors');
    writeFileSync(weights, seededResNet18Safetensors(4, { numClasses: 5 }));
    const args = (out: string) => ['--data', folder, '--mode', 'feature-extraction', '--weights', weights, '--batch', '4', '--size', '32', '--seed', '3', '--grid', '2', '--epochs', '1', '--checkpoint-every', '1', '--out', out];
    const reference = join(root, 'transfer-reference');
    await runTransferCommand('transfer-train', args(reference), quiet, engine());

    const dir = join(root, 'transfer-crashed');
    const checkpoint = join(dir, 'checkpoint.safetensors');
    const { final, story, leftovers } = await crashAndFinish({
      dir,
      checkpoint,
      fresh: ['transfer-train', ...args(dir)],
      resume: ['transfer-train', '--resume', checkpoint],
      savesLeft: (p) => 3 - (p?.step ?? 0), // one per step
      kills: 2,
      seed: 2,
    });
    console.log(`transfer-train:\n  ${story.join('\n  ')}`);
    expect(leftovers).toBeGreaterThan(0);
    expectSameState(final, decodeTrainingCheckpoint(readFileSync(join(reference, 'checkpoint.safetensors'))));
    expect(final.position).toEqual({ epoch: 1, batch: 0, step: 3 });
  }, 240_000);
});
