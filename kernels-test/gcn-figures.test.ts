// The gcn command's figure pieces: the scatter chart and the graph drawing rendered to PNG and
// checked pixel by pixel where their layouts put the points and nodes, the force layout (seeded,
// edges short, nodes apart), the 2-D principal-component projection on data with a known answer,
// and the node features (one-hot degree, row normalisation).
import { describe, expect, it } from 'vitest';
import { renderPixels } from '../src/cli/figure-file.js';
import { principalComponents2d } from '../src/cli/gcn-figures.js';
import { normalizeRows, oneHotDegree } from '../src/data/graphs/features.js';
import { karateClub } from '../src/data/graphs/karate-club.js';
import { graphDrawing, graphDrawingLayout, type GraphPanel } from '../src/figure/graph-drawing.js';
import { fitUnitSquare, forceLayout } from '../src/figure/graph-layout.js';
import { scatterChart, scatterLayout, type ScatterSeries } from '../src/figure/scatter.js';

type Pixels = { width: number; height: number; data: Uint8Array };
const rgbAt = (img: Pixels, x: number, y: number): number[] => {
  const i = (Math.round(y) * img.width + Math.round(x)) * 4;
  return Array.from(img.data.subarray(i, i + 3));
};
const hex = (css: string): number[] => [1, 3, 5].map((i) => parseInt(css.slice(i, i + 2), 16));
const close = (a: number[], b: number[], tol = 14) => a.every((v, i) => Math.abs(v - b[i]!) <= tol);
const BLUE = '#1f77b4';
const ORANGE = '#ff7f0e';

describe('scatter chart', () => {
  const series: ScatterSeries[] = [
    { label: 'first', color: BLUE, points: [{ x: 0, y: 0 }, { x: 1, y: 2 }, { x: -1, y: 0.5, label: '7' }] },
    { label: 'second', color: ORANGE, marker: 'square', points: [{ x: 3, y: -1 }, { x: NaN, y: 0 }] },
  ];

  it('draws each point in its colour where the layout puts it, in order along the axes', async () => {
    const fig = scatterChart(series, { title: 'Points', xLabel: 'x', yLabel: 'y', plotWidth: 300, plotHeight: 240 });
    const layout = scatterLayout(series, { title: 'Points', xLabel: 'x', yLabel: 'y', plotWidth: 300, plotHeight: 240 });
    const img = await renderPixels(fig);
    expect([img.width, img.height]).toEqual([layout.width, layout.height]);
    series.forEach((s, i) =>
      layout.positions[i]!.forEach((p, k) => {
        if (!Number.isFinite(s.points[k]!.x)) return expect(Number.isNaN(p.x)).toBe(true); // not drawn
        expect(close(rgbAt(img, p.x, p.y), hex(s.color)), `${s.label} point ${k}`).toBe(true);
      }),
    );
    const [a, b] = [layout.positions[0]![0]!, layout.positions[0]![1]!];
    expect(b.x).toBeGreaterThan(a.x); // x grows rightwards
    expect(b.y).toBeLessThan(a.y); // y grows upwards
    // Every point inside the plot; the legend right of it, its markers in the series' colours.
    for (const p of layout.positions.flat().filter((q) => Number.isFinite(q.x))) {
      expect(p.x > layout.plot.x && p.x < layout.plot.x + layout.plot.width && p.y > layout.plot.y && p.y < layout.plot.y + layout.plot.height).toBe(true);
    }
    expect(layout.legend.x).toBeGreaterThan(layout.plot.x + layout.plot.width);
    expect(close(rgbAt(img, layout.legend.x + 13, layout.legend.y + 16), hex(BLUE))).toBe(true);
    expect(close(rgbAt(img, layout.legend.x + 13, layout.legend.y + 36), hex(ORANGE))).toBe(true);
  });

  it('keeps one unit equally long on both axes with equalAspect', () => {
    const layout = scatterLayout([{ label: 'a', color: BLUE, points: [{ x: 0, y: 0 }, { x: 10, y: 1 }] }], { equalAspect: true, plotWidth: 400, plotHeight: 300 });
    const perUnitX = layout.plot.width / (layout.x.hi - layout.x.lo);
    const perUnitY = layout.plot.height / (layout.y.hi - layout.y.lo);
    expect(perUnitX).toBeCloseTo(perUnitY, 9);
  });

  it('refuses a chart without series', () => {
    expect(() => scatterChart([])).toThrow('scatterChart: expected at least one series');
  });
});

