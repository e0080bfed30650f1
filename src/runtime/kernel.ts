import { SHADER_SOURCES } from './shader-sources.generated.js';
import { expandShader, specialize, type Define, type ShaderSources, type ShaderText } from './shader.js';

/**
 * How a kernel sees each binding of group 0, in binding-index order:
 * `uniform` (parameters), `read` (read-only storage), `write` (read-write storage).
 */
export type BindingKind = 'uniform' | 'read' | 'write';

/** A compute kernel: which shader, which entry point, its compile-time defines and binding layout. */
export interface KernelSpec {
  /** Names the kernel in errors, e.g. 'conv2d.implicit_gemm'. */
  name: string;
  /** Shader file in shaders/ without the extension (its `//! include` lines are spliced). */
  shader: string;
  entryPoint?: string;
  defines?: Record<string, Define>;
  bindings: readonly BindingKind[];
}

/**
 * The WGSL a kernel compiles: its shader with its includes spliced and its defines prepended,
 * with the file and line each line of it comes from (for compile errors).
 */
export function kernelText(spec: KernelSpec, sources: ShaderSources = SHADER_SOURCES): ShaderText {
  return specialize(expandShader(spec.shader, sources), spec.defines);
}

/** The WGSL text a kernel compiles (see kernelText). */
export function kernelCode(spec: KernelSpec, sources: ShaderSources = SHADER_SOURCES): string {
  return kernelText(spec, sources).code;
}

/**
 * Identifies a kernel's pipeline: its WGSL text (the shader file, includes spliced, plus its
 * defines, which determine the text exactly), entry point and binding layout. Built from those
 * parts rather than the full text, because ops ask for the key on every dispatch.
 */
export function kernelKey(spec: KernelSpec): string {
  const defines = spec.defines;
  let key = `${spec.shader}|${spec.entryPoint ?? 'main'}|${spec.bindings.join(',')}|`;
  if (defines) {
    for (const name of Object.keys(defines).sort()) {
      const v = defines[name]!;
      key += `${name}=${typeof v === 'object' ? JSON.stringify(v) : v};`;
    }
  }
  return key;
}
