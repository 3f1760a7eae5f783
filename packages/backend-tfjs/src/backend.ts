import {
  BACKEND_API_VERSION,
  type Backend,
  type BackendFactory,
  type BackendFamily,
  type CommonBackendOptions,
  check,
  type FuseOptions,
  familyFactory,
  firstMode,
  type HostArray,
  type MatMulOptions,
  RbmError,
  replayTrace,
  type Tensor,
  Trace,
  type UnaryOp,
} from '@rbmjs/core/backend';
import type * as tfc from '@tensorflow/tfjs-core';
import { autoOrder, ENGINES, type Engine, INSTALL, loadEngine } from './engines.js';
import { type Elementwise, replayOnTf } from './fuse.js';

type TF = typeof tfc;

/**
 * A handle of the TensorFlow.js backend. tf.Tensors are immutable, so a handle holds a reference that each
 * op replaces: the op computes its result inside tf.tidy (no intermediate survives), then disposes the
 * tensor the handle held. That gives the interface's destination-passing semantics, in place included.
 */
export class TfjsTensor implements Tensor {
  disposed = false;
  constructor(
    readonly rows: number,
    readonly cols: number,
    public t: tfc.Tensor2D,
  ) {}
}

export interface TfjsBackendOptions extends CommonBackendOptions {
  /** `auto` (default): tfjs-node, then wasm, then cpu in Node; webgpu, webgl, wasm, cpu in browsers. */
  readonly engine?: Engine | 'auto';
  /** Folder or URL of the tfjs-backend-wasm binaries (default in Node: the installed package). */
  readonly wasmPaths?: string;
  /** Accept a software fallback WebGPU adapter (default false: it is slower than wasm). */
  readonly allowFallbackAdapter?: boolean;
}

/** The unit a backend is recording, shared by its ops and its `fuse`. */
interface Tracing {
  trace: Trace | null;
}

function own(t: Tensor): TfjsTensor {
  if (!(t instanceof TfjsTensor)) throw new RbmError('BACKEND_API', 'tfjs backend: tensor belongs to another backend');
  if (t.disposed) throw new RbmError('DISPOSED', 'tfjs backend: tensor used after dispose');
  return t;
}

/** Replaces what `out` holds with the result of `fn`, computed in a tidy scope. */
function assign(tf: TF, out: TfjsTensor, fn: () => tfc.Tensor): void {
  const next = tf.tidy(() => fn()) as tfc.Tensor2D;
  out.t.dispose();
  out.t = next;
}

/**
 * log(1 + y) accurate to a few ulps for small y, whatever the engine's log1p does (some compute
 * log(1 + y) and lose the digits of y): with u = 1 + y rounded, log1p(y) = log(u) * y / (u - 1)
 * (Goldberg 1991, after Kahan), and y itself where u rounds to 1.
 */
function log1p(tf: TF, y: tfc.Tensor): tfc.Tensor {
  const u = tf.add(y, 1);
  const d = tf.sub(u, 1);
  const safe = tf.where(tf.equal(d, 0), tf.onesLike(d), d);
  return tf.where(tf.equal(d, 0), y, tf.div(tf.mul(tf.log(u), y), safe));
}

function unary(tf: TF, op: UnaryOp, x: tfc.Tensor): tfc.Tensor {
  switch (op) {
    case 'sigmoid':
      return tf.sigmoid(x);
    case 'softplus':
      // max(x, 0) + log1p(exp(-|x|)): stable for large |x| on every engine.
      return tf.add(tf.relu(x), log1p(tf, tf.exp(tf.neg(tf.abs(x)))));
    case 'exp':
      return tf.exp(x);
    case 'log':
      return tf.log(x);
    case 'square':
      return tf.square(x);
    case 'sign':
      // (x > 0) - (x < 0): tfjs-wasm's sign returns 0 for small nonzero x such as 1e-8.
      return tf.sub(tf.cast(tf.greater(x, 0), 'float32'), tf.cast(tf.less(x, 0), 'float32'));
    case 'neg':
      return tf.neg(x);
  }
}

