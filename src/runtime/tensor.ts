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
 * int32 or uint32. Views share the buffer without copying: reshape and flatten (the same elements),
 * and `region` (a contiguous run of them, starting `offset` elements into the buffer). Every
 * tensor and view must be disposed.
 */
export class Tensor<D extends DType = 'float32'> {
  readonly shape: Shape;
  readonly size: number;
  private storage: Storage | undefined;

  /**
   * @param pool where the buffer goes back when the last view is disposed; without one the
   *   buffer is borrowed and the tensor's dispose leaves it alone.
   * @param offset where the tensor starts in the buffer, in elements (views made by `region`).
   */
  constructor(
    readonly engine: Engine,
    storage: GPUBuffer | Storage,
    shape: Shape,
    pool: BufferPool | undefined,
    readonly dtype: D,
    readonly offset = 0,
  ) {
    this.shape = Object.freeze([...shape]);
    this.size = numel(shape);
    this.storage = storage instanceof Storage ? storage : new Storage(storage, pool);
  }

  /** Where the tensor starts in its buffer, in bytes: a multiple of the device's minStorageBufferOffsetAlignment. */
  get byteOffset(): number {
    return this.offset * 4;
  }

  get rank(): number {
    return this.shape.length;
  }

  get isDisposed(): boolean {
    return this.storage === undefined;
  }

  /**
   * The GPU buffer, for code that addresses it from its start: refused for a view that starts
   * further in (`region`), which engine.dispatch, copy, upload and readBuffer take as a Tensor and
   * address at its offset.
   */
  get buffer(): GPUBuffer {
    const buffer = this.storageBuffer;
    if (this.offset !== 0) {
      throw new Error(
        `tensor ${shapeString(this.shape)} is a view starting ${this.offset} elements into its buffer: ` +
          'pass the Tensor itself to engine.dispatch / copy / upload / readBuffer, which address it at its offset',
      );
    }
    return buffer;
  }

  /** The GPU buffer whatever the offset: for engine code that adds `byteOffset` itself. */
  get storageBuffer(): GPUBuffer {
    if (!this.storage) throw new Error(`tensor ${shapeString(this.shape)} used after dispose()`);
    return this.storage.buffer;
  }

  /** Whether the two tensors live in one GPU buffer (a kernel cannot write one binding of a buffer and read another). */
  sharesBuffer(other: Tensor<DType>): boolean {
    return this.storageBuffer === other.storageBuffer;
  }

  /**
   * A view of elements [start, start + numel(shape)) of this tensor, shaped `shape`, sharing its
   * buffer. Its start in the buffer must be a multiple of the device's
   * minStorageBufferOffsetAlignment (256 bytes on most devices), so that a kernel can bind it.
   */
  region(start: number, shape: Shape): Tensor<D> {
    const storage = this.storage;
    if (!storage) throw new Error(`region: tensor ${shapeString(this.shape)} used after dispose()`);
    const n = numel(shape);
    if (!Number.isSafeInteger(start) || start < 0 || start + n > this.size) {
      throw new Error(`region: elements [${start}, ${start + n}) are not within tensor ${shapeString(this.shape)} (${this.size} elements)`);
    }
    const align = this.engine.limits.minStorageBufferOffsetAlignment;
    const offset = this.offset + start;
    if ((offset * 4) % align !== 0) {
      throw new Error(`region: a view starting ${offset * 4} bytes into its buffer is not a multiple of the device's minStorageBufferOffsetAlignment (${align})`);
    }
    storage.refs += 1;
    return new Tensor(this.engine, storage, shape, undefined, this.dtype, offset);
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
    return new Tensor(this.engine, storage, target, undefined, this.dtype, this.offset);
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
