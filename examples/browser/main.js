// The browser example: one convolution layer on the page's WebGPU adapter, through the bundle.
// Build the bundle (npm run build:browser), serve the repository root over http (for example
// `python3 -m http.server -b 127.0.0.1 8000`) and open http://127.0.0.1:8000/examples/browser/.
// Browsers refuse ES modules from file:// URLs, and WebGPU needs a secure context (https or localhost).
import { Engine, conv2d, maxPool2d, relu } from '../../dist/webgpu-cnn.js';

const SIZE = 64;
const CHANNELS = 3;
const FILTERS = 8;
const WARM_RUNS = 10;

const status = document.getElementById('status');
const facts = document.getElementById('facts');
const maps = document.getElementById('maps');
const again = document.getElementById('again');

function setStatus(state, text) {
  status.dataset.state = state;
  status.textContent = text;
}

function fact(name, value) {
  const dt = document.createElement('dt');
  const dd = document.createElement('dd');
  dt.textContent = name;
  dd.textContent = value;
  facts.append(dt, dd);
}

/** Seeded uniform numbers in [0, 1) (mulberry32). */
function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random scene, NCHW [1, 3, SIZE, SIZE] in [0, 1]: a gradient, coloured discs and boxes, noise. */
function randomScene(seed) {
  const rand = rng(seed);
  const img = new Float32Array(CHANNELS * SIZE * SIZE);
  const at = (c, y, x) => (c * SIZE + y) * SIZE + x;
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      img[at(0, y, x)] = 0.15 + 0.2 * (x / SIZE);
      img[at(1, y, x)] = 0.15 + 0.2 * (y / SIZE);
      img[at(2, y, x)] = 0.3;
    }
  }
  for (let shape = 0; shape < 7; shape++) {
    const colour = [rand(), rand(), rand()];
    const cx = rand() * SIZE;
    const cy = rand() * SIZE;
    const r = 5 + rand() * 12;
    const disc = rand() < 0.5;
    for (let y = 0; y < SIZE; y++) {
      for (let x = 0; x < SIZE; x++) {
        const inside = disc ? (x - cx) ** 2 + (y - cy) ** 2 < r * r : Math.abs(x - cx) < r && Math.abs(y - cy) < r * 0.6;
        if (inside) for (let c = 0; c < CHANNELS; c++) img[at(c, y, x)] = colour[c];
      }
    }
  }
  for (let i = 0; i < img.length; i++) img[i] = Math.min(1, Math.max(0, img[i] + (rand() - 0.5) * 0.06));
  return img;
}

/** Eight 3x3 filters, OIHW [8, 3, 3, 3]: a spatial kernel times a colour mix per filter. */
const FILTER_BANK = [
  { name: 'vertical edges', mix: [1, 1, 1], k: [-1, 0, 1, -2, 0, 2, -1, 0, 1] },
  { name: 'horizontal edges', mix: [1, 1, 1], k: [-1, -2, -1, 0, 0, 0, 1, 2, 1] },
  { name: 'spots (−laplacian)', mix: [1, 1, 1], k: [-1, -1, -1, -1, 8, -1, -1, -1, -1] },
  { name: 'diagonal edges', mix: [1, 1, 1], k: [0, 1, 2, -1, 0, 1, -2, -1, 0] },
  { name: 'blur', mix: [1, 1, 1], k: [1, 2, 1, 2, 4, 2, 1, 2, 1].map((v) => v / 16) },
  { name: 'red − green', mix: [3, -3, 0], k: [0, 0, 0, 0, 1, 0, 0, 0, 0] },
  { name: 'blue − yellow', mix: [-1.5, -1.5, 3], k: [0, 0, 0, 0, 1, 0, 0, 0, 0] },
  { name: 'yellow', mix: [1.5, 1.5, -3], k: [0, 0, 0, 0, 1, 0, 0, 0, 0] },
];

function filterWeights() {
  const w = new Float32Array(FILTERS * CHANNELS * 9);
  FILTER_BANK.forEach((f, o) => {
    for (let c = 0; c < CHANNELS; c++) {
      for (let i = 0; i < 9; i++) w[(o * CHANNELS + c) * 9 + i] = (f.mix[c] / CHANNELS) * f.k[i];
    }
  });
  return w;
}

/** The same layer as plain loops on the CPU, to show the GPU result is right. */
function layerOnCpu(img, w, bias) {
  const conv = new Float32Array(FILTERS * SIZE * SIZE);
  for (let o = 0; o < FILTERS; o++) {
    for (let y = 0; y < SIZE; y++) {
      for (let x = 0; x < SIZE; x++) {
        let acc = bias[o];
        for (let c = 0; c < CHANNELS; c++) {
          for (let ky = 0; ky < 3; ky++) {
            for (let kx = 0; kx < 3; kx++) {
              const iy = y + ky - 1;
              const ix = x + kx - 1;
              if (iy < 0 || iy >= SIZE || ix < 0 || ix >= SIZE) continue;
              acc += img[(c * SIZE + iy) * SIZE + ix] * w[((o * CHANNELS + c) * 3 + ky) * 3 + kx];
            }
          }
        }
        conv[(o * SIZE + y) * SIZE + x] = Math.max(acc, 0);
      }
    }
  }
  const half = SIZE / 2;
  const pooled = new Float32Array(FILTERS * half * half);
  for (let o = 0; o < FILTERS; o++) {
    for (let y = 0; y < half; y++) {
      for (let x = 0; x < half; x++) {
        let m = -Infinity;
        for (let dy = 0; dy < 2; dy++) for (let dx = 0; dx < 2; dx++) m = Math.max(m, conv[(o * SIZE + 2 * y + dy) * SIZE + 2 * x + dx]);
        pooled[(o * half + y) * half + x] = m;
      }
    }
  }
  return pooled;
}

