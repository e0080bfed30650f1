// Bundles the public API (src/index.ts) for browsers: dist/webgpu-cnn.js, one ES module with a
// source map. Run with `npm run build:browser` (which embeds the shaders first).
//
// src/index.ts is the browser entry: it never imports the Node device path (src/gpu/node-gpu.ts,
// which src/node.ts adds). Any import of a Node built-in (`node:fs`, `fs`, ...) or of dawn.node's
// `webgpu` package fails the build, naming the file that made it.
//
// Usage: node scripts/build-browser.mjs [--entry <file>] [--outfile <file>]
import { build } from 'esbuild';
import { existsSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function option(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? resolve(process.argv[i + 1]) : fallback;
}

const entry = option('--entry', join(root, 'src/index.ts'));
const outfile = option('--outfile', join(root, 'dist/webgpu-cnn.js'));
const nodeBuiltins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/** Fails the build on any Node built-in or the dawn.node package. */
const noNodePlugin = {
  name: 'no-node-imports',
  setup(b) {
    b.onResolve({ filter: /.*/ }, (args) => {
      const name = args.path;
      const isNode = name.startsWith('node:') || nodeBuiltins.has(name) || name === 'webgpu' || name.startsWith('webgpu/');
      if (!isNode) return undefined;
      const from = args.importer ? relative(root, args.importer) : '(entry)';
      return { errors: [{ text: `'${name}' imported by ${from} would put a Node-only module into the browser bundle` }] };
    });
  },
};

if (!existsSync(entry)) {
  console.error(`build-browser: entry ${relative(root, entry)} does not exist`);
  process.exit(1);
}

try {
  const result = await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    sourcemap: true,
    minify: false,
    metafile: true,
    logLevel: 'warning',
    plugins: [noNodePlugin],
  });
  // Belt and braces: the output must be self-contained, with no import left for the browser to resolve.
  const output = result.metafile.outputs[relative(process.cwd(), outfile)] ?? Object.values(result.metafile.outputs).find((o) => o.entryPoint);
  const leftover = (output?.imports ?? []).map((i) => i.path);
  if (leftover.length > 0) {
    console.error(`build-browser: the bundle still imports ${leftover.join(', ')}`);
    process.exit(1);
  }
  const bytes = output?.bytes ?? 0;
  console.log(`build-browser: ${relative(root, entry)} -> ${relative(root, outfile)} (${(bytes / 1024).toFixed(0)} KiB)`);
} catch {
  // esbuild has already printed the errors.
  process.exit(1);
}
