#!/usr/bin/env node
// webgpu-cnn's command line (the package's `bin`; in the repository also `npx tsx src/cli/main.ts`).
// Each command's code is imported only when it runs; its help lives in src/cli/*-usage.ts.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { useNodeGpu } from '../gpu/node-gpu.js';
import { CNN_DEMO_DEFAULTS, DEMO_HELP, INFO_HELP } from './demo-usage.js';
import { dieWithParent, runWithFilteredStderr, stderrIsFiltered } from './driver-noise.js';
import { COMPARE_HELP, EVALUATE_HELP, TRAIN_HELP } from './fashion-usage.js';
import { GCN_HELP } from './gcn-usage.js';
import { GLOBAL_OPTIONS, PROGRAM, didYouMean, formatCommandHelp, formatOverview, unknownOption, type CommandHelp } from './help.js';
import { EXPLAIN_HELP } from './explain-usage.js';
import { INFER_HELP } from './infer-usage.js';
import { positiveInt } from './options.js';
import { TRANSFER_DEMO_HELP, TRANSFER_TRAIN_HELP } from './transfer-usage.js';

interface Command {
  help: CommandHelp;
  run(args: string[]): Promise<void>;
}

const log = (line: string) => console.log(line);
const io = { progress: process.stdout, log };

const COMMANDS: readonly Command[] = [
  {
    help: DEMO_HELP,
    async run(args) {
      const { values } = parseArgs({ args, options: { batch: { type: 'string' }, runs: { type: 'string' } } });
      const { runDemo } = await import('./demo.js');
      await runDemo({ batch: positiveInt('batch', values.batch, CNN_DEMO_DEFAULTS.batch), runs: positiveInt('runs', values.runs, CNN_DEMO_DEFAULTS.runs), log });
    },
  },
  {
    help: INFO_HELP,
    async run(args) {
      parseArgs({ args, options: {} });
      const { acquireDevice } = await import('../gpu/device.js');
      const { device, adapterName, features } = await acquireDevice();
      log(`adapter: ${adapterName}`);
      log(`features used: ${[...features].join(', ') || 'none'}`);
      for (const key of ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup'] as const) {
        log(`${key}: ${device.limits[key]}`);
      }
      device.destroy();
    },
  },
  ...[TRAIN_HELP, EVALUATE_HELP, COMPARE_HELP].map((help) => ({
    help,
    async run(args: string[]) {
      const { runFashionCommand } = await import('./train-fashion.js');
      await runFashionCommand(help.name as 'train' | 'evaluate' | 'compare', args, io);
    },
  })),
  {
    help: INFER_HELP,
    async run(args) {
      const { runInferCommand } = await import('./infer.js');
      await runInferCommand(args, log);
    },
  },
  {
    help: EXPLAIN_HELP,
    async run(args) {
      const { runExplainCommand } = await import('./explain.js');
      await runExplainCommand(args, log);
    },
  },
  ...[TRANSFER_TRAIN_HELP, TRANSFER_DEMO_HELP].map((help) => ({
    help,
    async run(args: string[]) {
      const { runTransferCommand } = await import('./transfer.js');
      await runTransferCommand(help.name as 'transfer-train' | 'transfer-demo', args, io);
    },
  })),
  {
    help: GCN_HELP,
    async run(args) {
      const { runGcnCommand } = await import('./gcn.js');
      await runGcnCommand(args, log);
    },
  },
];

const COMMAND_NAMES = COMMANDS.map((c) => c.help.name);

/** A mistake in the command line itself: printed with a pointer to the help. */
class UsageError extends Error {}

function version(): string {
  // package.json sits two levels up from both src/cli/main.ts and dist/cli/main.js.
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function findCommand(name: string): Command {
  const command = COMMANDS.find((c) => c.help.name === name);
  if (!command) throw new UsageError(`unknown command '${name}'${didYouMean(name, [...COMMAND_NAMES, 'help'])}; '${PROGRAM} --help' lists the commands`);
  return command;
}

/** How many leading arguments can be flags: those before a `--` (after it everything is a value). */
const flagCount = (args: string[]): number => (args.includes('--') ? args.indexOf('--') : args.length);
const hasFlag = (args: string[], ...names: string[]): boolean => args.slice(0, flagCount(args)).some((a) => names.includes(a));

/** Runs the command line; resolves to the exit status. */
async function main(argv: string[]): Promise<number> {
  const verbose = hasFlag(argv, '--verbose');
  const args = argv.filter((a, i) => a !== '--verbose' || i >= flagCount(argv));
  const [first, ...rest] = args;
  if (first === undefined || first === '--help' || first === '-h' || (first === 'help' && rest.length === 0)) {
    process.stdout.write(formatOverview(COMMANDS.map((c) => c.help), version()));
    return 0;
  }
  if (first === '--version') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  if (first === 'help') {
    process.stdout.write(formatCommandHelp(findCommand(rest[0]!).help));
    return 0;
  }
  if (first.startsWith('-')) {
    const known = [...GLOBAL_OPTIONS.map((o) => o.name), 'version'];
    throw new UsageError(`unknown option '${first}'${didYouMean(first.replace(/^-+/, ''), known, '--')}; give a command first: '${PROGRAM} --help' lists them`);
  }
  const command = findCommand(first);
  if (hasFlag(rest, '--help', '-h')) {
    process.stdout.write(formatCommandHelp(command.help));
    return 0;
  }
  if (!verbose && !stderrIsFiltered()) return runWithFilteredStderr(args);
  if (stderrIsFiltered()) dieWithParent();
  useNodeGpu();
  try {
    await command.run(rest);
  } catch (err) {
    throw explainParseError(command.help, err);
  }
  return 0;
}

/** node:util parseArgs's errors, said in the command's terms with a pointer to its help. */
function explainParseError(help: CommandHelp, err: unknown): unknown {
  const code = (err as { code?: unknown })?.code;
  if (typeof code !== 'string' || !code.startsWith('ERR_PARSE_ARGS_')) return err;
  const hint = `'${PROGRAM} ${help.name} --help' lists its options`;
  const option = unknownOption(err);
  if (option !== undefined) {
    const known = [...help.options, ...GLOBAL_OPTIONS].map((o) => o.name);
    return new UsageError(`${help.name}: unknown option '--${option}'${didYouMean(option, known, '--')}; ${hint}`);
  }
  // Without parseArgs's advice on '--' and dashes, which is about its own syntax, not this command.
  const message = (err as Error).message.replace(/\s*To specify [^]*$/, '').replace(/\.$/, '');
  return new UsageError(`${help.name}: ${message}; ${hint}`);
}

main(process.argv.slice(2)).then(
  (status) => process.exit(status),
  (err: unknown) => {
    console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(err instanceof UsageError ? 2 : 1);
  },
);
