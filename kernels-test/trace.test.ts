// Tracing a module's forward pass into a graph (src/autograd/trace.ts) and running a graph on a
// tape: the traced graph holds the module's ops under its modules' names, with the module's own
// tensors (or given ones) as constants, computes what the module computes, and refuses what a
// graph cannot hold. Modules built on the meta engine have shapes and no data.
import { describe, expect, it } from 'vitest';
import { Tape } from '../src/autograd/tape.js';
import { runGraph, traceModule } from '../src/autograd/trace.js';
import { constant, type Variable } from '../src/autograd/variable.js';
import { compileGraph } from '../src/graph/plan.js';
import { Conv2d } from '../src/nn/conv.js';
import { Rng } from '../src/nn/init.js';
import { AdaptiveAvgPool2d, Dropout, Flatten, ReLU } from '../src/nn/layers.js';
import { Linear } from '../src/nn/linear.js';
import { META_ENGINE, isMeta } from '../src/nn/meta.js';
import { BasicBlock, resnet18Structure } from '../src/nn/models/resnet18-module.js';
import { Module } from '../src/nn/module.js';
import { BatchNorm2d } from '../src/nn/norm.js';
import { Sequential } from '../src/nn/sequential.js';
import { random, useEngine } from './helpers.js';

const engine = useEngine();

/** conv -> bn -> relu, then a residual add of the input's 1x1 projection, pooled and classified. */
class Net extends Module {
  readonly body: Sequential;
  readonly project: Conv2d;
  readonly head: Sequential;
  constructor(e = engine()) {
    super();
    const rng = new Rng(3);
    this.body = this.registerModule('body', new Sequential(new Conv2d(e, 3, 4, 3, { padding: 1, rng }), new BatchNorm2d(e, 4), new ReLU()));
    this.project = this.registerModule('project', new Conv2d(e, 3, 4, 1, { rng }));
    this.head = this.registerModule('head', new Sequential(new AdaptiveAvgPool2d(1), new Flatten(), new Dropout(0.5, { seed: 1 }), new Linear(e, 4, 5, { rng })));
  }

  forward(tape: Tape, x: Variable): Variable {
    return this.head.call(tape, tape.relu(tape.add(this.body.call(tape, x), this.project.call(tape, x))));
  }
}

/** Gives the batch norm running statistics other than 0 and 1. */
function randomiseStatistics(net: Net): void {
  const bn = net.body.at(1) as BatchNorm2d;
  engine().upload(bn.runningMean!.buffer, random(4, 7, -1, 1));
  engine().upload(bn.runningVar!.buffer, random(4, 8, 0.5, 2));
}

