// Modules built for their structure alone, as on PyTorch's meta device: constructed on the meta
// engine, their parameters and buffers are tensors with shapes and no storage. That is what a
// state dict's names and shapes and a traced graph need (the graph's constants then come from
// elsewhere: traceModule's `constants`), without allocating or initialising millions of weights.
// Anything that would need the data (an op, a read, a copy) fails with an error saying so.
import { Engine } from '../runtime/engine.js';
import { Tensor, numel, type DType, type Shape } from '../runtime/tensor.js';

/** What a meta tensor's buffer is: there is none, and using it says why. */
const NO_BUFFER = new Proxy(
  {},
  {
    get(_target, key) {
      if (typeof key === 'symbol' || key === 'then') return undefined;
      throw new Error(`a meta tensor (built on the meta engine for its shape only) has no GPU buffer: '${String(key)}' cannot be used`);
    },
  },
) as GPUBuffer;

function metaTensor(shape: Shape, dtype: DType = 'float32'): Tensor {
  numel(shape); // checks the shape
  return new Tensor(META_ENGINE, NO_BUFFER, shape, undefined, dtype) as Tensor;
}

const methods = {
  empty: (shape: Shape, _label?: string, dtype?: DType) => metaTensor(shape, dtype),
  zeros: (shape: Shape, dtype?: DType) => metaTensor(shape, dtype),
  tensor: (data: ArrayLike<number>, shape?: Shape) => metaTensor(shape ?? [data.length], data instanceof Int32Array ? 'int32' : data instanceof Uint32Array ? 'uint32' : 'float32'),
};

/**
 * The engine modules are built on for their structure: `empty`, `zeros` and `tensor` give meta
 * tensors (shape and dtype, no storage); every other member of Engine throws, naming itself.
 */
export const META_ENGINE: Engine = (() => {
  const meta: Record<string, unknown> = { ...methods };
  for (const name of Object.getOwnPropertyNames(Engine.prototype)) {
    if (name === 'constructor' || name in meta) continue;
    Object.defineProperty(meta, name, {
      get() {
        throw new Error(`the meta engine builds modules for their structure (shapes, no data): Engine.${name} needs a real engine`);
      },
    });
  }
  return meta as unknown as Engine;
})();

/** Whether `t` was made on the meta engine (a shape without data). */
export function isMeta(t: Tensor): boolean {
  return t.engine === META_ENGINE;
}
