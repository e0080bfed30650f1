// The WGSL library (shaders/lib/): `//! include` splicing, and compile errors reported at the
// file and line they come from, through the spliced text and the prepended defines.
import { describe, expect, it } from 'vitest';
import { kernelText, type KernelSpec } from '../src/runtime/kernel.js';
import { PipelineCache } from '../src/runtime/pipeline-cache.js';
import { SHADER_SOURCES } from '../src/runtime/shader-sources.generated.js';
import { expandShader, specialize, type ShaderSources } from '../src/runtime/shader.js';
import { useEngine } from './helpers.js';

const engine = useEngine();

/** Where `needle` is in `text`: its 1-based line (the test's own sources say where errors must point). */
function lineOf(text: string, needle: string): number {
  const lines = text.split('\n');
  const at = lines.findIndex((l) => l.includes(needle));
  if (at < 0 || lines.findIndex((l, i) => i > at && l.includes(needle)) >= 0) throw new Error(`'${needle}' must occur exactly once`);
  return at + 1;
}

describe('include splicing', () => {
  const sources: ShaderSources = {
    main: '// a kernel\n//! include lib/b\n//! include lib/a\nfn main_fn() -> u32 { return a() + b(); }\n',
    'lib/a': '// a, which uses b\n//! include lib/b\nfn a() -> u32 { return b(); }\n',
    'lib/b': 'fn b() -> u32 { return 1u; }\n',
  };

  it('splices each file once, where it is first included, and knows where each line comes from', () => {
    const text = expandShader('main', sources);
    expect(text.code).toBe('// a kernel\nfn b() -> u32 { return 1u; }\n// a, which uses b\nfn a() -> u32 { return b(); }\nfn main_fn() -> u32 { return a() + b(); }\n');
    expect(text.origins).toEqual([
      { file: 'shaders/main.wgsl', line: 1 },
      { file: 'shaders/lib/b.wgsl', line: 1 },
      { file: 'shaders/lib/a.wgsl', line: 1 },
      { file: 'shaders/lib/a.wgsl', line: 3 },
      { file: 'shaders/main.wgsl', line: 4 },
    ]);
  });

  it('puts the defines below the leading comments and enable directives, and maps them', () => {
    const text = specialize(expandShader('top', { top: 'enable subgroups;\n// doc\n//! include lib/b\nfn f() {}\n', 'lib/b': sources['lib/b']! }), {
      WG: 64,
      LOG: true,
    });
    expect(text.code.split('\n').slice(0, 5)).toEqual(['enable subgroups;', '// doc', 'const LOG: bool = true;', 'const WG: u32 = 64u;', 'fn b() -> u32 { return 1u; }']);
    expect(text.origins.slice(0, 5)).toEqual([
      { file: 'shaders/top.wgsl', line: 1 },
      { file: 'shaders/top.wgsl', line: 2 },
      { file: '<defines>', line: 1 },
      { file: '<defines>', line: 2 },
      { file: 'shaders/lib/b.wgsl', line: 1 },
    ]);
  });

  it('refuses cycles, unknown files, unknown directives and enable directives in included files', () => {
    const bad = (extra: Record<string, string>) => () => expandShader('s', { s: '//! include lib/x\n', ...extra });
    expect(bad({ 'lib/x': '//! include lib/y\n', 'lib/y': '\n//! include lib/x\n' })).toThrow(
      "shaders/lib/y.wgsl:2: include cycle s -> lib/x -> lib/y -> lib/x",
    );
    expect(bad({ 'lib/x': '//! include s\n' })).toThrow('shaders/lib/x.wgsl:1: include cycle s -> lib/x -> s');
    expect(bad({})).toThrow("shaders/s.wgsl:1: includes 'lib/x', but there is no shaders/lib/x.wgsl");
    expect(bad({ 'lib/x': '//! inclde lib/y\n' })).toThrow("shaders/lib/x.wgsl:1: unknown directive '//! inclde lib/y' (expected '//! include NAME')");
    expect(bad({ 'lib/x': 'enable f16;\n' })).toThrow('shaders/lib/x.wgsl:1: an included file cannot hold an enable directive');
  });

  it('resolves the includes of every shader in shaders/, and every library file is used', () => {
    const names = Object.keys(SHADER_SOURCES);
    const included = new Set(names.filter((n) => !n.startsWith('lib/')).flatMap((n) => expandShader(n).origins.map((o) => o.file)));
    const unused = names.filter((n) => n.startsWith('lib/') && !included.has(`shaders/${n}.wgsl`));
    expect(unused, 'library files no shader includes').toEqual([]);
  });

  it('keeps one copy of each library function: no shader, and no other library file, declares it again', () => {
    const declared = (text: string) => [...text.matchAll(/^\s*fn\s+(\w+)/gm)].map((m) => m[1]!);
    const owner = new Map<string, string>();
    for (const name of Object.keys(SHADER_SOURCES).filter((n) => n.startsWith('lib/'))) {
      for (const fn of declared(SHADER_SOURCES[name]!)) {
        expect(owner.get(fn), `fn ${fn} in ${name}`).toBeUndefined();
        owner.set(fn, name);
      }
    }
    const copies = Object.keys(SHADER_SOURCES)
      .filter((n) => !n.startsWith('lib/'))
      .flatMap((n) => declared(SHADER_SOURCES[n]!).filter((fn) => owner.has(fn)).map((fn) => `${n}: fn ${fn} (${owner.get(fn)})`));
    expect(copies).toEqual([]);
  });
});

