import { shaderSource, specialize, type Define } from './shader.js';

/**
 * How a kernel sees each binding of group 0, in binding-index order:
 * `uniform` (parameters), `read` (read-only storage), `write` (read-write storage).
 */
export type BindingKind = 'uniform' | 'read' | 'write';

/** A compute kernel: which shader, which entry point, its compile-time defines and binding layout. */
export interface KernelSpec {
  /** Names the kernel in errors, e.g. 'conv2d.implicit_gemm'. */
  name: string;
  /** Shader file in shaders/ without the extension. */
  shader: string;
  entryPoint?: string;
  defines?: Record<string, Define>;
  bindings: readonly BindingKind[];
}

/** The WGSL text a kernel compiles: its shader with its defines prepended. */
export function kernelCode(spec: KernelSpec): string {
  return specialize(shaderSource(spec.shader), spec.defines);
}

/**
 * Identifies a kernel's pipeline: its WGSL text (the shader file plus its defines, which determine
 * the text exactly), entry point and binding layout. Built from those parts rather than the full
 * text, because ops ask for the key on every dispatch.
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
