// Train, then use: a small Fashion-MNIST CNN trained by `train` and a small ResNet18 by
// `transfer-train`, then `infer` and `explain` on their checkpoints with the user's pictures
// (class names printed, Fashion pictures converted as the training images were made, figures
// written), and the refusals: a file that is not a model, unknown layers, classes out of range,
// undecodable images. Also the Fashion conversion on its own.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runExplainCommand } from '../src/cli/explain.js';
import { runFashionCommand } from '../src/cli/train-fashion.js';
import { runTransferCommand } from '../src/cli/transfer.js';
import { fashionPixels, fashionTensor } from '../src/data/fashion-input.js';
import { FASHION_CLASSES, IMAGE_SIDE, PIXELS } from '../src/data/fashion-mnist.js';
import { loadFashionMnist } from '../src/data/fashion-mnist-node.js';
import { writeFileAtomic } from '../src/io/atomic-write.js';
import { decodeImage, encodePng } from '../src/io/image-node.js';
import { modelDescriptionMetadata } from '../src/io/checkpoint.js';
import { encodeSafetensors } from '../src/io/safetensors.js';
import { decodeTrainingCheckpoint } from '../src/io/training-checkpoint.js';
import { classify, runInferCommand } from '../src/cli/infer.js';
import { loadModel } from '../src/nn/load-model.js';
import type { RgbaImage } from '../src/ops/preprocess.js';
import { useEngine } from './helpers.js';

const engine = useEngine();

/** A picture on white of `width` x `height` with a dark `w` x `h` box at (x, y). */
function boxPicture(width: number, height: number, [x, y, w, h]: number[], alpha = 255): RgbaImage {
  const data = new Uint8Array(width * height * 4);
  for (let p = 0; p < width * height; p++) data.set([255, 255, 255, alpha], p * 4);
  for (let r = y!; r < y! + h!; r++) for (let c = x!; c < x! + w!; c++) data.set([0, 0, 0, 255], (r * width + c) * 4);
  return { width, height, data };
}

/** A Fashion-MNIST image as a product photo: dark on white, 3 times larger, with a white margin. */
function productPhoto(pixels: Uint8Array): RgbaImage {
  const side = 3 * IMAGE_SIDE + 20;
  const data = new Uint8Array(side * side * 4).fill(255);
  for (let y = 0; y < 3 * IMAGE_SIDE; y++) {
    for (let x = 0; x < 3 * IMAGE_SIDE; x++) {
      const v = 255 - pixels[Math.floor(y / 3) * IMAGE_SIDE + Math.floor(x / 3)]!;
      data.set([v, v, v, 255], ((y + 10) * side + x + 10) * 4);
    }
  }
  return { width: side, height: side, data };
}

describe('a picture as Fashion-MNIST sees it', () => {
  it('inverts a light background, trims to the object, fits its longer side to 28 and centres it', () => {
    const { pixels, inverted } = fashionPixels(boxPicture(100, 100, [30, 10, 40, 80]));
    expect(inverted).toBe(true);
    // 40x80 -> 14x28, columns 7..20.
    for (let y = 0; y < IMAGE_SIDE; y++) {
      for (let x = 0; x < IMAGE_SIDE; x++) expect(pixels[y * IMAGE_SIDE + x], `(${x}, ${y})`).toBe(x >= 7 && x < 21 ? 255 : 0);
    }
    // A transparent background counts as white; a dark one is kept (a bright object is not inverted).
    expect(fashionPixels(boxPicture(100, 100, [30, 10, 40, 80], 0)).pixels).toEqual(pixels);
    const bright = boxPicture(50, 50, [10, 20, 30, 10]);
    for (let p = 0; p < 50 * 50; p++) bright.data.set(bright.data[p * 4]! === 255 ? [0, 0, 0, 255] : [200, 200, 200, 255], p * 4);
    const kept = fashionPixels(bright);
    expect(kept.inverted).toBe(false);
    expect(kept.pixels[14 * IMAGE_SIDE + 14]).toBe(200); // the object as it was
    expect(kept.pixels[0]).toBe(0);
    expect(() => fashionPixels({ width: 2, height: 2, data: new Uint8Array(3) })).toThrow('fashionPixels: a 2x2 RGBA image needs 16 bytes');
  });
});

