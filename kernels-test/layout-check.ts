import { ResourceType, WgslReflect } from 'wgsl_reflect';
import type { BindingKind, KernelSpec } from '../src/runtime/kernel.js';

/**
 * Reflects a kernel's WGSL (wgsl_reflect) and checks that its group-0 bindings are exactly the
 * kernel's declared layout, so a shader/spec mismatch fails the test that compiles it.
 */
export function checkKernelLayout(spec: KernelSpec, code: string): void {
  const reflect = new WgslReflect(code);
  const entry = spec.entryPoint ?? 'main';
  if (!reflect.entry.compute.some((e) => e.name === entry)) {
    throw new Error(`kernel '${spec.name}': shader ${spec.shader}.wgsl has no @compute entry point '${entry}'`);
  }
  const groups = reflect.getBindGroups();
  if (groups.length > 1) throw new Error(`kernel '${spec.name}': only bind group 0 is supported, shader uses ${groups.length}`);
  const found: BindingKind[] = [];
  for (const b of groups[0] ?? []) {
    let kind: BindingKind;
    if (b.resourceType === ResourceType.Uniform) kind = 'uniform';
    else if (b.resourceType === ResourceType.Storage) kind = b.access === 'read_write' ? 'write' : 'read';
    else throw new Error(`kernel '${spec.name}': binding ${b.binding} (${b.name}) is not a buffer`);
    found[b.binding] = kind;
  }
  const expected = spec.bindings.join(',');
  const actual = Array.from(found, (k) => k ?? 'missing').join(',');
  if (expected !== actual) {
    throw new Error(`kernel '${spec.name}': declared bindings [${expected}] but ${spec.shader}.wgsl declares [${actual}]`);
  }
}
