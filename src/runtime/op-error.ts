/** An argument error naming the op, as PyTorch's messages do: "conv2d: expected ..., got ...". */
export class OpError extends Error {
  constructor(op: string, message: string) {
    super(`${op}: ${message}`);
    this.name = 'OpError';
  }
}

export function fail(op: string, message: string): never {
  throw new OpError(op, message);
}
