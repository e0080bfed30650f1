// Builds the publishable package: the WGSL embedded (embed-shaders.mjs), then src/ compiled by tsc
// (tsconfig.build.json) into ES modules with .d.ts types in dist/, and the CLI made executable.
// `npm run build`; `npm pack` and `npm publish` run it first (the prepack script).
//
// dist/ is emptied first so no module of a deleted source is shipped, except the browser bundle
// (dist/webgpu-cnn.js*, npm run build:browser), which is not part of the package.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const BROWSER_BUNDLE = /^webgpu-cnn\.js(\.map)?$/;

execFileSync(process.execPath, [join(root, 'scripts/embed-shaders.mjs')], { stdio: 'inherit' });

if (existsSync(dist)) {
  for (const entry of readdirSync(dist)) {
    if (!BROWSER_BUNDLE.test(entry)) rmSync(join(dist, entry), { recursive: true, force: true });
  }
}

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
try {
  execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit', cwd: root });
} catch {
  console.error('build: tsc failed (see above)');
  process.exit(1);
}

const bin = join(dist, 'cli/main.js');
if (!existsSync(bin)) {
  console.error(`build: ${bin} was not emitted`);
  process.exit(1);
}
chmodSync(bin, 0o755);
console.log('build: dist/ (ES modules, .d.ts types, the webgpu-cnn CLI)');
