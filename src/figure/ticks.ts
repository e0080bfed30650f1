// Axis ticks a person reads easily: steps of 1, 2 or 5 times a power of ten, labelled with just
// the decimals the step needs.

/** About `target` ticks at round values inside [lo, hi] (both ends included when round). */
export function niceTicks(lo: number, hi: number, target = 5): { step: number; ticks: number[] } {
  if (!(Number.isFinite(lo) && Number.isFinite(hi) && hi > lo)) throw new Error(`niceTicks: expected a range lo < hi, got [${lo}, ${hi}]`);
  const raw = (hi - lo) / target;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw * 0.999)!;
  const ticks: number[] = [];
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) ticks.push(Number((k * step).toPrecision(12)));
  return { step, ticks };
}

/** `v` with as many decimals as `step` needs (0.25 with step 0.05 -> "0.25", 80 with step 5 -> "80"). */
export function formatTick(v: number, step: number): string {
  const decimals = Math.max(0, Math.min(10, -Math.floor(Math.log10(step) + 1e-9)));
  // A step like 0.25 (from a caller's own ticks) needs one more decimal than its power of ten.
  const exact = Number((step * 10 ** decimals).toPrecision(12));
  const text = v.toFixed(Number.isInteger(exact) ? decimals : decimals + 1);
  return text === '-0' || /^-0\.0*$/.test(text) ? text.slice(1) : text;
}

/** A fraction as a percentage: 0.9731 -> "97.3%". */
export function formatPercent(fraction: number, decimals = 1): string {
  return `${(100 * fraction).toFixed(decimals)}%`;
}
