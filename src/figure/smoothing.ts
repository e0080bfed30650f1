// Turning per-step training figures into curves a person can read. Each point may carry a weight
// (its batch's size), so a small last batch of an epoch counts for what it holds: it neither pulls
// the smoothed curve nor shows as a spike in the raw one.

export interface WeightedPoint {
  x: number;
  y: number;
  /** How much the point counts, e.g. the number of images behind it; default 1. */
  weight?: number;
}

export interface Point {
  x: number;
  y: number;
}

function weightOf(p: WeightedPoint, i: number): number {
  const w = p.weight ?? 1;
  if (!(Number.isFinite(w) && w > 0)) throw new Error(`smoothing: point ${i} has weight ${w}; weights must be positive numbers`);
  return w;
}

/** A half window of about 1/40 of the points (at least 1): smooth, yet turns stay where they are. */
export function defaultHalfWindow(count: number): number {
  return Math.max(1, Math.round(count / 40));
}

/**
 * Centred weighted moving average: point i becomes the weighted mean of the points i - h .. i + h
 * (fewer at the ends). x stays where it was.
 */
export function movingAverage(points: readonly WeightedPoint[], halfWindow = defaultHalfWindow(points.length)): Point[] {
  if (!(Number.isInteger(halfWindow) && halfWindow >= 0)) throw new Error(`movingAverage: the half window must be an integer >= 0, got ${halfWindow}`);
  // Prefix sums of w and w * y make each window O(1).
  const sw = new Float64Array(points.length + 1);
  const swy = new Float64Array(points.length + 1);
  points.forEach((p, i) => {
    const w = weightOf(p, i);
    sw[i + 1] = sw[i]! + w;
    swy[i + 1] = swy[i]! + w * p.y;
  });
  return points.map((p, i) => {
    const a = Math.max(0, i - halfWindow);
    const b = Math.min(points.length, i + halfWindow + 1);
    return { x: p.x, y: (swy[b]! - swy[a]!) / (sw[b]! - sw[a]!) };
  });
}

/**
 * The raw curve without spikes from light points: a point weighing less than half the median
 * weight (a partial last batch) is merged with the point before it into their weighted mean,
 * placed at the later x. Nothing is dropped: the merged point holds both batches' images.
 */
export function mergeLightPoints(points: readonly WeightedPoint[]): WeightedPoint[] {
  if (points.length < 2) return points.map((p, i) => ({ x: p.x, y: p.y, weight: weightOf(p, i) }));
  const weights = points.map(weightOf);
  const sorted = [...weights].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  const out: WeightedPoint[] = [];
  points.forEach((p, i) => {
    const w = weights[i]!;
    const prev = out.at(-1);
    if (w < median / 2 && prev) {
      const total = prev.weight! + w;
      out[out.length - 1] = { x: p.x, y: (prev.y * prev.weight! + p.y * w) / total, weight: total };
    } else {
      out.push({ x: p.x, y: p.y, weight: w });
    }
  });
  return out;
}

/** At most `maxPoints` points: consecutive runs replaced by their weighted mean (at the run's last x). */
export function thinPoints(points: readonly WeightedPoint[], maxPoints: number): WeightedPoint[] {
  if (points.length <= maxPoints) return [...points];
  const group = Math.ceil(points.length / maxPoints);
  const out: WeightedPoint[] = [];
  for (let i = 0; i < points.length; i += group) {
    let sw = 0;
    let swy = 0;
    const end = Math.min(points.length, i + group);
    for (let j = i; j < end; j++) {
      const w = weightOf(points[j]!, j);
      sw += w;
      swy += w * points[j]!.y;
    }
    out.push({ x: points[end - 1]!.x, y: swy / sw, weight: sw });
  }
  return out;
}
