/**
 * The backend interface, version 1: the few ops an RBM needs, typed so that the compiler checks a backend
 * whole. Everything is a 2-D row-major array (a vector is a [1, n] row or an [m, 1] column).
 *
 * Conventions:
 * - Ops write into a destination `out` that the caller allocated (destination-passing, as in BLAS), so a
 *   training loop allocates its workspace once and updates parameters in place.
 * - Elementwise ops may write in place (`out` may be one of the inputs); `matMul` may not.
 * - Reading back to the host is the only asynchronous operation; everything else is enqueued.
 * - Nothing registers itself on import: a backend package exports a factory ({@link BackendFactory}).
 */

export const BACKEND_API_VERSION = 1 as const;

/** Float precision of a backend's storage and arithmetic. Tolerances in the conformance suite derive from it. */
export type Precision = 'float32' | 'float64';

/** Host arrays that can be uploaded. */
export type HostArray = Float32Array | Float64Array;

/**
 * An opaque handle to a [rows, cols] array on a backend. Only the backend that created it may use it.
 * Backends extend it with whatever they need (a typed array, a texture, a tf.Tensor).
 */
export interface Tensor {
  readonly rows: number;
  readonly cols: number;
}

/** Elementwise functions. softplus(x) = log(1 + e^x) must be stable for large |x|. */
export type UnaryOp =
  | 'sigmoid' // 1 / (1 + e^-x)
  | 'softplus' // log(1 + e^x) = max(x, 0) + log1p(e^-|x|)
  | 'exp'
  | 'log'
  | 'square'
  | 'sign' // -1, 0 or 1
  | 'neg';

export type BinaryOp = 'add' | 'sub' | 'mul';

export interface MatMulOptions {
  /** Use a^T in place of a. */
  readonly transposeA?: boolean;
  /** Use b^T in place of b. */
  readonly transposeB?: boolean;
  /** Scale of the product (default 1). */
  readonly alpha?: number;
  /** Scale of the previous contents of out, which are added (default 0: out is overwritten). */
  readonly beta?: number;
}

/** A position in a Philox stream (see `random/philox.ts`), for backends that generate uniforms themselves. */
export interface PhiloxPosition {
  readonly k0: number;
  readonly k1: number;
  readonly stream: number;
  /** Block offset of element 0; element i uses word i % 4 of block offset + floor(i / 4). */
  readonly offset: number;
}

/**
 * - `host`: the backend consumes uniforms that core generates and uploads with `write`.
 * - `philox`: the backend implements `uniform` and reproduces core's Philox4x32-10 exactly.
 */
export type RandomnessMode = 'host' | 'philox';

export interface BackendInfo {
  readonly apiVersion: typeof BACKEND_API_VERSION;
  /** e.g. `js`, `tfjs:wasm`, `gpujs:webgpu`. */
  readonly name: string;
  readonly precision: Precision;
  readonly randomness: RandomnessMode;
  /** Free-form facts for the user (engine, threads, device). */
  readonly details?: Readonly<Record<string, string | number | boolean>>;
}

export interface Backend extends BackendInfo {
  // ---- storage ----
  /** Allocates a [rows, cols] tensor, zero-filled or filled from `data` (row-major, length rows*cols). */
  tensor(rows: number, cols: number, data?: HostArray): Tensor;
  /** Replaces the contents of `t` with `data` (length rows*cols). */
  write(t: Tensor, data: HostArray): void;
  /** Reads `t` back to the host: the only asynchronous operation. */
  read(t: Tensor): Promise<HostArray>;
  /**
   * Resolves once the ops issued so far have run, reading nothing back. Optional: a backend that queues
   * work on the host (ONNX Runtime's asynchronous runs) offers it so that a caller issuing units in a loop
   * (the trainer) can keep its queue, and the uploads the queue holds, short without a readback.
   */
  drain?(): Promise<void>;
  /** Frees `t`. Using a disposed tensor is an error. */
  dispose(t: Tensor): void;
  /** Frees everything the backend holds. */
  destroy(): void;