let root: string;
let fashion: string;
let transfer: string;
const io = () => {
  const lines: string[] = [];
  return { lines, log: (l: string) => lines.push(l), progress: { write: () => {}, isTTY: false } };
};

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'use-cli-'));
  // 50 steps of the CNN on 1,600 images: well past chance, in seconds.
  await runFashionCommand('train', ['--model', 'cnn', '--limit-train', '1600', '--limit-test', '100', '--out', join(root, 'fashion')], io());
  fashion = join(root, 'fashion', 'fashion-cnn.safetensors');
  // Two classes of blobs, ResNet18 from scratch for one epoch at 32x32.
  const folder = join(root, 'blobs');
  for (const [c, name] of ['cherry', 'lime'].entries()) {
    for (let i = 0; i < 5; i++) {
      const picture = boxPicture(40, 36, [8 + i, 6, 20, 20]);
      for (let p = 0; p < 40 * 36; p++) if (picture.data[p * 4] === 0) picture.data.set(c === 0 ? [200, 30, 40, 255] : [90, 200, 40, 255], p * 4);
      await writeFileAtomic(join(folder, name, `img${i}.png`), encodePng(picture));
    }
  }
  const args = ['--data', folder, '--mode', 'fine-tune', '--epochs', '1', '--batch', '4', '--size', '32', '--grid', '2', '--out', join(root, 'transfer')];
  await runTransferCommand('transfer-train', args, io(), engine());
  transfer = join(root, 'transfer', 'checkpoint.safetensors');
}, 300_000);
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('train, then infer', () => {
  it("classifies product photos with a train checkpoint as it classifies the test images they were made from", async () => {
    const { test } = await loadFashionMnist();
    const originals = Array.from({ length: 12 }, (_, i) => test.images.slice(i * PIXELS, (i + 1) * PIXELS));
    const photos: string[] = [];
    let undone = 0;
    for (const [i, pixels] of originals.entries()) {
      const photo = productPhoto(pixels);
      // The conversion undoes the photo: the original image exactly, unless faint edge pixels
      // (under 3% of white) were trimmed off and the object came out a pixel larger.
      const back = fashionPixels(photo).pixels;
      const meanError = back.reduce((sum, v, p) => sum + Math.abs(v - pixels[p]!), 0) / PIXELS;
      if (meanError < 0.5) undone++;
      expect(meanError, `test image ${i}`).toBeLessThan(30);
      const path = join(root, `photo${i}.png`);
      await writeFile(path, encodePng(photo));
      photos.push(path);
    }
    expect(undone).toBeGreaterThanOrEqual(10);
    const lines: string[] = [];
    const results = await runInferCommand(['--weights', fashion, '--batch', '5', ...photos], (l) => lines.push(l), engine());
    expect(results.map((r) => r.image)).toEqual(photos);
    for (const r of results) {
      expect(r.top).toHaveLength(5);
      for (const p of r.top) expect(p.label).toBe(FASHION_CLASSES[p.index]);
      expect(r.top.reduce((s, p) => s + p.probability, 0)).toBeLessThanOrEqual(1.0001);
    }
    const text = lines.join('\n');
    expect(text).toContain(`   1. `);
    expect(text).toMatch(/Fashion-MNIST CNN \(train checkpoint, epoch 1\) at 28x28 on .*: 12 image\(s\) in 3 batch\(es\)/);
    // The same model on the original test images: the photos get the same top class (nearly all).
    const loaded = loadModel(engine(), new Uint8Array(await readFile(fashion)), { source: fashion });
    const input = fashionTensor(engine(), originals);
    const direct = await classify(engine(), loaded, input, 1);
    input.dispose();
    loaded.model.dispose();
    const agree = results.filter((r, i) => r.top[0]!.index === direct[i]!.top[0]!.index).length;
    expect(agree).toBeGreaterThanOrEqual(10);
    // And it is a model that has learnt something: most of them right.
    const right = direct.filter((d, i) => d.top[0]!.index === test.labels[i]).length;
    expect(right).toBeGreaterThanOrEqual(7);
    await expect(runInferCommand(['--weights', fashion, '--size', '64', photos[0]!], () => {}, engine())).rejects.toThrow(
      'infer: --size and --fit apply to ResNet18 models; a Fashion-MNIST CNN converts every image to 28x28 greyscale',
    );
  });

  it("names the folder's classes with a transfer-train checkpoint, at the size it was trained at", async () => {
    const lines: string[] = [];
    const picture = join(root, 'blobs', 'lime', 'img2.png');
    const results = await runInferCommand(['--checkpoint', transfer, '--top', '2', picture], (l) => lines.push(l), engine());
    expect(results[0]!.top.map((p) => p.label).sort()).toEqual(['cherry', 'lime']);
    expect(lines.join('\n')).toMatch(/ResNet18 \(transfer-trained\) \(transfer-train checkpoint, epoch 1\) at 32x32 on /);
    expect(lines.join('\n')).toMatch(/%  (cherry|lime) \([01]\)/);
  });

  it('refuses a file that is not a model, saying what it expected and what it found', async () => {
    const picture = join(root, 'blobs', 'lime', 'img2.png');
    await expect(runInferCommand(['--weights', picture, picture], () => {}, engine())).rejects.toThrow(
      /^safetensors \(.*img2\.png\): .*; expected a checkpoint of train or transfer-train, or ResNet18 weights in safetensors \(scripts\/export_resnet18\.py\) \(it is a PNG image\)$/,
    );
    const other = join(root, 'other.safetensors');
    await writeFile(other, encodeSafetensors({ 'encoder.weight': { dtype: 'F32', shape: [2], data: new Float32Array(2) } }));
    await expect(runInferCommand(['--weights', other, picture], () => {}, engine())).rejects.toThrow(
      `${other}: not a model this program knows: no 'model_kind' metadata (one of fashion-cnn, fashion-dnn, resnet18-transfer) and not a torchvision resnet18 state dict (found tensors encoder.weight)`,
    );
  });
});