/** Runs the layer once; the time covers recording, submission and reading the result back. */
async function runLayer(engine, img, w, bias) {
  const start = performance.now();
  const x = engine.tensor(img, [1, CHANNELS, SIZE, SIZE]);
  const weight = engine.tensor(w, [FILTERS, CHANNELS, 3, 3]);
  const b = engine.tensor(bias, [FILTERS]);
  const conv = conv2d(x, weight, b, { padding: 1 });
  const activated = relu(conv);
  const pooled = maxPool2d(activated, { kernelSize: 2 });
  const values = await pooled.toArray();
  const ms = performance.now() - start;
  const shapes = { input: x.shape, conv: conv.shape, pooled: pooled.shape };
  for (const t of [x, weight, b, conv, activated, pooled]) t.dispose();
  return { values, ms, shapes };
}

function drawImage(img, title) {
  const canvas = document.createElement('canvas');
  canvas.width = SIZE;
  canvas.height = SIZE;
  const ctx = canvas.getContext('2d');
  const pixels = ctx.createImageData(SIZE, SIZE);
  for (let i = 0; i < SIZE * SIZE; i++) {
    for (let c = 0; c < CHANNELS; c++) pixels.data[i * 4 + c] = Math.round(img[c * SIZE * SIZE + i] * 255);
    pixels.data[i * 4 + 3] = 255;
  }
  ctx.putImageData(pixels, 0, 0);
  addFigure(canvas, title);
}

function drawFeatureMap(values, channel, side, title) {
  const canvas = document.createElement('canvas');
  canvas.width = side;
  canvas.height = side;
  const ctx = canvas.getContext('2d');
  const pixels = ctx.createImageData(side, side);
  const plane = values.subarray(channel * side * side, (channel + 1) * side * side);
  const max = Math.max(1e-6, ...plane);
  plane.forEach((v, i) => {
    const g = Math.round((v / max) * 255);
    pixels.data.set([g, g, g, 255], i * 4);
  });
  ctx.putImageData(pixels, 0, 0);
  addFigure(canvas, title);
}

function addFigure(canvas, title) {
  const figure = document.createElement('figure');
  const caption = document.createElement('figcaption');
  caption.textContent = title;
  figure.append(canvas, caption);
  maps.append(figure);
}

const fmt = (shape) => `[${shape.join(', ')}]`;

async function demo(engine, seed) {
  facts.replaceChildren();
  maps.replaceChildren();
  setStatus('running', 'Running…');
  const img = randomScene(seed);
  const w = filterWeights();
  const bias = new Float32Array(FILTERS).fill(-0.02);

  const first = await runLayer(engine, img, w, bias);
  const times = [];
  let last = first;
  for (let i = 0; i < WARM_RUNS; i++) {
    last = await runLayer(engine, img, w, bias);
    times.push(last.ms);
  }
  times.sort((a, b) => a - b);
  const expected = layerOnCpu(img, w, bias);
  let maxDiff = 0;
  for (let i = 0; i < expected.length; i++) maxDiff = Math.max(maxDiff, Math.abs(expected[i] - last.values[i]));

  const side = last.shapes.pooled[2];
  fact('adapter', engine.adapterName);
  fact('input', `${fmt(last.shapes.input)} (random scene, seed ${seed})`);
  fact('conv2d 3→8, 3×3, padding 1', fmt(last.shapes.conv));
  fact('relu → maxPool2d 2×2', fmt(last.shapes.pooled));
  fact('first run', `${first.ms.toFixed(1)} ms (includes compiling the pipelines)`);
  fact('warm run', `${times[Math.floor(times.length / 2)].toFixed(2)} ms median of ${WARM_RUNS} (upload, 3 kernels, readback)`);
  fact('first values', Array.from(last.values.subarray(0, 6), (v) => v.toFixed(4)).join(', '));
  fact('vs. CPU loops', `max |GPU − CPU| = ${maxDiff.toExponential(2)} over ${expected.length} values`);
  const stats = engine.stats();
  fact('GPU memory', `${(stats.bytesAllocated / 1024).toFixed(0)} KiB pooled, ${stats.pipelines} pipelines cached`);

  drawImage(img, 'input');
  FILTER_BANK.forEach((f, o) => drawFeatureMap(last.values, o, side, f.name));
  if (maxDiff > 1e-4) throw new Error(`the GPU result differs from the CPU loops by ${maxDiff}`);
  setStatus('done', `Done: the layer ran on “${engine.adapterName}” and matches the CPU loops.`);
}

async function main() {
  if (!navigator.gpu) {
    throw new Error(
      'This browser exposes no WebGPU (navigator.gpu is undefined). Use Chrome or Edge 113+ over https or ' +
        'localhost, or start Chromium with --enable-unsafe-webgpu.',
    );
  }
  const engine = await Engine.create();
  let seed = 7;
  await demo(engine, seed);
  again.disabled = false;
  again.addEventListener('click', () => {
    seed += 1;
    again.disabled = true;
    demo(engine, seed)
      .catch((err) => setStatus('error', String(err?.stack ?? err)))
      .finally(() => (again.disabled = false));
  });
}

main().catch((err) => setStatus('error', String(err?.stack ?? err)));
