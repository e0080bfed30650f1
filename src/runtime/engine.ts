import { acquireDevice, type DeviceOptions } from '../gpu/device.js';
import { BufferPool, bucketSize, type PoolStats } from './buffer-pool.js';
import { profileForAdapter, resolveProfile, type DeviceProfile, type PlanTarget } from './device-profile.js';
import { kernelKey, type KernelSpec } from './kernel.js';
import { PipelineCache, type CachedPipeline } from './pipeline-cache.js';
import { DTYPES, Tensor, describeValue, dtypeOf, numel, shapeString, typedArray, type DType, type HostArray, type Shape, type TypedArrayOf } from './tensor.js';
import { UniformCache, type ParamWriter } from './uniforms.js';

/** Thrown for every call after the device was lost; create a new Engine to carry on. */
export class DeviceLostError extends Error {
  constructor(readonly reason: string, message: string) {
    super(`WebGPU device lost (${reason}): ${message || 'no message'}. Create a new Engine to continue.`);
    this.name = 'DeviceLostError';
  }
}

/**
 * What the pool of readback staging buffers keeps between reads: the most recently used few, up
 * to a byte budget (a checkpoint's 64 MiB gather buffer fits). A burst of concurrent readbacks
 * needs one staging buffer each; those beyond the bound are destroyed after their read.
 */
export const READ_STAGING_KEEP = { buffers: 4, bytes: 64 * 1024 * 1024 };

export type Workgroups = number | readonly [number, number?, number?];

interface DispatchCommand {
  kind: 'dispatch';
  spec: KernelSpec;
  key: string;
  pipeline: Promise<CachedPipeline>;
  bindGroup: GPUBindGroup;
  groups: [number, number, number];
}

type Command = DispatchCommand | { kind: 'copy'; src: GPUBuffer; srcOffset: number; dst: GPUBuffer; dstOffset: number; size: number };

export interface EngineOptions extends DeviceOptions {
  /** Called once when the device is lost (the Engine then refuses further work). */
  onDeviceLost?: (error: DeviceLostError) => void;
  /** Inspects each kernel's WGSL before it compiles (the tests check binding layouts with it). */
  checkKernel?: (spec: KernelSpec, code: string) => void;
  /**
   * The thresholds routes and tiles are planned with (src/runtime/device-profile.ts): by default
   * 'cpu' on CPU adapters (lavapipe, SwiftShader, WARP) and 'discrete' elsewhere.
   */
  profile?: DeviceProfile | 'cpu' | 'discrete';
  /**
   * The largest storage binding, in bytes, the engine lets a kernel bind: by default the device's
   * maxStorageBufferBindingSize, and never more. Ops split their work to stay under it (the tests
   * set a small one to exercise the splits on small tensors).
   */
  maxStorageBufferBindingSize?: number;
}

/**
 * One WebGPU device with its caches. Ops record commands here; nothing is submitted until a
 * result is read (`read`) or `flush` is called, so a whole step becomes one submission.
 */
export class Engine {
  readonly pipelines: PipelineCache;
  /** The buffers of eager tensors (a Recording owns its own). */
  readonly pool: BufferPool;
  private readonly main: Recorder;
  /** Where dispatches, copies and allocations go: `main`, or a Recording while capturing. */
  private target: Recorder;
  /** Idle readback staging buffers, least recently used first (at most READ_STAGING_KEEP). */
  private readStaging: GPUBuffer[] = [];
  /** Resolves when the latest flush has submitted (or failed). */
  private submitted: Promise<void> = Promise.resolve();
  private uncaptured: string[] = [];
  private lost: DeviceLostError | undefined;
  private disposed = false;
  /** What the planners plan for: the device profile, subgroup support and the binding limit. */
  readonly planTarget: PlanTarget;
  /**
   * The largest storage binding a kernel may bind, in bytes (EngineOptions.maxStorageBufferBindingSize,
   * at most the device's). Every op splits its work against this one figure.
   */
  readonly maxBindingBytes: number;

