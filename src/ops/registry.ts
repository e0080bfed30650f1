// The op registry: every op is declared once, next to its kernels, and everything else is derived
// from that declaration. The typed public functions (conv2d, relu, ...) run it eagerly; the Tape
// applies it generically and calls its backward rule; the graph infers shapes with its check,
// lowers nodes with its forward and fuses by its graph traits and fusion rules (Sequential by the
// same rules); a traced module's graph is built from it; the conformance test checks it
// against its float64 reference, finite differences and PyTorch.
//
// Anchors: ATen declares an op once (schema, meta shape function, derivatives.yaml line), tinygrad
// keeps each backward rule beside the op. Here the four live in one object.
import type { HostTensor } from '../reference/host-tensor.js';
import { Tensor, describeValue, shapeString, type DType, type Shape } from '../runtime/tensor.js';
import { fail } from './check.js';

/** One operand of an op, in call order. */
export interface Operand {
  readonly name: string;
  /** May be left out (undefined): a bias, a residual, class weights. */
  readonly optional?: boolean;
  /** Element type (default float32). */
  readonly dtype?: DType;
  /**
   * Whether a gradient can flow into it (default: true for float32 operands). Running statistics
   * and class targets are not differentiable: the Tape takes them as plain tensors.
   */
  readonly differentiable?: boolean;
}

/** What an op's check returns: at least the output shape, plus whatever the forward pass reuses. */
export interface Checked {
  readonly shape: Shape;
}

/**
 * A forward pass's result: the output and, when recording, the tensors the backward rule reads
 * (of any dtype: a max pool saves int32 indices).
 */
export interface Forwarded {
  output: Tensor;
  saved?: Record<string, AnyTensor>;
}

export type AnyTensor = Tensor<DType>;
/** Operands as callers pass them: tensors of any dtype, undefined for absent optional ones. */
export type Inputs = ReadonlyArray<AnyTensor | undefined>;
/**
 * Operands as forward and backward rules see them, after the registry checked each one's dtype:
 * typed float32, the usual case; an operand declared int32 or uint32 is narrowed where it is used.
 */
export type Operands = ReadonlyArray<Tensor | undefined>;

/** What a backward rule is given. `gradOut` and `saved` belong to the tape: a rule disposes neither. */
export interface BackwardArgs<O, C extends Checked> {
  gradOut: Tensor;
  inputs: Operands;
  output: Tensor;
  saved: Record<string, AnyTensor>;
  options: O;
  checked: C;
  /** needs[i]: operand i requires a gradient (never true for an absent or non-differentiable one). */
  needs: readonly boolean[];
}

/**
 * Gradients per operand, in operand order: a new tensor for each one in `needs` (the tape then
 * owns it; its storage is shared with no other live tensor, except a view of gradOut returned where
 * the gradient passes through unchanged), undefined elsewhere.
 */
export type Gradients = Array<Tensor | undefined>;

export interface ReferenceResult {
  output: HostTensor;
  updated: Record<string, HostTensor>;
}

/** One op of a chain being fused: what it reads (its first operand is the previous op's output) and its options. */
export interface ChainMember<T> {
  readonly inputs: ReadonlyArray<T | undefined>;
  readonly options: Readonly<Record<string, unknown>>;
}

/**
 * A chain of ops an op computes as one, each op reading the previous one's output as its first
 * operand, e.g. batchNorm -> relu -> maxPool2d. Applied by the graph rewrite (to nodes) and by
 * Sequential (to the modules' ops): the fusion rules are declared here, once.
 */
export interface FusionRule {
  /** The ops of the chain, first to last. */
  readonly chain: readonly string[];
  /** The fused op's operands and options from the chain's (the first op's first operand is the chain's input). */
  combine<T>(members: ReadonlyArray<ChainMember<T>>): { inputs: Array<T | undefined>; options: Record<string, unknown> };
}

/**
 * What the graph rewrite may do with a node of this op (derived by the rewrites, never hard-coded
 * there); the fusion rules are applied by Sequential to modules too.
 */
export interface GraphTraits {
  /** Name of a boolean option that applies ReLU to the output in the op's epilogue. */
  readonly reluOption?: string;
  /** Operand index of a tensor shaped like the output that the epilogue adds before the ReLU. */
  readonly residualOperand?: number;
  /**
   * The op is linear per output channel in these operands (weight [O, ...], bias [O]): an inference
   * batch norm right after it folds into them.
   */
  readonly foldsBatchNorm?: { readonly weight: number; readonly bias: number };
  /** The chain of ops this op fuses (see FusionRule). */
  readonly fuses?: FusionRule;
}

