// Wall-clock timing for side-by-side benchmarks on a shared, noisy machine: the two sides run
// alternately (A, B, A, B, ...) so that a burst of load from a neighbour hits both, and each pair
// gives its own ratio; medians summarise, the interquartile range says how noisy it was.

/** One timed unit of work: records the op(s), waits for the GPU, and cleans up untimed. */
export interface Workload<T> {
  /** Records the work (without waiting); returns what `release` frees afterwards. */
  record(): T;
  /** Waits until the GPU has finished everything recorded (and reads back, if the mode says so). */
  finish(last: T): Promise<void>;
  /** Frees what one `record` produced; runs outside the timed region. */
  release(recorded: T): void;
}

/** Milliseconds for `repeat` records followed by one finish, divided by `repeat`. */
export async function timeOnce<T>(w: Workload<T>, repeat = 1): Promise<number> {
  const outputs: T[] = [];
  const start = performance.now();
  for (let i = 0; i < repeat; i++) outputs.push(w.record());
  await w.finish(outputs[outputs.length - 1]!);
  const ms = (performance.now() - start) / repeat;
  for (const o of outputs) w.release(o);
  return ms;
}

export interface PairedOptions {
  /** Timed pairs to run (after the warm-up). */
  reps: number;
  /** Untimed runs of each side first, after the compiling first call. */
  warmup: number;
  /** Ops recorded per finish (per-submit overhead is divided among them). */
  repeat: number;
  /** Stop adding pairs once this many seconds have gone by (at least `minReps` pairs run). */
  budgetSeconds: number;
  minReps: number;
}

export interface Summary {
  median: number;
  q1: number;
  q3: number;
}

export interface PairedResult {
  samplesA: number[];
  samplesB: number[];
  /** b / a for each pair, in run order. */
  ratios: number[];
  a: Summary;
  b: Summary;
  ratio: Summary;
  /** True when the time budget cut the pairs short of `reps`. */
  truncated: boolean;
}

/**
 * Times A and B alternately: `warmup` untimed runs of each side, then `reps` pairs A, B. Call it
 * after each side's first (compiling) call, which is worth timing on its own with `timeOnce`.
 */
export async function paired<A, B>(a: Workload<A>, b: Workload<B>, options: PairedOptions): Promise<PairedResult> {
  for (let i = 0; i < options.warmup; i++) {
    await timeOnce(a, options.repeat);
    await timeOnce(b, options.repeat);
  }
  const samplesA: number[] = [];
  const samplesB: number[] = [];
  const started = performance.now();
  for (let i = 0; i < options.reps; i++) {
    if (i >= options.minReps && performance.now() - started > options.budgetSeconds * 1000) break;
    samplesA.push(await timeOnce(a, options.repeat));
    samplesB.push(await timeOnce(b, options.repeat));
  }
  const ratios = samplesA.map((ms, i) => samplesB[i]! / ms);
  return {
    samplesA,
    samplesB,
    ratios,
    a: summarise(samplesA),
    b: summarise(samplesB),
    ratio: summarise(ratios),
    truncated: samplesA.length < options.reps,
  };
}

/** Linear-interpolated quantile of unsorted values (q in [0, 1]). */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((x, y) => x - y);
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export function summarise(values: readonly number[]): Summary {
  return { median: quantile(values, 0.5), q1: quantile(values, 0.25), q3: quantile(values, 0.75) };
}