  private constructor(
    readonly device: GPUDevice,
    readonly adapterName: string,
    readonly features: ReadonlySet<string>,
    options: EngineOptions,
    subgroupMinSize: number,
  ) {
    this.maxBindingBytes = bindingLimit(device.limits, options.maxStorageBufferBindingSize);
    this.planTarget = {
      profile: options.profile === undefined ? profileForAdapter(adapterName) : resolveProfile(options.profile),
      subgroups: features.has('subgroups') && subgroupMinSize >= 8,
      maxBindingBytes: this.maxBindingBytes,
    };
    this.pipelines = new PipelineCache(device, options.checkKernel);
    this.pool = new BufferPool(device, device.limits.maxBufferSize);
    this.main = { commands: [], transient: [], pool: this.pool, uniforms: new UniformCache(device) };
    this.target = this.main;
    device.addEventListener('uncapturederror', (event) => {
      this.uncaptured.push((event as GPUUncapturedErrorEvent).error.message);
    });
    void device.lost.then((info) => {
      if (this.disposed && info.reason === 'destroyed') return;
      this.lost = new DeviceLostError(info.reason, info.message);
      options.onDeviceLost?.(this.lost);
    });
  }

  static async create(options: EngineOptions = {}): Promise<Engine> {
    if (options.profile !== undefined) resolveProfile(options.profile); // a bad one fails before the device is made
    const { device, adapterName, adapterInfo, features } = await acquireDevice(options);
    return new Engine(device, adapterName, features, options, adapterInfo.subgroupMinSize ?? 0);
  }

  get limits(): GPUSupportedLimits {
    return this.device.limits;
  }

  /** The device profile routes and tiles are planned with. */
  get profile(): DeviceProfile {
    return this.planTarget.profile;
  }

  get isLost(): boolean {
    return this.lost !== undefined;
  }

  private checkUsable(): void {
    if (this.lost) throw this.lost;
    if (this.disposed) throw new Error('Engine used after dispose()');
  }

  // ---- tensors ----------------------------------------------------------------------------

