import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['kernels-test/**/*.test.ts'],
    // Each test file opens its own WebGPU device on lavapipe; two workers match the CI machine's 2 cores.
    pool: 'forks',
    // The core finds no GPU in Node by itself (src/gpu/device.ts); this registers dawn.node.
    setupFiles: ['kernels-test/setup-node-gpu.ts'],
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    // wgsl_reflect's Node entry is CommonJS in a "type": "module" package; let Vite load its ES build.
    server: { deps: { inline: ['wgsl_reflect'] } },
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
