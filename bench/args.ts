// Command-line parsing shared by the bench scripts.

/**
 * A parser of integer options for a script with this usage text: `--name` given as `v` (a string
 * from parseArgs, undefined when absent), else `fallback`; anything but an integer >= min is
 * refused with the usage.
 */
export function integerOption(usage: string): (name: string, v: string | undefined, fallback: number, min?: number) => number {
  return (name, v, fallback, min = 1) => {
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got '${v}'\n${usage}`);
    return n;
  };
}
