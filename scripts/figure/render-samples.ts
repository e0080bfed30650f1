// Renders one figure of each kind (training curves, top-5 bars, a feature-map grid, a prediction
// grid, a heat-map overlay) from Fashion-MNIST test images and synthetic numbers, to look at after
// changing the figure module. Usage: npx tsx scripts/figure/render-samples.ts [outDir]
import { join } from 'node:path';
import { writeFigure } from '../../src/cli/figure-file.js';
import { predictionGrid } from '../../src/cli/prediction-grid.js';
import { FASHION_CLASSES, IMAGE_SIDE, PIXELS } from '../../src/data/fashion-mnist.js';
import { loadFashionMnist } from '../../src/data/fashion-mnist-node.js';
import { barChart } from '../../src/figure/bar-chart.js';
import { heatmapOverlay } from '../../src/figure/heatmap.js';
import { imageGrid } from '../../src/figure/image-grid.js';
import { scalarToRgba, type RgbaImage } from '../../src/figure/image.js';
import { lineChart } from '../../src/figure/line-chart.js';
import { COLORS } from '../../src/figure/style.js';

const outDir = process.argv[2] ?? '/tmp/figures';
let state = 12345;
const random = (): number => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;

const data = await loadFashionMnist();
const image = (k: number): RgbaImage => {
  const grey = data.test.images.subarray(k * PIXELS, (k + 1) * PIXELS);
  const rgba = new Uint8Array(PIXELS * 4);
  for (let p = 0; p < PIXELS; p++) rgba.set([grey[p]!, grey[p]!, grey[p]!, 255], p * 4);
  return { width: IMAGE_SIDE, height: IMAGE_SIDE, data: rgba };
};

// Training curves: 3 epochs of 157 steps, each epoch ending in a batch of 8 (a noisy partial batch).
const steps = 3 * 157;
const loss = Array.from({ length: steps }, (_, i) => {
  const partial = (i + 1) % 157 === 0;
  return { x: (i + 1) / 157, y: 0.32 + 1.9 * Math.exp(-i / 45) + (random() - 0.5) * (partial ? 1.2 : 0.3), weight: partial ? 8 : 32 };
});
const accuracy = loss.map((p, i) => ({ x: p.x, y: 100 * (0.9 - 0.78 * Math.exp(-i / 45)) + (random() - 0.5) * (p.weight === 8 ? 30 : 9), weight: p.weight }));
await writeFigure(
  join(outDir, 'curves.png'),
  lineChart(
    [
      {
        title: 'Loss (cross-entropy)',
        xLabel: 'Epoch',
        series: [
          { label: 'Training (smoothed)', color: COLORS.blue, points: loss, smooth: true },
          { label: 'Test', color: COLORS.orange, points: [1, 2, 3].map((e) => ({ x: e, y: 0.42 + 0.25 / e })), style: 'markers' },
        ],
      },
      {
        title: 'Accuracy (%)',
        xLabel: 'Epoch',
        yBounds: [0, 100],
        series: [
          { label: 'Training (smoothed)', color: COLORS.blue, points: accuracy, smooth: true },
          { label: 'Test', color: COLORS.orange, points: [1, 2, 3].map((e) => ({ x: e, y: 84 + 1.5 * e })), style: 'markers' },
        ],
      },
    ],
    { title: 'Fashion-MNIST CNN: 3 epochs × 5,000 images, test accuracy 88.5%' },
  ),
  { svg: true },
);

// Top-5 probabilities.
await writeFigure(
  join(outDir, 'top5.png'),
  barChart(
    [
      { label: 'Ankle boot', value: 0.912 },
      { label: 'Sneaker', value: 0.061 },
      { label: 'Sandal', value: 0.019 },
      { label: 'Bag', value: 0.006 },
      { label: 'T-shirt/top', value: 0.0013 },
    ],
    { title: 'Top-5 classes', subtitle: 'test image 0 (true class: Ankle boot)' },
  ),
);

// Feature maps: 12 synthetic 14x14 "channels" of test image 0 (edges at different angles).
const src = image(0);
const maps = Array.from({ length: 12 }, (_, c) => {
  const angle = (c / 12) * Math.PI;
  const [dx, dy] = [Math.cos(angle), Math.sin(angle)];
  const values = new Float32Array(14 * 14);
  for (let y = 0; y < 14; y++) {
    for (let x = 0; x < 14; x++) {
      const at = (xx: number, yy: number): number => src.data[(Math.min(27, Math.max(0, yy)) * 28 + Math.min(27, Math.max(0, xx))) * 4]!;
      values[y * 14 + x] = Math.max(0, at(2 * x + Math.round(dx), 2 * y + Math.round(dy)) - at(2 * x - Math.round(dx), 2 * y - Math.round(dy)));
    }
  }
  return { width: 14, height: 14, values };
});
await writeFigure(
  join(outDir, 'feature-maps.png'),
  imageGrid(
    maps.map((m, c) => ({ image: scalarToRgba(m, { colormap: 'viridis' }), label: `layer1.0 · channel ${c * 5}` })),
    { title: 'Feature maps of layer1.0.conv1 (14×14, each normalised)', subtitle: 'Test image 0: Ankle boot', columns: 6, cellSize: 84, cellWidth: 128 },
  ),
);

// Predictions: 20 test images, a few wrong.
const items = Array.from({ length: 20 }, (_, i) => {
  const actual = data.test.labels[i]!;
  const predicted = i % 7 === 3 ? (actual + 1) % 10 : actual;
  return { image: image(i), predicted, actual };
});
await writeFigure(join(outDir, 'predictions.png'), predictionGrid(items, { classNames: FASHION_CLASSES, columns: 5, thumbnail: 64 }));

// Heat map: a smooth blob over test image 1, at Grad-CAM's usual 7x7 resolution.
const heat = new Float32Array(49);
for (let y = 0; y < 7; y++) for (let x = 0; x < 7; x++) heat[y * 7 + x] = Math.exp(-((x - 4.2) ** 2 + (y - 2.5) ** 2) / 3);
const peak = Math.max(...heat);
await writeFigure(
  join(outDir, 'heatmap.png'),
  heatmapOverlay(image(1), { width: 7, height: 7, values: heat.map((v) => v / peak) }, { title: 'Grad-CAM for "Pullover" at layer4 (7×7, upsampled)', scaleLabel: 'Heat' }),
);
console.log(`wrote curves.png (+ .svg), top5.png, feature-maps.png, predictions.png and heatmap.png to ${outDir}`);
