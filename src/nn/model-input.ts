// Pictures into a loaded model's input, and how that input is normalised. Fashion-MNIST models
// take 28x28 greyscale (src/data/fashion-input.ts's conversion); ResNet18 takes ImageNet-normalised
// RGB, resized and centre-cropped on the GPU as torchvision's evaluation transform does
// (src/ops/preprocess.ts). No `node:` imports.
import { fashionPixels, fashionTensor } from '../data/fashion-input.js';
import { FASHION_MEAN, FASHION_STD } from '../data/fashion-mnist.js';
import { IMAGENET_MEAN, IMAGENET_STD, preprocessImages, type PreprocessOptions, type RgbaImage } from '../ops/preprocess.js';
import type { Engine } from '../runtime/engine.js';
import type { Tensor } from '../runtime/tensor.js';
import type { LoadedModel } from './load-model.js';

export interface ModelInputOptions {
  /** ResNet18 only: the side of the square input (default the model's size: 224, or a transfer checkpoint's training size). */
  size?: number;
  /** ResNet18 only: 'center-crop' (default) or 'stretch' (see preprocessImages). */
  fit?: PreprocessOptions['fit'];
}

/** How a model's input is normalised, per channel: x = (pixel / 255 - mean) / std. */
export interface InputNormalisation {
  mean: readonly number[];
  std: readonly number[];
}

export function inputNormalisation(model: Pick<LoadedModel, 'channels'>): InputNormalisation {
  return model.channels === 1 ? { mean: [FASHION_MEAN], std: [FASHION_STD] } : { mean: IMAGENET_MEAN, std: IMAGENET_STD };
}

/** The images as the model's input batch [N, channels, size, size] on the GPU. */
export function modelInput(engine: Engine, model: Pick<LoadedModel, 'channels' | 'size' | 'kind'>, images: readonly RgbaImage[], options: ModelInputOptions = {}): Tensor {
  if (images.length === 0) throw new Error('modelInput: expected at least one image');
  if (model.channels === 1) {
    if (options.size !== undefined && options.size !== 28) throw new Error(`modelInput: a ${model.kind} model takes 28x28 images, got size ${options.size}`);
    if (options.fit !== undefined) throw new Error(`modelInput: fit applies to ResNet18 models; a ${model.kind} model's images are trimmed, resized and padded to 28x28`);
    return fashionTensor(engine, images.map((image) => fashionPixels(image).pixels));
  }
  return preprocessImages(engine, [...images], { size: options.size ?? model.size, fit: options.fit });
}
