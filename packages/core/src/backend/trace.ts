import { RbmError } from '../errors.js';
import type { Backend, BinaryOp, FuseOptions, HostArray, PhiloxPosition, Tensor, UnaryOp } from './types.js';

/**
 * Whole-step execution, the backend side (see `Backend.fuse` and docs/adding-a-backend.md): a backend that
 * compiles records the ops of a fused body as a {@link Trace}, keys it by its structure, compiles each
 * structure once (an ONNX graph, a tf function, a kernel sequence) and replays it with the per-call values
 * as inputs. The op-by-op path stays the specification: {@link replayTrace} runs a trace op by op.
 */

/** One recorded op: the backend interface's arguments, numbers as given. */
export type TraceOp =
  | {
      readonly kind: 'matMul';
      readonly out: Tensor;
      readonly a: Tensor;
      readonly b: Tensor;
      readonly transposeA: boolean;
      readonly transposeB: boolean;
      readonly alpha: number;
      readonly beta: number;
    }
  | { readonly kind: 'binary'; readonly op: BinaryOp; readonly out: Tensor; readonly a: Tensor; readonly b: Tensor }
  | {
      readonly kind: 'axpby';
      readonly out: Tensor;
      readonly alpha: number;
      readonly x: Tensor;
      readonly beta: number;
      readonly y: Tensor;
    }
  | { readonly kind: 'unary'; readonly op: UnaryOp; readonly out: Tensor; readonly x: Tensor }
  | { readonly kind: 'bernoulli'; readonly out: Tensor; readonly p: Tensor; readonly u: Tensor }
  | { readonly kind: 'sum' | 'logSumExp'; readonly out: Tensor; readonly x: Tensor; readonly axis: 0 | 1 }
  | { readonly kind: 'gather'; readonly out: Tensor; readonly x: Tensor; readonly index: Tensor }
  | { readonly kind: 'scatterAdd'; readonly out: Tensor; readonly index: Tensor; readonly x: Tensor }
  | { readonly kind: 'fill'; readonly out: Tensor; readonly value: number }
  | { readonly kind: 'copy'; readonly out: Tensor; readonly x: Tensor }
  /** An upload: `data` is a copy taken when it was recorded. */
  | { readonly kind: 'write'; readonly out: Tensor; readonly data: Float32Array }
  | { readonly kind: 'uniform'; readonly out: Tensor; readonly position: PhiloxPosition };

/**
 * A number is part of a trace's structure when it is exactly 0 or 1 (a compiler drops the multiply or the
 * term), otherwise an input: a learning rate, an inverse temperature or a momentum that changes between
 * calls reuses the compiled unit.
 */
export function isStructural(x: number): boolean {
  return x === 0 || x === 1;
}

/** The tensors a trace reads before writing them (its inputs) and those it leaves written (its outputs). */
export interface TraceInterface {
  /** Tensors from outside the body whose values the body reads, in order of first read. */
  readonly inputs: readonly Tensor[];
  /** Tensors from outside the body (or created in it and not disposed) that the body writes, in order of first write. */
  readonly outputs: readonly Tensor[];
}

/** The tensors an op reads (before its write of `out`). */
export function opReads(op: TraceOp): Tensor[] {
  switch (op.kind) {
    case 'matMul':
      return op.beta === 0 ? [op.a, op.b] : [op.a, op.b, op.out];
    case 'binary':
      return [op.a, op.b];
    case 'axpby':
      // Both, even with a zero coefficient: 0 * NaN is NaN op by op, so a compiled unit multiplies too.
      return [op.x, op.y];
    case 'unary':
      return [op.x];
    case 'bernoulli':
      return [op.p, op.u];
    case 'sum':
    case 'logSumExp':
    case 'copy':
      return [op.x];
    case 'gather':
      return [op.x, op.index];
    case 'scatterAdd':
      // It adds into out, so out's previous contents are read.
      return [op.out, op.index, op.x];
    case 'fill':
    case 'write':
    case 'uniform':
      return [];
  }
}

