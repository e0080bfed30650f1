// The gcn command's figures: the karate club drawn by a force layout and coloured by true and by
// predicted faction, a 2-D view of the hidden layer (its two principal components), and the
// training curves.
import type { EpochRecord } from './gcn-trainer.js';
import { graphDrawing } from '../figure/graph-drawing.js';
import { forceLayout } from '../figure/graph-layout.js';
import { scatterChart, type Marker, type ScatterSeries } from '../figure/scatter.js';
import { COLORS, WRONG_COLOR } from '../figure/style.js';
import type { Figure } from '../figure/svg.js';
import { trainingCurves } from './training-curves.js';

const CLASS_COLORS = [COLORS.blue, COLORS.orange, COLORS.green, COLORS.purple, COLORS.brown, COLORS.red, '#17becf', '#7f7f7f', '#bcbd22', '#e377c2'];
const MARKERS: Marker[] = ['circle', 'square', 'diamond'];

export const classColor = (c: number): string => CLASS_COLORS[c % CLASS_COLORS.length]!;

/**
 * The projection of rows [rows, cols] on their two principal components (power iteration with
 * deflation on the covariance, in float64): [rows, 2]. Deterministic; a component's sign is
 * chosen so that its largest coordinate is positive.
 */
export function principalComponents2d(data: Float32Array, rows: number, cols: number): Float64Array {
  if (data.length !== rows * cols) throw new Error(`principalComponents2d: expected ${rows * cols} values, got ${data.length}`);
  const mean = new Float64Array(cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) mean[c]! += data[r * cols + c]! / rows;
  const cov = new Float64Array(cols * cols);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < cols; i++) {
      const a = data[r * cols + i]! - mean[i]!;
      for (let j = 0; j < cols; j++) cov[i * cols + j]! += (a * (data[r * cols + j]! - mean[j]!)) / Math.max(1, rows - 1);
    }
  }
  const components: Float64Array[] = [];
  for (let k = 0; k < 2; k++) {
    let v = Float64Array.from({ length: cols }, (_, i) => 1 + i / cols); // not orthogonal to any component in general
    for (let it = 0; it < 500; it++) {
      const next = new Float64Array(cols);
      for (let i = 0; i < cols; i++) for (let j = 0; j < cols; j++) next[i]! += cov[i * cols + j]! * v[j]!;
      for (const u of components) {
        const dot = next.reduce((s, x, i) => s + x * u[i]!, 0);
        for (let i = 0; i < cols; i++) next[i]! -= dot * u[i]!;
      }
      const norm = Math.hypot(...next);
      if (norm < 1e-300) break; // no variance left along any remaining direction
      v = next.map((x) => x / norm);
    }
    let largest = 0;
    for (let i = 1; i < cols; i++) if (Math.abs(v[i]!) > Math.abs(v[largest]!)) largest = i;
    if (v[largest]! < 0) v = v.map((x) => -x);
    components.push(v);
  }
  const out = new Float64Array(rows * 2);
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < 2; k++) {
      let s = 0;
      for (let c = 0; c < cols; c++) s += (data[r * cols + c]! - mean[c]!) * components[k]![c]!;
      out[r * 2 + k] = s;
    }
  }
  return out;
}

/** The karate club (or any small graph) drawn twice: coloured by true class, then by prediction with mistakes ringed. */
export function graphFigure(
  numNodes: number,
  edgeIndex: Int32Array,
  labels: Int32Array,
  predicted: Int32Array,
  classNames: readonly string[],
  labelled: ArrayLike<number>,
  title: string,
): Figure {
  const positions = forceLayout(numNodes, edgeIndex, { seed: 1 });
  const legend = classNames.map((name, c) => ({ color: classColor(c), label: name }));
  const wrong = Array.from({ length: numNodes }, (_, i) => i).filter((i) => predicted[i] !== labels[i]);
  return graphDrawing(
    numNodes,
    positions,
    edgeIndex,
    [
      { title: 'True faction (ringed: the labelled nodes)', colors: Array.from(labels, classColor), ringed: Array.from(labelled), legend: [...legend, { color: '#222222', label: 'labelled for training', ring: true }] },
      { title: `Predicted (${wrong.length} wrong, ringed)`, colors: Array.from(predicted, classColor), ringed: wrong, ringColor: WRONG_COLOR, legend: [...legend, { color: WRONG_COLOR, label: 'misclassified', ring: true }] },
    ],
    { title },
  );
}

/** The hidden layer's 2-D projection: colour = true class, marker = predicted class. */
export function embeddingFigure(
  embedding: Float32Array,
  hidden: number,
  labels: Int32Array,
  predicted: Int32Array,
  classNames: readonly string[],
  title: string,
  nodeLabels: boolean,
): Figure {
  const rows = labels.length;
  const xy = hidden === 2 ? Float64Array.from(embedding) : principalComponents2d(embedding, rows, hidden);
  const series: ScatterSeries[] = [];
  classNames.forEach((trueName, t) => {
    classNames.forEach((predictedName, p) => {
      const points = [];
      for (let i = 0; i < rows; i++) {
        if (labels[i] === t && predicted[i] === p) points.push({ x: xy[2 * i]!, y: xy[2 * i + 1]!, label: nodeLabels ? String(i) : undefined });
      }
      if (points.length === 0) return;
      const label = classNames.length <= 3 ? `${trueName}, predicted ${t === p ? 'right' : predictedName}` : `${trueName}${t === p ? '' : ` as ${predictedName}`}`;
      series.push({ label, color: classColor(t), marker: t === p ? 'circle' : MARKERS[1 + (p % 2)]!, points });
    });
  });
  const axis = hidden === 2 ? 'hidden unit' : 'principal component';
  return scatterChart(series, { title, xLabel: `${axis} 1`, yLabel: `${axis} 2`, equalAspect: true });
}

/** Loss and accuracy per epoch (training accuracy smoothed, test accuracy as dots). */
export function curvesFigure(history: readonly EpochRecord[], title: string, heldOut: string): Figure {
  return trainingCurves(
    [
      {
        name: 'gcn',
        colors: [COLORS.blue, COLORS.orange],
        steps: history.map((h) => ({ x: h.epoch, loss: h.loss, accuracy: h.trainAccuracy, size: 1 })),
        evaluations: history.map((h) => ({ x: h.epoch, accuracy: h.testAccuracy })),
      },
    ],
    { title, xLabel: 'epoch', heldOut },
  );
}
