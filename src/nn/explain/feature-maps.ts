// The activations of named layers for one forward pass: forward hooks keep a view of each named
// layer's output (the layer's own module runs: fused paths skip hooked modules), nothing is
// recorded for a backward pass.
import { Tape } from '../../autograd/tape.js';
import { constant } from '../../autograd/variable.js';
import { expectTensor, fail } from '../../ops/check.js';
import type { Tensor } from '../../runtime/tensor.js';
import type { Module } from '../module.js';
import { enterExplainMode, findLayer } from './layers.js';

/**
 * Runs the model (in evaluation mode) on `input` and returns the output of each layer named in
 * `layers` (state-dict names such as 'layer1.0' or 'layer3.1.conv2'), by name: new tensors the
 * caller disposes. Unknown names are refused with the model's layer names listed.
 */
export function featureMaps(model: Module, input: Tensor, layers: readonly string[]): Map<string, Tensor> {
  const op = 'featureMaps';
  expectTensor(op, 'input', input);
  if (!Array.isArray(layers) || layers.length === 0) fail(op, `expected a list of one or more layer names, got ${JSON.stringify(layers)}`);
  const names = [...new Set(layers)];
  const modules = names.map((name) => findLayer(model, name, op));
  const maps = new Map<string, Tensor>();
  const restore = enterExplainMode(model);
  const tape = new Tape(input.engine, { grad: false });
  const removers = modules.map((module, i) =>
    module.registerForwardHook((_m, _x, y) => {
      const name = names[i]!;
      if (maps.has(name)) fail(op, `layer '${name}' ran more than once in one forward pass, so its output is ambiguous`);
      maps.set(name, y.value.reshape(y.shape)); // a view: it outlives the tape
    }),
  );
  try {
    model.call(tape, constant(input));
    const silent = names.filter((name) => !maps.has(name));
    if (silent.length > 0) fail(op, `layer(s) ${silent.map((n) => `'${n}'`).join(', ')} did not run in the model's forward pass`);
    return new Map(names.map((name) => [name, maps.get(name)!]));
  } catch (err) {
    for (const t of maps.values()) t.dispose();
    throw err;
  } finally {
    for (const remove of removers) remove();
    tape.dispose();
    restore();
  }
}
