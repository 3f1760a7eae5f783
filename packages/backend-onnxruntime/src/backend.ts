import { createJsBackend, type JsTensor } from '@rbmjs/backend-js';
import {
  BACKEND_API_VERSION,
  type Backend,
  type BinaryOp,
  check,
  type FuseOptions,
  fillUniforms,
  firstLine,
  type HostArray,
  type MatMulOptions,
  type PhiloxPosition,
  RbmError,
  replayTrace,
  SerialQueue,
  type Tensor,
  Trace,
  type TraceInterface,
  type UnaryOp,
} from '@rbmjs/core/backend';
import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-common';
import { ContentIds } from './constants.js';
import { type GraphOptions, type GraphSignature, traceToOnnx } from './graph.js';
import { UploadPool } from './uploads.js';

/** The parts of ONNX Runtime's JavaScript API used here: onnxruntime-node and onnxruntime-web both have them. */
export interface OrtApi {
  readonly Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => OrtTensor;
  readonly InferenceSession: {
    create(model: Uint8Array, options?: InferenceSession.SessionOptions): Promise<InferenceSession>;
  };
}

export interface OrtBackendSettings {
  /** The backend's name, e.g. `onnxruntime:cpu`. */
  readonly name: string;
  readonly ort: OrtApi;
  readonly session: InferenceSession.SessionOptions;
  readonly details: Readonly<Record<string, string | number | boolean>>;
  /**
   * Largest number of float32 values a compiled unit may take in and give out (default 2^28, 1 GiB):
   * larger units run op by op, saying so once.
   */
  readonly maxUnitValues?: number;
  /**
   * Whether the runtime writes outputs into buffers passed as fetches (onnxruntime-node does; onnxruntime-web
   * leaves CPU fetches untouched and returns its own arrays, which are then copied).
   */
  readonly preallocatedOutputs?: boolean;
  /**
   * Units whose matrix products average fewer floating-point operations than this run on one intra-op
   * thread (default 6.4e6: on the 2-core machine a 784-16 CD-1 step at batch 100, 2.5e6 a product, is
   * faster on one thread, a 784-100 one, 1.6e7, on two, where waking the second thread for each small op
   * costs more than it saves).
   */
  readonly singleThreadFlops?: number;
  /**
   * Unit labels that always run op by op, with the reason said once: a way to keep a unit that a provider
   * computes wrongly as one graph out of compilation. The WebGPU mode lists the sparse recommender step (see
   * family.ts; its wrong discriminative step, earlier, came from ops it ran on the CPU: see
   * {@link GraphOptions.gpuKernelsOnly}).
   */
  readonly opByOpLabels?: Readonly<Record<string, string>>;
  /** How graphs are written for this runtime and provider. */
  readonly graph?: GraphOptions;
  /** Compiled units kept (least recently used ones are released; default 32). */
  readonly maxUnits?: number;
  /** Where the backend says that it fell back to op-by-op execution (default: console.warn). */
  readonly notice?: (message: string) => void;
}

/** Values (float32) that the ops of a unit write, above which its session keeps no arena (see `compile`). */
const LARGE_UNIT_VALUES = 1 << 24;
/** A compiled unit: one ONNX Runtime session per trace structure. */
interface Unit {
  readonly label: string;
  readonly signature: GraphSignature | undefined;
  /** Resolves to the session, or to undefined when the unit runs op by op (with the reason said once). */
  readonly session: Promise<InferenceSession | undefined>;
  /** Why ONNX Runtime refused the unit, once `session` has resolved to undefined for that reason. */
  error?: string;
}

/**
 * Counts of what `fuse` did, for tests and profiles: units compiled, calls replayed through a compiled
 * graph, and calls run op by op (the unit was too large, failed to compile, or its label compiled too many
 * structures).
 */
export interface FuseStats {
  compiled: number;
  replayed: number;
  opByOp: number;
}

export interface OrtBackend extends Backend {
  readonly stats: FuseStats;
  /** Whole-step execution (always present here). */
  fuse(label: string, body: () => void, options?: FuseOptions): void;
  /** Compiles and runs a one-op unit: rejects when the runtime or its execution provider cannot run here. */
  probe(): Promise<void>;
}