describe('graph drawing', () => {
  const positions = Float64Array.of(0, 0, 1, 0, 0.5, 1);
  const edges = Int32Array.of(0, 1, 1, 2, 1, 0, 2, 1);
  const panels: GraphPanel[] = [
    { title: 'true', colors: [BLUE, ORANGE, BLUE], legend: [{ color: BLUE, label: 'A' }] },
    { title: 'predicted', colors: [ORANGE, ORANGE, BLUE], ringed: [0], ringColor: '#d7191c', legend: [{ color: '#d7191c', label: 'wrong', ring: true }] },
  ];

  it('fills each node with its panel\'s colour at its position, and rings the ringed ones', async () => {
    const layout = graphDrawingLayout(3, positions, panels);
    const img = await renderPixels(graphDrawing(3, positions, edges, panels, { nodeLabels: false }));
    panels.forEach((panel, i) =>
      layout.panels[i]!.nodes.forEach((p, n) => expect(close(rgbAt(img, p.x, p.y), hex(panel.colors[n]!)), `${panel.title} node ${n}`).toBe(true)),
    );
    const ringed = layout.panels[1]!.nodes[0]!;
    expect(close(rgbAt(img, ringed.x + layout.radius + 3.5, ringed.y), hex('#d7191c'), 40)).toBe(true);
    const plain = layout.panels[0]!.nodes[0]!;
    expect(close(rgbAt(img, plain.x + layout.radius + 3.5, plain.y), [255, 255, 255], 40)).toBe(true);
    // The edge 1-2 is drawn (grey ink half-way along it); there is no edge 0-2.
    const [p0, p1, p2] = layout.panels[0]!.nodes as [{ x: number; y: number }, { x: number; y: number }, { x: number; y: number }];
    expect(Math.max(...rgbAt(img, (p1.x + p2.x) / 2, (p1.y + p2.y) / 2))).toBeLessThan(235);
    expect(rgbAt(img, (p0.x + p2.x) / 2, (p0.y + p2.y) / 2)).toEqual([255, 255, 255]);
  });

  it('refuses colours that do not match the nodes, and positions that are not finite', () => {
    expect(() => graphDrawing(3, positions, edges, [{ ...panels[0]!, colors: [BLUE] }])).toThrow("graphDrawing: panel 'true' has 1 colours for 3 nodes");
    expect(() => graphDrawing(3, Float64Array.of(0, 0, 1, NaN, 0, 1), edges, panels)).toThrow('graphDrawing: every position must be finite');
    expect(() => graphDrawing(2, positions.subarray(0, 4), edges, panels)).toThrow('graphDrawing: panel');
  });
});

describe('force layout', () => {
  const club = karateClub();

  it('is the same for the same seed, inside the unit square, with edges shorter than non-edges', () => {
    const a = forceLayout(club.numNodes, club.edgeIndex, { seed: 3 });
    expect(Array.from(forceLayout(club.numNodes, club.edgeIndex, { seed: 3 }))).toEqual(Array.from(a));
    expect(a.every((v) => v >= -1e-12 && v <= 1 + 1e-12)).toBe(true);
    const dist = (i: number, j: number) => Math.hypot(a[2 * i]! - a[2 * j]!, a[2 * i + 1]! - a[2 * j + 1]!);
    const edges = club.edgeIndex.length / 2;
    const adjacent = new Set(Array.from({ length: edges }, (_, e) => club.edgeIndex[e]! * 34 + club.edgeIndex[edges + e]!));
    const [edgeLengths, others]: [number[], number[]] = [[], []];
    for (let i = 0; i < 34; i++) for (let j = i + 1; j < 34; j++) (adjacent.has(i * 34 + j) ? edgeLengths : others).push(dist(i, j));
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(mean(edgeLengths)).toBeLessThan(0.6 * mean(others));
    expect(Math.min(...edgeLengths, ...others)).toBeGreaterThan(0.005); // no two nodes on top of each other
  });

  it('fits points into the unit square keeping their shape', () => {
    expect(Array.from(fitUnitSquare(Float64Array.of(2, 2, 6, 4)))).toEqual([0, 0.25, 1, 0.75]);
  });

  it('refuses an edge to a node that does not exist', () => {
    expect(() => forceLayout(3, Int32Array.of(0, 3))).toThrow('forceLayout: edge 0 has target node 3, expected 0 <= node < 3');
  });
});

describe('principal components', () => {
  it('finds the direction of most variance, then the next one', () => {
    // Points t * u + s * v (+ 7) in 4-D with u, v orthonormal, t and s uncorrelated, t spread wider.
    const u = [0.5, 0.5, 0.5, 0.5];
    const v = [0.5, -0.5, 0.5, -0.5];
    const ts = [-2, -1, 1, 2];
    const ss = [0.3, -0.3, -0.3, 0.3];
    const data = Float32Array.from(ts.flatMap((t, i) => u.map((uk, k) => t * uk + ss[i]! * v[k]! + 7)));
    const xy = principalComponents2d(data, ts.length, 4);
    const tMean = ts.reduce((a, b) => a + b) / ts.length;
    const sMean = ss.reduce((a, b) => a + b) / ss.length;
    ts.forEach((t, i) => {
      expect(Math.abs(xy[2 * i]!)).toBeCloseTo(Math.abs(t - tMean), 4);
      expect(Math.abs(xy[2 * i + 1]!)).toBeCloseTo(Math.abs(ss[i]! - sMean), 4);
    });
  });
});

describe('node features', () => {
  it('one-hot degree as PyG\'s OneHotDegree, refusing a degree over the maximum', () => {
    const g = { numNodes: 3, edgeIndex: Int32Array.of(0, 1, 1, 1, 0, 2) };
    expect(Array.from(oneHotDegree(g, 2))).toEqual([0, 1, 0, 0, 0, 1, 1, 0, 0]);
    expect(() => oneHotDegree(g, 1)).toThrow('oneHotDegree: node 1 has degree 2, more than maxDegree 1');
  });

  it('normalises rows to sum 1, leaving empty rows and small sums alone (clamped at 1)', () => {
    expect(Array.from(normalizeRows(Float32Array.of(1, 1, 2, 0, 0, 0, 0.5, 0, 0), 3, 3))).toEqual([0.25, 0.25, 0.5, 0, 0, 0, 0.5, 0, 0]);
    expect(() => normalizeRows(Float32Array.of(1, 2), 1, 3)).toThrow('normalizeRows: expected node features [1, 3] (3 values), got 2 values');
  });
});
