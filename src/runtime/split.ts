// The one runtime chunker: an op whose bindings would pass the engine's storage-binding limit
// (Engine.maxBindingBytes) declares how its work splits, and this runs its kernels chunk by chunk.
//
// An op splits along one or two axes of independent units: images, (n, c) planes, rows, elements,
// then optionally output channels (or features) within one unit of the first. Each tensor the op
// binds is declared with the elements it holds per unit along each axis (0: the same for every
// unit, bound whole, or for an output, summed over the axis); a chunk of units then binds one
// contiguous region of it. Chunks are as few as fit, of equal size where possible, and sized so
// that every region starts on the device's minStorageBufferOffsetAlignment: the kernels bind
// views of the tensors (no copies). Where no aligned size fits, a misaligned region goes through a
// scratch copy instead (copied in for inputs, back out for outputs): the same kernels on the same
// values, so the same result. Outputs are allocated here, after the plan is made: a call that
// cannot be split (one unit alone passes the limit) is refused before anything is allocated or
// recorded.
import { limitName, type Engine } from './engine.js';
import { fail } from './op-error.js';
import { numel, shapeString, type DType, type Shape, type Tensor } from './tensor.js';

/** One axis of the work: its units and what to call one in an error ('image', 'plane', 'row'). */
export interface SplitAxis {
  readonly name: string;
  readonly size: number;
}

/**
 * Elements per unit along each axis (the second only where the split has two axes). Along an axis
 * where it is 0 the tensor does not change: an input is bound whole, an output is the sum over
 * the axis (`combine` adds the chunks' parts). An operand that varies along both axes must hold
 * whole units of the second within each unit of the first (per[0] = per[1] x units of the second).
 */
export type PerUnit = readonly [number, number?];

interface OperandBase {
  /** Names the tensor in errors ('x', 'gradOut'). */
  readonly name: string;
  readonly per: PerUnit;
}

export interface SplitInput extends OperandBase {
  readonly input: Tensor<DType>;
}

/** A tensor the kernels read and write in place (an optimiser's parameter and state). */
export interface SplitInPlace extends OperandBase {
  readonly inPlace: Tensor<DType>;
}

export interface SplitOutput extends OperandBase {
  /** The output's shape; it is allocated by runSplit. */
  readonly output: Shape;
  readonly dtype?: DType;
  /** Adds `part` into `acc` (same size): for an output summed over a split axis (per 0 along it). */
  readonly combine?: (acc: Tensor, part: Tensor) => void;
}

export type SplitOperand = SplitInput | SplitInPlace | SplitOutput;

export interface Split {
  /** The op, for errors. */
  readonly op: string;
  /** The axes, outer first: one or two. */
  readonly axes: readonly [SplitAxis] | readonly [SplitAxis, SplitAxis];
  /** The tensors the kernels bind that depend on the split, in the order `record` gets them. */
  readonly operands: readonly SplitOperand[];
  /**
   * The largest other binding of a chunk of `a` units of the first axis and `b` of the second, in
   * bytes: tensors the op binds whole that are not operands, scratch buffers it makes per chunk.
   * Monotone in both.
   */
  readonly otherBytes?: (a: number, b: number) => number;
}

/** Units [a0, a0 + a) of the first axis and [b0, b0 + b) of the second (b0 = 0, b = 1 without one). */
export interface Chunk {
  readonly a0: number;
  readonly a: number;
  readonly b0: number;
  readonly b: number;
}

export interface SplitPlan {
  readonly chunks: readonly Chunk[];
  /** Whether the work runs whole: one chunk holding every unit, on the operands themselves. */
  readonly whole: boolean;
}

const isInput = (o: SplitOperand): o is SplitInput => 'input' in o;
const isInPlace = (o: SplitOperand): o is SplitInPlace => 'inPlace' in o;
const isOutput = (o: SplitOperand): o is SplitOutput => 'output' in o;

function elements(o: SplitOperand): number {
  return isInput(o) ? o.input.size : isInPlace(o) ? o.inPlace.size : numel(o.output);
}

/** The elements of chunk c an operand binds: [start, start + length). */
function region(o: SplitOperand, c: Chunk): { start: number; length: number } {
  const [pa, pb = 0] = o.per;
  if (pa === 0 && pb === 0) return { start: 0, length: elements(o) };
  return { start: c.a0 * pa + c.b0 * pb, length: pb === 0 ? c.a * pa : (c.a - 1) * pa + c.b * pb };
}

