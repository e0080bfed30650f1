// Getting a WebGPU device: from `options.gpu`, else `navigator.gpu`, else the default GPU a host
// entry registered (the package's Node entry registers dawn.node: src/gpu/node-gpu.ts). This file
// never imports the Node path itself, so a browser bundle of the core cannot reach dawn.node.
// Requests the adapter's maxima for the limits a compute engine hits.

export interface DeviceOptions {
  /** A GPU object to use instead of `navigator.gpu` / dawn.node. */
  gpu?: GPU;
  powerPreference?: GPUPowerPreference;
}

export interface AcquiredDevice {
  device: GPUDevice;
  adapterInfo: GPUAdapterInfo;
  /** One readable line naming the adapter. */
  adapterName: string;
  features: ReadonlySet<string>;
}

/** The limits worth raising from their defaults to the adapter's maxima. */
const RAISED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupsPerDimension',
] as const;

/** Optional features used when present. */
const WANTED_FEATURES: GPUFeatureName[] = ['timestamp-query', 'shader-f16', 'subgroups'];

/** Where a GPU comes from when neither `options.gpu` nor `navigator.gpu` gives one. */
export type GpuProvider = () => Promise<GPU>;

let defaultGpu: GpuProvider | undefined;

/** Sets the GPU used when there is no `navigator.gpu` (the Node entry sets dawn.node's). */
export function setDefaultGpu(provider: GpuProvider | undefined): void {
  defaultGpu = provider;
}

async function findGpu(options: DeviceOptions): Promise<GPU> {
  if (options.gpu) return options.gpu;
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  if (defaultGpu) return defaultGpu();
  const isNode = typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';
  throw new Error(
    isNode
      ? "WebGPU is not available: this is Node without navigator.gpu. Import the package's Node entry " +
          "('webgpu-cnn' resolves to it under Node, or 'webgpu-cnn/node'), which loads dawn.node from the " +
          "'webgpu' package, or pass { gpu } to Engine.create"
      : 'WebGPU is not available: navigator.gpu is undefined in this browser (Chrome/Edge 113+; ' +
          'Chromium on Linux needs --enable-unsafe-webgpu)',
  );
}

export function describeAdapter(info: GPUAdapterInfo): string {
  const parts = [info.vendor, info.architecture, info.device, info.description];
  return parts.filter((p) => p && p.length > 0).join(' ').replace(/\s+/g, ' ').trim() || 'unknown adapter';
}

export async function acquireDevice(options: DeviceOptions = {}): Promise<AcquiredDevice> {
  const gpu = await findGpu(options);
  const adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  if (!adapter) {
    throw new Error(
      'No WebGPU adapter found. In Node on Linux without a GPU, install Mesa lavapipe (run scripts/setup.sh); ' +
        'in Chromium, enable WebGPU (--enable-unsafe-webgpu).',
    );
  }
  const requiredLimits: Record<string, number> = {};
  for (const name of RAISED_LIMITS) {
    const value = adapter.limits[name];
    if (typeof value === 'number') requiredLimits[name] = value;
  }
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  const adapterInfo = adapter.info;
  return {
    device,
    adapterInfo,
    adapterName: describeAdapter(adapterInfo),
    features: new Set(requiredFeatures),
  };
}
