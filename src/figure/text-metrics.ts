// Text measured with the figure font's advance widths (DejaVu Sans), so a layout knows how much
// room a label takes before anything is drawn. Kerning only ever narrows text, so these widths
// are safe upper bounds for the PNG; a browser's fallback font may differ by a few per cent.
import { ADVANCES, UNITS_PER_EM } from './font-metrics.generated.js';

/** For characters the font lacks: about a capital's width. */
const FALLBACK_ADVANCE = ADVANCES[0x4e]!; // 'N'

/** Width in pixels of `text` set at `size` pixels. */
export function textWidth(text: string, size: number): number {
  let units = 0;
  for (const ch of text) units += ADVANCES[ch.codePointAt(0)!] ?? FALLBACK_ADVANCE;
  return (units / UNITS_PER_EM) * size;
}

/** `text`, cut and ended with '…' where it is wider than `maxWidth` at `size`. */
export function fitText(text: string, maxWidth: number, size: number): string {
  if (textWidth(text, size) <= maxWidth) return text;
  const chars = Array.from(text);
  let lo = 0;
  let hi = chars.length;
  // The longest prefix that fits together with the ellipsis.
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (textWidth(`${chars.slice(0, mid).join('').trimEnd()}…`, size) <= maxWidth) lo = mid;
    else hi = mid - 1;
  }
  return lo === 0 ? '…' : `${chars.slice(0, lo).join('').trimEnd()}…`;
}
