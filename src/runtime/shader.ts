import { SHADER_SOURCES } from './shader-sources.generated.js';

/** A compile-time value prepended to a shader as a WGSL `const`. */
export type Define = number | boolean | { u32: number } | { i32: number } | { f32: number };

/** The WGSL text of shaders/<name>.wgsl. */
export function shaderSource(name: string): string {
  const text = SHADER_SOURCES[name];
  if (text === undefined) throw new Error(`unknown shader '${name}' (no shaders/${name}.wgsl)`);
  return text;
}

function wgslConst(name: string, value: Define): string {
  if (typeof value === 'boolean') return `const ${name}: bool = ${value};`;
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0) throw new Error(`define ${name}=${value}: plain numbers must be u32`);
    return `const ${name}: u32 = ${value}u;`;
  }
  if ('u32' in value) return `const ${name}: u32 = ${value.u32}u;`;
  if ('i32' in value) return `const ${name}: i32 = ${value.i32}i;`;
  const f = value.f32;
  return `const ${name}: f32 = ${Number.isFinite(f) ? f.toExponential() : 'bitcast<f32>(0x7f800000u)'};`;
}

/**
 * Specialises a shader by prepending `const` declarations: tile sizes and feature switches are
 * compile-time constants, so register arrays get fixed sizes and disabled branches vanish.
 */
export function specialize(source: string, defines: Record<string, Define> = {}): string {
  const names = Object.keys(defines).sort();
  if (names.length === 0) return source;
  // `enable` directives must precede every declaration, so they stay above the defines.
  const directives = source.match(/^(\s*(\/\/[^\n]*)?\n|\s*enable [^;]+;[^\n]*\n)*/)![0];
  const consts = names.map((n) => wgslConst(n, defines[n]!)).join('\n') + '\n';
  return directives + consts + source.slice(directives.length);
}