function logSumExp(tf: TF, X: tfc.Tensor, axis: 0 | 1): tfc.Tensor {
  // Shift by the max where it is finite. All -Infinity gives -Infinity explicitly: the GPU engines'
  // log(0) is undefined in GLSL and WGSL (Chromium's SwiftShader gives -88.03).
  const m = tf.max(X, axis, true);
  const shift = tf.where(tf.isFinite(m), m, tf.zerosLike(m));
  const lse = tf.add(tf.log(tf.sum(tf.exp(tf.sub(X, shift)), axis, true)), shift);
  return tf.where(tf.less(m, tf.scalar(-3.4e38)), m, lse);
}

/** x's rows named by an index column [k, 1] of floats (Gather wants int32 of rank 1). */
function gather(tf: TF, X: tfc.Tensor, index: tfc.Tensor): tfc.Tensor {
  return tf.gather(X, tf.cast(tf.reshape(index, [-1]), 'int32'), 0);
}

/** O with x's rows added into the rows an index column names; scatterND sums repeated indices. */
function scatterAdd(tf: TF, O: tfc.Tensor2D, index: tfc.Tensor, X: tfc.Tensor): tfc.Tensor {
  return tf.add(O, tf.scatterND(tf.cast(index, 'int32'), X, O.shape));
}

export async function createTfjsBackend(options: TfjsBackendOptions = {}): Promise<Backend> {
  const requested = options.engine ?? 'auto';
  const order = requested === 'auto' ? autoOrder() : [requested];
  return firstMode(family, order, async (candidate) => {
    const engine = candidate as Engine;
    const tf = await loadEngine(engine, {
      ...(options.wasmPaths ? { wasmPaths: options.wasmPaths } : {}),
      ...(options.allowFallbackAdapter ? { allowFallbackAdapter: true } : {}),
    });
    return tfjsBackendOn(tf, engine);
  });
}

/** TensorFlow.js in the backend table: `tfjs` (auto) or `tfjs:ENGINE`. */
export const family: BackendFamily<TfjsBackendOptions> = {
  name: 'tfjs',
  package: '@rbmjs/backend-tfjs',
  summary: 'TensorFlow.js: native TensorFlow (tfjs-node), WebAssembly SIMD, WebGPU, WebGL or its CPU engine',
  modes: ENGINES,
  autoModes: autoOrder,
  create: (mode, options) => createTfjsBackend({ ...options, engine: (mode ?? 'auto') as Engine | 'auto' }),
  install: (mode) =>
    mode && mode in INSTALL ? INSTALL[mode as Engine] : 'npm i @rbmjs/backend-tfjs @tensorflow/tfjs-core',
};

