// The two Fashion-MNIST models of the classic PyTorch exercise (28x28 greyscale images, 10
// classes), with the parameter names a PyTorch version of the same classes would have.
import type { Tape } from '../../autograd/tape.js';
import type { Variable } from '../../autograd/variable.js';
import type { Engine } from '../../runtime/engine.js';
import { Conv2d } from '../conv.js';
import { Rng } from '../init.js';
import { Dropout, Flatten, MaxPool2d, ReLU } from '../layers.js';
import { Linear } from '../linear.js';
import { Module } from '../module.js';
import { BatchNorm2d } from '../norm.js';
import { Sequential } from '../sequential.js';

export interface FashionModelOptions {
  /** Seeds the initial weights and the dropout stream (default 0). */
  seed?: number;
}

/**
 * The fully connected network: flatten -> Linear 784->256 -> ReLU -> Dropout(0.25) ->
 * Linear 256->128 -> ReLU -> Linear 128->10. Parameters: fc1.*, fc2.*, fc3.*.
 * Input [N, 1, 28, 28] (or [N, 784]); output logits [N, 10].
 */
export class FashionDNN extends Module {
  readonly flatten: Flatten;
  readonly fc1: Linear;
  readonly relu1: ReLU;
  readonly drop: Dropout;
  readonly fc2: Linear;
  readonly relu2: ReLU;
  readonly fc3: Linear;

  constructor(engine: Engine, options: FashionModelOptions = {}) {
    super();
    const rng = new Rng(options.seed ?? 0);
    this.flatten = this.registerModule('flatten', new Flatten(1));
    this.fc1 = this.registerModule('fc1', new Linear(engine, 784, 256, { rng }));
    this.relu1 = this.registerModule('relu1', new ReLU());
    this.drop = this.registerModule('drop', new Dropout(0.25, { rng }));
    this.fc2 = this.registerModule('fc2', new Linear(engine, 256, 128, { rng }));
    this.relu2 = this.registerModule('relu2', new ReLU());
    this.fc3 = this.registerModule('fc3', new Linear(engine, 128, 10, { rng }));
  }

  forward(tape: Tape, x: Variable): Variable {
    let h = this.flatten.call(tape, x);
    h = this.relu1.call(tape, this.fc1.call(tape, h));
    h = this.drop.call(tape, h);
    h = this.relu2.call(tape, this.fc2.call(tape, h));
    return this.fc3.call(tape, h);
  }
}

/**
 * The convolutional network:
 *   layer1 = Conv 1->32 3x3 pad 1, BatchNorm2d(32), ReLU, MaxPool 2   (28x28 -> 14x14)
 *   layer2 = Conv 32->64 3x3, BatchNorm2d(64), ReLU, MaxPool 2        (14x14 -> 12x12 -> 6x6)
 *   flatten -> fc1 Linear 2304->600 -> Dropout(0.25) -> fc2 Linear 600->120 -> fc3 Linear 120->10
 * Parameters: layer1.0.* (conv), layer1.1.* (batch norm, with running_mean / running_var),
 * layer2.0.*, layer2.1.*, fc1.*, fc2.*, fc3.*. Input [N, 1, 28, 28]; output logits [N, 10].
 */
export class FashionCNN extends Module {
  readonly layer1: Sequential;
  readonly layer2: Sequential;
  readonly fc1: Linear;
  readonly drop: Dropout;
  readonly fc2: Linear;
  readonly fc3: Linear;

  constructor(engine: Engine, options: FashionModelOptions = {}) {
    super();
    const rng = new Rng(options.seed ?? 0);
    this.layer1 = this.registerModule(
      'layer1',
      new Sequential(new Conv2d(engine, 1, 32, 3, { padding: 1, rng }), new BatchNorm2d(engine, 32), new ReLU(), new MaxPool2d(2, { stride: 2 })),
    );
    this.layer2 = this.registerModule(
      'layer2',
      new Sequential(new Conv2d(engine, 32, 64, 3, { rng }), new BatchNorm2d(engine, 64), new ReLU(), new MaxPool2d(2)),
    );
    this.fc1 = this.registerModule('fc1', new Linear(engine, 64 * 6 * 6, 600, { rng }));
    this.drop = this.registerModule('drop', new Dropout(0.25, { rng }));
    this.fc2 = this.registerModule('fc2', new Linear(engine, 600, 120, { rng }));
    this.fc3 = this.registerModule('fc3', new Linear(engine, 120, 10, { rng }));
  }

  forward(tape: Tape, x: Variable): Variable {
    const features = this.layer2.call(tape, this.layer1.call(tape, x));
    let h = this.fc1.call(tape, tape.flatten(features, 1));
    h = this.drop.call(tape, h);
    return this.fc3.call(tape, this.fc2.call(tape, h));
  }
}

export function fashionDnn(engine: Engine, options: FashionModelOptions = {}): FashionDNN {
  return new FashionDNN(engine, options);
}

export function fashionCnn(engine: Engine, options: FashionModelOptions = {}): FashionCNN {
  return new FashionCNN(engine, options);
}
