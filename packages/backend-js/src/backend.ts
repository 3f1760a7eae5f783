import {
  BACKEND_API_VERSION,
  type Backend,
  type BackendFactory,
  type BackendFamily,
  type BinaryOp,
  type CommonBackendOptions,
  check,
  familyFactory,
  fillUniforms,
  HostTensor,
  hostStorage,
  type MatMulOptions,
  ownHostTensor,
  softplus,
  type Tensor,
  type UnaryOp,
} from '@rbmjs/core/backend';
import { gemm } from './gemm.js';

/** A tensor of the plain TypeScript backend: a row-major Float32Array. */
export class JsTensor extends HostTensor<Float32Array> {}

function own(t: Tensor): Float32Array {
  return ownHostTensor(t, JsTensor, 'js').data;
}

// Elementwise kernels: one loop per op, no closures per element.

function sigmoidInto(o: Float32Array, x: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const v = x[i]!;
    // Branch on sign so that exp never overflows.
    if (v >= 0) o[i] = 1 / (1 + Math.exp(-v));
    else {
      const e = Math.exp(v);
      o[i] = e / (1 + e);
    }
  }
}

function softplusInto(o: Float32Array, x: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) o[i] = softplus(x[i]!);
}

function unaryInto(op: UnaryOp, o: Float32Array, x: Float32Array): void {
  const n = o.length;
  switch (op) {
    case 'sigmoid':
      sigmoidInto(o, x, n);
      return;
    case 'softplus':
      softplusInto(o, x, n);
      return;
    case 'exp':
      for (let i = 0; i < n; i++) o[i] = Math.exp(x[i]!);
      return;
    case 'log':
      for (let i = 0; i < n; i++) o[i] = Math.log(x[i]!);
      return;
    case 'square':
      for (let i = 0; i < n; i++) o[i] = x[i]! * x[i]!;
      return;
    case 'sign':
      for (let i = 0; i < n; i++) o[i] = Math.sign(x[i]!);
      return;
    case 'neg':
      for (let i = 0; i < n; i++) o[i] = -x[i]!;
      return;
  }
}

function binaryInto(
  op: BinaryOp,
  o: Float32Array,
  a: Float32Array,
  b: Float32Array,
  rows: number,
  cols: number,
  kind: string,
): void {
  // Row-broadcast (a bias row) is the common case in training; each kind gets its own simple loop.
  for (let i = 0; i < rows; i++) {
    const base = i * cols;
    if (kind === 'full' || kind === 'row') {
      const bb = kind === 'full' ? base : 0;
      if (op === 'add') for (let j = 0; j < cols; j++) o[base + j] = a[base + j]! + b[bb + j]!;
      else if (op === 'sub') for (let j = 0; j < cols; j++) o[base + j] = a[base + j]! - b[bb + j]!;
      else for (let j = 0; j < cols; j++) o[base + j] = a[base + j]! * b[bb + j]!;
    } else {
      const y = kind === 'column' ? b[i]! : b[0]!;
      if (op === 'add') for (let j = 0; j < cols; j++) o[base + j] = a[base + j]! + y;
      else if (op === 'sub') for (let j = 0; j < cols; j++) o[base + j] = a[base + j]! - y;
      else for (let j = 0; j < cols; j++) o[base + j] = a[base + j]! * y;
    }
  }
}

/** Scratch for reductions in float64, reused. */
let acc64 = new Float64Array(0);

export interface JsBackendOptions extends CommonBackendOptions {
  /** Reserved for a future worker-thread pool; the backend is single-threaded today. */
  readonly threads?: 1;
}