describe('loadModel', () => {
  it('reads a model file without the training state, an older train model file, and refuses mismatched class names', async () => {
    const e = engine();
    const checkpoint = decodeTrainingCheckpoint(new Uint8Array(await readFile(fashion)));
    const tensors = [...checkpoint.model];
    const input = fashionTensor(e, [new Uint8Array(PIXELS).fill(90)]);
    const logitsOf = async (bytes: Uint8Array, source: string) => {
      const loaded = loadModel(e, bytes, { source });
      try {
        expect(loaded.model.training).toBe(false);
        expect(loaded.model.parameters().some((p) => p.requiresGrad)).toBe(false);
        return { loaded, probabilities: (await classify(e, loaded, input, 3))[0]!.probabilities };
      } finally {
        loaded.model.dispose();
      }
    };
    try {
      const reference = await logitsOf(new Uint8Array(await readFile(fashion)), fashion);
      expect(reference.loaded).toMatchObject({ kind: 'fashion-cnn', channels: 1, size: 28, origin: 'train checkpoint, epoch 1' });
      const described = await logitsOf(encodeSafetensors(tensors, modelDescriptionMetadata({ kind: 'fashion-cnn', classNames: FASHION_CLASSES })), 'described.safetensors');
      expect(described.loaded.origin).toBe('model file');
      expect(Array.from(described.probabilities)).toEqual(Array.from(reference.probabilities));
      const older = await logitsOf(encodeSafetensors(tensors, { format: 'pt', model: 'cnn', epoch: '1' }), 'older.safetensors');
      expect(older.loaded.origin).toBe('model file of an older train checkpoint');
      expect(Array.from(older.probabilities)).toEqual(Array.from(reference.probabilities));

      expect(() => loadModel(e, encodeSafetensors(tensors, modelDescriptionMetadata({ kind: 'fashion-cnn', classNames: ['a', 'b'] })), { source: 'two.safetensors' })).toThrow(
        'two.safetensors: a Fashion-MNIST CNN has 10 classes, but the file names 2',
      );
      expect(() => loadModel(e, encodeSafetensors(tensors, modelDescriptionMetadata({ kind: 'fashion-dnn', classNames: FASHION_CLASSES })), { source: 'dnn.safetensors' })).toThrow(
        /^dnn\.safetensors: Error\(s\) in loading state_dict for FashionDNN:[^]*\(the file says it holds a Fashion-MNIST DNN\)$/,
      );
      const resnet = [...decodeTrainingCheckpoint(new Uint8Array(await readFile(transfer))).model];
      expect(() => loadModel(e, encodeSafetensors(resnet, modelDescriptionMetadata({ kind: 'resnet18-transfer', classNames: ['a', 'b', 'c'] })), { source: 'three.safetensors' })).toThrow(
        /^three\.safetensors: Error\(s\) in loading state_dict for ResNet18Module:\n\tsize mismatch for fc\.weight: copying a param with shape \[2, 512\] from checkpoint, the shape in current model is \[3, 512\]\.[^]*\(the file says it holds a ResNet18 \(transfer-trained\)\)$/,
      );
      await e.sync();
    } finally {
      input.dispose();
    }
  });
});

