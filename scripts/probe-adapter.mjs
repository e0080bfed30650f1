// Exits 0 and prints the adapter when dawn.node finds a WebGPU adapter; exits 1 otherwise.
import { create, globals } from 'webgpu';
Object.assign(globalThis, globals);
const gpu = create([]);
const adapter = await gpu.requestAdapter();
if (!adapter) { console.error('no WebGPU adapter found'); process.exit(1); }
const i = adapter.info;
console.log(`WebGPU adapter: ${i.vendor} ${i.architecture} ${i.device} ${i.description}`.replace(/\s+/g, ' ').trim());
process.exit(0);
