// The `infer` command's help, apart from src/cli/infer.ts so that main.ts loads the model code and
// the image decoders only when `infer` runs.
import type { CommandHelp } from './help.js';

/** The synopsis, for infer's own argument errors. */
export const INFER_USAGE = '  webgpu-cnn infer --weights FILE [--size N] [--fit center-crop|stretch] [--batch N] [--top K] [--json] IMAGE...\n';

export const INFER_HELP: CommandHelp = {
  name: 'infer',
  summary: 'classify PNG/JPEG images with ResNet18 weights (top-5 ImageNet classes)',
  synopsis: ['infer --weights FILE [options] IMAGE...'],
  description:
    'Decodes the images, resizes and normalises them on the GPU (torchvision\'s resize + center crop and ' +
    "ImageNet's mean and std) and runs ResNet18 on them in batches, decoding one batch at a time (each image at most " +
    '100 megapixels, checked from its header first); prints the top classes per image.\n' +
    'FILE is a torchvision resnet18 state dict in safetensors: scripts/export_resnet18.py writes one.',
  options: [
    { name: 'weights', value: 'FILE', text: 'the ResNet18 weights (required)' },
    { name: 'size', value: 'N', text: 'the side of the square the images are brought to (default 224, at least 32)' },
    { name: 'fit', value: 'center-crop|stretch', text: 'center-crop (default): resize the short side, then crop the middle; stretch: resize to N x N' },
    { name: 'batch', value: 'N', text: 'images per GPU batch (default 8)' },
    { name: 'top', value: 'K', text: 'classes printed per image (default 5)' },
    { name: 'json', text: 'print the results as JSON' },
  ],
};
