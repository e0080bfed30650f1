// The `infer` command end to end: PNG/JPEG files and a ResNet18 safetensors file in, top-5 classes
// out, matching PyTorch's pipeline (torchvision's Resize + CenterCrop + Normalize, then the same
// seeded ResNet18: kernels-test/fixtures/resnet18/resnet18.json "images"), batched; and every
// refusal (arguments, undecodable images, bad weight files) with a clear message and no output.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import jpeg from 'jpeg-js';
import { beforeAll, describe, expect, it } from 'vitest';
import { formatResults, imageBatches, parseInferArgs, runInferCommand, type ImageResult } from '../src/cli/infer.js';
import { IMAGENET_CLASSES } from '../src/data/imagenet.js';
import { encodePng } from '../src/io/image-node.js';
import { decodeSafetensors, encodeSafetensors, type SafeTensor } from '../src/io/safetensors.js';
import { HashStream } from '../src/data/random.js';
import { seededResNet18Safetensors } from '../src/nn/models/seeded-weights.js';
import { FIXTURE_DIR } from './fixtures.js';
import { useEngine } from './helpers.js';

const engine = useEngine();

interface ImageCase {
  name: string;
  seed: number;
  width: number;
  height: number;
  options: { size: number };
  top5: Array<[number, number]>;
}

const fixture = JSON.parse(readFileSync(join(FIXTURE_DIR, 'resnet18', 'resnet18.json'), 'utf8')) as { weightSeed: number; images: ImageCase[] };
const dir = mkdtempSync(join(tmpdir(), 'webgpu-cnn-infer-'));
const weights = join(dir, 'resnet18.safetensors');
const weightBytes = seededResNet18Safetensors(fixture.weightSeed);

/** Seeded RGBA pixels, as scripts/golden/make_resnet18_fixtures.py makes them. */
function seededRgba(seed: number, width: number, height: number): Uint8Array {
  return Uint8Array.from(new HashStream('rgba', seed).uniform(width * height * 4, -1, 1), (v) => Math.floor((v + 1) * 128));
}

function writePng(c: ImageCase): string {
  const path = join(dir, `${c.name}.png`);
  writeFileSync(path, encodePng({ width: c.width, height: c.height, data: seededRgba(c.seed, c.width, c.height) }));
  return path;
}

/** Runs the command in this process on the test's engine; returns what it logged and its results. */
async function infer(args: string[]): Promise<{ logged: string[]; results: ImageResult[] }> {
  const logged: string[] = [];
  const results = await runInferCommand(args, (text) => logged.push(text), engine());
  return { logged, results };
}

function expectTop5(result: ImageResult, c: ImageCase): void {
  expect(result.top.map((p) => p.index), c.name).toEqual(c.top5.map(([index]) => index));
  result.top.forEach((p, i) => {
    // Logits agree with PyTorch's within ~1e-5, so probabilities (about 0.01 here) within 1e-6.
    expect(Math.abs(p.probability - c.top5[i]![1]), `${c.name} #${i + 1}`).toBeLessThan(1e-5);
    expect(p.label).toBe(IMAGENET_CLASSES[p.index]);
  });
}

beforeAll(() => {
  writeFileSync(weights, weightBytes);
});

