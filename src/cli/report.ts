// Classification results as a person reads them: overall accuracy, accuracy per class (with the
// class names), the confusion matrix as a table, and two models side by side.

/** Index of the largest value in each row of a [rows, classes] array (the first one on ties). */
export function argmaxRows(values: ArrayLike<number>, classes: number): Uint8Array | Uint16Array {
  if (values.length % classes !== 0) throw new Error(`argmaxRows: ${values.length} values do not form rows of ${classes}`);
  const rows = values.length / classes;
  const out = classes <= 256 ? new Uint8Array(rows) : new Uint16Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (values[r * classes + c]! > values[r * classes + best]!) best = c;
    out[r] = best;
  }
  return out;
}

/** counts[actual][predicted]. */
export function confusionMatrix(predicted: ArrayLike<number>, actual: ArrayLike<number>, classes: number): number[][] {
  if (predicted.length !== actual.length) throw new Error(`confusionMatrix: ${predicted.length} predictions for ${actual.length} targets`);
  const m = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const p = predicted[i]!;
    if (!(a >= 0 && a < classes && p >= 0 && p < classes && Number.isInteger(a) && Number.isInteger(p))) {
      throw new Error(`confusionMatrix: sample ${i} has target ${a} and prediction ${p}, expected classes 0..${classes - 1}`);
    }
    m[a]![p]!++;
  }
  return m;
}

/** Correct / total over the whole matrix. */
export function matrixAccuracy(m: number[][]): number {
  let correct = 0;
  let total = 0;
  m.forEach((row, a) => row.forEach((n, p) => ((total += n), a === p && (correct += n))));
  return total === 0 ? NaN : correct / total;
}

/** Recall of each class: the fraction of its samples predicted as it (NaN for a class with none). */
export function perClassAccuracy(m: number[][]): number[] {
  return m.map((row, a) => {
    const total = row.reduce((x, y) => x + y, 0);
    return total === 0 ? NaN : row[a]! / total;
  });
}

export const pct = (v: number, digits = 2): string => (Number.isNaN(v) ? '-' : `${(100 * v).toFixed(digits)}%`);

export interface Evaluation {
  /** counts[actual][predicted]. */
  matrix: number[][];
  /** Mean cross-entropy over the evaluated samples. */
  loss?: number;
}

/** Table: one row per class with its name, sample count, correct count and accuracy. */
export function formatPerClass(m: number[][], names: readonly string[]): string {
  const width = Math.max(5, ...names.map((n) => n.length));
  const acc = perClassAccuracy(m);
  const lines = [`${'class'.padEnd(width)}  samples  correct  accuracy`];
  m.forEach((row, a) => {
    const total = row.reduce((x, y) => x + y, 0);
    lines.push(`${(names[a] ?? String(a)).padEnd(width)}  ${String(total).padStart(7)}  ${String(row[a]).padStart(7)}  ${pct(acc[a]!).padStart(8)}`);
  });
  return lines.join('\n');
}

/**
 * The confusion matrix: rows are the true class ("3 Dress"), columns the predicted class by
 * number, so ten columns stay narrow.
 */
export function formatConfusionMatrix(m: number[][], names: readonly string[]): string {
  const rowNames = m.map((_, a) => `${a} ${names[a] ?? ''}`.trimEnd());
  const rowWidth = Math.max(...rowNames.map((n) => n.length), 'true \\ predicted'.length);
  const cell = Math.max(String(Math.max(0, ...m.flat())).length, 3) + 2;
  const lines = [`${'true \\ predicted'.padEnd(rowWidth)}${m.map((_, p) => String(p).padStart(cell)).join('')}`];
  m.forEach((row, a) => lines.push(`${rowNames[a]!.padEnd(rowWidth)}${row.map((n) => String(n).padStart(cell)).join('')}`));
  return lines.join('\n');
}

/** The full evaluation report for one model. */
export function formatReport(title: string, e: Evaluation, names: readonly string[]): string {
  const total = e.matrix.flat().reduce((a, b) => a + b, 0);
  const correct = e.matrix.reduce((s, row, a) => s + row[a]!, 0);
  return [
    `${title}: test accuracy ${pct(matrixAccuracy(e.matrix))} (${correct}/${total})${e.loss === undefined ? '' : `, test loss ${e.loss.toFixed(4)}`}`,
    '',
    formatPerClass(e.matrix, names),
    '',
    'confusion matrix (rows: true class, columns: predicted class)',
    formatConfusionMatrix(e.matrix, names),
  ].join('\n');
}

export interface ComparisonEntry {
  name: string;
  evaluation: Evaluation;
  parameters: number;
  trainSeconds: number;
  samplesPerSecond: number;
  epochs: number;
  trainSamples: number;
}

/** Models side by side: headline figures, then accuracy per class. */
export function formatComparison(entries: ComparisonEntry[], names: readonly string[]): string {
  const label = Math.max(...names.map((n) => n.length), 'parameters'.length, 'train samples/s'.length);
  const col = Math.max(12, ...entries.map((e) => e.name.length + 2));
  const row = (title: string, values: string[]): string => `${title.padEnd(label)}${values.map((v) => v.padStart(col)).join('')}`.trimEnd();
  const perClass = entries.map((e) => perClassAccuracy(e.evaluation.matrix));
  return [
    row('', entries.map((e) => e.name)),
    row('test accuracy', entries.map((e) => pct(matrixAccuracy(e.evaluation.matrix)))),
    row('test loss', entries.map((e) => (e.evaluation.loss === undefined ? '-' : e.evaluation.loss.toFixed(4)))),
    row('parameters', entries.map((e) => e.parameters.toLocaleString('en-US'))),
    row('epochs x samples', entries.map((e) => `${e.epochs} x ${e.trainSamples}`)),
    row('train time', entries.map((e) => `${e.trainSeconds.toFixed(1)} s`)),
    row('train samples/s', entries.map((e) => e.samplesPerSecond.toFixed(0))),
    '',
    row('per-class accuracy', entries.map(() => '')),
    ...names.map((n, c) => row(n, perClass.map((acc) => pct(acc[c]!, 1)))),
  ].join('\n');
}