  // ---- ops ----
  /** out = alpha * op(a) * op(b) + beta * out. */
  matMul(out: Tensor, a: Tensor, b: Tensor, options?: MatMulOptions): void;
  /**
   * out = a (op) b, where b is [m, n], a row [1, n] (e.g. a bias row), a column [m, 1] or a scalar [1, 1],
   * broadcast against a's [m, n].
   */
  binary(op: BinaryOp, out: Tensor, a: Tensor, b: Tensor): void;
  /** out = alpha * x + beta * y (same shapes): parameter updates in place. */
  axpby(out: Tensor, alpha: number, x: Tensor, beta: number, y: Tensor): void;
  /** out = f(x) elementwise. */
  unary(op: UnaryOp, out: Tensor, x: Tensor): void;
  /** out = 1 where u < p, else 0: Bernoulli samples of probabilities p against uniforms u in [0, 1). */
  bernoulli(out: Tensor, p: Tensor, u: Tensor): void;
  /** Sums over rows (axis 0, out is [1, n]) or over columns (axis 1, out is [m, 1]). */
  sum(out: Tensor, x: Tensor, axis: 0 | 1): void;
  /** log sum exp over an axis, stable (max-shifted); shapes as in `sum`. */
  logSumExp(out: Tensor, x: Tensor, axis: 0 | 1): void;
  /**
   * out[i, :] = x[index[i], :]: the rows of x that an index column names, in its order (an embedding
   * lookup; a sparse batch's rated items' weight rows). `index` is [k, 1] of whole numbers in [0, x.rows),
   * stored as floats (exact below 2^24); out is [k, x.cols] and must not be x. A backend that can see an
   * index out of range throws an ArgumentError; on others the row is unspecified, so core checks indices
   * on the host before it writes them.
   */
  gather(out: Tensor, x: Tensor, index: Tensor): void;
  /**
   * out[index[i], :] += x[i, :] for every row i of x: rows added into the rows of out that an index column
   * names; repeated indices add up (a segment sum; the gradient of `gather`). `index` is [k, 1] as in
   * `gather`, x is [k, out.cols] and must not be out.
   */
  scatterAdd(out: Tensor, index: Tensor, x: Tensor): void;
  /** out = value everywhere. */
  fill(out: Tensor, value: number): void;
  /** out = x. */
  copy(out: Tensor, x: Tensor): void;
  /**
   * A hint: `t`'s values never change again (core never writes it, nor makes it an op's output). A compiling
   * backend may fold them into its units: a product with a constant selection of rows or columns (a softmax
   * group's, a classifier's label rows) becomes a gather. Backends may ignore it.
   */
  constant?(t: Tensor): void;
  /** out = uniforms in [0, 1) from core's Philox stream. Required when randomness is `philox`. */
  uniform?(out: Tensor, position: PhiloxPosition): void;

  // ---- optional: whole-step execution ----
  /**
   * Runs the ops that `body` issues on this backend as one unit, with the same result as running them one
   * by one. A backend that compiles records them (a `Trace`, `@rbmjs/core/backend`), keys the record by its
   * structure (ops, shapes, which tensors, and numbers that are 0 or 1), compiles each structure once and
   * replays it, feeding the other numbers, uploads and random-stream positions as inputs. Core wraps each
   * training step, Gibbs sweep and AIS transition in it (label `train-step`, `gibbs-sweep`, `ais-step`).
   * `body` is synchronous, so it cannot read back; it may allocate and free tensors. Backends without it
   * run op by op.
   */
  fuse?(label: string, body: () => void, options?: FuseOptions): void;
}

/** What a caller of `fuse` knows about the unit. */
export interface FuseOptions {
  /**
   * Tensors the unit writes whose contents nobody reads afterwards before writing them again (a training
   * step's workspace): a compiling backend need not give them back, and their contents after the unit are
   * unspecified. Every other tensor the unit writes holds, after it, what op-by-op execution leaves.
   */
  readonly scratch?: readonly Tensor[];
}

/** How a backend package offers itself: nothing happens until `create` is called. */
export interface BackendFactory<Options = unknown> {
  readonly name: string;
  /** Starts the backend, or rejects with a reason that says why it cannot run here. */
  create(options?: Options): Promise<Backend>;
}