export interface OpSpec<O, C extends Checked> {
  /** The op's name, as in errors, graph nodes and fixtures: 'conv2d'. */
  readonly name: string;
  readonly operands: readonly Operand[];
  /**
   * Argument checks and the output shape, from shapes and options alone (the graph runs it before
   * any tensor exists). Throws an OpError naming the op, what it expected and what it got.
   */
  check(shapes: ReadonlyArray<Shape | undefined>, options: O): C;
  /**
   * Records the op's dispatches on checked operands. `record` says the Tape will differentiate the
   * call: save what the backward rule needs (and only then).
   */
  forward(inputs: Operands, checked: C, options: O, record: boolean): Tensor | Forwarded;
  /** The gradients of the operands in `needs`. Absent: the op is not differentiable. */
  backward?(args: BackwardArgs<O, C>): Gradients;
  /**
   * The same for an implicit gradient of ones (a backward pass seeded at a scalar loss), where
   * the op has the answer already (cross-entropy computes its gradient in its forward pass). It
   * may take tensors out of `saved` (deleting them there) and return them.
   */
  backwardFromOnes?(args: Omit<BackwardArgs<O, C>, 'gradOut'>): Gradients;
  /**
   * The float64 CPU oracle: the output, or with it the new values of operands the op updates in
   * place (batch norm's running statistics), by operand name.
   */
  reference(inputs: ReadonlyArray<HostTensor | undefined>, options: O): HostTensor | ReferenceResult;
  readonly graph?: GraphTraits;
}

/** A registered op: its declaration plus the checked eager entry point the public functions use. */
export interface Op<O = unknown, C extends Checked = Checked> extends OpSpec<O, C> {
  readonly differentiable: boolean;
  /** Checks operands (presence, Tensor-ness, engine, disposal, dtype) and options, then records the op. */
  apply(inputs: Inputs, options: O, record?: boolean): Forwarded & { checked: C };
  /** apply for the public functions: the output only. */
  run(inputs: Inputs, options: O): Tensor;
}

const registry = new Map<string, Op<never>>();

/** Declares an op and registers it under its name. */
export function defineOp<O, C extends Checked>(spec: OpSpec<O, C>): Op<O, C> {
  if (registry.has(spec.name)) throw new Error(`defineOp: an op named '${spec.name}' is already registered`);
  const op: Op<O, C> = {
    ...spec,
    differentiable: spec.backward !== undefined,
    apply(inputs, options, record = false) {
      const checked = spec.check(checkOperands(spec, inputs), options);
      const result = spec.forward(inputs as Operands, checked, options, record);
      const forwarded = result instanceof Tensor ? { output: result } : result;
      return { ...forwarded, checked };
    },
    run(inputs, options) {
      const { output, saved } = this.apply(inputs, options, false);
      for (const t of Object.values(saved ?? {})) t.dispose();
      return output;
    },
  };
  registry.set(spec.name, op as unknown as Op<never>);
  return op;
}

/** The op registered under `name`. */
export function getOp(name: string): Op<unknown> {
  const op = registry.get(name);
  if (!op) throw new Error(`unknown op '${name}' (registered: ${[...registry.keys()].sort().join(', ')})`);
  return op as unknown as Op<unknown>;
}

/** Every registered op, in registration order. */
export function registeredOps(): Array<Op<unknown>> {
  return [...registry.values()] as unknown as Array<Op<unknown>>;
}

/** The ops that fuse a chain of others, with their rules, longest chain first (tried in that order). */
export function fusionRules(): Array<{ op: Op<unknown>; rule: FusionRule }> {
  return registeredOps()
    .flatMap((op) => (op.graph?.fuses ? [{ op, rule: op.graph.fuses }] : []))
    .sort((a, b) => b.rule.chain.length - a.rule.chain.length);
}

/**
 * An operand declared int32 or uint32 (or a saved tensor), as its dtype: the registry checked the
 * operand's dtype before the op ran, the forward pass chose the saved one's.
 */
export function narrow<D extends DType>(t: AnyTensor | undefined, dtype: D): Tensor<D> {
  if (!t || t.dtype !== dtype) throw new Error(`internal error: expected a tensor of dtype ${dtype}`);
  return t as unknown as Tensor<D>;
}

/** Whether operand i requires differentiation support. */
export function isDifferentiable(operand: Operand): boolean {
  return operand.differentiable ?? (operand.dtype ?? 'float32') === 'float32';
}

/**
 * The checks every op shares, before its own: the right number of operands, each a live Tensor
 * of the declared dtype on the same engine; returns their shapes for the op's check.
 */
export function checkOperands(spec: Pick<OpSpec<never, Checked>, 'name' | 'operands'>, inputs: Inputs): Array<Shape | undefined> {
  const op = spec.name;
  if (!Array.isArray(inputs) || inputs.length > spec.operands.length) {
    fail(op, `expected at most ${spec.operands.length} operands (${spec.operands.map((o) => o.name).join(', ')}), got ${Array.isArray(inputs) ? inputs.length : describeValue(inputs)}`);
  }
  let engine: unknown;
  return spec.operands.map((operand, i) => {
    const t = inputs[i];
    if (t === undefined) {
      if (!operand.optional) fail(op, `expected ${operand.name} to be a Tensor, got undefined`);
      return undefined;
    }
    if (!(t instanceof Tensor)) fail(op, `expected ${operand.name} to be a Tensor, got ${describeValue(t)}`);
    if (t.isDisposed) fail(op, `${operand.name} ${shapeString(t.shape)} was used after dispose()`);
    const dtype = operand.dtype ?? 'float32';
    if (t.dtype !== dtype) fail(op, `expected ${operand.name} of dtype ${dtype}, got ${t.dtype} ${shapeString(t.shape)}`);
    engine ??= t.engine;
    if (t.engine !== engine) fail(op, `${operand.name} belongs to a different engine than ${spec.operands[0]!.name}`);
    return t.shape;
  });
}