function tfjsBackendOn(tf: TF, engine: Engine): Backend {
  const live = new Set<TfjsTensor>();
  const name = engine === 'node' ? 'tensorflow' : engine;
  /** tfjs has one global engine: fail loudly if something switched it under us. */
  const guard = () => {
    if (tf.getBackend() !== name) {
      throw new RbmError(
        'BACKEND_API',
        `tfjs backend ${engine}: tfjs is now on ${tf.getBackend()}; use one tfjs engine per process`,
      );
    }
  };
  /** The unit being recorded (see `withFuse`): the ops below check their arguments, then record. */
  const tracing: Tracing = { trace: null };
  const base: Backend = {
    apiVersion: BACKEND_API_VERSION,
    name: `tfjs:${engine}`,
    precision: 'float32',
    randomness: 'host',
    details: { engine: name, tfjs: tf.version_core },

    tensor(rows: number, cols: number, data?: HostArray): Tensor {
      check.dimensions(rows, cols);
      if (data) check.data(rows, cols, data.length);
      guard();
      // Inside a unit its first contents are recorded, and set when the unit runs.
      const upload = data && !tracing.trace;
      const t = new TfjsTensor(
        rows,
        cols,
        upload ? tf.tensor2d(new Float32Array(data), [rows, cols]) : tf.zeros([rows, cols]),
      );
      live.add(t);
      tracing.trace?.recordCreate(t, data);
      return t;
    },
    write(t: Tensor, data: HostArray): void {
      const h = own(t);
      check.data(h.rows, h.cols, data.length);
      if (tracing.trace) return void tracing.trace.recordWrite(h, data);
      h.t.dispose();
      h.t = tf.tensor2d(data instanceof Float32Array ? data : new Float32Array(data), [h.rows, h.cols]);
    },
    async read(t: Tensor): Promise<HostArray> {
      const trace = tracing.trace;
      if (trace) throw new RbmError('BACKEND_API', `tfjs:${engine}: read inside a fused unit (${trace.label})`);
      return new Float32Array((await own(t).t.data()) as Float32Array);
    },
    dispose(t: Tensor): void {
      const h = own(t);
      if (tracing.trace) {
        // Unusable at once; its tf.Tensor is freed after the unit.
        h.disposed = true;
        tracing.trace.disposed.add(h);
        return;
      }
      h.t.dispose();
      h.disposed = true;
      live.delete(h);
    },
    destroy(): void {
      for (const h of live) {
        h.t.dispose();
        h.disposed = true;
      }
      live.clear();
    },

    matMul(out: Tensor, a: Tensor, b: Tensor, options: MatMulOptions = {}): void {
      check.matMul(out, a, b, options);
      const o = own(out);
      const A = own(a).t;
      const B = own(b).t;
      const alpha = options.alpha ?? 1;
      const beta = options.beta ?? 0;
      if (tracing.trace) {
        const [transposeA, transposeB] = [options.transposeA ?? false, options.transposeB ?? false];
        tracing.trace.record({ kind: 'matMul', out, a, b, transposeA, transposeB, alpha, beta });
        return;
      }
      assign(tf, o, () => {
        // Explicit transposes: tfjs-wasm's matMul with transpose flags is about 10x slower.
        let p: tfc.Tensor = tf.matMul(
          options.transposeA ? tf.transpose(A) : A,
          options.transposeB ? tf.transpose(B) : B,
        );
        if (alpha !== 1) p = tf.mul(p, alpha);
        return beta === 0 ? p : tf.add(p, tf.mul(o.t, beta));
      });
    },
    binary(op, out, a, b): void {
      check.binary(out, a, b);
      const A = own(a).t;
      const B = own(b).t;
      if (tracing.trace) return void tracing.trace.record({ kind: 'binary', op, out: own(out), a, b });
      assign(tf, own(out), () => (op === 'add' ? tf.add(A, B) : op === 'sub' ? tf.sub(A, B) : tf.mul(A, B)));
    },
    axpby(out, alpha, x, beta, y): void {
      check.same('axpby', out, x, y);
      const X = own(x).t;
      const Y = own(y).t;
      if (tracing.trace) return void tracing.trace.record({ kind: 'axpby', out: own(out), alpha, x, beta, y });
      assign(tf, own(out), () => tf.add(tf.mul(X, alpha), tf.mul(Y, beta)));
    },
    unary(op, out, x): void {
      check.same(`unary ${op}`, out, x);
      const X = own(x).t;
      if (tracing.trace) return void tracing.trace.record({ kind: 'unary', op, out: own(out), x });
      assign(tf, own(out), () => unary(tf, op, X));
    },
    bernoulli(out, p, u): void {
      check.same('bernoulli', out, p, u);
      const P = own(p).t;
      const U = own(u).t;
      if (tracing.trace) return void tracing.trace.record({ kind: 'bernoulli', out: own(out), p, u });
      assign(tf, own(out), () => tf.cast(tf.less(U, P), 'float32'));
    },
    sum(out, x, axis): void {
      check.reduce('sum', out, x, axis);
      const X = own(x).t;
      if (tracing.trace) return void tracing.trace.record({ kind: 'sum', out: own(out), x, axis });
      assign(tf, own(out), () => tf.sum(X, axis, true));
    },
    logSumExp(out, x, axis): void {
      check.reduce('logSumExp', out, x, axis);
      const X = own(x).t;
      if (tracing.trace) return void tracing.trace.record({ kind: 'logSumExp', out: own(out), x, axis });
      assign(tf, own(out), () => logSumExp(tf, X, axis));
    },
    gather(out, x, index): void {
      check.indexed('gather', x, out, index);
      const X = own(x).t;
      const I = own(index).t;
      if (tracing.trace) return void tracing.trace.record({ kind: 'gather', out: own(out), x, index });
      assign(tf, own(out), () => gather(tf, X, I));
    },
    scatterAdd(out, index, x): void {
      check.indexed('scatterAdd', out, x, index);
      const o = own(out);
      const I = own(index).t;
      const X = own(x).t;
      if (tracing.trace) return void tracing.trace.record({ kind: 'scatterAdd', out: o, index, x });
      assign(tf, o, () => scatterAdd(tf, o.t, I, X));
    },
    fill(out, value): void {
      const o = own(out);
      if (tracing.trace) return void tracing.trace.record({ kind: 'fill', out: o, value });
      assign(tf, o, () => tf.fill([o.rows, o.cols], value));
    },
    copy(out, x): void {
      check.same('copy', out, x);
      const X = own(x).t;
      if (tracing.trace) return void tracing.trace.record({ kind: 'copy', out: own(out), x });
      assign(tf, own(out), () => tf.clone(X));
    },
  };
  return withFuse(tf, base, live, tracing);
}