/**
 * The ONNX Runtime backend. Storage is host float32 (the js backend's tensors, whose kernels also run the
 * ops issued outside a fused unit); whole-step execution is where it earns its place: `fuse` records a
 * unit's ops (a Trace), compiles each structure once into one ONNX graph and session, and replays it per
 * call with the unit's numbers, uploads and Philox uniforms (drawn by core's WebAssembly kernel) as inputs.
 *
 * ONNX Runtime's `run` is asynchronous, so the backend keeps a queue: ops issued while a run is in flight
 * wait behind it (their arguments are checked at once, so errors still throw at the call), uploads are
 * copied, and `read` resolves when everything issued before it has run. With nothing in flight, ops run at
 * once, as in the js backend.
 */
export function createOrtBackend(settings: OrtBackendSettings): OrtBackend {
  const host = createJsBackend();
  const { ort } = settings;
  const maxValues = settings.maxUnitValues ?? 2 ** 28;
  const maxUnits = settings.maxUnits ?? 32;
  const preallocate = settings.preallocatedOutputs ?? false;
  const notice = settings.notice ?? ((m: string) => console.warn(m));
  const said = new Set<string>();
  const say = (key: string, message: string) => {
    if (said.has(key)) return;
    said.add(key);
    notice(`${settings.name}: ${message}`);
  };

  const units = new Map<string, Unit>();
  /** Per label, how many calls in a row needed a new structure. */
  const misses = new Map<string, number>();
  const stats: FuseStats = { compiled: 0, replayed: 0, opByOp: 0 };
  const uniformScratch = new Map<string, Float32Array>();
  const uploads = new UploadPool();
  /** Each output tensor's second array, which the next compiled run writes. */
  const spareOf = new WeakMap<Tensor, Float32Array>();

  // ---- the queue ----
  // A failed run is thrown by the next settle (read), and the backend goes on: its tensors are whole.
  const queue = new SerialQueue('once');
  const enqueue = (task: () => void | Promise<void>) => queue.push(task);
  const settle = () => queue.settled();
  let destroyed = false;

  let trace: Trace | null = null;
  const disposed = new WeakSet<Tensor>();
  /** Tensors declared constant (Backend.constant), each with the id of its contents (see ContentIds). */
  const constantIds = new WeakMap<Tensor, number>();
  const contents = new ContentIds();
  const pendingConstants: Tensor[] = [];
  const markConstant = (t: Tensor) => {
    if (!disposed.has(t) && !constantIds.has(t))
      constantIds.set(t, contents.idOf((t as JsTensor).data, t.rows, t.cols));
  };
  const own = (t: Tensor): JsTensor => {
    if (destroyed) throw new RbmError('DISPOSED', `${settings.name} backend used after destroy()`);
    if (disposed.has(t)) throw new RbmError('DISPOSED', `${settings.name}: tensor used after dispose`);
    return t as JsTensor;
  };

  // ---- compiled units ----
  const compile = (key: string, t: Trace, io: TraceInterface): Unit => {
    const size = [...io.inputs, ...io.outputs].reduce((s, x) => s + x.rows * x.cols, 0);
    const opByOp = (reason: string): Unit => {
      say(`${t.label}:${reason}`, `${t.label} runs op by op: ${reason}`);
      return { label: t.label, signature: undefined, session: Promise.resolve(undefined) };
    };
    if (size > maxValues) return opByOp(`${size} values in and out, above the ${maxValues} a compiled unit may take`);
    const refused = settings.opByOpLabels?.[t.label];
    if (refused !== undefined) return opByOp(refused);
    const graph = traceToOnnx(t, io, settings.graph ?? {}, (x) =>
      constantIds.has(x) ? (x as JsTensor).data : undefined,
    );
    stats.compiled++;
    let flops = 0;
    let products = 0;
    for (const op of t.ops) {
      if (op.kind !== 'matMul') continue;
      flops += 2 * op.out.rows * op.out.cols * (op.transposeA ? op.a.rows : op.a.cols);
      products++;
    }
    // Per product, so that a unit of several small steps stays on one thread.
    const small =
      settings.session.intraOpNumThreads !== undefined &&
      flops / Math.max(1, products) < (settings.singleThreadFlops ?? 6.4e6);
    // A unit whose values are large (a sparse recommender step: 30 [ratings, hidden] intermediates) gets no
    // memory arena and no planned pattern: ONNX Runtime would keep each such unit's peak allocation for good,
    // one per padded size (3.4 GiB RSS against 1.8 GiB on a tenth of Netflix, and no slower without).
    const values = t.ops.reduce((n, op) => n + op.out.rows * op.out.cols, 0);
    const large = values > LARGE_UNIT_VALUES ? { enableCpuMemArena: false, enableMemPattern: false } : {};
    const options = { ...settings.session, ...(small ? { intraOpNumThreads: 1 } : {}), ...large };
    const unit: Unit = {
      label: t.label,
      signature: graph.signature,
      session: ort.InferenceSession.create(graph.model, options).catch((error: unknown) => {
        unit.error = firstLine(error);
        say(`${key}:compile`, `${t.label} runs op by op: ONNX Runtime did not compile it: ${unit.error}`);
        return undefined;
      }),
    };
    return unit;
  };

  const run = async (unit: Unit, t: Trace, io: TraceInterface): Promise<void> => {
    const session = await unit.session;
    if (destroyed) return;
    if (!session || !unit.signature) {
      stats.opByOp++;
      replayTrace(t, host);
      return;
    }
    const sig = unit.signature;
    const feeds: Record<string, OrtTensor> = {};
    io.inputs.forEach((x, i) => {
      const name = sig.inputs[i];
      if (name !== undefined) feeds[name] = new ort.Tensor('float32', (x as JsTensor).data, [x.rows, x.cols]);
    });
    t.scalars().forEach((x, i) => {
      feeds[sig.scalars[i]!] = new ort.Tensor('float32', Float32Array.of(x), []);
    });
    let w = 0;
    let u = 0;
    for (const op of t.ops) {
      if (op.kind === 'write') {
        feeds[sig.uploads[w++]!] = new ort.Tensor('float32', op.data, [op.out.rows, op.out.cols]);
      } else if (op.kind === 'uniform') {
        const name = sig.uniforms[u++]!;
        const n = op.out.rows * op.out.cols;
        // One buffer per uniform input: ONNX Runtime has read it by the time the next run starts.
        let buf = uniformScratch.get(`${unit.label}:${name}:${n}`);
        if (!buf) {
          buf = new Float32Array(n);
          uniformScratch.set(`${unit.label}:${name}:${n}`, buf);
        }
        fillUniforms(buf, op.position.k0, op.position.k1, op.position.stream, op.position.offset);
        feeds[name] = new ort.Tensor('float32', buf, [op.out.rows, op.out.cols]);
      }
    }
    // Outputs go to spare buffers that then swap with the tensors' arrays: no copy, and no output aliases a
    // feed (a tensor's current array may be one).
    const fetches: Record<string, OrtTensor> = {};
    const spares: Float32Array[] = [];
    io.outputs.forEach((x, j) => {
      const name = sig.outputs[j];
      // A fed output (an upload or uniforms) is copied from its feed below: it needs no spare.
      if (name === undefined) return;
      const n = x.rows * x.cols;
      let spare = spareOf.get(x);
      if (!spare || spare.length !== n) spare = new Float32Array(n);
      spares[j] = spare;
      if (preallocate) fetches[name] = new ort.Tensor('float32', spare, [x.rows, x.cols]);
    });
    const results = preallocate ? await session.run(feeds, fetches) : await session.run(feeds);
    if (destroyed) return;
    io.outputs.forEach((x, j) => {
      const name = sig.outputs[j];
      if (name === undefined) return;
      const t = x as JsTensor;
      const spare = spares[j]!;
      // onnxruntime-node wrote into the buffer it was given (and returns a copy, unused); onnxruntime-web
      // returns its own array only.
      if (!preallocate) spare.set(results[name]!.data as Float32Array);
      spareOf.set(t, t.data);
      t.data = spare;
    });
    for (const { output, input } of sig.fedOutputs) {
      (io.outputs[output] as JsTensor).data.set(feeds[input]!.data as Float32Array);
    }
    stats.replayed++;
  };

  const checkedMatMul = (out: Tensor, a: Tensor, b: Tensor, options: MatMulOptions) => {
    own(out);
    own(a);
    own(b);
    check.matMul(out, a, b, options);
  };

  return {
    apiVersion: BACKEND_API_VERSION,
    name: settings.name,
    precision: 'float32',
    randomness: 'philox',
    details: settings.details,
    stats,

    tensor(rows: number, cols: number, data?: HostArray): Tensor {
      if (destroyed) throw new RbmError('DISPOSED', `${settings.name} backend used after destroy()`);
      const t = host.tensor(rows, cols, data);
      trace?.recordCreate(t, data);
      return t;
    },
    constant(t: Tensor): void {
      own(t);
      // One made inside a unit is that unit's own until it has run: constant from the next unit on.
      if (trace) pendingConstants.push(t);
      else markConstant(t);
    },
    write(t: Tensor, data: HostArray): void {
      own(t);
      if (constantIds.has(t))
        throw new RbmError('BACKEND_API', `${settings.name}: write to a tensor declared constant`);
      check.data(t.rows, t.cols, data.length);
      if (trace) trace.recordWrite(t, data);
      else if (queue.idle) host.write(t, data);
      else {
        const copy = new Float32Array(data);
        enqueue(() => host.write(t, copy));
      }
    },
    async read(t: Tensor): Promise<HostArray> {
      own(t);
      if (trace) throw new RbmError('BACKEND_API', `${settings.name}: read inside a fused unit (${trace.label})`);
      await settle();
      return own(t).data.slice();
    },
    drain(): Promise<void> {
      if (trace) throw new RbmError('BACKEND_API', `${settings.name}: drain inside a fused unit (${trace.label})`);
      return settle();
    },
    dispose(t: Tensor): void {
      own(t);
      disposed.add(t);
      // Inside a unit the tensor is freed after the unit has run.
      if (trace) trace.disposed.add(t);
      else enqueue(() => host.dispose(t));
    },
    destroy(): void {
      destroyed = true;
      for (const unit of units.values()) void unit.session.then((s) => s?.release());
      units.clear();
      host.destroy();
    },

    matMul(out: Tensor, a: Tensor, b: Tensor, options: MatMulOptions = {}): void {
      checkedMatMul(out, a, b, options);
      if (trace) {
        trace.record({
          kind: 'matMul',
          out,
          a,
          b,
          transposeA: options.transposeA ?? false,
          transposeB: options.transposeB ?? false,
          alpha: options.alpha ?? 1,
          beta: options.beta ?? 0,
        });
      } else enqueue(() => host.matMul(out, a, b, options));
    },
    binary(op: BinaryOp, out: Tensor, a: Tensor, b: Tensor): void {
      for (const t of [out, a, b]) own(t);
      check.binary(out, a, b);
      if (trace) trace.record({ kind: 'binary', op, out, a, b });
      else enqueue(() => host.binary(op, out, a, b));
    },
    axpby(out: Tensor, alpha: number, x: Tensor, beta: number, y: Tensor): void {
      for (const t of [out, x, y]) own(t);
      check.same('axpby', out, x, y);
      if (trace) trace.record({ kind: 'axpby', out, alpha, x, beta, y });
      else enqueue(() => host.axpby(out, alpha, x, beta, y));
    },
    unary(op: UnaryOp, out: Tensor, x: Tensor): void {
      for (const t of [out, x]) own(t);
      check.same(`unary ${op}`, out, x);
      if (trace) trace.record({ kind: 'unary', op, out, x });
      else enqueue(() => host.unary(op, out, x));
    },
    bernoulli(out: Tensor, p: Tensor, u: Tensor): void {
      for (const t of [out, p, u]) own(t);
      check.same('bernoulli', out, p, u);
      if (trace) trace.record({ kind: 'bernoulli', out, p, u });
      else enqueue(() => host.bernoulli(out, p, u));
    },
    sum(out: Tensor, x: Tensor, axis: 0 | 1): void {
      for (const t of [out, x]) own(t);
      check.reduce('sum', out, x, axis);
      if (trace) trace.record({ kind: 'sum', out, x, axis });
      else enqueue(() => host.sum(out, x, axis));
    },
    logSumExp(out: Tensor, x: Tensor, axis: 0 | 1): void {
      for (const t of [out, x]) own(t);
      check.reduce('logSumExp', out, x, axis);
      if (trace) trace.record({ kind: 'logSumExp', out, x, axis });
      else enqueue(() => host.logSumExp(out, x, axis));
    },
    gather(out: Tensor, x: Tensor, index: Tensor): void {
      for (const t of [out, x, index]) own(t);
      check.indexed('gather', x, out, index);
      if (trace) trace.record({ kind: 'gather', out, x, index });
      else enqueue(() => host.gather(out, x, index));
    },
    scatterAdd(out: Tensor, index: Tensor, x: Tensor): void {
      for (const t of [out, index, x]) own(t);
      check.indexed('scatterAdd', out, x, index);
      if (trace) trace.record({ kind: 'scatterAdd', out, index, x });
      else enqueue(() => host.scatterAdd(out, index, x));
    },
    fill(out: Tensor, value: number): void {
      own(out);
      if (trace) trace.record({ kind: 'fill', out, value });
      else enqueue(() => host.fill(out, value));
    },
    copy(out: Tensor, x: Tensor): void {
      for (const t of [out, x]) own(t);
      check.same('copy', out, x);
      if (trace) trace.record({ kind: 'copy', out, x });
      else enqueue(() => host.copy(out, x));
    },
    uniform(out: Tensor, position: PhiloxPosition): void {
      own(out);
      if (trace) trace.record({ kind: 'uniform', out, position: { ...position } });
      else enqueue(() => host.uniform!(out, position));
    },

    async probe(): Promise<void> {
      const x = this.tensor(1, 2, Float32Array.of(1, -2));
      const y = this.tensor(1, 2);
      try {
        this.fuse('probe', () => this.unary('neg', y, x));
        const unit = [...units.values()].at(-1);
        if (!(await unit?.session)) throw new Error(`ONNX Runtime could not create a session: ${unit?.error}`);
        const [a, b] = await this.read(y);
        if (a !== -1 || b !== 2) throw new Error(`a one-op graph gave ${a}, ${b} for -(1, -2)`);
      } finally {
        this.dispose(x);
        this.dispose(y);
      }
    },

    fuse(label: string, body: () => void, options: FuseOptions = {}): void {
      if (destroyed) throw new RbmError('DISPOSED', `${settings.name} backend used after destroy()`);
      // A unit inside a unit is part of the outer one.
      if (trace) {
        body();
        return;
      }
      const t = new Trace(label, uploads.copy);
      trace = t;
      try {
        body();
      } catch (error) {
        // What ran before the throw has happened op by op; keep those semantics.
        trace = null;
        enqueue(() => replayTrace(t, host));
        enqueue(() => uploads.release(t));
        for (const x of t.disposed) enqueue(() => host.dispose(x));
        throw error;
      } finally {
        trace = null;
        for (const x of pendingConstants.splice(0)) markConstant(x);
      }
      if (t.ops.length === 0) return;
      const scratch = new Set(options.scratch ?? []);
      // Tensors from outside the unit are named by first appearance, not by identity: a unit on other tensors
      // of the same shapes and aliasing (a sampler that allocates its chains per call) reuses the program.
      const ids = new Map<Tensor, number>();
      const key = t.key((x) => {
        const c = constantIds.get(x);
        return c !== undefined ? -1 - c : (ids.get(x) ?? ids.set(x, ids.size).size - 1);
      }, scratch);
      // Inputs and outputs: per call, since tensors the body allocates are new each time.
      const io = t.interface(scratch);
      let unit = units.get(key);
      if (unit) {
        misses.set(label, 0);
        // Most recently used last.
        units.delete(key);
        units.set(key, unit);
      } else {
        // A label whose every call has a new structure (a loop that allocates outside the unit, say) would
        // compile forever: after 8 misses in a row its new structures run op by op, 1 in 16 still compiled.
        const miss = (misses.get(label) ?? 0) + 1;
        misses.set(label, miss);
        if (miss > 8 && miss % 16 !== 0) {
          say(`${label}:churn`, `${label} runs op by op: its structure changes on every call`);
          stats.opByOp++;
          enqueue(() => replayTrace(t, host));
          enqueue(() => uploads.release(t));
          for (const x of t.disposed) enqueue(() => host.dispose(x));
          return;
        }
        unit = compile(key, t, io);
        units.set(key, unit);
        if (units.size > maxUnits) {
          const [oldest, old] = units.entries().next().value!;
          units.delete(oldest);
          // Released after the runs already queued for it.
          enqueue(() => old.session.then((s) => s?.release()));
        }
      }
      const u = unit;
      enqueue(() => run(u, t, io));
      enqueue(() => uploads.release(t));
      for (const x of t.disposed) enqueue(() => host.dispose(x));
    },
  };
}