  /** Refuses a shape that is not an array of integers >= 0, or too large for one buffer, before anything is allocated. */
  private checkShape(op: string, shape: unknown): number {
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new Error(`${op}: expected the shape as an array of integers >= 0, got ${describeValue(shape)}`);
    }
    const n = numel(shape);
    const max = this.device.limits.maxBufferSize;
    if (n * 4 > max) throw new Error(`${op}: shape ${shapeString(shape)} is ${n * 4} bytes, over the device's maxBufferSize of ${max} bytes`);
    return n;
  }

  /** An uninitialised tensor (float32 unless `dtype` says otherwise). */
  empty(shape: Shape, label?: string): Tensor;
  empty<D extends DType>(shape: Shape, label: string | undefined, dtype: D): Tensor<D>;
  empty(shape: Shape, label?: string, dtype: DType = 'float32'): Tensor<DType> {
    this.checkUsable();
    if (!DTYPES.includes(dtype)) throw new Error(`empty: dtype must be one of ${DTYPES.join(', ')}, got ${describeValue(dtype)}`);
    const n = this.checkShape('empty', shape);
    const pool = this.target.pool;
    return new Tensor(this, pool.acquire(n * 4, label), shape, pool, dtype);
  }

  /**
   * A tensor holding `data` (copied; the upload is ordered with the recorded commands). Its dtype
   * is the array's: Int32Array and Uint32Array give int32 and uint32 tensors, anything else float32.
   */
  tensor(data: Int32Array, shape?: Shape): Tensor<'int32'>;
  tensor(data: Uint32Array, shape?: Shape): Tensor<'uint32'>;
  tensor(data: ArrayLike<number>, shape?: Shape): Tensor;
  tensor(data: ArrayLike<number>, shape?: Shape): Tensor<DType> {
    if (data === null || typeof data !== 'object' || typeof data.length !== 'number') {
      throw new Error(`tensor: expected data as an array or typed array of numbers, got ${describeValue(data)}`);
    }
    const dims = shape ?? [data.length];
    const n = this.checkShape('tensor', dims);
    if (data.length !== n) {
      throw new Error(`tensor: shape ${shapeString(dims)} holds ${n} values but ${data.length} were given`);
    }
    const dtype = dtypeOf(data);
    const t = this.empty(dims, undefined, dtype);
    this.upload(t, dtype === 'float32' && !(data instanceof Float32Array) ? Float32Array.from(data) : (data as HostArray));
    return t;
  }

  zeros(shape: Shape): Tensor;
  zeros<D extends DType>(shape: Shape, dtype: D): Tensor<D>;
  zeros(shape: Shape, dtype: DType = 'float32'): Tensor<DType> {
    this.checkShape('zeros', shape);
    const t = this.empty(shape, undefined, dtype);
    this.upload(t, new Uint32Array(t.size)); // all-zero bits are 0 in every dtype
    return t;
  }

  /**
   * Writes data into a tensor (or a raw buffer) at byte `dstOffset` from its start, in order with
   * the commands recorded before it.
   */
  upload(dst: Tensor<DType> | GPUBuffer, data: Float32Array | Uint32Array | Int32Array, dstOffset = 0): void {
    this.checkUsable();
    const size = Math.ceil(data.byteLength / 4) * 4;
    const target = addressed('upload', dst, dstOffset, size);
    if (size === 0) return;
    const staging = this.device.createBuffer({ size, usage: GPUBufferUsage.COPY_SRC, mappedAtCreation: true });
    new Uint8Array(staging.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    staging.unmap();
    this.target.transient.push(staging);
    this.target.commands.push({ kind: 'copy', src: staging, srcOffset: 0, dst: target.buffer, dstOffset: target.offset, size });
  }

  /**
   * Copies `size` bytes from `src` at byte `srcOffset` to `dst` at byte `dstOffset`, offsets
   * counted from each tensor's start (a view's offset in its buffer is added here) and checked
   * against its size.
   */
  copy(src: Tensor<DType> | GPUBuffer, dst: Tensor<DType> | GPUBuffer, size: number, srcOffset = 0, dstOffset = 0): void {
    this.checkUsable();
    const from = addressed('copy source', src, srcOffset, size);
    const to = addressed('copy destination', dst, dstOffset, size);
    this.target.commands.push({ kind: 'copy', src: from.buffer, srcOffset: from.offset, dst: to.buffer, dstOffset: to.offset, size });
  }

  // ---- kernels ----------------------------------------------------------------------------

  /**
   * Records one dispatch. `buffers` fill the kernel's storage bindings in order; `uniforms`, when
   * the kernel declares one, fill binding 0.
   */
  dispatch(spec: KernelSpec, buffers: ReadonlyArray<Tensor<DType> | GPUBuffer>, workgroups: Workgroups, uniforms?: ParamWriter): void {
    this.checkUsable();
    const hasUniform = spec.bindings[0] === 'uniform';
    const storageCount = spec.bindings.length - (hasUniform ? 1 : 0);
    if (buffers.length !== storageCount) {
      throw new Error(`kernel '${spec.name}' takes ${storageCount} storage buffers but got ${buffers.length}`);
    }
    if (hasUniform !== (uniforms !== undefined)) {
      throw new Error(`kernel '${spec.name}' ${hasUniform ? 'needs' : 'takes no'} uniform parameters`);
    }
    const maxBinding = this.maxBindingBytes;
    const align = this.device.limits.minStorageBufferOffsetAlignment;
    const storage = buffers.map((b, i) => {
      const buffer = b instanceof Tensor ? b.storageBuffer : b;
      const offset = b instanceof Tensor ? b.byteOffset : 0;
      const size = b instanceof Tensor ? Math.max(4, b.size * 4) : b.size;
      if (size > maxBinding) {
        throw new Error(`kernel '${spec.name}': binding ${i} is ${size} bytes, over the storage-binding limit of ${maxBinding} bytes (${limitName(this)})`);
      }
      if (offset % align !== 0) {
        throw new Error(`kernel '${spec.name}': binding ${i} starts ${offset} bytes into its buffer, not a multiple of minStorageBufferOffsetAlignment (${align})`);
      }
      return { buffer, offset, size };
    });
    const groups = normaliseWorkgroups(spec.name, workgroups, this.device.limits.maxComputeWorkgroupsPerDimension);
    if (groups[0] * groups[1] * groups[2] === 0) return; // nothing to run: no uniforms, no bind group
    const entries: GPUBindGroupEntry[] = [];
    if (uniforms) entries.push({ binding: 0, resource: { buffer: this.target.uniforms.get(uniforms.bytes()) } });
    for (const resource of storage) entries.push({ binding: entries.length, resource });
    const key = kernelKey(spec);
    const layout = this.pipelines.bindGroupLayout(spec.bindings);
    const bindGroup = this.device.createBindGroup({ label: spec.name, layout, entries });
    this.target.commands.push({ kind: 'dispatch', spec, key, pipeline: this.pipelines.get(spec, key), bindGroup, groups });
  }

  // ---- capture and replay -----------------------------------------------------------------

  /**
   * Runs `fn` with every dispatch, copy and allocation diverted into a new Recording, which owns
   * the buffers (from its own pool, so tensors disposed inside `fn` are reused by later ones:
   * liveness-based reuse) and the uniform buffers. `replay` then re-issues the same dispatches
   * with the same bind groups, allocating nothing.
   */
  capture<T>(fn: () => T): { value: T; recording: Recording } {
    this.checkUsable();
    if (this.target !== this.main) throw new Error('Engine.capture: already capturing');
    const recorder: Recorder = {
      commands: [],
      transient: [],
      pool: new BufferPool(this.device, this.device.limits.maxBufferSize),
      uniforms: new UniformCache(this.device, Infinity),
    };
    this.target = recorder;
    let value: T;
    try {
      value = fn();
    } catch (err) {
      this.target = this.main;
      disposeRecorder(recorder);
      throw err;
    }
    this.target = this.main;
    return { value, recording: new Recording(recorder) };
  }

  /**
   * Waits for every pipeline of `recording`, running each once (one workgroup of its first
   * dispatch) as soon as it is compiled. Some drivers compile a pipeline at its first dispatch
   * (lavapipe generates its machine code then, or loads it from Mesa's cache): priming does that
   * here, overlapped with the pipelines still compiling, instead of in the first run. Only for
   * recordings whose dispatches write their outputs without reading what was there before (a graph
   * plan's): the first replay overwrites whatever the primes wrote.
   */
  async prime(recording: Recording): Promise<void> {
    const firsts = new Map<string, DispatchCommand>();
    for (const c of recording.commands()) {
      if (c.kind === 'dispatch' && !firsts.has(c.key)) firsts.set(c.key, c);
    }
    await Promise.all(
      [...firsts.values()].map(async (c) => {
        const { pipeline } = await c.pipeline;
        this.checkUsable();
        const encoder = this.device.createCommandEncoder();
        const pass = encoder.beginComputePass();
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, c.bindGroup);
        pass.dispatchWorkgroups(1);
        pass.end();
        this.device.queue.submit([encoder.finish()]);
      }),
    );
    await this.device.queue.onSubmittedWorkDone();
    this.checkUsable();
  }

  /** Appends a recording's commands to what will be submitted next. */
  replay(recording: Recording): void {
    this.checkUsable();
    if (this.target !== this.main) throw new Error('Engine.replay: cannot replay while capturing');
    this.main.commands.push(...recording.commands());
  }

  // ---- submission and readback ------------------------------------------------------------

  /** Number of commands recorded and not yet submitted. */
  get pending(): number {
    return this.main.commands.length;
  }

  /** Encodes every recorded command into one command buffer and submits it. */
  async flush(): Promise<void> {
    this.checkUsable();
    if (this.target !== this.main) throw new Error('Engine.flush: cannot submit while capturing');
    const commands = this.main.commands;
    const transient = this.main.transient;
    this.main.commands = [];
    this.main.transient = [];
    // Submissions must reach the queue in the order their commands were recorded, even when an
    // earlier flush is still waiting for pipelines to compile: each flush waits for the one before.
    const previous = this.submitted;
    let done!: () => void;
    this.submitted = new Promise<void>((resolve) => (done = resolve));
    try {
      await previous;
      await this.submit(commands, transient);
    } finally {
      done();
    }
    this.throwUncaptured();
  }

  private async submit(commands: Command[], transient: GPUBuffer[]): Promise<void> {
    try {
      // The GPU starts on the commands whose pipelines are compiled while the rest still compile
      // (a model's first run overlaps its compilation): each pass waits for the next command's
      // pipeline, then submits it with every following command that is ready too. Once all are
      // compiled, that is a single submission.
      for (let start = 0; start < commands.length; ) {
        const next = commands[start]!;
        if (next.kind === 'dispatch') await next.pipeline;
        this.checkUsable();
        let end = start + 1;
        while (end < commands.length && this.isReady(commands[end]!)) end++;
        await this.encodeAndSubmit(commands.slice(start, end));
        start = end;
      }
    } finally {
      // Destroying after submit is safe: WebGPU frees them once the queued work is done.
      for (const b of transient) b.destroy();
      this.main.uniforms.evict();
    }
  }

  private isReady(c: Command): boolean {
    return c.kind === 'copy' || this.pipelines.getReady(c.key) !== undefined;
  }

  /** One command buffer for `commands`, whose pipelines are all compiled. */
  private async encodeAndSubmit(commands: readonly Command[]): Promise<void> {
    this.device.pushErrorScope('validation');
    this.device.pushErrorScope('out-of-memory');
    const encoder = this.device.createCommandEncoder();
    let pass: GPUComputePassEncoder | undefined;
    for (const c of commands) {
      if (c.kind === 'dispatch') {
        pass ??= encoder.beginComputePass();
        pass.setPipeline(this.pipelines.getReady(c.key)!.pipeline);
        pass.setBindGroup(0, c.bindGroup);
        pass.dispatchWorkgroups(c.groups[0], c.groups[1], c.groups[2]);
      } else {
        pass?.end();
        pass = undefined;
        encoder.copyBufferToBuffer(c.src, c.srcOffset, c.dst, c.dstOffset, c.size);
      }
    }
    pass?.end();
    this.device.queue.submit([encoder.finish()]);
    const oomScope = this.device.popErrorScope();
    const invalidScope = this.device.popErrorScope();
    const [oom, invalid] = [await oomScope, await invalidScope];
    if (oom || invalid) {
      const names = [...new Set(commands.flatMap((c) => (c.kind === 'dispatch' ? [c.spec.name] : [])))].join(', ');
      if (oom) throw new Error(`GPU out of memory while running [${names}]: ${oom.message}`);
      throw new Error(`WebGPU validation error while running [${names}]: ${invalid!.message}`);
    }
  }

  private throwUncaptured(): void {
    if (this.uncaptured.length > 0) {
      const messages = this.uncaptured.join('\n');
      this.uncaptured = [];
      throw new Error(`WebGPU error: ${messages}`);
    }
  }

  /** Submits what is recorded and waits until the GPU has finished it. */
  async sync(): Promise<void> {
    await this.flush();
    await this.device.queue.onSubmittedWorkDone();
    this.checkUsable();
  }

  /**
   * Copies `bytes` of a tensor (or raw buffer), from byte `srcOffset` of its start, back to the CPU
   * (submitting what is recorded first).
   */
  async readBuffer(src: Tensor<DType> | GPUBuffer, bytes: number, srcOffset = 0): Promise<ArrayBuffer> {
    this.checkUsable();
    // Checked before recording the copy: during a capture it would land in the recording.
    if (this.target !== this.main) throw new Error('Engine.readBuffer: cannot read back while capturing');
    const size = Math.ceil(bytes / 4) * 4;
    addressed('readBuffer', src, srcOffset, size);
    // Staging buffers are reused by size (creating a big MAP_READ buffer per read costs more than
    // the copy), a bounded few of them: see READ_STAGING_KEEP.
    const bucket = bucketSize(size);
    let idle = this.readStaging.length - 1;
    while (idle >= 0 && this.readStaging[idle]!.size !== bucket) idle--;
    const staging =
      idle >= 0 ? this.readStaging.splice(idle, 1)[0]! : this.device.createBuffer({ size: bucket, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    let reusable = false;
    try {
      if (size > 0) this.copy(src, staging, size, srcOffset, 0);
      await this.flush();
      try {
        await staging.mapAsync(GPUMapMode.READ, 0, bucket);
      } catch (err) {
        this.checkUsable();
        throw err;
      }
      const data = staging.getMappedRange(0, bucket).slice(0, bytes);
      staging.unmap();
      reusable = true;
      return data;
    } finally {
      if (reusable && !this.disposed) this.keepReadStaging(staging);
      else staging.destroy();
    }
  }

  /** Returns a staging buffer to the idle list, destroying the least recently used beyond the bound. */
  private keepReadStaging(staging: GPUBuffer): void {
    if (staging.size > READ_STAGING_KEEP.bytes) {
      staging.destroy();
      return;
    }
    this.readStaging.push(staging);
    let bytes = this.readStaging.reduce((n, b) => n + b.size, 0);
    while (this.readStaging.length > READ_STAGING_KEEP.buffers || bytes > READ_STAGING_KEEP.bytes) {
      const oldest = this.readStaging.shift()!;
      bytes -= oldest.size;
      oldest.destroy();
    }
  }

  async read<D extends DType>(t: Tensor<D>): Promise<TypedArrayOf<D>> {
    return typedArray(t.dtype, await this.readBuffer(t, t.size * 4)) as TypedArrayOf<D>;
  }

  /** The pool's figures, the pipelines compiled, and the idle readback staging buffers kept. */
  stats(): PoolStats & { pipelines: number; readStaging: { buffers: number; bytes: number } } {
    const readStaging = { buffers: this.readStaging.length, bytes: this.readStaging.reduce((n, b) => n + b.size, 0) };
    return { ...this.pool.stats(), pipelines: this.pipelines.size, readStaging };
  }

  /** Frees every GPU buffer and destroys the device. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    disposeRecorder(this.main);
    for (const b of this.readStaging) b.destroy();
    this.readStaging = [];
    this.device.destroy();
  }
}

interface Recorder {
  commands: Command[];
  /** Staging buffers of uploads: destroyed after the submit (main) or with the Recording. */
  transient: GPUBuffer[];
  pool: BufferPool;
  uniforms: UniformCache;
}

function disposeRecorder(r: Recorder): void {
  r.commands = [];
  for (const b of r.transient) b.destroy();
  r.transient = [];
  r.pool.dispose();
  r.uniforms.dispose();
}

/** Dispatches captured once by `Engine.capture`, replayable any number of times. */
export class Recording {
  private disposed = false;

  constructor(private readonly recorder: Recorder) {}

  /** Bytes of the buffers this recording owns. */
  get bytesAllocated(): number {
    return this.recorder.pool.stats().bytesAllocated;
  }

  get dispatchCount(): number {
    return this.recorder.commands.filter((c) => c.kind === 'dispatch').length;
  }

  /** Resolves when every pipeline the recording uses is compiled (they compile concurrently). */
  async compiled(): Promise<void> {
    await Promise.all(this.recorder.commands.map((c) => (c.kind === 'dispatch' ? c.pipeline : undefined)));
  }

  commands(): readonly Command[] {
    if (this.disposed) throw new Error('Recording used after dispose()');
    return this.recorder.commands;
  }

  /** Frees the recording's buffers; tensors it produced become invalid. Call after its last submit. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    disposeRecorder(this.recorder);
  }
}

/** EngineOptions.maxStorageBufferBindingSize checked against the device's limits (the device's own when absent). */
function bindingLimit(limits: GPUSupportedLimits, requested: number | undefined): number {
  const max = limits.maxStorageBufferBindingSize;
  if (requested === undefined) return max;
  const min = limits.minStorageBufferOffsetAlignment;
  if (!Number.isInteger(requested) || requested % 4 !== 0 || requested < min || requested > max) {
    throw new Error(`Engine.create: maxStorageBufferBindingSize must be a multiple of 4 from ${min} (minStorageBufferOffsetAlignment) to the device's ${max}, got ${describeValue(requested)}`);
  }
  return requested;
}

/** How an error names the engine's binding limit: the device's, or one set lower by EngineOptions. */
export function limitName(engine: Engine): string {
  return engine.maxBindingBytes === engine.limits.maxStorageBufferBindingSize ? "the device's maxStorageBufferBindingSize" : 'lowered by EngineOptions.maxStorageBufferBindingSize';
}

/**
 * The buffer and absolute byte offset of `bytes` bytes at byte `offset` of a tensor (or raw
 * buffer), refusing a range past its end or not 4-byte aligned (copyBufferToBuffer's rule).
 */
function addressed(what: string, t: Tensor<DType> | GPUBuffer, offset: number, bytes: number): { buffer: GPUBuffer; offset: number } {
  const size = t instanceof Tensor ? t.size * 4 : t.size;
  if (!Number.isSafeInteger(offset) || offset < 0 || offset % 4 !== 0 || !Number.isSafeInteger(bytes) || bytes < 0 || bytes % 4 !== 0 || offset + bytes > size) {
    const name = t instanceof Tensor ? `tensor ${shapeString(t.shape)} (${size} bytes)` : `a buffer of ${size} bytes`;
    throw new Error(`${what}: bytes [${offset}, ${offset + bytes}) are not a 4-byte-aligned range within ${name}`);
  }
  return t instanceof Tensor ? { buffer: t.storageBuffer, offset: t.byteOffset + offset } : { buffer: t, offset };
}

function normaliseWorkgroups(name: string, w: Workgroups, max: number): [number, number, number] {
  const g: [number, number, number] = typeof w === 'number' ? [w, 1, 1] : [w[0], w[1] ?? 1, w[2] ?? 1];
  for (const n of g) {
    if (!Number.isInteger(n) || n < 0) throw new Error(`kernel '${name}': bad workgroup count ${JSON.stringify(w)}`);
    if (n > max) {
      throw new Error(`kernel '${name}': ${n} workgroups in one dimension exceeds the device limit of ${max}`);
    }
  }
  return g;
}

/**
 * Workgroup counts covering `n` items at `perGroup` items per workgroup, folded into two
 * dimensions when one is not enough. Shaders recover the linear index with `linearGroup`.
 */
export function grid1d(n: number, perGroup: number, maxPerDim = 65535): [number, number, number] {
  const groups = Math.ceil(n / perGroup);
  if (groups <= maxPerDim) return [groups, 1, 1];
  const y = Math.ceil(groups / maxPerDim);
  return [Math.ceil(groups / y), y, 1];
}
