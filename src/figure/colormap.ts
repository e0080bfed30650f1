// Perceptual colour maps (matplotlib's viridis and inferno, sampled at 256 points by
// scripts/figure/make_assets.py): lightness rises evenly from one end to the other, so a heat map
// reads the same in colour, in grey and to colour-blind eyes.
import { COLORMAP_DATA } from './colormap-data.generated.js';

export type ColormapName = keyof typeof COLORMAP_DATA;
export const COLORMAPS = Object.keys(COLORMAP_DATA) as ColormapName[];

export type Rgb = [number, number, number];

const tables = new Map<ColormapName, Uint8Array>();

function table(name: ColormapName): Uint8Array {
  let t = tables.get(name);
  if (!t) {
    const hex = COLORMAP_DATA[name];
    if (hex === undefined) throw new Error(`colormap: unknown colour map '${String(name)}' (have ${COLORMAPS.join(', ')})`);
    t = Uint8Array.from({ length: hex.length / 2 }, (_, i) => parseInt(hex.slice(2 * i, 2 * i + 2), 16));
    tables.set(name, t);
  }
  return t;
}

/** The colour at `t` in [0, 1] (clamped), interpolated linearly between the 256 entries. */
export function colormap(name: ColormapName, t: number): Rgb {
  if (Number.isNaN(t)) throw new Error(`colormap: the value is NaN (${name} maps numbers in [0, 1])`);
  const data = table(name);
  const pos = Math.min(1, Math.max(0, t)) * 255;
  const i = Math.min(254, Math.floor(pos));
  const f = pos - i;
  return [0, 1, 2].map((c) => data[3 * i + c]! + f * (data[3 * (i + 1) + c]! - data[3 * i + c]!)) as Rgb;
}

/** The same as a CSS colour ('#rrggbb'). */
export function colormapCss(name: ColormapName, t: number): string {
  return `#${colormap(name, t)
    .map((v) => Math.round(v).toString(16).padStart(2, '0'))
    .join('')}`;
}
