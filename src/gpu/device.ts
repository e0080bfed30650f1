// Getting a WebGPU device: from `navigator.gpu` in a browser, from dawn.node in Node.
// Requests the adapter's maxima for the limits a compute engine hits, and turns uncaptured
// errors and device loss into errors the caller sees.

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

async function findGpu(options: DeviceOptions): Promise<GPU> {
  if (options.gpu) return options.gpu;
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  const isNode = typeof process !== 'undefined' && !!process.versions?.node;
  if (!isNode) throw new Error('WebGPU is not available: navigator.gpu is undefined in this browser');
  const { nodeGpu } = await import('./node-gpu.js');
  return nodeGpu();
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