describe('infer', () => {
  it("classifies PNG and JPEG images in batches as PyTorch's pipeline does", async () => {
    const cases = fixture.images.filter((c) => c.options.size === 224);
    const pngs = cases.map(writePng);
    // The first image again as a JPEG (lossy, so checked for its place in the output only).
    const first = cases[0]!;
    const jpg = join(dir, 'first.jpg');
    writeFileSync(jpg, jpeg.encode({ width: first.width, height: first.height, data: seededRgba(first.seed, first.width, first.height) }, 100).data);
    const { logged, results } = await infer(['--weights', weights, '--json', ...pngs, jpg]);
    expect(results.map((r) => r.image)).toEqual([...pngs, jpg]);
    cases.forEach((c, i) => expectTop5(results[i]!, c));
    expect(results[2]).toMatchObject({ format: 'jpeg', width: first.width, height: first.height });
    expect(results[2]!.top).toHaveLength(5);
    expect(JSON.parse(logged.join('\n'))).toEqual(JSON.parse(JSON.stringify(results)));
  });

  it('takes --size, --batch, --top and prints a table', async () => {
    const c = fixture.images.find((i) => i.options.size === 64)!;
    const path = writePng(c);
    // Three images in batches of two: a batch of 2, then one of 1 (another input shape).
    const { logged, results } = await infer(['--weights', weights, '--size', '64', '--batch', '2', '--top', '3', path, path, path]);
    expect(results).toHaveLength(3);
    for (const r of results) expectTop5(r, { ...c, top5: c.top5.slice(0, 3) });
    const text = logged.join('\n');
    expect(text).toContain(`${path} (${c.width}x${c.height} PNG)`);
    const [index, p] = c.top5[0]!;
    expect(text).toContain(`   1. ${(p * 100).toFixed(2).padStart(6)}%  ${IMAGENET_CLASSES[index]} (${index})`);
    expect(text).toMatch(/ResNet18 \(torchvision weights, ImageNet classes\) at 64x64 on .*: 3 image\(s\) in 2 batch\(es\)/);
  });

  it('decodes the images batch by batch, not all before the first batch', async () => {
    const paths = ['a.png', 'b.png', 'c.png', 'd.png', 'e.png'];
    const read: string[] = [];
    const batches = imageBatches(paths, 2, async (path) => {
      read.push(path);
      return { format: 'png', width: 1, height: 1, data: new Uint8Array(4) };
    });
    const first = await batches.next();
    expect(first.value).toMatchObject({ first: 0, images: [{ width: 1 }, { width: 1 }] });
    expect(read).toEqual(['a.png', 'b.png']); // the other three wait for their batch
    const rest = [];
    for await (const batch of batches) rest.push(batch.first);
    expect(rest).toEqual([2, 4]);
    expect(read).toEqual(paths);
  });

  it("numbers the classes of a head that is not ImageNet's", async () => {
    const tenClasses = join(dir, 'ten-classes.safetensors');
    writeFileSync(tenClasses, seededResNet18Safetensors(2, { numClasses: 10 }));
    const { results } = await infer(['--weights', tenClasses, '--size', '32', '--top', '10', writePng(fixture.images[2]!)]);
    expect(results[0]!.top.map((p) => p.index).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(results[0]!.top.every((p) => p.label === `class ${p.index}`)).toBe(true);
    expect(results[0]!.top.reduce((sum, p) => sum + p.probability, 0)).toBeCloseTo(1, 6);
  });
});

describe('refusals: a clear message and no output', () => {
  let good: string;
  let tensors: ReadonlyMap<string, SafeTensor>;
  beforeAll(() => {
    good = writePng(fixture.images[0]!);
    tensors = decodeSafetensors(weightBytes).tensors;
  });

  /** A weights file made from the seeded one with `edit` applied to its tensors. */
  function editedWeights(name: string, edit: (entries: Map<string, SafeTensor>) => void): string {
    const entries = new Map(tensors);
    edit(entries);
    const path = join(dir, name);
    writeFileSync(path, encodeSafetensors(entries));
    return path;
  }

  async function refuses(args: string[], message: string | RegExp): Promise<void> {
    const logged: string[] = [];
    await expect(runInferCommand(args, (text) => logged.push(text), engine())).rejects.toThrow(message);
    expect(logged).toEqual([]);
  }

  it('refuses bad arguments', async () => {
    await refuses([good], 'infer: --weights FILE is required');
    await refuses(['--weights', weights], 'infer: give one or more images (PNG or JPEG)');
    await refuses(['--weights', weights, '--size', '16', good], '--size must be at least 32 for ResNet18, got 16');
    await refuses(['--weights', weights, '--batch', '0', good], "--batch must be a positive integer, got '0'");
    await refuses(['--weights', weights, '--fit', 'cover', good], "--fit must be center-crop or stretch, got 'cover'");
    await refuses(['--weights', weights, '--colour', good], "Unknown option '--colour'");
    expect(parseInferArgs(['--weights', 'w', 'a.png', 'b.jpg'])).toEqual({ weights: 'w', images: ['a.png', 'b.jpg'], size: undefined, fit: undefined, batch: 8, top: 5, json: false });
    expect(parseInferArgs(['--checkpoint', 'c', '--size', '64', 'a.png'])).toMatchObject({ weights: 'c', size: 64 });
    await refuses(['--weights', weights, '--checkpoint', weights, good], 'infer: give the model file once, as --weights or --checkpoint');
  });

  it('refuses an image that cannot be decoded, naming it, before loading the model', async () => {
    const text = join(dir, 'notes.png');
    writeFileSync(text, 'not an image');
    await refuses(['--weights', weights, good, text], `${text}: not a PNG or JPEG image`);
    await refuses(['--weights', weights, join(dir, 'missing.jpg')], `${join(dir, 'missing.jpg')}: cannot read the image: no such file`);
  });

  it('refuses, before loading the model, an image declaring more pixels than its bytes hold, and a FIFO', async () => {
    // 81 megapixels declared by a few hundred bytes: decoding would allocate ~470 MB before noticing.
    const bomb = join(dir, 'bomb.png');
    const header = new Uint8Array(13);
    new DataView(header.buffer).setUint32(0, 9000);
    new DataView(header.buffer).setUint32(4, 9000);
    header.set([8, 6], 8);
    const ihdr = encodePng({ width: 1, height: 1, data: new Uint8Array(4) });
    ihdr.set(header, 16);
    writeFileSync(bomb, ihdr);
    await refuses(['--weights', weights, good, bomb], `${bomb}: the PNG header declares 9000x9000 pixels, at least 324000000 bytes of image data, which ${ihdr.length} bytes cannot hold`);
    const fifo = join(dir, 'fifo.png');
    execFileSync('mkfifo', [fifo]);
    await refuses(['--weights', weights, good, fifo], `${fifo}: cannot read the image: is a FIFO (named pipe), not a regular file`);
  });

  it('refuses a large file that is not safetensors after reading its first bytes', async () => {
    const big = join(dir, 'archive.zip');
    writeFileSync(big, 'PK\x03\x04 not weights');
    truncateSync(big, 256 * 2 ** 20); // sparse: 256 MB that read as zeros
    const bytesRead = (): number => Number(/rchar: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))![1]);
    const before = bytesRead();
    await refuses(['--weights', big, good], new RegExp(`^safetensors \\(${big}\\): header length \\d+ is over the format's limit`));
    expect(bytesRead() - before).toBeLessThan(8 * 2 ** 20);
  });

  it('refuses a missing, truncated or wrong weights file, naming the tensors', async () => {
    await refuses(['--weights', join(dir, 'none.safetensors'), good], `${join(dir, 'none.safetensors')}: cannot read the weights file: no such file`);
    const truncated = join(dir, 'truncated.safetensors');
    writeFileSync(truncated, weightBytes.subarray(0, weightBytes.length - 1000));
    await refuses(['--weights', truncated, good], new RegExp(`^safetensors \\(${truncated}\\): .*truncated`));
    const missing = editedWeights('missing.safetensors', (e) => e.delete('layer3.1.bn2.running_var'));
    await refuses(['--weights', missing, good], `${missing}: ResNet18 state dict: 1 missing tensor: layer3.1.bn2.running_var`);
    const extra = editedWeights('extra.safetensors', (e) => e.set('layer5.0.conv1.weight', { dtype: 'F32', shape: [1], data: new Float32Array(1) }));
    await refuses(['--weights', extra, good], `${extra}: ResNet18 state dict: 1 unexpected tensor: layer5.0.conv1.weight`);
    const misshaped = editedWeights('misshaped.safetensors', (e) => e.set('conv1.weight', { dtype: 'F32', shape: [64, 3, 3, 3], data: new Float32Array(64 * 27) }));
    await refuses(['--weights', misshaped, good], `${misshaped}: ResNet18 state dict: 1 mis-shaped tensor: conv1.weight (expected [64, 3, 7, 7], got [64, 3, 3, 3])`);
  });
});