/**
 * The ops of one fused body, in order, with what the body allocated and freed. Backends call the
 * `record` methods from their op methods while a body runs (after the usual argument checks).
 */
export class Trace {
  readonly label: string;
  readonly ops: TraceOp[] = [];
  /** Tensors the body allocated, in order. */
  readonly created: Tensor[] = [];
  /** Tensors the body freed. */
  readonly disposed = new Set<Tensor>();

  private readonly copy: (data: HostArray) => Float32Array;

  /**
   * `copy` makes the private copy of an upload (default: a new array); a backend that replays traces
   * often may hand out arrays from a pool and take them back once the unit has run.
   */
  constructor(label: string, copy: (data: HostArray) => Float32Array = (data) => new Float32Array(data)) {
    this.label = label;
    this.copy = copy;
  }

  record(op: TraceOp): void {
    this.ops.push(op);
  }

  /** Records a tensor the body allocated, with its first contents (zeros, or a copy of `data`). */
  recordCreate(t: Tensor, data?: HostArray): void {
    this.created.push(t);
    if (data) this.recordWrite(t, data);
    else this.ops.push({ kind: 'fill', out: t, value: 0 });
  }

  /** Records an upload, copying `data` (the caller may reuse its array after `write` returns). */
  recordWrite(out: Tensor, data: HostArray): void {
    this.ops.push({ kind: 'write', out, data: this.copy(data) });
  }

  /**
   * The structure, as a string: op kinds and options, shapes, which tensor each argument is (`ids` names the
   * tensors from outside the body; tensors the body allocated are numbered in order of allocation), and the
   * numbers that are 0 or 1. Everything else (other numbers, uploaded data, random-stream positions) is an
   * input, so two traces with one key compile to one program.
   */
  key(ids: (t: Tensor) => number, scratch: ReadonlySet<Tensor> = new Set()): string {
    const local = new Map<Tensor, number>();
    this.created.forEach((t, i) => {
      local.set(t, i);
    });
    const name = (t: Tensor) => {
      const l = local.get(t);
      return l === undefined ? `${ids(t)}` : `L${l}`;
    };
    const num = (x: number) => (isStructural(x) ? `${x}` : '*');
    const parts: string[] = [this.label];
    for (const t of this.created) parts.push(`new ${t.rows}x${t.cols}`);
    for (const op of this.ops) {
      const o = `${name(op.out)}:${op.out.rows}x${op.out.cols}`;
      switch (op.kind) {
        case 'matMul':
          parts.push(
            `mm ${o} ${name(op.a)}:${op.a.rows}x${op.a.cols} ${name(op.b)}:${op.b.rows}x${op.b.cols} ${+op.transposeA}${+op.transposeB} ${num(op.alpha)} ${num(op.beta)}`,
          );
          break;
        case 'binary':
          parts.push(`${op.op} ${o} ${name(op.a)} ${name(op.b)}:${op.b.rows}x${op.b.cols}`);
          break;
        case 'axpby':
          parts.push(`axpby ${o} ${num(op.alpha)} ${name(op.x)} ${num(op.beta)} ${name(op.y)}`);
          break;
        case 'unary':
          parts.push(`${op.op} ${o} ${name(op.x)}`);
          break;
        case 'bernoulli':
          parts.push(`bern ${o} ${name(op.p)} ${name(op.u)}`);
          break;
        case 'sum':
        case 'logSumExp':
          parts.push(`${op.kind} ${o} ${name(op.x)}:${op.x.rows}x${op.x.cols} ${op.axis}`);
          break;
        case 'gather':
          parts.push(`gather ${o} ${name(op.x)}:${op.x.rows}x${op.x.cols} ${name(op.index)}`);
          break;
        case 'scatterAdd':
          parts.push(`scatterAdd ${o} ${name(op.index)} ${name(op.x)}:${op.x.rows}x${op.x.cols}`);
          break;
        case 'fill':
          parts.push(`fill ${o} ${num(op.value)}`);
          break;
        case 'copy':
          parts.push(`copy ${o} ${name(op.x)}`);
          break;
        case 'write':
          parts.push(`write ${o}`);
          break;
        case 'uniform':
          parts.push(`uniform ${o}`);
          break;
      }
    }
    for (const t of this.disposed) parts.push(`free ${name(t)}`);
    for (const t of scratch) parts.push(`scratch ${name(t)}`);
    return parts.join('\n');
  }

