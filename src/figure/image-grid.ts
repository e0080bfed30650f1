// A grid of small images, each with a label of one or more lines under it (feature maps
// "layer1.0 · channel 12", a classifier's predictions). Images are shown pixel-exact: enlarged by
// whole factors so small maps stay crisp, box-averaged when shrunk, centred in their square.
import { checkRgba, displaySize, resizeRgba, type RgbaImage } from './image.js';
import { INK, MATTE, MUTED_INK, SIZES } from './style.js';
import { el, imageRef, text, type Figure } from './svg.js';
import { fitText } from './text-metrics.js';

export interface GridCell {
  image: RgbaImage;
  /** Lines under the image: the first in the cell's colour (or ink), the rest muted. */
  label?: string | readonly string[];
  /** A CSS colour for a frame around the image and its first label line; no frame when unset. */
  color?: string;
}

export interface ImageGridOptions {
  title?: string;
  /** A line under the title, e.g. what the colours mean. */
  subtitle?: string;
  /** Cells per row; default enough for a roughly square grid. */
  columns?: number;
  /** The images' square in pixels; default 96. */
  cellSize?: number;
  /** A cell's width when labels need more room than the image; default the image square. */
  cellWidth?: number;
}

export interface ImageGridLayout {
  width: number;
  height: number;
  columns: number;
  /** Per cell: the image square's top-left corner and the first label line's top. */
  cells: Array<{ x: number; y: number; labelY: number }>;
  cellSize: number;
  cellWidth: number;
  lineHeight: number;
}

const PAD = 14;
const GAP_X = 14;
const GAP_Y = 12;
const FRAME = 3;

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new Error(`imageGrid: ${name} must be a positive integer, got ${v}`);
  return v;
}

const labelLines = (cell: GridCell): readonly string[] => (cell.label === undefined ? [] : typeof cell.label === 'string' ? [cell.label] : cell.label);

export function imageGridLayout(cells: readonly GridCell[], options: ImageGridOptions = {}): ImageGridLayout {
  positiveInt('the number of images', cells.length);
  const columns = Math.min(cells.length, positiveInt('columns', options.columns ?? Math.ceil(Math.sqrt(cells.length))));
  const cellSize = positiveInt('cellSize', options.cellSize ?? 96);
  const cellWidth = Math.max(cellSize, positiveInt('cellWidth', options.cellWidth ?? cellSize));
  const lines = Math.max(0, ...cells.map((c) => labelLines(c).length));
  const lineHeight = SIZES.caption + 4;
  const framed = cells.some((c) => c.color !== undefined) ? FRAME : 0;
  let top = PAD;
  if (options.title) top += SIZES.panelTitle + 8;
  if (options.subtitle) top += SIZES.caption + 8;
  if (options.title || options.subtitle) top += 6;
  const rowHeight = cellSize + 2 * framed + (lines > 0 ? 6 + lines * lineHeight : 0);
  const rows = Math.ceil(cells.length / columns);
  const boxWidth = cellWidth + 2 * framed;
  return {
    width: 2 * PAD + columns * boxWidth + (columns - 1) * GAP_X,
    height: top + rows * rowHeight + (rows - 1) * GAP_Y + PAD - 4,
    columns,
    cellSize,
    cellWidth,
    lineHeight,
    cells: cells.map((_, i) => {
      const x = PAD + (i % columns) * (boxWidth + GAP_X) + framed + (cellWidth - cellSize) / 2;
      const y = top + Math.floor(i / columns) * (rowHeight + GAP_Y) + framed;
      return { x, y, labelY: y + cellSize + framed + 6 };
    }),
  };
}

export function imageGrid(cells: readonly GridCell[], options: ImageGridOptions = {}): Figure {
  cells.forEach((c, i) => checkRgba(c.image, `imageGrid: image ${i}`));
  const layout = imageGridLayout(cells, options);
  const { cellSize, cellWidth, lineHeight } = layout;
  const parts: string[] = [];
  const images: RgbaImage[] = [];
  let top = PAD;
  if (options.title) {
    parts.push(text(PAD, top, fitText(options.title, layout.width - 2 * PAD, SIZES.panelTitle), { size: SIZES.panelTitle, baseline: 'hanging' }));
    top += SIZES.panelTitle + 8;
  }
  if (options.subtitle) parts.push(text(PAD, top, fitText(options.subtitle, layout.width - 2 * PAD, SIZES.caption), { size: SIZES.caption, baseline: 'hanging', fill: MUTED_INK }));

  cells.forEach((cell, i) => {
    const { x, y, labelY } = layout.cells[i]!;
    if (cell.color) parts.push(el('rect', { x: x - FRAME / 2, y: y - FRAME / 2, width: cellSize + FRAME, height: cellSize + FRAME, fill: 'none', stroke: cell.color, 'stroke-width': FRAME }));
    const shown = displaySize(cell.image.width, cell.image.height, cellSize);
    if (shown.width < cellSize || shown.height < cellSize) parts.push(el('rect', { x, y, width: cellSize, height: cellSize, fill: MATTE }));
    const pixels = shown.width === cell.image.width && shown.height === cell.image.height ? cell.image : resizeRgba(cell.image, shown.width, shown.height);
    const ox = x + Math.floor((cellSize - shown.width) / 2);
    const oy = y + Math.floor((cellSize - shown.height) / 2);
    images.push(pixels);
    parts.push(imageRef(images.length - 1, ox, oy, shown.width, shown.height));
    labelLines(cell).forEach((line, k) => {
      parts.push(
        text(x + cellSize / 2, labelY + k * lineHeight, fitText(line, cellWidth, SIZES.caption), {
          size: SIZES.caption,
          anchor: 'middle',
          baseline: 'hanging',
          fill: k === 0 ? (cell.color ?? INK) : MUTED_INK,
        }),
      );
    });
  });
  return { width: layout.width, height: layout.height, body: parts.join(''), images };
}