/**
 * The backend with whole-step execution: inside `fuse`, the ops check their arguments and record themselves
 * (a core `Trace`, through `tracing`), then the unit is replayed as one tf.tidy over values (`replayOnTf`); each output's handle takes its last value.
 */
function withFuse(tf: TF, base: Backend, live: Set<TfjsTensor>, tracing: Tracing): Backend {
  const ew: Elementwise = {
    unary: (op, x) => unary(tf, op, x),
    logSumExp: (x, axis) => logSumExp(tf, x, axis),
    gather: (x, index) => gather(tf, x, index),
    scatterAdd: (o, index, x) => scatterAdd(tf, o as tfc.Tensor2D, index, x),
  };
  return {
    ...base,
    fuse(label: string, body: () => void, options: FuseOptions = {}): void {
      // A unit inside a unit is part of the outer one.
      if (tracing.trace) {
        body();
        return;
      }
      const t = new Trace(label);
      tracing.trace = t;
      try {
        body();
      } catch (error) {
        // What ran before the throw happens op by op, as it would have.
        tracing.trace = null;
        replayTrace(t, base);
        for (const x of t.disposed) free(x as TfjsTensor);
        throw error;
      } finally {
        tracing.trace = null;
      }
      const io = t.interface(new Set(options.scratch ?? []));
      const finals = replayOnTf(tf, t, io, ew);
      // Each output's handle takes its value; a value held elsewhere (an alias made by copy) is cloned.
      const outputs = io.outputs as TfjsTensor[];
      const olds = outputs.map((h) => h.t);
      const kept = new Set<tfc.Tensor>();
      const replaced = new Set(outputs);
      for (const h of live) if (!replaced.has(h)) kept.add(h.t);
      outputs.forEach((h, i) => {
        let v = finals[i]!;
        if (kept.has(v)) v = tf.clone(v);
        kept.add(v);
        h.t = v;
      });
      for (const old of olds) if (!kept.has(old)) old.dispose();
      for (const x of t.disposed) free(x as TfjsTensor);
    },
  };

  /** Frees a handle disposed inside a unit (its tf.Tensor, unless an output took it). */
  function free(h: TfjsTensor): void {
    h.disposed = true;
    live.delete(h);
    if (!h.t.isDisposed) h.t.dispose();
  }
}

/** The factory for `resolveBackend` (auto engine; `familyFactory(family, engine)` for one engine). */
export const tfjsBackend: BackendFactory<TfjsBackendOptions> = familyFactory(family);