  /** Inputs and outputs (see {@link TraceInterface}); `scratch` tensors are no outputs. */
  interface(scratch: ReadonlySet<Tensor> = new Set()): TraceInterface {
    const created = new Set(this.created);
    const written = new Set<Tensor>();
    const inputs: Tensor[] = [];
    const seen = new Set<Tensor>();
    const outputs: Tensor[] = [];
    for (const op of this.ops) {
      for (const t of opReads(op)) {
        if (!written.has(t) && !created.has(t) && !seen.has(t)) {
          seen.add(t);
          inputs.push(t);
        }
      }
      if (!written.has(op.out)) {
        written.add(op.out);
        if (!this.disposed.has(op.out) && !scratch.has(op.out)) outputs.push(op.out);
      }
    }
    return { inputs, outputs };
  }

  /** The numbers that are inputs (not 0 or 1), in op order: the values a compiled unit takes per call. */
  scalars(): number[] {
    const out: number[] = [];
    const add = (x: number) => {
      if (!isStructural(x)) out.push(x);
    };
    for (const op of this.ops) {
      if (op.kind === 'matMul') {
        add(op.alpha);
        add(op.beta);
      } else if (op.kind === 'axpby') {
        add(op.alpha);
        add(op.beta);
      } else if (op.kind === 'fill') add(op.value);
    }
    return out;
  }
}

/** The ops of kind K (sum and logSumExp share a shape). */
type OpOf<K extends TraceOp['kind']> = TraceOp extends infer T
  ? T extends { readonly kind: infer L }
    ? K extends L
      ? T
      : never
    : never
  : never;

/** Each op kind as the backend call it records. */
const REPLAY: { readonly [K in TraceOp['kind']]: (backend: Backend, op: OpOf<K>) => void } = {
  matMul: (be, op) => be.matMul(op.out, op.a, op.b, op),
  binary: (be, op) => be.binary(op.op, op.out, op.a, op.b),
  axpby: (be, op) => be.axpby(op.out, op.alpha, op.x, op.beta, op.y),
  unary: (be, op) => be.unary(op.op, op.out, op.x),
  bernoulli: (be, op) => be.bernoulli(op.out, op.p, op.u),
  sum: (be, op) => be.sum(op.out, op.x, op.axis),
  logSumExp: (be, op) => be.logSumExp(op.out, op.x, op.axis),
  gather: (be, op) => be.gather(op.out, op.x, op.index),
  scatterAdd: (be, op) => be.scatterAdd(op.out, op.index, op.x),
  fill: (be, op) => be.fill(op.out, op.value),
  copy: (be, op) => be.copy(op.out, op.x),
  write: (be, op) => be.write(op.out, op.data),
  uniform: (be, op) => {
    if (!be.uniform) throw new RbmError('BACKEND_API', `${be.name}: a trace with uniform ops needs uniform()`);
    be.uniform(op.out, op.position);
  },
};

/** Runs a trace's ops one by one on `backend`: the specification of every compiled replay, and the fallback. */
export function replayTrace(trace: Trace, backend: Backend): void {
  for (const op of trace.ops) (REPLAY[op.kind] as (backend: Backend, op: TraceOp) => void)(backend, op);
}

/**
 * Runs `body` as one unit where the backend offers whole-step execution (`fuse`), else op by op. Core's
 * training step, Gibbs sweeps and AIS transitions go through it.
 */
export function fused(backend: Backend, label: string, body: () => void, options?: FuseOptions): void {
  if (backend.fuse) backend.fuse(label, body, options);
  else body();
}
