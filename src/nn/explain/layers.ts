// Finding a model's layers by their state-dict names ('layer3.1.conv2', 'fc1'), and running a
// model for an explanation: evaluation mode with every parameter frozen, so that no weight gradient
// is computed and batch norms use their running statistics; the model's modes are put back after.
import { fail } from '../../ops/check.js';
import type { Module } from '../module.js';

/** Every module of the model by its dotted name (the model itself, '', left out), in forward order. */
export function layerNames(model: Module): string[] {
  return model.namedModules().map(([name]) => name).filter((name) => name !== '');
}

/** The module named `name`; an unknown name is refused with the valid ones listed. */
export function findLayer(model: Module, name: string, op: string): Module {
  const found = model.namedModules().find(([n]) => n === name && n !== '');
  if (found) return found[1];
  const names = layerNames(model);
  fail(op, `unknown layer ${JSON.stringify(name)}; the ${model.constructor.name}'s layers are: ${names.join(', ')}`);
}

/**
 * Puts the model in evaluation mode with every parameter frozen; returns the function that puts
 * back each module's mode and each parameter's requiresGrad and gradient as they were.
 */
export function enterExplainMode(model: Module): () => void {
  const modes = model.namedModules().map(([, m]): [Module, boolean] => [m, m.training]);
  const params = model.parameters().map((p) => ({ p, requires: p.requiresGrad, grad: p.grad }));
  model.eval();
  for (const { p } of params) {
    p.grad = undefined; // kept aside: freezing would free it
    p.requiresGrad = false;
  }
  return () => {
    for (const [m, training] of modes) m.training = training;
    for (const { p, requires, grad } of params) {
      p.requiresGrad = requires;
      p.grad = grad;
    }
  };
}