describe('train, then explain', () => {
  it('writes feature maps, Grad-CAM, saliency and the top classes for pictures and test images', async () => {
    const out = join(root, 'explained');
    const photo = join(root, 'coat.png');
    await writeFile(photo, encodePng(boxPicture(60, 90, [10, 5, 40, 80])));
    const lines: string[] = [];
    const done = await runExplainCommand(['--weights', fashion, '--test-index', '0,1', '--out', out, photo], (l) => lines.push(l), engine());
    expect(done.map((d) => d.name)).toEqual(['coat', 'test-0', 'test-1']);
    for (const d of done) {
      expect(d.files.map((f) => f.slice(out.length + 1))).toEqual([
        `${d.name}-features-layer1.2.png`,
        `${d.name}-features-layer2.2.png`,
        `${d.name}-gradcam.png`,
        `${d.name}-saliency.png`,
        `${d.name}-top5.png`,
      ]);
      for (const f of d.files) expect(decodeImage(await readFile(f), f).width).toBeGreaterThan(300);
      expect(d.classIndex).toBe(d.top[0]!.index);
    }
    const text = lines.join('\n');
    expect(text).toContain('Fashion-MNIST test image 1 (28x28)');
    expect(text).toMatch(/true class: Trouser \(1\)/);
    expect(text).toMatch(/explained: .+ \(\d\); wrote coat-features-layer1\.2\.png/);

    // A chosen class and layers, by name; the transfer checkpoint's own names.
    const chosen = await runExplainCommand(['--weights', fashion, '--test-index', '2', '--class', 'sandal', '--layers', 'layer2.0', '--layer', 'layer1', '--out', out], () => {}, engine());
    expect(chosen[0]!.classIndex).toBe(5);
    expect(chosen[0]!.files.map((f) => f.slice(out.length + 1))).toEqual(['test-2-features-layer2.0.png', 'test-2-gradcam.png', 'test-2-saliency.png', 'test-2-top5.png']);
    const blobs = await runExplainCommand(['--weights', transfer, '--class', 'lime', '--top', '2', '--out', out, join(root, 'blobs', 'cherry', 'img0.png')], () => {}, engine());
    expect(blobs[0]!.top.map((c) => c.name).sort()).toEqual(['cherry', 'lime']);
    expect(blobs[0]!.files.map((f) => f.slice(out.length + 1))).toEqual(['img0-features-layer1.png', 'img0-features-layer4.png', 'img0-gradcam.png', 'img0-saliency.png', 'img0-top2.png']);
  });

  it('refuses unknown layers, classes out of range, undecodable images and test images for ResNet18', async () => {
    const out = join(root, 'refused');
    const explain = (args: string[]) => runExplainCommand([...args, '--out', out], () => {}, engine());
    await expect(explain(['--weights', fashion, '--test-index', '0', '--layers', 'layer1.0,conv9'])).rejects.toThrow(
      'explain: unknown layer "conv9"; the FashionCNN\'s layers are: layer1, layer1.0, layer1.1, layer1.2, layer1.3, layer2, layer2.0, layer2.1, layer2.2, layer2.3, fc1, drop, fc2, fc3',
    );
    await expect(explain(['--weights', transfer, '--layer', 'layer5', join(root, 'coat.png')])).rejects.toThrow(
      /^explain: unknown layer "layer5"; the ResNet18Module's layers are: conv1, bn1, maxpool, layer1, layer1\.0, layer1\.0\.conv1, .*, layer4\.1\.bn2, avgpool, fc$/,
    );
    await expect(explain(['--weights', fashion, '--test-index', '0', '--layer', 'fc1'])).rejects.toThrow("gradCam: layer 'fc1' outputs [1, 600]; Grad-CAM needs a layer with maps [N, C, h, w]");
    await expect(explain(['--weights', fashion, '--test-index', '0', '--class', '10'])).rejects.toThrow('explain: --class 10 is out of range: the model has 10 classes (0 to 9)');
    await expect(explain(['--weights', fashion, '--test-index', '0', '--class', 'hat'])).rejects.toThrow(
      "explain: --class 'hat' is not one of the model's classes (0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt, 7 Sneaker, 8 Bag, 9 Ankle boot)",
    );
    await expect(explain(['--weights', fashion, '--test-index', '10000'])).rejects.toThrow('--test-index 10000 is out of range: the test split has 10000 images (0 to 9999)');
    const broken = join(root, 'broken.png');
    await writeFile(broken, 'not a picture');
    await expect(explain(['--weights', fashion, broken])).rejects.toThrow(`${broken}: not a PNG or JPEG image`);
    await expect(explain(['--weights', transfer, '--test-index', '3'])).rejects.toThrow(
      `explain: --test-index picks Fashion-MNIST test images, for Fashion-MNIST models; ${transfer} holds a ResNet18 (transfer-trained)`,
    );
    await expect(explain(['--weights', fashion])).rejects.toThrow('explain: give one or more images (PNG or JPEG), or --test-index N for Fashion-MNIST test images');
    await expect(explain([join(root, 'coat.png')])).rejects.toThrow('explain: --weights FILE is required');
  });
});
