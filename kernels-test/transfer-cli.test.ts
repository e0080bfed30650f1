// `transfer-train` end to end on a tiny synthetic image folder: pretrained weights from a file,
// feature extraction for two epochs, the checkpoint, curves and prediction grid it writes, the
// report, resuming after epoch 1 (same losses as the straight run), and clear errors for bad
// input (missing folder, one class, a corrupt image, contradictory flags).
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTransferArgs, runTransferCommand, transferPaths, type CommandIO, type TransferInfo } from '../src/cli/transfer.js';
import { writeFileAtomic } from '../src/io/atomic-write.js';
import { decodeImage, encodePng } from '../src/io/image-node.js';
import { encodeSafetensors, type SafeTensor } from '../src/io/safetensors.js';
import { readTensors } from '../src/io/checkpoint.js';
import { decodeTrainingCheckpoint } from '../src/io/training-checkpoint.js';
import { resnet18Module } from '../src/nn/models/resnet18-module.js';
import { random, useEngine } from './helpers.js';

const engine = useEngine();

/** Small PNGs: `classes` colours of square or round blobs, sizes varying. */
async function writeBlobFolder(root: string, classes: string[], perClass: number): Promise<void> {
  for (const [c, name] of classes.entries()) {
    for (let i = 0; i < perClass; i++) {
      const [width, height] = [40 + 3 * (i % 2), 36 + 5 * (i % 3)];
      const noise = random(width * height, 31 * c + i, 0, 30);
      const data = new Uint8Array(width * height * 4);
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          const [dx, dy] = [x - width / 2, y - height / 2];
          const on = c % 2 === 0 ? Math.max(Math.abs(dx), Math.abs(dy)) < 10 : dx * dx + dy * dy < 100;
          const n = noise[y * width + x]!;
          data.set(on ? [220 - n, 60 + 80 * c + n, 40, 255] : [n, n, 60 + n, 255], (y * width + x) * 4);
        }
      }
      await writeFileAtomic(join(root, name, `img${i}.png`), encodePng({ width, height, data }));
    }
  }
}

function capture(): CommandIO & { lines: string[]; progressText: () => string } {
  const lines: string[] = [];
  const progress: string[] = [];
  return { lines, log: (line) => lines.push(line), progress: { write: (s: string) => progress.push(s), isTTY: false }, progressText: () => progress.join('') };
}

let root: string;
let folder: string;
let weights: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'transfer-cli-'));
  folder = join(root, 'blobs');
  // 6 a class: 5 train + 1 validation, so 10 training images = 3 batches of 4 (the last of 2).
  await writeBlobFolder(folder, ['cherry', 'lime'], 6);
  // "Pretrained" weights: a seeded ResNet18's state dict under torchvision's names, 7 classes.
  const model = resnet18Module(engine(), { numClasses: 7, seed: 5 });
  const named = [...model.stateDict()];
  const data = await readTensors(
    engine(),
    named.map(([, t]) => t),
  );
  model.dispose();
  weights = join(root, 'resnet18.safetensors');
  await writeFile(weights, encodeSafetensors(named.map(([n, t], i): [string, SafeTensor] => [n, { dtype: 'F32', shape: [...t.shape], data: data[i]! }])));
}, 120_000);
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const common = (out: string) => ['--data', folder, '--mode', 'feature-extraction', '--weights', weights, '--batch', '4', '--size', '32', '--seed', '3', '--grid', '2', '--out', out];

async function historyOf(out: string): Promise<TransferInfo> {
  return decodeTrainingCheckpoint<TransferInfo>(await readFile(transferPaths(out).checkpoint)).info;
}