describe('traceModule', () => {
  it("records the module's ops under its modules' names, with its state as constants", () => {
    const net = new Net().eval();
    const g = traceModule(net, { name: 'x', shape: [2, 3, 8, 8] }, { output: 'logits' });
    const ops = g.nodes.filter((n) => n.op !== 'constant').map((n) => `${n.op} ${n.name}`);
    // Dropout in evaluation mode is the identity: no node.
    expect(ops).toEqual(['input x', 'conv2d body.0', 'batchNorm body.1', 'relu body.2', 'conv2d project', 'add add', 'relu relu', 'adaptiveAvgPool2d head.0', 'flatten head.1', 'linear head.3']);
    const constants = g.nodes.filter((n) => n.op === 'constant');
    // In the order the ops first read them.
    expect(constants.map((n) => n.name)).toEqual([
      'body.0.weight',
      'body.0.bias',
      'body.1.running_mean',
      'body.1.running_var',
      'body.1.weight',
      'body.1.bias',
      'project.weight',
      'project.bias',
      'head.3.weight',
      'head.3.bias',
    ]);
    expect(constants.every((n) => n.tensor === net.stateDict().get(n.name))).toBe(true); // borrowed, not copied
    expect(g.nodes.find((n) => n.name === 'body.0')!.options).toMatchObject({ padding: 1 });
    expect([...g.outputs.keys()]).toEqual(['logits']);
    net.dispose();
  });

  it('computes what the module computes, compiled with or without the inference rewrites', async () => {
    const e = engine();
    const net = new Net().eval();
    randomiseStatistics(net);
    const shape = [2, 3, 8, 8];
    const data = random(2 * 3 * 64, 11);
    const x = constant(e.tensor(data, shape));
    const tape = new Tape(e, { grad: false });
    const eager = await net.call(tape, x).value.toArray();
    const g = traceModule(net, { name: 'x', shape });
    for (const rewrite of [false, true]) {
      const plan = await compileGraph(e, g, { x: shape }, { rewrite });
      const out = (await plan.run({ x: data })).output!;
      // The same ops in the same order give the same bits; folding the batch norm rounds differently.
      if (rewrite) {
        expect(plan.rewrites).toMatchObject({ foldedBatchNorms: 1, fusedAdds: 1, fusedRelus: 2 });
        expect(Math.max(...out.map((v, i) => Math.abs(v - eager[i]!)))).toBeLessThan(1e-5);
      } else {
        expect(out).toEqual(eager);
      }
      plan.dispose();
    }
    // Another batch size and image size compile from the same graph.
    const other = await compileGraph(e, g, { x: [1, 3, 5, 6] });
    expect(other.outputShapes['output']).toEqual([1, 5]);
    other.dispose();
    tape.dispose();
    x.dispose();
    net.dispose();
  });

  it('runGraph applies a graph on a tape: the same values; its constants need no gradient, so nothing is recorded', async () => {
    const e = engine();
    const net = new Net().eval();
    randomiseStatistics(net);
    const x = constant(e.tensor(random(3 * 36, 12), [1, 3, 6, 6]));
    const g = traceModule(net, { name: 'x', shape: [1, 3, 6, 6] });
    const tape = new Tape(e);
    const eager = await net.call(tape, x).value.toArray();
    expect(tape.recordedOps).toBe(9); // the parameters require gradients
    const { output } = runGraph(tape, g, { x });
    expect(await output!.value.toArray()).toEqual(eager);
    expect(tape.recordedOps).toBe(9);
    tape.dispose();
    x.dispose();
    net.dispose();
  });

  it("takes given constants instead of the module's, of the same shapes", () => {
    const net = new Net().eval();
    const weight = { shape: [5, 4], data: random(20, 13) };
    const g = traceModule(net, { name: 'x', shape: [1, 3, 4, 4] }, { constants: new Map([['head.3.weight', weight]]) });
    expect(g.nodes.find((n) => n.name === 'head.3.weight')!.host!.data).toBe(weight.data);
    expect(() => traceModule(net, { name: 'x', shape: [1, 3, 4, 4] }, { constants: new Map([['head.9.weight', weight]]) })).toThrow(
      "traceModule: constants name 'head.9.weight', which is not a parameter or buffer of the module",
    );
    expect(() => traceModule(net, { name: 'x', shape: [1, 3, 4, 4] }, { constants: new Map([['head.3.bias', weight]]) })).toThrow(
      "traceModule: constant 'head.3.bias' has shape [5, 4], the module's [5]",
    );
    net.dispose();
  });

  it('refuses training mode, names the module where an op fails, and traced values have no data', () => {
    const net = new Net();
    const dropout = net.head.at(2) as Dropout;
    expect(() => traceModule(net, { name: 'x', shape: [2, 3, 8, 8] })).toThrow(
      'traceModule: in body.1: batchNorm: runs in training mode, which a graph cannot hold (it would update running statistics or draw new masks on every run); trace the module in evaluation mode (module.eval())',
    );
    net.eval();
    dropout.train();
    expect(() => traceModule(net, { name: 'x', shape: [2, 3, 8, 8] })).toThrow('traceModule: in head.2: dropout: runs in training mode');
    expect(dropout.calls).toBe(0); // the refused call drew no mask
    net.eval();
    expect(() => traceModule(net, { name: 'x', shape: [2, 4, 8, 8] })).toThrow(/^traceModule: in body\.0: conv2d: expected input with 3 channels/);
    const peek = net.project.registerForwardHook((_m, _x, y) => void y.value);
    expect(() => traceModule(net, { name: 'x', shape: [2, 3, 8, 8] })).toThrow("the output of graph node 'project' (conv2d) is traced: it has a shape and no data until the graph runs");
    peek();
    net.dispose();
  });

  it("does not take a module's own fused path: a frozen residual block traces its batch norms", () => {
    const block = new BasicBlock(engine(), 'block', 0, 4, 8, 2).eval().requiresGrad(false);
    const g = traceModule(block, { name: 'x', shape: [1, 4, 8, 8] });
    expect(g.nodes.filter((n) => n.op !== 'constant').map((n) => `${n.op} ${n.name}`)).toEqual([
      'input x',
      'conv2d conv1',
      'batchNorm bn1',
      'relu relu',
      'conv2d conv2',
      'batchNorm bn2',
      'conv2d downsample.0',
      'batchNorm downsample.1',
      'add add',
      'relu relu_2',
    ]);
    block.dispose();
  });
});

describe('the meta engine', () => {
  it('builds modules with shapes and no data, and says so when data is needed', () => {
    const model = resnet18Structure(10);
    const state = model.stateDict();
    expect(state.get('fc.weight')!.shape).toEqual([10, 512]);
    expect([...state.values()].every(isMeta)).toBe(true);
    expect(() => new Conv2d(META_ENGINE, 2, 2, 1).weight.value.buffer.size).toThrow("a meta tensor (built on the meta engine for its shape only) has no GPU buffer: 'size' cannot be used");
    expect(() => state.get('conv1.weight')!.toArray()).toThrow(/the meta engine builds modules for their structure \(shapes, no data\): Engine\.\w+ needs a real engine/);
    const tape = new Tape(engine());
    expect(() => model.call(tape, constant(engine().zeros([1, 3, 32, 32])))).toThrow(/belongs to a different engine than the tape/);
    tape.dispose();
  });
});
