// The command line's help: one CommandHelp per command (written next to each command's defaults
// in src/cli/*-usage.ts), formatted for `webgpu-cnn --help` and `webgpu-cnn COMMAND --help`, and
// "did you mean" suggestions for mistyped commands and options.

export interface OptionHelp {
  /** The long name without dashes, as parseArgs knows it: 'limit-train'. */
  name: string;
  /** What the value looks like ('N', 'FILE', 'cnn|dnn'); none for a flag. */
  value?: string;
  /** One sentence or two, defaults included; wrapped by the formatter. */
  text: string;
}

export interface CommandHelp {
  name: string;
  /** One line for the command list. */
  summary: string;
  /** Usage lines after `webgpu-cnn `, e.g. 'train [options]'. */
  synopsis: readonly string[];
  /** What the command does, in a paragraph or two (a newline starts the next); wrapped. */
  description: string;
  options: readonly OptionHelp[];
}

export const PROGRAM = 'webgpu-cnn';

/** Options every command takes (main.ts handles them before the command's own parser runs). */
export const GLOBAL_OPTIONS: readonly OptionHelp[] = [
  { name: 'help', text: 'print this help (also -h)' },
  { name: 'verbose', text: "also print the WebGPU driver's own warnings on stderr (hidden otherwise)" },
];

const WIDTH = 100;
const OPTION_COLUMN = 28;

/** Splits text into lines of at most `width` characters at spaces, each prefixed with `indent`. */
export function wrap(text: string, width: number, indent = ''): string[] {
  const lines: string[] = [];
  for (const paragraph of text.split('\n')) {
    let line = '';
    for (const word of paragraph.split(/\s+/).filter((w) => w.length > 0)) {
      if (line.length > 0 && indent.length + line.length + 1 + word.length > width) {
        lines.push(indent + line);
        line = word;
      } else {
        line = line.length > 0 ? `${line} ${word}` : word;
      }
    }
    lines.push(line.length > 0 ? indent + line : '');
  }
  return lines;
}

function formatOptions(options: readonly OptionHelp[]): string[] {
  const out: string[] = [];
  for (const option of options) {
    const flag = `  --${option.name}${option.value ? ` ${option.value}` : ''}`;
    const text = wrap(option.text, WIDTH, ' '.repeat(OPTION_COLUMN));
    if (flag.length < OPTION_COLUMN - 1) {
      out.push(flag.padEnd(OPTION_COLUMN) + text[0]!.trimStart(), ...text.slice(1));
    } else {
      out.push(flag, ...text);
    }
  }
  return out;
}

/** `webgpu-cnn COMMAND --help`. */
export function formatCommandHelp(command: CommandHelp): string {
  const synopsis = command.synopsis.map((s, i) => `${i === 0 ? 'usage: ' : '       '}${PROGRAM} ${s}`);
  const lines = [...synopsis, '', ...wrap(command.description, WIDTH)];
  if (command.options.length > 0) lines.push('', 'options:', ...formatOptions(command.options));
  lines.push('', 'general options:', ...formatOptions(GLOBAL_OPTIONS));
  return lines.join('\n') + '\n';
}

/** `webgpu-cnn --help`: the commands, one line each. */
export function formatOverview(commands: readonly CommandHelp[], version: string): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 4;
  return [
    `${PROGRAM} ${version}: convolutional networks on WebGPU (hand-written WGSL compute shaders)`,
    '',
    `usage: ${PROGRAM} COMMAND [options]`,
    `       ${PROGRAM} COMMAND --help     the command's options`,
    '',
    'commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    'general options:',
    ...formatOptions([...GLOBAL_OPTIONS, { name: 'version', text: 'print the version' }]),
    '',
  ].join('\n');
}

/** The edit distance (insertions, deletions, substitutions, adjacent swaps) between two strings. */
export function editDistance(a: string, b: string): number {
  // Optimal string alignment: Levenshtein plus transpositions, so 'trian' is 1 from 'train'.
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The known names close enough to `name` to be what was meant, best first: within a third of the
 * name's length (at least 1, at most 3) edits, or names that start with it ('--lim' -> limit-train, limit-test).
 */
export function suggestions(name: string, known: readonly string[]): string[] {
  const allowed = Math.min(3, Math.max(1, Math.floor(name.length / 3)));
  return known
    .map((k) => ({ k, distance: name.length >= 2 && k.startsWith(name) ? 0.5 : editDistance(name.toLowerCase(), k.toLowerCase()) }))
    .filter((s) => s.distance <= allowed && s.k !== name)
    .sort((x, y) => x.distance - y.distance || x.k.localeCompare(y.k))
    .map((s) => s.k);
}

/** " (did you mean 'train'?)", or '' when nothing is close. */
export function didYouMean(name: string, known: readonly string[], prefix = ''): string {
  const close = suggestions(name, known).slice(0, 3).map((k) => `'${prefix}${k}'`);
  if (close.length === 0) return '';
  return ` (did you mean ${close.length === 1 ? close[0] : `${close.slice(0, -1).join(', ')} or ${close.at(-1)}`}?)`;
}

/** The option a node:util parseArgs error names as unknown, without dashes; undefined for other errors. */
export function unknownOption(err: unknown): string | undefined {
  if ((err as { code?: unknown })?.code !== 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return undefined;
  const match = /Unknown option '-{1,2}([^']+)'/.exec((err as Error).message);
  return match?.[1];
}
