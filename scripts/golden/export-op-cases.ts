// Writes every conformance case (kernels-test/op-cases/*.ts) as JSON on stdout, with the exact
// float32 values of its tensors, for scripts/golden/make_op_fixtures.py to evaluate in PyTorch:
//
//   npx tsx scripts/golden/export-op-cases.ts | /usr/bin/python3 scripts/golden/make_op_fixtures.py
//
// (`npm run golden:ops` runs exactly that.)
import { caseDigest, gradOutValues, loadOpCases, tensorValues, withNonFinite } from '../../kernels-test/op-cases/case.js';
import { getOp, isDifferentiable } from '../../src/ops/index.js';

/** JSON has no NaN or infinities: they travel as strings. */
const encode = (values: ArrayLike<number>) => Array.from(values, (v) => (Number.isFinite(v) ? v : String(v)));

const cases = await loadOpCases();
const out = cases.map((c) => {
  const op = getOp(c.op);
  const values: Record<string, Float32Array> = {};
  for (const [name, spec] of Object.entries(c.inputs)) values[name] = tensorValues(c, name, spec);
  const extra: Record<string, Float32Array> = {};
  for (const [name, spec] of Object.entries(c.torchInputs ?? {})) extra[name] = tensorValues(c, name, spec);
  const shapes = op.operands.map((o) => c.inputs[o.name]?.shape);
  const shape = op.check(shapes, c.options ?? {}).shape;
  const grad = op.differentiable ? (c.grad ?? op.operands.filter((o) => o.name in c.inputs && isDifferentiable(o)).map((o) => o.name)) : [];
  const first = op.operands[0]!.name;
  return {
    op: c.op,
    name: c.name,
    torch: c.torch,
    digest: caseDigest(c, { ...values, ...extra }, shape, grad),
    inputs: Object.fromEntries(Object.entries({ ...values, ...extra }).map(([n, v]) => [n, { shape: c.inputs[n]?.shape ?? c.torchInputs![n]!.shape, data: encode(v) }])),
    updates: c.updates ?? [],
    grad,
    // A scalar output is differentiated from the implicit gradient 1, as loss.backward() does.
    gradOut: grad.length > 0 && shape.length > 0 ? { shape, data: encode(gradOutValues(c, shape)) } : null,
    nonFinite: c.skipNonFinite ? null : { operand: first, data: encode(withNonFinite(values[first]!)) },
  };
});
process.stdout.write(JSON.stringify({ cases: out }));
