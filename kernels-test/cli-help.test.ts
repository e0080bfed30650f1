// The command line's help and guessing: edit distance, "did you mean", the help layout, parseArgs's
// unknown-option errors, and the filter that keeps the driver's warnings off stderr.
import { parseArgs } from 'node:util';
import { describe, expect, it } from 'vitest';
import { DEMO_HELP, INFO_HELP } from '../src/cli/demo-usage.js';
import { NoiseFilter, isDriverNoise } from '../src/cli/driver-noise.js';
import { COMPARE_HELP, EVALUATE_HELP, TRAIN_HELP } from '../src/cli/fashion-usage.js';
import { didYouMean, editDistance, formatCommandHelp, formatOverview, suggestions, unknownOption, wrap } from '../src/cli/help.js';
import { EXPLAIN_HELP } from '../src/cli/explain-usage.js';
import { INFER_HELP } from '../src/cli/infer-usage.js';
import { TRANSFER_DEMO_HELP, TRANSFER_TRAIN_HELP } from '../src/cli/transfer-usage.js';

const ALL = [DEMO_HELP, INFO_HELP, TRAIN_HELP, EVALUATE_HELP, COMPARE_HELP, INFER_HELP, EXPLAIN_HELP, TRANSFER_TRAIN_HELP, TRANSFER_DEMO_HELP];

describe('did you mean', () => {
  it('measures edits, swaps included', () => {
    expect(editDistance('train', 'train')).toBe(0);
    expect(editDistance('trian', 'train')).toBe(1); // a swap
    expect(editDistance('epoch', 'epochs')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('kitten', 'sitting')).toBe(3);
  });

  it('suggests close names, best first, and nothing for far ones', () => {
    const commands = ALL.map((c) => c.name);
    expect(suggestions('trian', commands)).toEqual(['train']);
    expect(suggestions('transfer', commands)).toEqual(['transfer-demo', 'transfer-train']); // a prefix
    expect(suggestions('xyz', commands)).toEqual([]);
    expect(didYouMean('evalute', commands)).toBe(" (did you mean 'evaluate'?)");
    expect(didYouMean('infr', commands)).toBe(" (did you mean 'infer' or 'info'?)"); // equally close: both
    expect(didYouMean('limit', TRAIN_HELP.options.map((o) => o.name), '--')).toBe(" (did you mean '--limit-test' or '--limit-train'?)");
    expect(didYouMean('qqqq', commands)).toBe('');
  });

  it("reads the option out of parseArgs's unknown-option error", () => {
    const fail = (args: string[]) => {
      try {
        parseArgs({ args, options: { epochs: { type: 'string' } } });
      } catch (err) {
        return err;
      }
      throw new Error('parseArgs accepted it');
    };
    expect(unknownOption(fail(['--epoch', '3']))).toBe('epoch');
    expect(unknownOption(fail(['-e']))).toBe('e');
    expect(unknownOption(fail(['--epochs']))).toBeUndefined(); // a missing value, not an unknown option
    expect(unknownOption(new Error("Unknown option '--x'"))).toBeUndefined();
  });
});

describe('help', () => {
  it('gives every command a summary, a synopsis naming it and documented options', () => {
    for (const help of ALL) {
      expect(help.summary.length, help.name).toBeGreaterThan(10);
      expect(help.synopsis.every((s) => s.startsWith(`${help.name} `) || s === help.name), help.name).toBe(true);
      const names = help.options.map((o) => o.name);
      expect(new Set(names).size, `${help.name}: an option listed twice`).toBe(names.length);
      const text = formatCommandHelp(help);
      expect(text.startsWith(`usage: webgpu-cnn ${help.synopsis[0]}\n`)).toBe(true);
      for (const name of names) expect(text, `${help.name} --${name}`).toMatch(new RegExp(`^  --${name}\\b`, 'm'));
      expect(text).toContain('--verbose');
      expect(Math.max(...text.split('\n').map((l) => l.length)), `${help.name}: a line too long`).toBeLessThanOrEqual(100);
    }
  });

  it('lists the commands in the overview', () => {
    const text = formatOverview(ALL, '1.2.3');
    expect(text.split('\n')[0]).toContain('webgpu-cnn 1.2.3');
    for (const help of ALL) expect(text).toMatch(new RegExp(`^  ${help.name} +${help.summary.replace(/[()+|.]/g, '\\$&')}$`, 'm'));
  });

  it('wraps at spaces and keeps paragraphs', () => {
    expect(wrap('aaa bbb ccc\nddd', 7, '  ')).toEqual(['  aaa', '  bbb', '  ccc', '  ddd']);
    expect(wrap('one two', 20)).toEqual(['one two']);
  });
});

describe('driver noise filter', () => {
  it("drops the driver's lines and passes everything else through, split anywhere", () => {
    const noise =
      'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.';
    expect(isDriverNoise(noise)).toBe(true);
    expect(isDriverNoise('MESA-INTEL: warning: Performance support disabled')).toBe(true);
    expect(isDriverNoise('error: train: unknown option')).toBe(false);
    expect(isDriverNoise('(node:123) Warning: something from Node')).toBe(false);

    const text = `${noise}\nerror: it failed\n  at line 2\n${noise}\nlast words without a newline`;
    for (const cut of [1, 7, 50, 140, text.length - 3]) {
      const written: string[] = [];
      const filter = new NoiseFilter((s) => written.push(s));
      filter.push(text.slice(0, cut));
      filter.push(text.slice(cut));
      filter.end();
      expect(written.join(''), `cut at ${cut}`).toBe('error: it failed\n  at line 2\nlast words without a newline');
    }
  });
});
