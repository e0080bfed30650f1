// The browser bundle in a real browser: builds dist/webgpu-cnn.js, serves it on 127.0.0.1, and
// drives Debian's Chromium (headless, WebGPU on SwiftShader) with playwright-core. Checks that
// conv2d computed in the page matches the CPU reference, that the example page runs, and that the
// build refuses Node-only imports. Without Chromium the whole file fails, saying how to install it.
//
// EXAMPLE_SCREENSHOT=/tmp/example.png npx vitest run kernels-test/browser.test.ts
// also saves a screenshot of the example page.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { host } from '../src/reference/host-tensor.js';
import { conv2dRef, type ConvRefOptions } from '../src/reference/conv.js';
import { CHROMIUM, CHROMIUM_ARGS, CHROMIUM_MISSING, serveStatic, type StaticServer } from './browser-server.js';
import { assertClose, random, reduction } from './helpers.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BUILD_SCRIPT = join(ROOT, 'scripts/build-browser.mjs');
const BUNDLE = join(ROOT, 'dist/webgpu-cnn.js');
/** Loads the bundle into `window.webgpuCnn` (page.evaluate cannot import: vitest rewrites import()). */
const BUNDLE_PAGE = `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>webgpu-cnn bundle</title>
<script type="module">
  import * as lib from '/dist/webgpu-cnn.js';
  window.webgpuCnn = lib;
</script>`;

const run = promisify(execFile);

async function buildBundle(extraArgs: string[] = []): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [BUILD_SCRIPT, ...extraArgs], { cwd: ROOT });
}

let server: StaticServer | undefined;
let browser: Browser | undefined;
/** Why the build, server or browser did not start; every test reports it as its own failure. */
let setupError: Error | undefined;

beforeAll(async () => {
  try {
    if (!existsSync(CHROMIUM)) {
      throw new Error(CHROMIUM_MISSING);
    }
    await buildBundle().catch((err: { stderr?: string; message: string }) => {
      throw new Error(`building the browser bundle failed:\n${err.stderr || err.message}`);
    });
    server = await serveStatic({ root: ROOT, folders: ['dist', 'examples'], pages: { '/bundle.html': BUNDLE_PAGE } });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  } catch (err) {
    setupError = err as Error;
  }
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

function ready(): { browser: Browser; server: StaticServer } {
  if (setupError) throw setupError;
  if (!browser || !server) throw new Error('browser test setup did not run');
  return { browser, server };
}

/** A page whose uncaught errors and console errors are collected for failure messages. */
async function openPage(path: string): Promise<{ page: Page; errors: string[] }> {
  const { browser, server } = ready();
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
  });
  await page.goto(`${server.origin}${path}`);
  return { page, errors };
}

interface ConvCase {
  xShape: number[];
  wShape: number[];
  bias: boolean;
  options: ConvRefOptions;
}

const CONV_CASES: ConvCase[] = [
  { xShape: [2, 3, 9, 7], wShape: [5, 3, 3, 3], bias: true, options: { stride: 2, padding: 1 } },
  { xShape: [1, 4, 8, 7], wShape: [6, 2, 3, 2], bias: false, options: { groups: 2, dilation: 2, padding: 'same', relu: true } },
];

