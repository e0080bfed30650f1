// The transfer-learning commands' defaults and usage text, apart from their code so that main.ts
// loads ResNet18, the image decoders and the data only when one of them runs.

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

export const TRANSFER_USAGE = `  transfer-train --data DIR --mode feature-extraction|fine-tune [--unfreeze fc|layer4|layer3+|all]
        [--weights FILE] [--epochs N] [--batch N] [--size N] [--lr X] [--optimizer sgd|adam]
        [--seed N] [--val FRACTION] [--grid N] [--checkpoint-every STEPS] [--out DIR]
  transfer-train --resume CHECKPOINT [--epochs N] [--data DIR] [--out DIR]
                                adapt ResNet18 to an image folder (one sub-folder of PNG/JPEG images per
                                class), validating on a seeded ${TRANSFER_DEFAULTS.validationFraction * 100}% of each class: feature extraction trains
                                a new fc on the frozen backbone, fine-tuning also the stages --unfreeze names
                                (default all). --weights: a torchvision resnet18 state dict in safetensors
                                (scripts/export_resnet18.py) or a checkpoint; without it the network starts
                                from random weights (fine-tune all only). Defaults: ${TRANSFER_DEFAULTS.epochs} epochs, batch ${TRANSFER_DEFAULTS.batchSize},
                                ${TRANSFER_DEFAULTS.size}x${TRANSFER_DEFAULTS.size}, SGD momentum ${TRANSFER_DEFAULTS.momentum}, lr ${TRANSFER_DEFAULTS.lr}. An epoch whose last batch
                                would hold a single image leaves that image out (batch norm cannot train on one).
                                Each epoch writes DIR/checkpoint.safetensors (model, optimiser, RNG state and
                                position in one atomic file), curves.png and predictions.png (default DIR
                                ${TRANSFER_DEFAULTS.outDir}); --resume continues exactly where the checkpoint stopped
  transfer-demo [--pretrain-steps N] [--steps N] [--batch N] [--size N] [--train-per-class N]
        [--pretrain-per-class N] [--val-per-class N] [--eval-every N] [--lr X] [--head-lr X] [--fine-tune-lr X]
        [--unfreeze layer4|layer3+|all] [--pretrained FILE] [--seed N] [--out DIR]
                                ResNet18 pretrained here on Fashion-MNIST classes 0-4 (upscaled to 3-channel
                                ${DEMO_DEFAULTS.size}x${DEMO_DEFAULTS.size}), then moved to classes 5-9 by feature extraction, by fine-tuning and
                                from scratch, the same steps each; prints the three accuracies side by side and
                                writes DIR/curves.png, predictions.png and pretrained.safetensors (reuse it with
                                --pretrained, or as transfer-train --weights). Defaults (a few minutes on 2 CPU
                                cores with lavapipe): batch ${DEMO_DEFAULTS.batchSize}, ${DEMO_DEFAULTS.pretrainSteps} pretraining steps, ${DEMO_DEFAULTS.steps} steps per transfer run on
                                ${DEMO_DEFAULTS.trainPerClass} images a class, Adam lr ${DEMO_DEFAULTS.lr} (feature extraction ${DEMO_DEFAULTS.headLr}, fine-tuning ${DEMO_DEFAULTS.fineTuneLr});
                                a longer run (~13 min there): --pretrain-steps 150 --steps 60 --train-per-class 100 --eval-every 20
`;
