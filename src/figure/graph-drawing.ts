// Drawings of a graph: nodes at given positions (e.g. forceLayout's), edges as thin lines, each
// node filled with its colour and labelled with its id, some nodes circled (misclassified ones).
// Several panels side by side show the same layout coloured differently (true vs predicted classes).
import type { Rect } from './line-chart.js';
import { INK, MUTED_INK, SIZES } from './style.js';
import { el, text, type Figure } from './svg.js';
import { fitText, textWidth } from './text-metrics.js';

export interface LegendEntry {
  color: string;
  label: string;
  /** Drawn as a ring (like the circled nodes) instead of a filled disc. */
  ring?: boolean;
}

export interface GraphPanel {
  title: string;
  /** One CSS colour per node. */
  colors: readonly string[];
  /** Nodes drawn with a ring around them, in `ringColor`. */
  ringed?: readonly number[];
  ringColor?: string;
  legend: readonly LegendEntry[];
}

export interface GraphDrawingOptions {
  title?: string;
  /** Each panel's drawing area, square, in pixels (default 440). */
  panelSize?: number;
  /** Write each node's id in it (default true). */
  nodeLabels?: boolean;
}

export interface GraphDrawingLayout {
  width: number;
  height: number;
  panels: Array<{ area: Rect; legend: Rect; nodes: Array<{ x: number; y: number }> }>;
  radius: number;
}

const PAD = 14;
const TITLE_BAND = 40;
const PANEL_TITLE = 30;
const LEGEND_ROW = 20;
const GAP = 24;

function check(numNodes: number, positions: Float64Array, edgeIndex: Int32Array, panels: readonly GraphPanel[]): void {
  if (positions.length !== 2 * numNodes) throw new Error(`graphDrawing: expected ${numNodes} positions [x, y], got ${positions.length / 2}`);
  if (!positions.every(Number.isFinite)) throw new Error('graphDrawing: every position must be finite');
  if (panels.length === 0) throw new Error('graphDrawing: expected at least one panel');
  for (const p of panels) {
    if (p.colors.length !== numNodes) throw new Error(`graphDrawing: panel '${p.title}' has ${p.colors.length} colours for ${numNodes} nodes`);
  }
  for (let k = 0; k < edgeIndex.length; k++) {
    if (!(edgeIndex[k]! >= 0 && edgeIndex[k]! < numNodes)) throw new Error(`graphDrawing: the edge index holds node ${edgeIndex[k]}, expected 0 <= node < ${numNodes}`);
  }
}

/** Where everything of `graphDrawing(...)` goes: positions (in [0, 1]^2) mapped into each panel. */
export function graphDrawingLayout(numNodes: number, positions: Float64Array, panels: readonly GraphPanel[], options: GraphDrawingOptions = {}): GraphDrawingLayout {
  const size = options.panelSize ?? 440;
  const radius = Math.max(5, Math.min(12, size / (2.2 * Math.sqrt(Math.max(1, numNodes)) + 8)));
  const titleBand = options.title ? TITLE_BAND : 0;
  const legendHeight = Math.max(...panels.map((p) => p.legend.length)) * LEGEND_ROW + 8;
  const out = panels.map((p, i) => {
    const area = { x: PAD + i * (size + GAP), y: PAD + titleBand + PANEL_TITLE, width: size, height: size };
    const inner = radius + 4; // keep whole discs inside the area
    const nodes = Array.from({ length: numNodes }, (_, n) => ({
      x: area.x + inner + positions[2 * n]! * (size - 2 * inner),
      y: area.y + inner + (1 - positions[2 * n + 1]!) * (size - 2 * inner),
    }));
    const legendWidth = Math.min(size, 2 * radius + 16 + Math.max(0, ...p.legend.map((e) => textWidth(e.label, SIZES.legend))));
    return { area, nodes, legend: { x: area.x + (size - legendWidth) / 2, y: area.y + size + 8, width: legendWidth, height: legendHeight } };
  });
  const width = Math.ceil(2 * PAD + panels.length * size + (panels.length - 1) * GAP);
  return { width, height: Math.ceil(PAD + titleBand + PANEL_TITLE + size + 8 + legendHeight + PAD), panels: out, radius };
}

/** The graph drawn once per panel, same layout, each panel's own colours. */
export function graphDrawing(numNodes: number, positions: Float64Array, edgeIndex: Int32Array, panels: readonly GraphPanel[], options: GraphDrawingOptions = {}): Figure {
  check(numNodes, positions, edgeIndex, panels);
  const layout = graphDrawingLayout(numNodes, positions, panels, options);
  const r = layout.radius;
  const edges = edgeIndex.length / 2;
  const parts: string[] = [];
  if (options.title) {
    parts.push(text(layout.width / 2, PAD + 12, fitText(options.title, layout.width - 2 * PAD, SIZES.figureTitle), { size: SIZES.figureTitle, anchor: 'middle', baseline: 'middle' }));
  }
  panels.forEach((panel, i) => {
    const { area, nodes, legend } = layout.panels[i]!;
    parts.push(text(area.x + area.width / 2, area.y - PANEL_TITLE / 2, fitText(panel.title, area.width, SIZES.panelTitle), { size: SIZES.panelTitle, anchor: 'middle', baseline: 'middle' }));
    const lines: string[] = [];
    const drawn = new Set<number>(); // an undirected edge (listed both ways) is drawn once
    for (let e = 0; e < edges; e++) {
      const [u, v] = [edgeIndex[e]!, edgeIndex[edges + e]!];
      const key = Math.min(u, v) * numNodes + Math.max(u, v);
      if (u === v || drawn.has(key)) continue;
      drawn.add(key);
      lines.push(el('line', { x1: nodes[u]!.x, y1: nodes[u]!.y, x2: nodes[v]!.x, y2: nodes[v]!.y }));
    }
    parts.push(el('g', { stroke: '#9a9a9a', 'stroke-width': 1, 'stroke-opacity': 0.7 }, lines.join('')));
    const ringed = new Set(panel.ringed ?? []);
    nodes.forEach((p, n) => {
      if (ringed.has(n)) parts.push(el('circle', { cx: p.x, cy: p.y, r: r + 3.5, fill: 'none', stroke: panel.ringColor ?? INK, 'stroke-width': 3 }));
      parts.push(el('circle', { cx: p.x, cy: p.y, r, fill: panel.colors[n]!, stroke: '#ffffff', 'stroke-width': 1.2 }));
      if (options.nodeLabels ?? true) parts.push(text(p.x, p.y, String(n), { size: Math.max(7, Math.round(r * 0.95)), anchor: 'middle', baseline: 'middle', fill: '#ffffff' }));
    });
    panel.legend.forEach((entry, k) => {
      const cy = legend.y + 4 + k * LEGEND_ROW + LEGEND_ROW / 2;
      const cx = legend.x + r;
      parts.push(
        entry.ring
          ? el('circle', { cx, cy, r: r - 1, fill: 'none', stroke: entry.color, 'stroke-width': 3 })
          : el('circle', { cx, cy, r: r - 2, fill: entry.color }),
      );
      parts.push(text(cx + r + 8, cy, entry.label, { size: SIZES.legend, baseline: 'middle', fill: MUTED_INK }));
    });
  });
  return { width: layout.width, height: layout.height, body: parts.join(''), images: [] };
}