describe('transfer-train', () => {
  it('trains, reports, writes the checkpoint, curves and prediction grid, and resumes exactly', async () => {
    const straight = join(root, 'straight');
    const io = capture();
    await runTransferCommand('transfer-train', [...common(straight), '--epochs', '2'], io, engine());
    const text = io.lines.join('\n');
    expect(text).toContain(`${folder}: 2 classes (cherry, lime); 10 training and 2 validation images at 32x32`);
    expect(text).toContain('ResNet18 feature-extraction from');
    expect(text).toMatch(/1,026 of 11,1\d\d,\d\d\d parameters train/);
    expect(text).toMatch(/epoch 1\/2: train loss \d\.\d{4}, train accuracy [\d.]+%; validation loss \d\.\d{4}, validation accuracy [\d.]+%/);
    expect(text).toMatch(/class\s+samples\s+correct\s+accuracy\ncherry\s+1\s+[01]\s+/);
    expect(text).toContain('validation confusion matrix');
    // Progress lines without a terminal: each epoch's last step at least, with the figures.
    expect(io.progressText()).toMatch(/epoch 2\/2 +\[=+\] +3\/3 +loss \d\.\d{4} +acc +[\d.]+% +\d+ samples\/s +ETA 0:00\n/);

    const paths = transferPaths(straight);
    for (const png of [paths.curves, paths.predictions]) expect(decodeImage(await readFile(png), png).format).toBe('png');
    const grid = decodeImage(await readFile(paths.predictions), paths.predictions);
    expect(grid.width).toBeGreaterThan(2 * 96);
    const checkpoint = decodeTrainingCheckpoint<TransferInfo>(await readFile(paths.checkpoint));
    expect(checkpoint.position).toEqual({ epoch: 2, batch: 0, step: 6 });
    expect(checkpoint.optimizer.type).toBe('SGD');
    expect(checkpoint.info.classes).toEqual(['cherry', 'lime']);
    expect(checkpoint.description).toEqual({ kind: 'resnet18-transfer', classNames: ['cherry', 'lime'] });
    expect(checkpoint.info.history.epochs.map((e) => e.epoch)).toEqual([1, 2]);
    expect(checkpoint.model.get('fc.weight')!.shape).toEqual([2, 512]);

    // One epoch, then --resume to two: the same six losses as the straight run.
    const split = join(root, 'split');
    await runTransferCommand('transfer-train', [...common(split), '--epochs', '1'], capture(), engine());
    expect((await historyOf(split)).history.steps).toHaveLength(3);
    const resumed = capture();
    await runTransferCommand('transfer-train', ['--resume', transferPaths(split).checkpoint, '--epochs', '2'], resumed, engine());
    expect(resumed.lines[0]).toBe(`resuming from ${transferPaths(split).checkpoint} at epoch 2, batch 0 (step 3)`);
    const a = (await historyOf(straight)).history;
    const b = (await historyOf(split)).history;
    expect(b.steps.map((s) => s.loss)).toEqual(a.steps.map((s) => s.loss));
    expect(b.epochs.map((e) => e.validationLoss)).toEqual(a.epochs.map((e) => e.validationLoss));

    await expect(runTransferCommand('transfer-train', ['--resume', transferPaths(split).checkpoint, '--epochs', '2'], capture(), engine())).rejects.toThrow(
      'nothing to train: the checkpoint holds 2 epoch(s) of 2; pass --epochs with more',
    );
  }, 240_000);

  it('leaves out the last image of an epoch when it would make a batch of one, and says so', async () => {
    // 10 training images in batches of 3: 3, 3, 3 and 1 (which fine-tuning cannot train on: see
    // resume.test.ts). Feature extraction here, which is quicker and drops it all the same.
    const io = capture();
    const out = join(root, 'drop-last');
    await runTransferCommand('transfer-train', [...common(out).map((a) => (a === '4' ? '3' : a)), '--epochs', '1'], io, engine());
    expect(io.lines.join('\n')).toContain('10 training images make 3 batches of 3 per epoch; the last image drawn each epoch is left out');
    const checkpoint = decodeTrainingCheckpoint<TransferInfo>(await readFile(transferPaths(out).checkpoint));
    expect(checkpoint.position).toEqual({ epoch: 1, batch: 0, step: 3 });
    expect(checkpoint.info.history.steps.map((s) => s.size)).toEqual([3, 3, 3]);
  }, 120_000);

  it('explains bad folders and images', async () => {
    const run = (args: string[]) => runTransferCommand('transfer-train', args, capture(), engine());
    const scratch = (data: string) => ['--data', data, '--mode', 'fine-tune', '--batch', '8', '--size', '32', '--epochs', '1', '--out', join(root, 'bad-out')];
    await expect(run(scratch(join(root, 'nowhere')))).rejects.toThrow(`image folder: cannot read ${join(root, 'nowhere')}: no such folder`);

    const single = join(root, 'single');
    await writeBlobFolder(single, ['only'], 3);
    await expect(run(scratch(single))).rejects.toThrow(`image folder: ${single} has one class folder ('only'); a classifier needs at least two`);

    const empty = join(root, 'empty-class');
    await writeBlobFolder(empty, ['a'], 2);
    await mkdir(join(empty, 'b'));
    await writeFile(join(empty, 'b', 'notes.txt'), 'no images here');
    await expect(run(scratch(empty))).rejects.toThrow(/found no images for the class 'b'/);

    const corrupt = join(root, 'corrupt');
    await writeBlobFolder(corrupt, ['a', 'b'], 3);
    const png = await readFile(join(corrupt, 'a', 'img0.png'));
    await writeFile(join(corrupt, 'a', 'img0.png'), png.subarray(0, 60));
    // 2 training images a class fill the one batch of 8, 1 is held out: wherever the bad one lands, it is read.
    await expect(run(scratch(corrupt))).rejects.toThrow(`${join(corrupt, 'a', 'img0.png')}: cannot decode this PNG file (truncated or corrupt?)`);
  }, 120_000);

  it('checks its arguments before opening the GPU', async () => {
    const parse = (args: string[]) => () => parseTransferArgs(args);
    expect(parse(['--mode', 'fine-tune'])).toThrow('transfer-train: --data DIR is required');
    expect(parse(['--data', 'x'])).toThrow('transfer-train: --mode is required: feature-extraction or fine-tune');
    expect(parse(['--data', 'x', '--mode', 'frozen'])).toThrow("--mode must be one of feature-extraction, fine-tune, got 'frozen'");
    expect(parse(['--data', 'x', '--mode', 'feature-extraction'])).toThrow(/keeps part of the network frozen, which needs pretrained --weights/);
    expect(parse(['--data', 'x', '--mode', 'fine-tune', '--unfreeze', 'layer4'])).toThrow(/--mode fine-tune --unfreeze layer4 keeps part of the network frozen/);
    expect(parse(['--data', 'x', '--mode', 'feature-extraction', '--unfreeze', 'all', '--weights', 'w'])).toThrow('--unfreeze all needs --mode fine-tune');
    expect(parse(['--data', 'x', '--mode', 'fine-tune', '--size', '16'])).toThrow('--size must be at least 32');
    expect(parse(['--data', 'x', '--mode', 'fine-tune', '--val', '1'])).toThrow("--val must be a fraction between 0 and 1 (exclusive), got '1'");
    expect(parse(['--data', 'x', '--mode', 'fine-tune', '--optimizer', 'rmsprop'])).toThrow("--optimizer must be one of sgd, adam, got 'rmsprop'");
    expect(parse(['--resume', 'c.safetensors', '--lr', '0.1', '--batch', '2'])).toThrow('--resume continues with the checkpoint\'s settings: --batch, --lr cannot be changed');
    expect(parse(['--data', 'x', '--mode', 'fine-tune', '--bogus'])).toThrow(/Unknown option '--bogus'/);
    expect(parseTransferArgs(['--data', 'x', '--mode', 'fine-tune'])).toEqual({
      kind: 'start',
      settings: expect.objectContaining({ mode: 'fine-tune', unfreeze: 'all', weights: null, batchSize: 8, size: 112, lr: 0.001, optimizer: 'sgd' }),
    });
    expect(parseTransferArgs(['--data', 'x', '--mode', 'feature-extraction', '--weights', 'w'])).toEqual({
      kind: 'start',
      settings: expect.objectContaining({ unfreeze: 'fc', weights: 'w', lr: 0.001, epochs: 5 }),
    });
    await expect(runTransferCommand('transfer-train', ['--resume', join(root, 'missing.safetensors')], capture(), engine())).rejects.toThrow(
      `${join(root, 'missing.safetensors')}: cannot read the checkpoint: no such file`,
    );
    await expect(runTransferCommand('transfer-train', ['--resume', weights], capture(), engine())).rejects.toThrow(
      `${weights}: not a training checkpoint (expected metadata format`,
    );
    const notResnet = join(root, 'tiny.safetensors');
    await writeFile(notResnet, encodeSafetensors({ w: { dtype: 'F32', shape: [1], data: Float32Array.of(1) } }));
    await expect(runTransferCommand('transfer-train', [...common(join(root, 'x')).slice(0, 4), '--weights', notResnet], capture(), engine())).rejects.toThrow(
      `${notResnet}: not ResNet18 weights (expected an 'fc.weight' of shape [classes, 512], got none)`,
    );
  });
});
