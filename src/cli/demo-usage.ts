// The `demo` and `info` commands' help (src/cli/help.ts formats it).
import type { CommandHelp } from './help.js';

export const CNN_DEMO_DEFAULTS = { batch: 8, runs: 10 };

export const DEMO_HELP: CommandHelp = {
  name: 'demo',
  summary: "one forward pass of the Fashion CNN's layers on the GPU, checked against the CPU reference",
  synopsis: ['demo [--batch N] [--runs N]'],
  description:
    "Runs the textbook Fashion-MNIST CNN's layers (conv, pool, linear, softmax; seeded weights) on the GPU, " +
    'checks every output against the float64 CPU reference, and prints the adapter, each layer\'s shape and the timings.',
  options: [
    { name: 'batch', value: 'N', text: `images per forward pass (default ${CNN_DEMO_DEFAULTS.batch})` },
    { name: 'runs', value: 'N', text: `timed runs after the first (default ${CNN_DEMO_DEFAULTS.runs})` },
  ],
};

export const INFO_HELP: CommandHelp = {
  name: 'info',
  summary: 'the WebGPU adapter, the features used and the limits that matter',
  synopsis: ['info'],
  description: 'Prints the WebGPU adapter dawn.node finds, the optional features the engine uses on it and its buffer and workgroup limits.',
  options: [],
};
