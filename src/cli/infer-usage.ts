// The `infer` command's help, apart from src/cli/infer.ts so that main.ts loads the model code and
// the image decoders only when `infer` runs.
import type { CommandHelp } from './help.js';

/** The synopsis, for infer's own argument errors. */
export const INFER_USAGE = '  webgpu-cnn infer --weights FILE [--size N] [--fit center-crop|stretch] [--batch N] [--top K] [--json] IMAGE...\n';

/** How a Fashion-MNIST model sees a user's picture (src/data/fashion-input.ts), for the help texts. */
export const FASHION_CONVERSION =
  'A Fashion-MNIST model takes any picture the way its training images were made: greyscale (transparency over white), ' +
  'inverted when the background (the border) is light so that the object is bright on black, the background level taken to 0, ' +
  'trimmed to the object (pixels over 3% of white), resized to 28 pixels on its longer side (keeping the aspect ratio), centred on a black 28x28 square ' +
  "and normalised as in training ((x/255 - 0.2860) / 0.3530).";

export const INFER_HELP: CommandHelp = {
  name: 'infer',
  summary: 'classify PNG/JPEG images with a trained model or ResNet18 weights (top classes by name)',
  synopsis: ['infer --weights FILE [options] IMAGE...'],
  description:
    'Loads FILE, any model this program writes or reads: a checkpoint of train (the Fashion-MNIST DNN or CNN), a checkpoint of ' +
    "transfer-train (ResNet18 with its image folder's class names), or a torchvision resnet18 state dict in safetensors " +
    "(scripts/export_resnet18.py; ImageNet's class names). Decodes the images one batch at a time (each image at most 100 " +
    'megapixels, checked from its header first) and prints the most probable classes per image with their probabilities.\n' +
    "ResNet18 gets torchvision's evaluation transform on the GPU: resize, centre crop, ImageNet's mean and std. " +
    FASHION_CONVERSION,
  options: [
    { name: 'weights', value: 'FILE', text: 'the model: a checkpoint of train or transfer-train, or ResNet18 weights (required)' },
    { name: 'checkpoint', value: 'FILE', text: 'the same as --weights' },
    { name: 'size', value: 'N', text: "ResNet18: the side of the square the images are brought to (default 224, or a transfer checkpoint's training size; at least 32)" },
    { name: 'fit', value: 'center-crop|stretch', text: 'ResNet18: center-crop (default): resize the short side, then crop the middle; stretch: resize to N x N' },
    { name: 'batch', value: 'N', text: 'images per GPU batch (default 8)' },
    { name: 'top', value: 'K', text: 'classes printed per image (default 5)' },
    { name: 'json', text: 'print the results as JSON' },
  ],
};
