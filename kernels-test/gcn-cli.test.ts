// The gcn command end to end, on short runs: karate (several seeds, per-epoch lines, the mean, the
// three figures), a Planetoid dataset written in the LINQS format, the SBM graph and the graph
// atlas (test accuracy beside the majority class); its help; its errors for bad arguments.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pngjs from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { perClassSplit, runGcnCommand } from '../src/cli/gcn.js';
import { GCN_HELP } from '../src/cli/gcn-usage.js';
import { formatCommandHelp } from '../src/cli/help.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'gcn-cli-'));
  dirs.push(d);
  return d;
}

async function run(args: string[]): Promise<string[]> {
  const lines: string[] = [];
  await runGcnCommand(args, (line) => lines.push(line));
  return lines;
}

async function pngSize(path: string): Promise<[number, number]> {
  const png = pngjs.PNG.sync.read(await readFile(path));
  return [png.width, png.height];
}

describe('gcn command', () => {
  it('trains the karate club from two labelled members, per seed and on average, and draws it', async () => {
    const out = await tempDir();
    const lines = await run(['--epochs', '12', '--seeds', '2', '--seed', '5', '--out', out]);
    expect(lines).toContain('seed 5: 2 labelled nodes, 32 unlabelled');
    const epochs = lines.filter((l) => /^ {2}epoch +\d+\/12 {2}loss \d\.\d{4} {2}train +\d+\.\d% {2}unlabelled +\d+\.\d%$/.test(l));
    expect(epochs.length).toBe(12); // every epoch of the first seed
    const perSeed = lines.filter((l) => /^seed [56]: accuracy on the 32 unlabelled nodes \d+\.\d% /.test(l));
    expect(perSeed.length).toBe(2);
    expect(lines.some((l) => /^accuracy on the unlabelled nodes over 2 seeds: \d+\.\d% mean \(std \d+\.\d%; \d+\.\d%, \d+\.\d%\)$/.test(l))).toBe(true);
    for (const name of ['graph', 'embedding', 'curves']) {
      const [w, h] = await pngSize(join(out, `gcn-karate-${name}.png`));
      expect(w).toBeGreaterThan(300);
      expect(h).toBeGreaterThan(200);
    }
  });

  it('reads a Planetoid dataset in the LINQS text format', async () => {
    const dir = await tempDir();
    const data = join(dir, 'tiny');
    await mkdir(data);
    // Two classes of 12 papers each, words 0-2 for class a and 3-5 for class b, cited within class;
    // 11 labelled per class (20 asked, one left to test).
    const papers = Array.from({ length: 24 }, (_, i) => {
      const cls = i < 12 ? 0 : 1;
      const words = Array.from({ length: 6 }, (_, w) => (Math.floor(w / 3) === cls && (w + i) % 2 === 0 ? 1 : 0));
      return `p${i}\t${words.join('\t')}\t${cls === 0 ? 'a' : 'b'}`;
    });
    const cites = Array.from({ length: 24 }, (_, i) => `p${i}\tp${i < 12 ? (i + 1) % 12 : 12 + ((i + 1) % 12)}`);
    await writeFile(join(data, 'tiny.content'), papers.join('\n') + '\n');
    await writeFile(join(data, 'tiny.cites'), cites.join('\n') + '\n');
    const lines = await run(['--dataset', data, '--epochs', '30', '--log-every', '10', '--out', dir]);
    expect(lines).toContain(`dataset: ${data}: 24 nodes, 48 directed edges, 6 features, 2 classes`);
    expect(lines.filter((l) => l.startsWith('  epoch ')).length).toBe(3);
    const final = lines.find((l) => l.startsWith('seed 0: accuracy on the 2 test nodes'));
    expect(final, lines.join('\n')).toBeDefined();
    expect(await pngSize(join(dir, 'gcn-planetoid-embedding.png'))).toBeDefined();
  });

  it('trains on an SBM graph and on the graph atlas (beside the majority class)', async () => {
    const out = await tempDir();
    const sbm = await run(['--dataset', 'sbm', '--epochs', '3', '--out', out]);
    expect(sbm.some((l) => /^seed 0: accuracy on the 1920 test nodes \d+\.\d%/.test(l))).toBe(true);
    const atlas = await run(['--dataset', 'atlas', '--epochs', '3', '--label', 'hasCycle', '--out', out]);
    expect(atlas.some((l) => /^seed 0: test accuracy \d+\.\d%; the majority class is \d+\.\d% of the test graphs/.test(l))).toBe(true);
    expect(await pngSize(join(out, 'gcn-atlas-hasCycle-curves.png'))).toBeDefined();
  });

  it('refuses bad arguments with messages that say what was expected', async () => {
    await expect(run(['--dataset', 'kartae'])).rejects.toThrow(
      "gcn: unknown dataset 'kartae' (did you mean 'karate'?): expected karate, sbm, atlas or the path of a Planetoid dataset",
    );
    await expect(run(['--dataset', 'karate', '--label', 'hasCycle'])).rejects.toThrow('gcn: --label applies to --dataset atlas only');
    await expect(run(['--dataset', 'atlas', '--dropout', '0.2'])).rejects.toThrow('gcn: --dropout applies to node classification (karate, sbm, PATH) only');
    await expect(run(['--dataset', 'atlas', '--label', 'isTree'])).rejects.toThrow('--label must be one of hasBridge, connected, hasCycle, got');
    await expect(run(['--epochs', '0'])).rejects.toThrow("--epochs must be a positive integer, got '0'");
    await expect(run(['--dropout', '1'])).rejects.toThrow("--dropout must be a number from 0 to 0.99, got '1'");
  });

  it('has help in the command line\'s format', () => {
    const text = formatCommandHelp(GCN_HELP);
    for (const o of GCN_HELP.options) expect(text).toMatch(new RegExp(`^  --${o.name}\\b`, 'm'));
    expect(Math.max(...text.split('\n').map((l) => l.length))).toBeLessThanOrEqual(100);
  });
});

describe('per-class split', () => {
  it('labels up to N nodes of each class (leaving each one to test), seeded', () => {
    const labels = Int32Array.from([0, 0, 0, 0, 1, 1, 1, 2, 2, 0, 1]);
    const a = perClassSplit(labels, 3, 2, 7);
    expect(Array.from(perClassSplit(labels, 3, 2, 7).train)).toEqual(Array.from(a.train));
    const count = (c: number) => Array.from(a.train).filter((i) => labels[i] === c).length;
    expect([count(0), count(1), count(2)]).toEqual([2, 2, 1]);
    expect([...a.train, ...a.test].sort((x, y) => x - y)).toEqual(Array.from({ length: 11 }, (_, i) => i));
  });
});
