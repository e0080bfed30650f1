/**
 * Storage buffers recycled by size bucket. Buckets are powers of two and their midpoints
 * (…, 1024, 1536, 2048, 3072, …), so at most a third of a buffer goes unused.
 * Everything is explicit: `release` returns a buffer for reuse, `dispose` destroys them all.
 */
export interface PoolStats {
  /** Bytes of every buffer the pool holds, free or in use. */
  bytesAllocated: number;
  /** Bytes of the buffers handed out and not yet released. */
  bytesInUse: number;
  buffersAllocated: number;
}


export function bucketSize(bytes: number): number {
  const size = Math.max(16, Math.ceil(bytes / 16) * 16);
  const pow = 2 ** Math.ceil(Math.log2(size));
  const mid = (pow / 4) * 3;
  return size <= mid ? mid : pow;
}

export class BufferPool {
  private readonly free = new Map<number, GPUBuffer[]>();
  private readonly inUse = new Set<GPUBuffer>();
  private allocated = 0;
  private count = 0;
  private usedBytes = 0;
  private disposed = false;
  private readonly usage: number;

  constructor(
    private readonly device: GPUDevice,
    private readonly maxBufferSize: number,
  ) {
    this.usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  }

  acquire(bytes: number, label?: string): GPUBuffer {
    if (this.disposed) throw new Error('BufferPool used after dispose()');
    const size = bucketSize(bytes);
    if (size > this.maxBufferSize) {
      throw new Error(`cannot allocate a ${bytes}-byte GPU buffer: the device's maxBufferSize is ${this.maxBufferSize} bytes`);
    }
    let buffer = this.free.get(size)?.pop();
    if (!buffer) {
      buffer = this.device.createBuffer({ size, usage: this.usage, label });
      this.allocated += size;
      this.count += 1;
    }
    this.inUse.add(buffer);
    this.usedBytes += size;
    return buffer;
  }

  release(buffer: GPUBuffer): void {
    if (this.disposed) return; // its buffers are already destroyed
    if (!this.inUse.delete(buffer)) throw new Error('BufferPool.release: buffer is not in use (released twice?)');
    this.usedBytes -= buffer.size;
    let list = this.free.get(buffer.size);
    if (!list) this.free.set(buffer.size, (list = []));
    list.push(buffer);
  }

  stats(): PoolStats {
    return { bytesAllocated: this.allocated, bytesInUse: this.usedBytes, buffersAllocated: this.count };
  }

  /** Destroys the free buffers, keeping those in use. */
  trim(): void {
    for (const list of this.free.values()) {
      for (const b of list) {
        this.allocated -= b.size;
        this.count -= 1;
        b.destroy();
      }
    }
    this.free.clear();
  }

  /** Destroys every buffer, in use or not. */
  dispose(): void {
    this.disposed = true;
    this.trim();
    for (const b of this.inUse) b.destroy();
    this.inUse.clear();
    this.allocated = 0;
    this.count = 0;
    this.usedBytes = 0;
  }
}