/** The largest binding of a chunk of a x b units, and what it is. */
function largest(s: Split, a: number, b: number): { bytes: number; what: string } {
  const c: Chunk = { a0: 0, a, b0: 0, b };
  let best = { bytes: s.otherBytes ? s.otherBytes(a, b) : 0, what: 'its scratch buffers' };
  for (const o of s.operands) {
    const bytes = region(o, c).length * 4;
    if (bytes > best.bytes) best = { bytes, what: o.name };
  }
  return best;
}

/** The most units in [1, max] for which fits(n) holds, fits being monotone; 0 if none. */
function most(max: number, fits: (n: number) => boolean): number {
  let [lo, hi] = [0, max];
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Units per chunk along `axis` such that every operand's region starts on the alignment. */
function granule(s: Split, axis: 0 | 1, align: number): number {
  let g = 1;
  for (const o of s.operands) {
    const per = o.per[axis] ?? 0;
    if (per === 0) continue;
    const bytes = per * 4;
    let aligned = 1;
    while ((aligned * bytes) % align !== 0) aligned *= 2;
    g = Math.max(g, aligned);
  }
  return g;
}

/** Equal runs of at most `max` units over `total` (a multiple of `g` each, when `g` allows): [start, count]. */
function runs(total: number, max: number, g: number): Array<[number, number]> {
  const step = g <= max ? Math.floor(max / g) * g : max;
  const count = Math.ceil(total / step);
  const even = Math.ceil(total / count);
  const size = g <= max ? Math.min(step, Math.ceil(even / g) * g) : even;
  const out: Array<[number, number]> = [];
  for (let start = 0; start < total; start += size) out.push([start, Math.min(size, total - start)]);
  return out;
}

function checkSplit(s: Split): void {
  const [first, second] = s.axes;
  const internal = (m: string) => new Error(`${s.op}: internal error in its split: ${m}`);
  for (const axis of s.axes) if (!Number.isSafeInteger(axis.size) || axis.size < 0) throw internal(`axis '${axis.name}' has ${axis.size} units`);
  const whole: Chunk = { a0: 0, a: first.size, b0: 0, b: second?.size ?? 1 };
  for (const o of s.operands) {
    const [pa, pb = 0] = o.per;
    if (pb !== 0 && !second) throw internal(`${o.name} varies along a second axis the split does not have`);
    if (pa !== 0 && pb !== 0 && pa !== pb * second!.size) throw internal(`${o.name} does not hold whole ${second!.name}s per ${first.name}`);
    if (whole.a * whole.b > 0 && region(o, whole).start + region(o, whole).length > elements(o)) {
      throw internal(`${o.name} holds ${elements(o)} elements, fewer than its ${first.name}s take`);
    }
  }
}

/**
 * How `s` runs under the engine's binding limit: whole when everything fits, else in chunks of
 * the first axis, else (one unit of the first is too big) one unit of the first at a time in
 * chunks of the second. Throws, having touched nothing, when a single unit does not fit.
 */
export function planSplit(engine: Engine, s: Split): SplitPlan {
  checkSplit(s);
  const limit = engine.maxBindingBytes;
  const align = engine.limits.minStorageBufferOffsetAlignment;
  const A = s.axes[0].size;
  const second = s.axes[1];
  const B = second?.size ?? 1;
  const fits = (a: number, b: number) => largest(s, a, b).bytes <= limit;
  if (A * B === 0 || fits(A, B)) return { chunks: [{ a0: 0, a: A, b0: 0, b: B }], whole: true };
  if (fits(1, B)) {
    const chunks = runs(A, most(A, (a) => fits(a, B)), granule(s, 0, align)).map(([a0, a]) => ({ a0, a, b0: 0, b: B }));
    return { chunks, whole: false };
  }
  if (second && fits(1, 1)) {
    const perUnit = runs(B, most(B, (b) => fits(1, b)), granule(s, 1, align));
    const chunks: Chunk[] = [];
    for (let a0 = 0; a0 < A; a0++) for (const [b0, b] of perUnit) chunks.push({ a0, a: 1, b0, b });
    return { chunks, whole: false };
  }
  const unit = second ? `one ${s.axes[0].name}'s ${second.name}` : `one ${s.axes[0].name}`;
  const worst = largest(s, 1, 1);
  const shapes = s.operands.filter((o) => !isOutput(o)).map((o) => `${o.name} ${shapeString(isInput(o) ? o.input.shape : (o as SplitInPlace).inPlace.shape)}`);
  fail(
    s.op,
    `${unit} needs a binding of ${worst.bytes} bytes (${worst.what}${shapes.length > 0 ? `; ${shapes.join(', ')}` : ''}), ` +
      `over the storage-binding limit of ${limit} bytes (${limitName(engine)}), and cannot be split further`,
  );
}

/**
 * Runs `record` once per chunk of the plan (planSplit(engine, s) unless given) with the operands
 * bound for it, in declaration order: the tensors themselves when the work runs whole, else views
 * of their chunk's regions (or scratch copies where a region is misaligned). Returns the outputs,
 * allocated here, in declaration order. Tensors are typed float32, the usual case (as the op
 * registry's operands are); an int32 or uint32 one keeps its dtype and is narrowed where used.
 */
export function runSplit(engine: Engine, s: Split, record: (bound: Tensor[], chunk: Chunk) => void, plan = planSplit(engine, s)): Tensor[] {
  return runChunks(engine, s, record as (bound: Tensor<DType>[], chunk: Chunk) => void, plan) as Tensor[];
}

function runChunks(engine: Engine, s: Split, record: (bound: Tensor<DType>[], chunk: Chunk) => void, plan: SplitPlan): Tensor<DType>[] {
  const outputs = new Map<SplitOperand, Tensor<DType>>();
  for (const o of s.operands) if (isOutput(o)) outputs.set(o, engine.empty(o.output, `${s.op}.out`, o.dtype ?? 'float32'));
  const tensorOf = (o: SplitOperand): Tensor<DType> => (isInput(o) ? o.input : isInPlace(o) ? o.inPlace : outputs.get(o)!);
  if (plan.whole) {
    record(s.operands.map(tensorOf), plan.chunks[0]!);
    return [...outputs.values()];
  }
  // An output whose per-unit count is 0 along a split axis sums the chunks along it.
  const split = [new Set(plan.chunks.map((c) => c.a0)).size > 1, new Set(plan.chunks.map((c) => c.b0)).size > 1];
  const summed = (o: SplitOperand) => isOutput(o) && [0, 1].some((i) => split[i] && (o.per[i] ?? 0) === 0);
  for (const o of s.operands) {
    if (summed(o) && !(o as SplitOutput).combine) throw new Error(`${s.op}: internal error in its split: output ${o.name} is summed over chunks but has no combine`);
  }
  const align = engine.limits.minStorageBufferOffsetAlignment;
  for (const c of plan.chunks) {
    const temporary: Tensor<DType>[] = [];
    const after: Array<() => void> = [];
    const bound = s.operands.map((o) => {
      const t = tensorOf(o);
      const { start, length } = region(o, c);
      const bytes = length * 4;
      // Chunks after the first along an axis an output is summed over add their part to it.
      const adds = summed(o) && [0, 1].some((i) => split[i] && (o.per[i] ?? 0) === 0 && (i === 0 ? c.a0 : c.b0) !== 0);
      // A region that starts aligned is bound as a view; any other goes through a scratch copy.
      let target: Tensor<DType>;
      if (start === 0 && length === t.size) {
        target = t;
      } else if (((t.offset + start) * 4) % align === 0) {
        target = t.region(start, [length]);
        temporary.push(target);
      } else {
        target = engine.empty([length], `${s.op}.chunk`, t.dtype);
        temporary.push(target);
        if (!isOutput(o) || adds) engine.copy(t, target, bytes, start * 4, 0);
        if (!isInput(o)) after.push(() => engine.copy(target, t, bytes, 0, start * 4));
      }
      if (!adds) return target;
      const part = engine.empty(target.shape, `${s.op}.part`, t.dtype);
      temporary.push(part);
      after.unshift(() => (o as SplitOutput).combine!(target as Tensor, part as Tensor));
      return part;
    });
    record(bound, c);
    for (const f of after) f();
    // Back to the pool now: the next chunk may reuse them, in order, in the same submission.
    for (const t of temporary) t.dispose();
  }
  return [...outputs.values()];
}
