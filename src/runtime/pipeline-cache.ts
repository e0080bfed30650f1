import { kernelKey, kernelText, type BindingKind, type KernelSpec } from './kernel.js';
import { SHADER_SOURCES } from './shader-sources.generated.js';
import type { ShaderSources, ShaderText } from './shader.js';

export interface CachedPipeline {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
}

const BUFFER_TYPE: Record<BindingKind, GPUBufferBindingType> = {
  uniform: 'uniform',
  read: 'read-only-storage',
  write: 'storage',
};

/**
 * Compute pipelines keyed by WGSL text + entry point + layout, created with
 * createComputePipelineAsync. Concurrent requests for the same key share one compilation; a WGSL
 * error is thrown with the kernel's name and each message at its file:line:column in shaders/
 * (a line spliced from a library file is reported there, not at its place in the spliced text).
 */
export class PipelineCache {
  private readonly entries = new Map<string, Promise<CachedPipeline>>();
  private readonly ready = new Map<string, CachedPipeline>();
  private readonly layouts = new Map<string, GPUBindGroupLayout>();
  /** Shader modules by WGSL text: entry points of one file (pool.wgsl's, say) share a parse. */
  private readonly modules = new Map<string, Promise<GPUShaderModule>>();

  /**
   * @param checkKernel called with each kernel's WGSL before it compiles; the tests use it to
   *   reflect the shader and compare its bindings with the declared layout.
   * @param sources the shader texts (tests compile deliberately broken ones).
   */
  constructor(
    private readonly device: GPUDevice,
    private readonly checkKernel?: (spec: KernelSpec, code: string) => void,
    private readonly sources: ShaderSources = SHADER_SOURCES,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** The bind group layout for a binding list; created once per distinct list. */
  bindGroupLayout(bindings: readonly BindingKind[]): GPUBindGroupLayout {
    const key = bindings.join(',');
    let layout = this.layouts.get(key);
    if (!layout) {
      layout = this.device.createBindGroupLayout({
        label: key,
        entries: bindings.map((kind, binding) => ({
          binding,
          visibility: GPUShaderStage.COMPUTE,
          buffer: { type: BUFFER_TYPE[kind] },
        })),
      });
      this.layouts.set(key, layout);
    }
    return layout;
  }

  /** The compiled pipeline if it is already done, else undefined. */
  getReady(key: string): CachedPipeline | undefined {
    return this.ready.get(key);
  }

  get(spec: KernelSpec, key = kernelKey(spec)): Promise<CachedPipeline> {
    let entry = this.entries.get(key);
    if (!entry) {
      entry = this.compile(spec, key);
      this.entries.set(key, entry);
      // A failed compilation is not cached: the next request tries again and reports again.
      entry.catch(() => this.entries.delete(key));
    }
    return entry;
  }

  private async compile(spec: KernelSpec, key: string): Promise<CachedPipeline> {
    let text: ShaderText;
    try {
      text = kernelText(spec, this.sources);
    } catch (err) {
      throw new Error(`cannot assemble the WGSL of kernel '${spec.name}': ${(err as Error).message}`);
    }
    this.checkKernel?.(spec, text.code);
    const module = await this.module(spec, text);
    const layout = this.bindGroupLayout(spec.bindings);
    let pipeline: GPUComputePipeline;
    try {
      pipeline = await this.device.createComputePipelineAsync({
        label: spec.name,
        layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
        compute: { module, entryPoint: spec.entryPoint ?? 'main' },
      });
    } catch (err) {
      throw new Error(`cannot create the pipeline of kernel '${spec.name}': ${(err as Error).message}`);
    }
    const cached = { pipeline, layout };
    this.ready.set(key, cached);
    return cached;
  }

  /** The module for `text`, compiled once (a failed one is not cached: the next request reports again). */
  private module(spec: KernelSpec, text: ShaderText): Promise<GPUShaderModule> {
    let module = this.modules.get(text.code);
    if (!module) {
      module = this.compileModule(spec, text);
      this.modules.set(text.code, module);
      module.catch(() => this.modules.delete(text.code));
    }
    return module;
  }

  private async compileModule(spec: KernelSpec, text: ShaderText): Promise<GPUShaderModule> {
    // The scope keeps a bad shader from also surfacing later as an uncaptured error.
    this.device.pushErrorScope('validation');
    const module = this.device.createShaderModule({ label: spec.name, code: text.code });
    const scopeError = this.device.popErrorScope();
    const info = await module.getCompilationInfo();
    await scopeError;
    const errors = info.messages.filter((m) => m.type === 'error');
    if (errors.length > 0) {
      const detail = errors.map((m) => compileMessage(text, m)).join('\n');
      throw new Error(`WGSL compile error in kernel '${spec.name}':\n${detail}`);
    }
    return module;
  }
}

/**
 * A compiler message at the file:line:column in shaders/ its line of the spliced text comes from,
 * then that line's text, then the rest of the message (Tint's notes and candidate lists).
 */
function compileMessage(text: ShaderText, m: GPUCompilationMessage): string {
  const origin = text.origins[m.lineNum - 1];
  // Line 0 (or one past the text) is a message about the whole module.
  const at = origin ? `${origin.file}:${origin.line}:${m.linePos}` : `(line ${m.lineNum} of the specialised code)`;
  const [first, ...rest] = m.message.trimEnd().split('\n');
  const source = text.code.split('\n')[m.lineNum - 1]?.trim();
  return [`  ${at}: ${first}`, ...(source ? [`    ${source}`] : []), ...rest.map((l) => (l ? `    ${l}` : l))].join('\n');
}
