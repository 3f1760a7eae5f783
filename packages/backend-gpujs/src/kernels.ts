import type { BinaryOp, UnaryOp } from '@rbmjs/core/backend';

/**
 * Kernel sources, generated per shape. gpu.js parses a kernel's JavaScript and compiles it to GLSL, WGSL,
 * WebAssembly or plain JS; each kernel computes one output cell, at row `this.thread.y`, column
 * `this.thread.x`. Tensors are [rows, cols] arrays indexed `t[row][col]`.
 *
 * Loop bounds are literals written into the source: gpu.js silently caps loops whose bound is a kernel
 * argument at `loopMaxIterations` (1000), so a 1500-term sum would stop at 1000.
 */

/** How the second operand of a binary op is broadcast against the [m, n] first one. */
export type Broadcast = 'full' | 'row' | 'col' | 'scalar';

const ROW = 'this.thread.y';
const COL = 'this.thread.x';

/** out[i][j] = alpha * sum_k op(a)[i][k] op(b)[k][j] (+ beta * c[i][j]); inner dimension `inner`. */
export function matMulSource(inner: number, transposeA: boolean, transposeB: boolean, accumulate: boolean): string {
  const aik = transposeA ? `a[k][${ROW}]` : `a[${ROW}][k]`;
  const bkj = transposeB ? `b[${COL}][k]` : `b[k][${COL}]`;
  const args = accumulate ? 'a, b, c, alpha, beta' : 'a, b, alpha';
  const tail = accumulate ? ` + beta * c[${ROW}][${COL}]` : '';
  return `function (${args}) {
  let s = 0.0;
  for (let k = 0; k < ${inner}; k++) {
    s += ${aik} * ${bkj};
  }
  return alpha * s${tail};
}`;
}

function broadcastRead(name: string, broadcast: Broadcast): string {
  switch (broadcast) {
    case 'full':
      return `${name}[${ROW}][${COL}]`;
    case 'row':
      return `${name}[0][${COL}]`;
    case 'col':
      return `${name}[${ROW}][0]`;
    case 'scalar':
      return `${name}[0][0]`;
  }
}

const BINARY: Record<BinaryOp, string> = { add: '+', sub: '-', mul: '*' };

export function binarySource(op: BinaryOp, broadcast: Broadcast): string {
  return `function (a, b) {
  return a[${ROW}][${COL}] ${BINARY[op]} ${broadcastRead('b', broadcast)};
}`;
}

export const axpbySource = `function (x, y, alpha, beta) {
  return alpha * x[${ROW}][${COL}] + beta * y[${ROW}][${COL}];
}`;

/**
 * Elementwise functions, written to be accurate on every target:
 * - sigmoid(x) = 1 / (1 + e^-x) for x >= 0 and e^x / (1 + e^x) otherwise (no overflow to NaN);
 * - softplus(x) = max(x, 0) + log1p(e^-|x|). log1p(y) for y <= 1/2 is the series
 *   2 atanh(z) = 2 (z + z^3/3 + z^5/5 + ...), z = y / (2 + y) <= 1/5, to z^11 (truncation < 1e-9
 *   relative), accurate where log(1 + y) loses the digits of a small y. (Kahan's log(u) * y / (u - 1)
 *   is not: shader compilers fold (1 + y) - 1 into y, as WebGPU's did.)
 */
const UNARY: Record<UnaryOp, string> = {
  sigmoid: `if (x >= 0.0) {
    return 1.0 / (1.0 + Math.exp(-x));
  }
  const e = Math.exp(x);
  return e / (1.0 + e);`,
  softplus: `const y = Math.exp(-Math.abs(x));
  let l = 0.0;
  if (y > 0.5) {
    l = Math.log(1.0 + y);
  } else {
    const z = y / (2.0 + y);
    const z2 = z * z;
    l = 2.0 * z * (1.0 + z2 * (1.0 / 3.0 + z2 * (1.0 / 5.0 + z2 * (1.0 / 7.0 + z2 * (1.0 / 9.0 + z2 / 11.0)))));
  }
  return Math.max(x, 0.0) + l;`,
  exp: 'return Math.exp(x);',
  log: 'return Math.log(x);',
  square: 'return x * x;',
  sign: `if (x > 0.0) {
    return 1.0;
  }
  if (x < 0.0) {
    return -1.0;
  }
  return 0.0;`,
  neg: 'return -x;',
};

export function unarySource(op: UnaryOp): string {
  return `function (t) {
  const x = t[${ROW}][${COL}];
  ${UNARY[op]}
}`;
}

export const bernoulliSource = `function (p, u) {
  if (u[${ROW}][${COL}] < p[${ROW}][${COL}]) {
    return 1.0;
  }
  return 0.0;
}`;

/** Reads element `k` along the reduced axis of x (axis 0: down a column, axis 1: along a row). */
function along(axis: 0 | 1, k: string): string {
  return axis === 0 ? `x[${k}][${COL}]` : `x[${ROW}][${k}]`;
}

/** Sum over `length` elements along `axis`. */
export function sumSource(axis: 0 | 1, length: number): string {
  return `function (x) {
  let s = 0.0;
  for (let k = 0; k < ${length}; k++) {
    s += ${along(axis, 'k')};
  }
  return s;
}`;
}

/**
 * log sum exp along `axis`, shifted by the maximum m when it is finite. All -Infinity gives -Infinity
 * explicitly: GLSL and WGSL leave log(0) undefined (Chromium's SwiftShader returns -88.03, log of the
 * smallest normal float; the conformance suite run in the browser caught it).
 */
export function logSumExpSource(axis: 0 | 1, length: number): string {
  return `function (x) {
  let m = ${along(axis, '0')};
  for (let k = 1; k < ${length}; k++) {
    m = Math.max(m, ${along(axis, 'k')});
  }
  if (m < -3.4e38) {
    return m;
  }
  let shift = 0.0;
  if (m < 3.4e38) {
    shift = m;
  }
  let s = 0.0;
  for (let k = 0; k < ${length}; k++) {
    s += Math.exp(${along(axis, 'k')} - shift);
  }
  return Math.log(s) + shift;
}`;
}

/** out[i][j] = x[index[i][0]][j]: x's rows named by an index column. */
export const gatherSource = `function (x, index) {
  return x[index[${ROW}][0]][${COL}];
}`;

/**
 * out[r][j] = o[r][j] + sum over i < `length` with index[i][0] = r of x[i][j]. A kernel computes one cell
 * and has no atomics, so each cell scans the whole index: m n k work where a scatter is k n (fine for the
 * conformance suite's sizes and a browser's small batches; large sparse work belongs on onnxruntime or tfjs).
 */
export function scatterAddSource(length: number): string {
  return `function (o, index, x) {
  let s = o[${ROW}][${COL}];
  for (let i = 0; i < ${length}; i++) {
    if (index[i][0] === ${ROW}) {
      s += x[i][${COL}];
    }
  }
  return s;
}`;
}

export const fillSource = `function (value) {
  return value;
}`;

export const copySource = `function (x) {
  return x[${ROW}][${COL}];
}`;