describe('compile errors in spliced shaders', () => {
  // A library function with a type error, and a shader that includes it; the shader's own error
  // (a u32 added to a float) comes after the include and after the prepended defines.
  const library = '// helpers\n\nfn twice(v: f32) -> f32 {\n  return v * 2u;\n}\n';
  const good = `// a test kernel
//! include lib/test_helpers
@group(0) @binding(0) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
  out[lid] = twice(1.0);
}
`;
  const spec: KernelSpec = { name: 'test.broken', shader: 'test_kernel', defines: { WG: 64, UNUSED: 1 }, bindings: ['write'] };
  const compile = (sources: ShaderSources) => new PipelineCache(engine().device, undefined, { ...SHADER_SOURCES, ...sources }).get(spec);

  it('reports an error inside a library function at its line of shaders/lib/', async () => {
    const error = compile({ test_kernel: good, 'lib/test_helpers': library });
    const line = lineOf(library, 'v * 2u');
    await expect(error).rejects.toThrow(new RegExp(`WGSL compile error in kernel 'test.broken':\\n  shaders/lib/test_helpers\\.wgsl:${line}:\\d+: .*\\n    return v \\* 2u;`));
  });

  it("reports an error in the including shader after the include at the shader's own line", async () => {
    const fixedLibrary = library.replace('v * 2u', 'v * 2.0');
    const broken = good.replace('out[lid] = twice(1.0);', 'out[lid] = twice(1.0) + lid;');
    const line = lineOf(broken, 'twice(1.0) + lid');
    // In the spliced text the line is elsewhere: the include line went, 5 library lines and 2 defines came.
    const spliced = kernelText(spec, { ...SHADER_SOURCES, test_kernel: broken, 'lib/test_helpers': fixedLibrary }).code;
    expect(lineOf(spliced, 'twice(1.0) + lid')).toBe(line - 1 + 5 + 2);
    await expect(compile({ test_kernel: broken, 'lib/test_helpers': fixedLibrary })).rejects.toThrow(
      new RegExp(`  shaders/test_kernel\\.wgsl:${line}:\\d+: .*\\n    out\\[lid\\] = twice\\(1\\.0\\) \\+ lid;`),
    );
    // Fixed, the same kernel compiles.
    await expect(compile({ test_kernel: good, 'lib/test_helpers': fixedLibrary })).resolves.toBeDefined();
  });

  it('reports an error in a real library file, through a real kernel, at the library line', async () => {
    const philox = SHADER_SOURCES['lib/philox']!;
    const broken = philox.replace('  return c;\n', '  return c + 1.0;\n');
    expect(broken).not.toBe(philox);
    const dropout: KernelSpec = { name: 'dropout.apply', shader: 'dropout', entryPoint: 'apply', defines: { WG: 64 }, bindings: ['uniform', 'read', 'write'] };
    const cache = new PipelineCache(engine().device, undefined, { ...SHADER_SOURCES, 'lib/philox': broken });
    await expect(cache.get(dropout)).rejects.toThrow(new RegExp(`kernel 'dropout\\.apply':\n  shaders/lib/philox\\.wgsl:${lineOf(broken, 'return c + 1.0;')}:\\d+: `));
  });

  it('names the kernel when its includes cannot be assembled', async () => {
    await expect(compile({ test_kernel: good })).rejects.toThrow(
      "cannot assemble the WGSL of kernel 'test.broken': shaders/test_kernel.wgsl:2: includes 'lib/test_helpers', but there is no shaders/lib/test_helpers.wgsl",
    );
  });
});
