// A parser for the text format of the Planetoid citation datasets as their authors distribute them
// (Cora, CiteSeer: LINQS's cora.content and cora.cites):
//   <name>.content   one paper per line: <paper id> <word attribute>+ <class label>
//   <name>.cites     one citation per line: <cited paper id> <citing paper id>
// Fields are separated by tabs (any run of whitespace is accepted); blank lines are skipped. Paper
// ids and class labels are strings; word attributes are numbers (0/1 in Cora). Anything else is
// refused with an error naming the file and line, never skipped: an unknown paper id in the
// citations, a row with a different number of attributes than the first, a paper listed twice, a
// non-numeric attribute, an empty file.
import { undirectedEdgeIndex, type NodeDataset } from './graph.js';

export interface Planetoid extends NodeDataset {
  /** [numNodes]: each node's paper id; node i is the i-th paper of the .content file. */
  ids: readonly string[];
  /**
   * [2, E]: the citations as an undirected graph (each cited/citing pair in both directions,
   * coalesced, as PyG's Planetoid datasets are); a paper citing itself keeps one self-loop.
   */
  edgeIndex: Int32Array;
  /** The distinct class labels, sorted; labels[i] indexes this list. */
  classNames: readonly string[];
}

/** The file names errors cite (e.g. 'cora.content'), since the parser only sees their text. */
export interface PlanetoidFileNames {
  content: string;
  cites: string;
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** The non-blank lines of a text with their 1-based line numbers, split into fields. */
function records(text: string): { line: number; fields: string[] }[] {
  const out: { line: number; fields: string[] }[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const trimmed = raw.trim();
    if (trimmed !== '') out.push({ line: i + 1, fields: trimmed.split(/\s+/) });
  });
  return out;
}

export function parsePlanetoid(
  content: string,
  cites: string,
  names: PlanetoidFileNames = { content: 'content', cites: 'cites' },
): Planetoid {
  const rows = records(content);
  if (rows.length === 0) throw new Error(`${names.content}: no papers (the file is empty)`);
  const first = rows[0]!;
  const numFeatures = first.fields.length - 2;
  const numNodes = rows.length;
  const features = new Float32Array(numNodes * numFeatures);
  const ids: string[] = [];
  const rowOf = new Map<string, number>();
  const labelNames: string[] = [];
  rows.forEach(({ line, fields }, node) => {
    const where = `${names.content}:${line}`;
    if (fields.length < 3) {
      throw new Error(`${where}: expected '<paper id> <word attribute>+ <class label>', got ${fields.length} field${fields.length === 1 ? '' : 's'}`);
    }
    if (fields.length - 2 !== numFeatures) {
      throw new Error(`${where}: expected ${numFeatures} word attributes (as on line ${first.line}), got ${fields.length - 2}`);
    }
    const id = fields[0]!;
    const earlier = rowOf.get(id);
    if (earlier !== undefined) throw new Error(`${where}: paper ${JSON.stringify(id)} is listed twice (first on line ${rows[earlier]!.line})`);
    rowOf.set(id, node);
    ids.push(id);
    for (let f = 0; f < numFeatures; f++) {
      const text = fields[f + 1]!;
      // Cora's attributes are all 0 or 1: skip the pattern match for those.
      const value = text === '0' ? 0 : text === '1' ? 1 : NUMBER.test(text) ? Number(text) : NaN;
      if (!Number.isFinite(value)) throw new Error(`${where}: word attribute ${f + 1} is ${JSON.stringify(text)}, expected a number`);
      features[node * numFeatures + f] = value;
    }
    labelNames.push(fields[fields.length - 1]!);
  });
  const classNames = [...new Set(labelNames)].sort();
  const classOf = new Map(classNames.map((name, c) => [name, c]));
  const labels = Int32Array.from(labelNames, (name) => classOf.get(name)!);

  const links = records(cites);
  if (links.length === 0) throw new Error(`${names.cites}: no citations (the file is empty)`);
  const pairs = new Int32Array(2 * links.length);
  links.forEach(({ line, fields }, k) => {
    const where = `${names.cites}:${line}`;
    if (fields.length !== 2) throw new Error(`${where}: expected '<cited paper id> <citing paper id>', got ${fields.length} fields`);
    fields.forEach((id, end) => {
      const node = rowOf.get(id);
      if (node === undefined) throw new Error(`${where}: paper ${JSON.stringify(id)} does not appear in ${names.content}`);
      pairs[2 * k + end] = node;
    });
  });
  const edgeIndex = undirectedEdgeIndex(numNodes, pairs, `parsePlanetoid(${names.cites})`);
  return { numNodes, edgeIndex, ids, numFeatures, features, labels, classNames };
}
