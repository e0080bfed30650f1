// The training-curves figure the commands write (train, compare, transfer-train, transfer-demo):
// a loss panel and an accuracy panel; per-step training figures smoothed (weighted by batch size,
// so an epoch's small last batch is no spike) over the raw ones drawn faint, and the held-out
// evaluations as dots.
import { lineChart, type LineSeries } from '../figure/line-chart.js';
import type { Figure } from '../figure/svg.js';

export interface CurveRun {
  /** Names the run in the legend when there are several; unused for one. */
  name: string;
  /** CSS colours of the training curves and of the evaluations. */
  colors: readonly [string, string];
  /** Per training step: x (epoch or step), the batch's mean loss and accuracy, its images. */
  steps: ReadonlyArray<{ x: number; loss: number; accuracy?: number; size: number }>;
  /** Held-out evaluations; accuracy in [0, 1]. */
  evaluations: ReadonlyArray<{ x: number; loss?: number; accuracy: number }>;
}

export interface CurveOptions {
  title: string;
  xLabel: string;
  /** What the held-out set is called: 'test' or 'validation'. */
  heldOut: string;
}

const capitalise = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

export function trainingCurves(runs: readonly CurveRun[], options: CurveOptions): Figure {
  const label = (run: CurveRun, what: string): string => (runs.length === 1 ? capitalise(what) : `${run.name}: ${what}`);
  const loss: LineSeries[] = [];
  const accuracy: LineSeries[] = [];
  for (const run of runs) {
    const [trainColor, heldOutColor] = run.colors;
    const training = label(run, 'training (smoothed)');
    loss.push({ label: training, color: trainColor, smooth: true, points: run.steps.map((s) => ({ x: s.x, y: s.loss, weight: s.size })) });
    const withLoss = run.evaluations.filter((e) => e.loss !== undefined);
    if (withLoss.length > 0) loss.push({ label: label(run, options.heldOut), color: heldOutColor, style: 'markers', points: withLoss.map((e) => ({ x: e.x, y: e.loss! })) });
    const withAccuracy = run.steps.filter((s) => s.accuracy !== undefined);
    if (withAccuracy.length > 0) accuracy.push({ label: training, color: trainColor, smooth: true, points: withAccuracy.map((s) => ({ x: s.x, y: 100 * s.accuracy!, weight: s.size })) });
    accuracy.push({ label: label(run, options.heldOut), color: heldOutColor, style: 'markers', points: run.evaluations.map((e) => ({ x: e.x, y: 100 * e.accuracy })) });
  }
  return lineChart(
    [
      { title: 'Loss (cross-entropy)', xLabel: options.xLabel, series: loss },
      { title: 'Accuracy (%)', xLabel: options.xLabel, series: accuracy, yBounds: [0, 100] },
    ],
    { title: options.title },
  );
}
