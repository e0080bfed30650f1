import { ResourceType, WgslReflect, type VariableInfo } from 'wgsl_reflect';
import type { BindingKind, KernelSpec } from '../src/runtime/kernel.js';

/** The binding kinds of a set of group-0 resources, by binding index ('missing' for gaps). */
function layoutOf(spec: KernelSpec, resources: readonly VariableInfo[]): string {
  const found: BindingKind[] = [];
  for (const b of resources) {
    if (b.group !== 0) throw new Error(`kernel '${spec.name}': only bind group 0 is supported, ${b.name} is in group ${b.group}`);
    let kind: BindingKind;
    if (b.resourceType === ResourceType.Uniform) kind = 'uniform';
    else if (b.resourceType === ResourceType.Storage) kind = b.access === 'read_write' ? 'write' : 'read';
    else throw new Error(`kernel '${spec.name}': binding ${b.binding} (${b.name}) is not a buffer`);
    found[b.binding] = kind;
  }
  return Array.from(found, (k) => k ?? 'missing').join(',');
}

/**
 * Reflects a kernel's WGSL (wgsl_reflect) and checks that the kernel's declared layout is exactly
 * the shader's group-0 bindings, so a shader/spec mismatch fails the test that compiles it. A
 * shader whose entry points use different bindings may instead match the bindings its entry point
 * uses (what WebGPU validates against the pipeline layout).
 */
export function checkKernelLayout(spec: KernelSpec, code: string): void {
  const reflect = new WgslReflect(code);
  const entryName = spec.entryPoint ?? 'main';
  const entry = reflect.entry.compute.find((e) => e.name === entryName);
  if (!entry) {
    throw new Error(`kernel '${spec.name}': shader ${spec.shader}.wgsl has no @compute entry point '${entryName}'`);
  }
  const groups = reflect.getBindGroups();
  if (groups.length > 1) throw new Error(`kernel '${spec.name}': only bind group 0 is supported, shader uses ${groups.length}`);
  const expected = spec.bindings.join(',');
  const declared = layoutOf(spec, (groups[0] ?? []).filter((b) => b !== undefined));
  const used = layoutOf(spec, entry.resources);
  if (expected !== declared && expected !== used) {
    const usage = used === declared ? '' : ` (entry point '${entryName}' uses [${used}])`;
    throw new Error(`kernel '${spec.name}': declared bindings [${expected}] but ${spec.shader}.wgsl declares [${declared}]${usage}`);
  }
}
