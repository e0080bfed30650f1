import { SHADER_SOURCES } from './shader-sources.generated.js';

/** WGSL texts by shader name: the path under shaders/ without `.wgsl` ('gemm', 'lib/philox'). */
export type ShaderSources = Readonly<Record<string, string>>;

/** A compile-time value prepended to a shader as a WGSL `const`. */
export type Define = number | boolean | { u32: number } | { i32: number } | { f32: number };

/** Where a line of a kernel's WGSL comes from. */
export interface SourceLine {
  /** The shader file ('shaders/lib/philox.wgsl'), or '<defines>' for a prepended `const`. */
  file: string;
  /** 1-based line in that file (for '<defines>', which define). */
  line: number;
}

/** WGSL text with the origin of each of its lines: `origins[i]` is where line i + 1 comes from. */
export interface ShaderText {
  code: string;
  origins: readonly SourceLine[];
}

/** The WGSL text of shaders/<name>.wgsl, as written (its includes not spliced). */
export function shaderSource(name: string, sources: ShaderSources = SHADER_SOURCES): string {
  const text = sources[name];
  if (text === undefined) throw new Error(`unknown shader '${name}' (no shaders/${name}.wgsl)`);
  return text;
}

const shaderFile = (name: string) => `shaders/${name}.wgsl`;

// `//! include lib/philox`: splices shaders/lib/philox.wgsl in place of the line. Any other line
// starting with `//!` is refused, so a mistyped directive is never silently a comment.
const DIRECTIVE = /^\s*\/\/!/;
const INCLUDE = /^\s*\/\/!\s*include\s+([A-Za-z0-9_/-]+)\s*$/;
const ENABLE = /^\s*enable\s/;

/**
 * Splices a shader's includes: each `//! include NAME` line is replaced by shaders/NAME.wgsl,
 * whose own includes are spliced the same way. A file is spliced once, where it is first
 * included (later includes of it are dropped); an include cycle is an error naming the chain.
 * Included files may not hold `enable` directives (those must precede every declaration, so
 * they belong to the including shader).
 */
export function expandShader(name: string, sources: ShaderSources = SHADER_SOURCES): ShaderText {
  let cache = expansions.get(sources);
  if (!cache) {
    cache = new Map();
    expansions.set(sources, cache);
  }
  let expanded = cache.get(name);
  if (!expanded) {
    expanded = expand(name, sources);
    cache.set(name, expanded);
  }
  return expanded;
}

const expansions = new WeakMap<ShaderSources, Map<string, ShaderText>>();

function expand(root: string, sources: ShaderSources): ShaderText {
  const lines: string[] = [];
  const origins: SourceLine[] = [];
  const spliced = new Set<string>();
  const splice = (name: string, chain: readonly string[]) => {
    spliced.add(name);
    const text = shaderSource(name, sources).split('\n');
    if (text[text.length - 1] === '') text.pop();
    text.forEach((line, i) => {
      const at = `${shaderFile(name)}:${i + 1}`;
      if (DIRECTIVE.test(line)) {
        const target = INCLUDE.exec(line)?.[1];
        if (target === undefined) throw new Error(`${at}: unknown directive '${line.trim()}' (expected '//! include NAME')`);
        if (chain.includes(target)) throw new Error(`${at}: include cycle ${[...chain, target].join(' -> ')}`);
        if (spliced.has(target)) return;
        if (sources[target] === undefined) throw new Error(`${at}: includes '${target}', but there is no ${shaderFile(target)}`);
        splice(target, [...chain, target]);
        return;
      }
      if (name !== root && ENABLE.test(line)) {
        throw new Error(`${at}: an included file cannot hold an enable directive; move it to the shaders that include it`);
      }
      lines.push(line);
      origins.push({ file: shaderFile(name), line: i + 1 });
    });
  };
  splice(root, [root]);
  return { code: lines.join('\n') + '\n', origins };
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

// Leading lines the defines go below: blank lines, comments and `enable` directives (which must
// precede every declaration).
const PREAMBLE = /^\s*(\/\/.*)?$|^\s*enable [^;]+;/;

/**
 * Specialises a shader by prepending `const` declarations: tile sizes and feature switches are
 * compile-time constants, so register arrays get fixed sizes and disabled branches vanish.
 */
export function specialize(shader: ShaderText, defines: Record<string, Define> = {}): ShaderText {
  const names = Object.keys(defines).sort();
  if (names.length === 0) return shader;
  const lines = shader.code.split('\n');
  let at = 0;
  while (at < lines.length && PREAMBLE.test(lines[at]!)) at++;
  const consts = names.map((n) => wgslConst(n, defines[n]!));
  return {
    code: [...lines.slice(0, at), ...consts, ...lines.slice(at)].join('\n'),
    origins: [...shader.origins.slice(0, at), ...names.map((_, i) => ({ file: '<defines>', line: i + 1 })), ...shader.origins.slice(at)],
  };
}