describe('the command line', () => {
  const run = promisify(execFile);
  const cli = (args: string[]) => run('npx', ['tsx', 'src/cli/main.ts', 'infer', ...args], { cwd: join(FIXTURE_DIR, '..', '..') });

  it('exits with status 1 and the message on stderr, nothing on stdout', async () => {
    const bad = join(dir, 'bad.jpg');
    writeFileSync(bad, Uint8Array.of(0xff, 0xd8, 0xff, 0xe0, 0, 16));
    const error = (await cli(['--weights', weights, bad]).then(() => undefined, (err: unknown) => err)) as { code: number; stdout: string; stderr: string };
    expect(error?.code).toBe(1);
    expect(error.stdout).toBe('');
    expect(error.stderr).toContain(`error: ${bad}: cannot decode this JPEG file (truncated or corrupt?)`);
  });
});

describe('formatResults', () => {
  it('prints each image with its classes, most probable first', () => {
    const top = [
      { index: 1, label: 'b', probability: 0.6 },
      { index: 0, label: 'a', probability: 0.2 },
    ];
    expect(formatResults([{ image: 'x.png', width: 2, height: 1, format: 'png', top }])).toBe(['x.png (2x1 PNG)', '   1.  60.00%  b (1)', '   2.  20.00%  a (0)'].join('\n'));
  });
});
