#!/usr/bin/env node
// webgpu-cnn command line. `demo` (the default) runs a small CNN forward pass on the GPU.
import { parseArgs } from 'node:util';
import { acquireDevice } from '../gpu/device.js';
import { runDemo } from './demo.js';
import { FASHION_USAGE } from './fashion-usage.js';
import { INFER_USAGE } from './infer-usage.js';
import { TRANSFER_USAGE } from './transfer-usage.js';
import { positiveInt } from './options.js';

const USAGE = `usage: webgpu-cnn <command> [options]

commands:
  demo [--batch N] [--runs N]   a small CNN forward pass on the GPU, checked against the CPU reference (default)
  info                          print the WebGPU adapter and its limits
${FASHION_USAGE}${INFER_USAGE}${TRANSFER_USAGE}`;

async function main(argv: string[]): Promise<void> {
  const command = argv[0] && !argv[0].startsWith('-') ? argv[0] : 'demo';
  const rest = command === argv[0] ? argv.slice(1) : argv;
  if (command === 'help' || rest.includes('--help')) {
    process.stdout.write(USAGE);
    return;
  }
  if (command === 'demo') {
    const { values } = parseArgs({ args: rest, options: { batch: { type: 'string' }, runs: { type: 'string' } } });
    await runDemo({ batch: positiveInt('batch', values.batch, 8), runs: positiveInt('runs', values.runs, 10), log: (l) => console.log(l) });
  } else if (command === 'info') {
    parseArgs({ args: rest, options: {} });
    const { device, adapterName, features } = await acquireDevice();
    console.log(`adapter: ${adapterName}`);
    console.log(`features used: ${[...features].join(', ') || 'none'}`);
    for (const key of ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup'] as const) {
      console.log(`${key}: ${device.limits[key]}`);
    }
    device.destroy();
  } else if (command === 'infer') {
    const { runInferCommand } = await import('./infer.js');
    await runInferCommand(rest, (text) => console.log(text));
  } else if (command === 'train' || command === 'evaluate' || command === 'compare') {
    const { runFashionCommand } = await import('./train-fashion.js');
    await runFashionCommand(command, rest, { progress: process.stdout, log: (line) => console.log(line) });
  } else if (command === 'transfer-train' || command === 'transfer-demo') {
    const { runTransferCommand } = await import('./transfer.js');
    await runTransferCommand(command, rest, { progress: process.stdout, log: (line) => console.log(line) });
  } else {
    throw new Error(`unknown command '${command}'\n${USAGE}`);
  }
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