/** Creates the plain TypeScript backend: float32 storage, Philox on the host, synchronous kernels. */
export function createJsBackend(_options: JsBackendOptions = {}): Backend {
  return {
    apiVersion: BACKEND_API_VERSION,
    name: 'js',
    precision: 'float32',
    randomness: 'philox',
    details: { engine: 'TypeScript on Float32Array', threads: 1 },

    ...hostStorage('js', JsTensor, Float32Array),

    matMul(out: Tensor, a: Tensor, b: Tensor, options: MatMulOptions = {}): void {
      const { m, k, n } = check.matMul(out, a, b, options);
      gemm({
        m,
        n,
        k,
        alpha: options.alpha ?? 1,
        beta: options.beta ?? 0,
        a: own(a),
        lda: a.cols,
        transA: options.transposeA ?? false,
        b: own(b),
        ldb: b.cols,
        transB: options.transposeB ?? false,
        c: own(out),
      });
    },
    binary(op, out, a, b): void {
      const kind = check.binary(out, a, b);
      binaryInto(op, own(out), own(a), own(b), a.rows, a.cols, kind);
    },
    axpby(out, alpha, x, beta, y): void {
      check.same('axpby', out, x, y);
      const o = own(out);
      const X = own(x);
      const Y = own(y);
      for (let i = 0; i < o.length; i++) o[i] = alpha * X[i]! + beta * Y[i]!;
    },
    unary(op, out, x): void {
      check.same(`unary ${op}`, out, x);
      unaryInto(op, own(out), own(x));
    },
    bernoulli(out, p, u): void {
      check.same('bernoulli', out, p, u);
      const o = own(out);
      const P = own(p);
      const U = own(u);
      for (let i = 0; i < o.length; i++) o[i] = U[i]! < P[i]! ? 1 : 0;
    },
    sum(out, x, axis): void {
      check.reduce('sum', out, x, axis);
      const X = own(x);
      const o = own(out);
      const { rows, cols } = x;
      // Accumulate in float64 so that long sums do not lose float32 digits.
      if (axis === 0) {
        if (acc64.length < cols) acc64 = new Float64Array(cols);
        acc64.fill(0, 0, cols);
        for (let i = 0; i < rows; i++) {
          const base = i * cols;
          for (let j = 0; j < cols; j++) acc64[j]! += X[base + j]!;
        }
        for (let j = 0; j < cols; j++) o[j] = acc64[j]!;
      } else {
        for (let i = 0; i < rows; i++) {
          const base = i * cols;
          let s = 0;
          for (let j = 0; j < cols; j++) s += X[base + j]!;
          o[i] = s;
        }
      }
    },
    logSumExp(out, x, axis): void {
      check.reduce('logSumExp', out, x, axis);
      const X = own(x);
      const o = own(out);
      const { rows, cols } = x;
      const outer = axis === 0 ? cols : rows;
      const inner = axis === 0 ? rows : cols;
      const so = axis === 0 ? 1 : cols; // stride between outputs
      const si = axis === 0 ? cols : 1; // stride along the reduced axis
      for (let q = 0; q < outer; q++) {
        let max = Number.NEGATIVE_INFINITY;
        for (let i = 0; i < inner; i++) {
          const v = X[q * so + i * si]!;
          if (v > max || Number.isNaN(v)) max = v;
        }
        if (!Number.isFinite(max)) {
          o[q] = max;
          continue;
        }
        let s = 0;
        for (let i = 0; i < inner; i++) s += Math.exp(X[q * so + i * si]! - max);
        o[q] = max + Math.log(s);
      }
    },
    gather(out, x, index): void {
      const m = check.indexed('gather', x, out, index);
      const X = own(x);
      const I = own(index);
      const o = own(out);
      const n = x.cols;
      // Every index is checked before anything is written, so a bad one leaves out as it was.
      for (let i = 0; i < index.rows; i++) check.index('gather', I[i]!, i, m);
      for (let i = 0; i < index.rows; i++) {
        const r = I[i]!;
        o.set(X.subarray(r * n, r * n + n), i * n);
      }
    },
    scatterAdd(out, index, x): void {
      const m = check.indexed('scatterAdd', out, x, index);
      const X = own(x);
      const I = own(index);
      const o = own(out);
      const n = x.cols;
      // Every index is checked before anything is added, so a bad one leaves out as it was.
      for (let i = 0; i < index.rows; i++) check.index('scatterAdd', I[i]!, i, m);
      for (let i = 0; i < index.rows; i++) {
        const base = I[i]! * n;
        const from = i * n;
        for (let j = 0; j < n; j++) o[base + j]! += X[from + j]!;
      }
    },
    fill(out, value): void {
      own(out).fill(value);
    },
    copy(out, x): void {
      check.same('copy', out, x);
      own(out).set(own(x));
    },
    uniform(out, position): void {
      fillUniforms(own(out), position.k0, position.k1, position.stream, position.offset);
    },
  };
}

/** The js backend in the backend table: no modes, and it always starts (it needs nothing but JavaScript). */
export const family: BackendFamily<JsBackendOptions> = {
  name: 'js',
  package: '@rbmjs/backend-js',
  summary: 'plain TypeScript, float32, blocked GEMM; runs everywhere',
  modes: [],
  autoModes: () => [],
  create: async (_mode, options) => createJsBackend(options),
  install: () => 'npm i @rbmjs/backend-js',
};

/** The factory for `resolveBackend`. */
export const jsBackend: BackendFactory<JsBackendOptions> = familyFactory(family);
