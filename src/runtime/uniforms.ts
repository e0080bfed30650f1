/**
 * Packs a kernel's parameters for a uniform buffer. Kernels declare their `Params` struct with
 * 4-byte scalars (u32, i32, f32) only, in the order they are pushed here, so the layout is tight.
 */
export class ParamWriter {
  private readonly values: Array<['u32' | 'i32' | 'f32', number]> = [];

  u32(...xs: number[]): this {
    for (const x of xs) {
      if (!Number.isInteger(x) || x < 0 || x > 0xffffffff) throw new Error(`uniform u32 out of range: ${x}`);
      this.values.push(['u32', x]);
    }
    return this;
  }

  i32(...xs: number[]): this {
    for (const x of xs) {
      if (!Number.isInteger(x) || x < -0x80000000 || x > 0x7fffffff) throw new Error(`uniform i32 out of range: ${x}`);
      this.values.push(['i32', x]);
    }
    return this;
  }

  f32(...xs: number[]): this {
    for (const x of xs) this.values.push(['f32', x]);
    return this;
  }

  /** The bytes, padded to a multiple of 16 as uniform buffers require. */
  bytes(): Uint8Array {
    const n = Math.max(4, Math.ceil(this.values.length / 4) * 4);
    const buf = new ArrayBuffer(n * 4);
    const view = new DataView(buf);
    this.values.forEach(([kind, x], i) => {
      if (kind === 'u32') view.setUint32(i * 4, x, true);
      else if (kind === 'i32') view.setInt32(i * 4, x, true);
      else view.setFloat32(i * 4, x, true);
    });
    return new Uint8Array(buf);
  }
}

export function params(): ParamWriter {
  return new ParamWriter();
}

/**
 * Uniform buffers are immutable and cached by content: an op called again with the same shapes
 * binds the same buffer, and nothing is written between the dispatches of one submission.
 */
export class UniformCache {
  private readonly buffers = new Map<string, GPUBuffer>();

  constructor(
    private readonly device: GPUDevice,
    private readonly capacity = 4096,
  ) {}

  get(bytes: Uint8Array): GPUBuffer {
    let key = '';
    for (let i = 0; i < bytes.length; i += 4) {
      key += String.fromCharCode(bytes[i]! | (bytes[i + 1]! << 8), bytes[i + 2]! | (bytes[i + 3]! << 8));
    }
    let buffer = this.buffers.get(key);
    if (buffer) {
      // Refresh its place in the least-recently-used order.
      this.buffers.delete(key);
    } else {
      buffer = this.device.createBuffer({ size: bytes.length, usage: GPUBufferUsage.UNIFORM, mappedAtCreation: true });
      new Uint8Array(buffer.getMappedRange()).set(bytes);
      buffer.unmap();
    }
    this.buffers.set(key, buffer);
    return buffer;
  }

  /** Destroys the least recently used buffers beyond capacity; call only after a submit. */
  evict(): void {
    for (const [key, buffer] of this.buffers) {
      if (this.buffers.size <= this.capacity) break;
      buffer.destroy();
      this.buffers.delete(key);
    }
  }

  dispose(): void {
    for (const b of this.buffers.values()) b.destroy();
    this.buffers.clear();
  }
}
