// The Fashion-MNIST commands' defaults and usage text, apart from the training code so that
// `main.ts` loads the models and the data only when one of these commands runs.

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

export const FASHION_USAGE = `  train [--model cnn|dnn] [--epochs N] [--batch N] [--lr X] [--schedule cosine|constant] [--seed N]
        [--limit-train N|all] [--limit-test N|all] [--out DIR] [--read-every N] [--resume [--override-hyperparameters]]
                                train on Fashion-MNIST and evaluate on the test split after each epoch
                                (default: CNN, ${DEFAULTS.epochs} epoch on the first ${DEFAULTS.limitTrain} training images, tested on
                                the first ${DEFAULTS.limitTest}, batch ${DEFAULTS.batchSize}, lr annealed to 0 by cosine; the full
                                run: --epochs 5 --limit-train all --limit-test all);
                                each epoch replaces DIR/fashion-<model>.safetensors (model, Adam state, position and
                                settings in one atomic file) and .png; --resume continues after the epoch it holds,
                                exactly, and refuses other --batch, --lr, --schedule, --seed, --limit-train (or, with
                                the cosine schedule, --epochs) than it was trained with unless --override-hyperparameters
                                is given; more --epochs extend a constant-rate run;
                                --read-every: steps between loss readbacks (default ${DEFAULTS.readEvery})
  evaluate --checkpoint FILE [--model cnn|dnn] [--limit-test N|all]
                                test accuracy, per-class accuracy and confusion matrix of a checkpoint
  compare [--epochs N] [--batch N] [--lr X] [--schedule cosine|constant] [--seed N] [--limit-train N|all] [--limit-test N|all]
        [--out DIR] [--read-every N]
                                train the DNN and the CNN alike and print them side by side
`;
