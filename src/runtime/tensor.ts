import type { BufferPool } from './buffer-pool.js';
import type { Engine } from './engine.js';

export type Shape = readonly number[];

/** Element types a tensor can hold; every one is 4 bytes. Indices and class targets are int32. */
export type DType = 'float32' | 'int32' | 'uint32';

export const DTYPES: readonly DType[] = ['float32', 'int32', 'uint32'];

/** The typed array a tensor of `dtype` reads back into. */
export type TypedArrayOf<D extends DType> = D extends 'int32' ? Int32Array : D extends 'uint32' ? Uint32Array : Float32Array;

export type HostArray = Float32Array | Int32Array | Uint32Array;

/** The dtype a typed array holds (plain arrays are float32). */
export function dtypeOf(data: ArrayLike<number>): DType {
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Uint32Array) return 'uint32';
  return 'float32';
}

/** Reinterprets 4-byte elements read back from the GPU as `dtype`. */
export function typedArray(dtype: DType, buffer: ArrayBuffer): HostArray {
  if (dtype === 'int32') return new Int32Array(buffer);
  if (dtype === 'uint32') return new Uint32Array(buffer);
  return new Float32Array(buffer);
}

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`invalid shape [${shape.join(', ')}]: dimensions must be integers >= 0`);
    n *= d;
  }
  return n;
}

export function shapeString(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

/** What a wrong argument is, for an error message: "null", "a Float64Array", "an object ({...})". */
export function describeValue(v: unknown): string {
  if (v === null || v === undefined || typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return 'a string';
  if (typeof v !== 'object') return `a ${typeof v}`;
  const name = (v as object).constructor?.name;
  if (name && name !== 'Object' && name !== 'Array') return /^[AEIOU]/.test(name) ? `an ${name}` : `a ${name}`;
  let text: string;
  try {
    text = JSON.stringify(v) ?? '';
  } catch {
    text = '';
  }
  if (text.length > 60) text = `${text.slice(0, 57)}...`;
  return `${Array.isArray(v) ? 'an array' : 'an object'}${text ? ` (${text})` : ''}`;
}

/** The shape torch.flatten gives: dimensions startDim..endDim merged into one (a scalar becomes [1]). */
export function flattenShape(shape: Shape, startDim = 0, endDim = -1): number[] {
  const r = shape.length;
  const s = startDim < 0 ? startDim + r : startDim;
  const e = endDim < 0 ? endDim + r : endDim;
  if (r === 0) return [1];
  if (s < 0 || e >= r || s > e) throw new Error(`flatten: bad dims (${startDim}, ${endDim}) for a tensor of rank ${r}`);
  const merged = shape.slice(s, e + 1).reduce((a, b) => a * b, 1);
  return [...shape.slice(0, s), merged, ...shape.slice(e + 1)];
}

/** One GPU buffer shared by a tensor and its views; returned to the pool when the last one is disposed. */
class Storage {
  refs = 1;
  constructor(
    readonly buffer: GPUBuffer,
    readonly pool: BufferPool | undefined,
  ) {}
}

/**
 * A tensor in a GPU buffer, row-major (NCHW for images), of 4-byte elements: float32 (the default),
 * int32 or uint32. Views (reshape, flatten) share the buffer without copying; every tensor and
 * view must be disposed.
 */
export class Tensor<D extends DType = 'float32'> {
  readonly shape: Shape;
  readonly size: number;
  private storage: Storage | undefined;

  /**
   * @param pool where the buffer goes back when the last view is disposed; without one the
   *   buffer is borrowed and the tensor's dispose leaves it alone.
   */
  constructor(
    readonly engine: Engine,
    storage: GPUBuffer | Storage,
    shape: Shape,
    pool: BufferPool | undefined,
    readonly dtype: D,
  ) {
    this.shape = Object.freeze([...shape]);
    this.size = numel(shape);
    this.storage = storage instanceof Storage ? storage : new Storage(storage, pool);
  }

  get rank(): number {
    return this.shape.length;
  }

  get isDisposed(): boolean {
    return this.storage === undefined;
  }

  get buffer(): GPUBuffer {
    if (!this.storage) throw new Error(`tensor ${shapeString(this.shape)} used after dispose()`);
    return this.storage.buffer;
  }

  /** A view with another shape of the same size; -1 stands for the one inferred dimension. */
  reshape(shape: Shape): Tensor<D> {
    const known = shape.filter((d) => d !== -1);
    const inferred = shape.length - known.length;
    if (inferred > 1) throw new Error(`reshape: only one dimension can be -1, got ${shapeString(shape)}`);
    const knownSize = numel(known);
    let target = [...shape];
    if (inferred === 1) {
      if (knownSize === 0 || this.size % knownSize !== 0) {
        throw new Error(`reshape: cannot reshape ${shapeString(this.shape)} (${this.size} values) into ${shapeString(shape)}`);
      }
      target = shape.map((d) => (d === -1 ? this.size / knownSize : d));
    }
    if (numel(target) !== this.size) {
      throw new Error(`reshape: cannot reshape ${shapeString(this.shape)} (${this.size} values) into ${shapeString(shape)}`);
    }
    const storage = this.storage;
    if (!storage) throw new Error(`reshape: tensor ${shapeString(this.shape)} used after dispose()`);
    storage.refs += 1;
    return new Tensor(this.engine, storage, target, undefined, this.dtype);
  }

  view(shape: Shape): Tensor<D> {
    return this.reshape(shape);
  }

  /** Flattens dimensions startDim..endDim into one, as torch.flatten does. */
  flatten(startDim = 0, endDim = -1): Tensor<D> {
    return this.reshape(flattenShape(this.shape, startDim, endDim));
  }

  /** The values, read back: a Float32Array, or an Int32Array / Uint32Array for those dtypes. */
  toArray(): Promise<TypedArrayOf<D>> {
    if (!this.storage) return Promise.reject(new Error(`toArray: tensor ${shapeString(this.shape)} used after dispose()`));
    return this.engine.read(this);
  }

  dispose(): void {
    const storage = this.storage;
    if (!storage) return;
    this.storage = undefined;
    storage.refs -= 1;
    if (storage.refs === 0 && !this.engine.isLost) storage.pool?.release(storage.buffer);
  }
}
