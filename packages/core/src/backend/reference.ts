import { fillUniforms } from '../random/philox.js';
import { HostTensor, hostStorage, ownHostTensor } from './host.js';
import { sigmoid, softplus } from './scalar.js';
import type { BackendFamily } from './table.js';
import { BACKEND_API_VERSION, type Backend, type MatMulOptions, type Tensor, type UnaryOp } from './types.js';
import { check } from './validate.js';

/**
 * The executable specification of the backend interface: float64, naive loops, written to be obviously
 * right rather than fast. It is what the conformance suite compares every backend with, and what the
 * core's own tests run on. It is not meant for training real models.
 */

class RefTensor extends HostTensor<Float64Array> {}

export function applyUnary(op: UnaryOp, x: number): number {
  switch (op) {
    case 'sigmoid':
      return sigmoid(x);
    case 'softplus':
      return softplus(x);
    case 'exp':
      return Math.exp(x);
    case 'log':
      return Math.log(x);
    case 'square':
      return x * x;
    case 'sign':
      return x > 0 ? 1 : x < 0 ? -1 : 0;
    case 'neg':
      return -x;
  }
}

function own(t: Tensor): RefTensor {
  return ownHostTensor(t, RefTensor, 'reference');
}

export function createReferenceBackend(): Backend {
  return {
    apiVersion: BACKEND_API_VERSION,
    name: 'reference',
    precision: 'float64',
    randomness: 'philox',
    details: { note: 'float64 executable specification; slow' },

    ...hostStorage('reference', RefTensor, Float64Array),

    matMul(out: Tensor, a: Tensor, b: Tensor, options: MatMulOptions = {}): void {
      const { m, k, n } = check.matMul(out, a, b, options);
      const A = own(a).data;
      const B = own(b).data;
      const C = own(out).data;
      const alpha = options.alpha ?? 1;
      const beta = options.beta ?? 0;
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let p = 0; p < k; p++) {
            const aip = options.transposeA ? A[p * a.cols + i]! : A[i * a.cols + p]!;
            const bpj = options.transposeB ? B[j * b.cols + p]! : B[p * b.cols + j]!;
            s += aip * bpj;
          }
          C[i * n + j] = alpha * s + (beta === 0 ? 0 : beta * C[i * n + j]!);
        }
      }
    },
    binary(op, out, a, b): void {
      const kind = check.binary(out, a, b);
      const A = own(a).data;
      const B = own(b).data;
      const O = own(out).data;
      for (let i = 0; i < a.rows; i++) {
        for (let j = 0; j < a.cols; j++) {
          const x = A[i * a.cols + j]!;
          const y = kind === 'full' ? B[i * a.cols + j]! : kind === 'row' ? B[j]! : kind === 'column' ? B[i]! : B[0]!;
          O[i * a.cols + j] = op === 'add' ? x + y : op === 'sub' ? x - y : x * y;
        }
      }
    },
    axpby(out, alpha, x, beta, y): void {
      check.same('axpby', out, x, y);
      const X = own(x).data;
      const Y = own(y).data;
      const O = own(out).data;
      for (let i = 0; i < O.length; i++) O[i] = alpha * X[i]! + beta * Y[i]!;
    },
    unary(op, out, x): void {
      check.same(`unary ${op}`, out, x);
      const X = own(x).data;
      const O = own(out).data;
      for (let i = 0; i < O.length; i++) O[i] = applyUnary(op, X[i]!);
    },
    bernoulli(out, p, u): void {
      check.same('bernoulli', out, p, u);
      const P = own(p).data;
      const U = own(u).data;
      const O = own(out).data;
      for (let i = 0; i < O.length; i++) O[i] = U[i]! < P[i]! ? 1 : 0;
    },
    sum(out, x, axis): void {
      check.reduce('sum', out, x, axis);
      const X = own(x).data;
      const O = own(out).data;
      O.fill(0);
      for (let i = 0; i < x.rows; i++) {
        for (let j = 0; j < x.cols; j++) O[axis === 0 ? j : i]! += X[i * x.cols + j]!;
      }
    },
    logSumExp(out, x, axis): void {
      check.reduce('logSumExp', out, x, axis);
      const X = own(x).data;
      const O = own(out).data;
      const outer = axis === 0 ? x.cols : x.rows;
      const inner = axis === 0 ? x.rows : x.cols;
      const at = (o: number, i: number) => (axis === 0 ? X[i * x.cols + o]! : X[o * x.cols + i]!);
      for (let o = 0; o < outer; o++) {
        let max = Number.NEGATIVE_INFINITY;
        for (let i = 0; i < inner; i++) max = Math.max(max, at(o, i));
        if (max === Number.NEGATIVE_INFINITY || !Number.isFinite(max)) {
          O[o] = max;
          continue;
        }
        let s = 0;
        for (let i = 0; i < inner; i++) s += Math.exp(at(o, i) - max);
        O[o] = max + Math.log(s);
      }
    },
    gather(out, x, index): void {
      const m = check.indexed('gather', x, out, index);
      const X = own(x).data;
      const I = own(index).data;
      const O = own(out).data;
      const n = x.cols;
      for (let i = 0; i < index.rows; i++) check.index('gather', I[i]!, i, m);
      for (let i = 0; i < index.rows; i++) {
        const r = I[i]!;
        for (let j = 0; j < n; j++) O[i * n + j] = X[r * n + j]!;
      }
    },
    scatterAdd(out, index, x): void {
      const m = check.indexed('scatterAdd', out, x, index);
      const X = own(x).data;
      const I = own(index).data;
      const O = own(out).data;
      const n = x.cols;
      for (let i = 0; i < index.rows; i++) check.index('scatterAdd', I[i]!, i, m);
      for (let i = 0; i < index.rows; i++) {
        const r = I[i]!;
        for (let j = 0; j < n; j++) O[r * n + j]! += X[i * n + j]!;
      }
    },
    fill(out, value): void {
      own(out).data.fill(value);
    },
    copy(out, x): void {
      check.same('copy', out, x);
      own(out).data.set(own(x).data);
    },
    uniform(out, position): void {
      fillUniforms(own(out).data, position.k0, position.k1, position.stream, position.offset);
    },
  };
}

/** The reference backend in the backend table (`--backend reference`; never chosen by `auto`: it is slow). */
export const referenceFamily: BackendFamily = {
  name: 'reference',
  package: '@rbmjs/core',
  summary: 'float64 TypeScript, the ground truth of the conformance suite',
  modes: [],
  autoModes: () => [],
  create: async () => createReferenceBackend(),
  install: () => 'part of @rbmjs/core',
};