describe('browser bundle', () => {
  it('contains no Node module, and the build fails on a Node built-in', async () => {
    ready();
    const bundle = readFileSync(BUNDLE, 'utf8');
    expect(bundle).not.toMatch(/(from\s*|import\s*\(\s*|require\s*\(\s*)["'](node:|webgpu["'])/);
    expect(bundle, 'the browser entry reaches the Node device path').not.toContain('src/gpu/node-gpu.ts');

    const dir = mkdtempSync(join(tmpdir(), 'webgpu-cnn-build-'));
    try {
      const entry = join(dir, 'entry.ts');
      writeFileSync(entry, `import { readFileSync } from 'node:fs';\nexport const read = readFileSync;\n`);
      const failed = await buildBundle(['--entry', entry, '--outfile', join(dir, 'out.js')]).then(
        () => undefined,
        (err: { stderr?: string }) => err,
      );
      expect(failed, 'the build should refuse node:fs').toBeDefined();
      expect(failed!.stderr).toContain(`'node:fs' imported by`);
      expect(existsSync(join(dir, 'out.js'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs conv2d in Chromium on WebGPU and matches the CPU reference', async () => {
    const { page, errors } = await openPage('/bundle.html');
    await page.waitForFunction(() => 'webgpuCnn' in window, undefined, { timeout: 10_000 }).catch(() => {
      throw new Error(`the bundle did not load in the page\n${errors.join('\n')}`);
    });
    const inputs = CONV_CASES.map((c, i) => {
      const xn = c.xShape.reduce((a, b) => a * b, 1);
      const wn = c.wShape.reduce((a, b) => a * b, 1);
      return {
        ...c,
        x: Array.from(random(xn, 100 + i)),
        w: Array.from(random(wn, 200 + i, -0.5, 0.5)),
        b: c.bias ? Array.from(random(c.wShape[0]!, 300 + i)) : null,
      };
    });
    // Runs inside the page: only what is passed in exists there.
    const result = await page
      .evaluate(
        async (cases) => {
          // The bundle's API, untyped in here: the same functions as src/index.ts exports.
          const lib = (window as unknown as { webgpuCnn: Record<string, any> }).webgpuCnn;
          const engine = await lib.Engine.create();
          try {
            const outputs = [];
            for (const c of cases) {
              const x = engine.tensor(c.x, c.xShape);
              const w = engine.tensor(c.w, c.wShape);
              const b = c.b ? engine.tensor(c.b, [c.wShape[0]]) : undefined;
              const y = lib.conv2d(x, w, b, c.options);
              outputs.push({ shape: [...y.shape] as number[], data: Array.from(await y.toArray()) as number[] });
            }
            return { adapter: engine.adapterName as string, outputs };
          } finally {
            engine.dispose();
          }
        },
        inputs,
      )
      .catch((err: Error) => {
        throw new Error(`${err.message}\n${errors.join('\n')}`);
      });
    await page.close();

    expect(result.adapter.length).toBeGreaterThan(0);
    inputs.forEach((c, i) => {
      const want = conv2dRef(host(c.x, c.xShape), host(c.w, c.wShape), c.b ? host(c.b, [c.wShape[0]!]) : undefined, c.options);
      const got = result.outputs[i]!;
      expect(got.shape, `case ${i} shape`).toEqual(want.shape);
      const k = c.wShape.slice(1).reduce((a, b) => a * b, 1);
      assertClose(got.data, want.data, reduction(k), `conv2d in Chromium (${result.adapter}), case ${i}`);
    });
    expect(errors).toEqual([]);
  }, 30_000);

  it('runs the example page', async () => {
    const { page, errors } = await openPage('/examples/browser/');
    const status = page.locator('#status');
    await page.waitForSelector('#status[data-state="done"], #status[data-state="error"]', { timeout: 20_000 });
    const state = await status.getAttribute('data-state');
    const text = (await status.textContent()) ?? '';
    if (state !== 'done') throw new Error(`example page failed: ${text}\n${errors.join('\n')}`);
    const facts = (await page.locator('#facts').textContent()) ?? '';
    expect(facts).toContain('[1, 8, 32, 32]');
    expect(await page.locator('#maps canvas').count()).toBe(9);
    const screenshot = process.env.EXAMPLE_SCREENSHOT;
    if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
    // The button reruns on a new input with the same engine (cached pipelines, pooled buffers).
    await page.click('#again');
    await page.waitForFunction(
      () => {
        const state = document.getElementById('status')?.dataset.state;
        return state === 'error' || (state === 'done' && document.getElementById('facts')?.textContent?.includes('seed 8'));
      },
      undefined,
      { timeout: 20_000 },
    );
    expect(await status.getAttribute('data-state'), (await status.textContent()) ?? '').toBe('done');
    await page.close();
    expect(errors).toEqual([]);
  }, 30_000);
});
