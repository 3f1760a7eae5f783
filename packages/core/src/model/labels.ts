import { constant, memo, type Scope, withScope } from '../backend/scope.js';
import { fused } from '../backend/trace.js';
import type { Backend, HostArray, Tensor } from '../backend/types.js';
import { checkMemory, float32Bytes } from '../budget.js';
import type { Dataset } from '../data/dataset.js';
import { assertFinite, assertUnitInterval } from '../data/dataset.js';
import { type DataSource, datasetSource, isDataSource } from '../data/source.js';
import { ArgumentError, DataError, ShapeError, TooLargeError } from '../errors.js';

import { asDataset, type RBM, type RbmParameters } from './rbm.js';
import type { SoftmaxUnits } from './units.js';

/**
 * The classification RBM (Larochelle & Bengio, "Classification using discriminative restricted Boltzmann
 * machines", ICML 2008): an RBM over inputs x and a label y, y one-hot in the last softmax group of the
 * visible layer (the label weights U are that group's rows of W, the label biases d its visible biases).
 * The free energy with the label set to class k is
 *
 *   -F(x, e_k) = a.x + d_k + sum_j softplus(o_kj),   o_kj = b_j + (x W)_j + U_kj,
 *
 * so p(y = k | x) = exp(-F(x, e_k)) / sum_l exp(-F(x, e_l)) is exact (the a.x term cancels), and so is the
 * gradient of log p(y | x) (their equation 5): with H_k = sigmoid(o_k) and q_k = 1[y = k] - p(k | x),
 *
 *   d/db = sum_k q_k H_k,   d/dW_x = x^T sum_k q_k H_k,   d/dU_k = q_k H_k,   d/dd_k = q_k,   d/da_x = 0.
 */

/** The label group's layout in a model: where the labels start and how many classes there are. */
export interface LabelLayout {
  readonly numInputs: number;
  readonly numClasses: number;
}

/** The label group of a model: its last softmax group. */
export function labelLayout(model: RBM | RbmParameters): LabelLayout {
  const groups = model.softmaxGroups;
  if (!groups || groups.length === 0) {
    throw new ArgumentError(
      'a classification RBM needs a softmax label group: visible units softmax, the last group the labels',
    );
  }
  const numClasses = groups.at(-1)!;
  return { numInputs: model.numVisible - numClasses, numClasses };
}

/** Checks labels: integers in [0, classes), as many as `rows` (when given). Errors name `what` and the row. */
/** The most classes a classification RBM may have: a label layer beyond it is a stray label, not a design. */
export const MAX_CLASSES = 2 ** 16;

/** Classes must be a whole number in 2..MAX_CLASSES. */
export function checkClassCount(classes: number, what = 'classes'): void {
  if (!Number.isInteger(classes) || classes < 2)
    throw new ArgumentError(`${what} must be a whole number >= 2, got ${JSON.stringify(classes) ?? String(classes)}`);
  if (classes > MAX_CLASSES)
    throw new TooLargeError(`${what}: ${classes} classes, more than the ${MAX_CLASSES} a classification RBM may have`);
}

export function checkLabels(labels: ArrayLike<number>, classes: number, rows?: number, what = 'labels'): Int32Array {
  checkClassCount(classes);
  if (rows !== undefined && labels.length !== rows)
    throw new ShapeError(`${what}: ${labels.length} labels for ${rows} examples`);
  const out = new Int32Array(labels.length);
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i]!;
    if (!Number.isInteger(y) || y < 0 || y >= classes) {
      throw new DataError(`${what}: label ${y} at row ${i} is not a class in 0..${classes - 1} (${classes} classes)`, {
        row: i,
        value: y,
      });
    }
    out[i] = y;
  }
  return out;
}

/** Rows [x, e_y]: the inputs with the one-hot label appended (the classification RBM's visible layer). */
export function jointRows(x: Dataset, labels: ArrayLike<number>, classes: number): Dataset {
  checkClassCount(classes);
  checkMemory(
    `jointRows: ${x.rows} rows x (${x.cols} inputs + ${classes} classes)`,
    float32Bytes(x.rows * (x.cols + classes)),
    'float32',
  );
  const y = checkLabels(labels, classes, x.rows);
  const nv = x.cols + classes;
  const out = new Float32Array(x.rows * nv);
  for (let r = 0; r < x.rows; r++) {
    out.set(x.data.subarray(r * x.cols, (r + 1) * x.cols), r * nv);
    out[r * nv + x.cols + y[r]!] = 1;
  }
  return { data: out, rows: x.rows, cols: nv, ...(x.source !== undefined ? { source: x.source } : {}) };
}

/** A source of rows [x, e_y] from a source of inputs and their labels (read batch by batch, nothing copied). */
export function labelledSource(inputs: Dataset | DataSource, labels: ArrayLike<number>, classes: number): DataSource {
  checkClassCount(classes);
  const src = isDataSource(inputs) ? inputs : datasetSource(inputs);
  const y = checkLabels(labels, classes, src.rows, src.source ? `labels of ${src.source}` : 'labels');
  const cols = src.cols + classes;
  let buf = new Float32Array(0);
  return {
    rows: src.rows,
    cols,
    ...(src.source !== undefined ? { source: src.source } : {}),
    async readRows(indices, out) {
      const n = indices.length;
      if (buf.length < n * src.cols) buf = new Float32Array(n * src.cols);
      const view = buf.subarray(0, n * src.cols);
      await src.readRows(indices, view);
      out.fill(0, 0, n * cols);
      for (let r = 0; r < n; r++) {
        out.set(view.subarray(r * src.cols, (r + 1) * src.cols), r * cols);
        out[r * cols + src.cols + y[indices[r]!]!] = 1;
      }
    },
    ...(src.close ? { close: () => src.close!() } : {}),
    ...(src.locate ? { locate: (row: number, column: number) => src.locate!(row, column) } : {}),
  };
}

/**
 * Device-level class scores of a classification RBM: log p(y | x) for a batch, and the exact gradient of
 * its mean. Scratch tensors come from `scope`, one set per batch size; constants are built once.
 *
 * The label weights U [C, nh] are read out of W once per call (one product with the label rows' selection),
 * and their gradient goes back into gW with one product beside x^T D, so that no pass over W is made per
 * class. Small batches (an online step) score all C x B (class, example) pairs as the rows of one tensor,
 * row k B + b, so that a step is a fixed couple of dozen ops whatever C is; large batches loop over the
 * classes, each op then large enough to pay for itself.
 */
export class LabelScorer {
  readonly model: RBM;
  readonly layout: LabelLayout;
  private readonly backend: Backend;
  private readonly scope: Scope;
  private readonly units: SoftmaxUnits;
  private readonly group: number;
  /** 1 on the input units, 0 on the labels [1, nv]. */
  private readonly inputMask: Tensor;
  /** The label units' selection [C, nv]: row k is e_{n_x + k}, so U = labelRows W. */
  private readonly labelRows: Tensor;
  /** e_k as rows [1, C]. */
  private readonly classRows: Tensor[];
  private readonly scratch = new Map<string, Tensor>();

  constructor(model: RBM, scope: Scope) {
    this.layout = labelLayout(model);
    this.model = model;
    this.backend = model.backend;
    this.scope = scope;
    this.units = model.units as SoftmaxUnits;
    this.group = this.units.groups.length - 1;
    const { numInputs: nx, numClasses: C } = this.layout;
    const nv = model.numVisible;
    const mask = new Float32Array(nv);
    mask.fill(1, 0, nx);
    this.inputMask = this.constant(1, nv, mask);
    const sel = new Float32Array(C * nv);
    for (let k = 0; k < C; k++) sel[k * nv + nx + k] = 1;
    this.labelRows = this.constant(C, nv, sel);
    this.classRows = [];
    for (let k = 0; k < C; k++) {
      const c = new Float32Array(C);
      c[k] = 1;
      this.classRows.push(this.constant(1, C, c));
    }
  }

  /** A scope tensor of `data` that is never written again, declared so to the backend. */
  private constant(rows: number, cols: number, data: Float32Array): Tensor {
    return constant(this.backend, this.scope.tensor(rows, cols, data));
  }

  private t(rows: number, cols: number, slot: string): Tensor {
    return memo(this.scratch, `${slot}:${rows}x${cols}`, () => this.scope.tensor(rows, cols));
  }

  /**
   * How a batch of B rows is scored. `joint`: one example (an online step), its C joint rows [x, e_k] in
   * one product. `stacked`: all C B (class, example) pairs as rows k B + b; stacking costs two products of
   * C B (B + C) nh (tiling the examples, repeating the classes), which pays while it stays well below the
   * B n_v nh of x W, that is while C (B + C) <= n_v / 2 (B up to 29 at 784 inputs and 10 classes).
   * `loop`: one class at a time, each op then large enough to pay for itself.
   */
  private mode(B: number): 'joint' | 'stacked' | 'loop' {
    const C = this.layout.numClasses;
    return B === 1 ? 'joint' : C * (B + C) <= this.model.numVisible / 2 ? 'stacked' : 'loop';
  }

  /** The stacking constants for B rows: tile [C B, B] (row k B + b is e_b) and repeat [C B, C] (e_k). */
  private stacking(B: number): { tile: Tensor; repeat: Tensor } {
    const C = this.layout.numClasses;
    const make = (slot: string, cols: number, at: (k: number, b: number) => number) =>
      memo(this.scratch, `${slot}:${B}`, () => {
        const data = new Float32Array(C * B * cols);
        for (let k = 0; k < C; k++) for (let b = 0; b < B; b++) data[(k * B + b) * cols + at(k, b)] = 1;
        return this.constant(C * B, cols, data);
      });
    return { tile: make('tile', B, (_k, b) => b), repeat: make('repeat', C, (k) => k) };
  }

  /** The constant 1 [1, 1]: a product with it transposes a row into a column and back. */
  private one(): Tensor {
    return memo(this.scratch, 'one', () => this.constant(1, 1, Float32Array.of(1)));
  }

  /** The backend, the model, and the sizes a pass over rows `v` works with. */
  private sizes(v: Tensor) {
    const m = this.model;
    return { be: this.backend, m, B: v.rows, nh: m.numHidden, nv: m.numVisible, C: this.layout.numClasses };
  }

  /**
   * out[B, C] = log p(y = k | x) for rows v [B, nv] (their label units are ignored). Keeps the
   * pre-activations o_k for {@link addGradient} on the same v.
   */
  logProbabilities(out: Tensor, v: Tensor): void {
    const { be, m, B, nh, nv, C } = this.sizes(v);
    const mode = this.mode(B);
    const x = this.t(B, nv, 'x');
    be.binary('mul', x, v, this.inputMask);
    if (mode === 'joint') {
      // P[k] = o + U_k: the pre-activations of the joint rows X = [x, e_k] (row k), which the gradient
      // reuses; out = (sum_j softplus(P[k, j]))^T.
      const X = this.t(C, nv, 'X');
      const o = this.t(1, nh, 'o');
      const P = this.t(C, nh, 'P');
      const sp = this.t(C, nh, 'sp');
      const col = this.t(C, 1, 'col');
      be.binary('add', X, this.labelRows, x);
      be.matMul(o, x, m.W);
      be.binary('add', o, o, m.b);
      be.matMul(P, this.labelRows, m.W); // U: a gather of W's label rows where the backend folds constants
      be.binary('add', P, P, o);
      be.unary('softplus', sp, P);
      be.sum(col, sp, 1);
      be.matMul(out, this.one(), col, { transposeB: true });
    } else {
      const o = this.t(B, nh, 'o');
      const U = this.t(C, nh, 'U');
      be.matMul(o, x, m.W);
      be.binary('add', o, o, m.b);
      be.matMul(U, this.labelRows, m.W);
      if (mode === 'stacked') {
        // P[k B + b] = o_b + U_k; out[b, k] = sum_j softplus(P[k B + b, j]).
        const { tile, repeat } = this.stacking(B);
        const P = this.t(C * B, nh, 'P');
        const sp = this.t(C * B, nh, 'sp');
        const col = this.t(C * B, 1, 'col');
        const spread = this.t(C * B, C, 'spread');
        be.matMul(P, tile, o);
        be.matMul(P, repeat, U, { beta: 1 });
        be.unary('softplus', sp, P);
        be.sum(col, sp, 1);
        be.binary('mul', spread, repeat, col);
        be.matMul(out, tile, spread, { transposeA: true });
      } else {
        const u = this.t(1, nh, 'u');
        const sp = this.t(B, nh, 'sp');
        const col = this.t(B, 1, 'col');
        for (let k = 0; k < C; k++) {
          const pre = this.t(B, nh, `o${k}`);
          be.matMul(u, this.classRows[k]!, U); // U_k
          be.binary('add', pre, o, u);
          be.unary('softplus', sp, pre);
          be.sum(col, sp, 1);
          be.matMul(out, col, this.classRows[k]!, { beta: k === 0 ? 0 : 1 });
        }
      }
    }
    // + d_k, then minus log sum_k: log p(k | x).
    const d = this.t(1, C, 'd');
    this.units.gather(d, m.a, this.group);
    be.binary('add', out, out, d);
    const lse = this.t(B, 1, 'lse');
    be.logSumExp(lse, out, 1);
    be.binary('sub', out, out, lse);
  }

  /**
   * Adds weight * d/dtheta mean_b log p(y_b | x_b) to the gradient (gW, ga, gb), for the rows v whose
   * log-probabilities `logp` {@link logProbabilities} just computed. The labels are v's label units: one-hot,
   * or a distribution (then the gradient is that of the cross-entropy against it). With `crossEntropy`
   * [1, 1], also writes there the summed -log p(y_b | x_b) of the rows (from the labels it reads anyway).
   */
  addGradient(
    g: { gW: Tensor; ga: Tensor; gb: Tensor },
    v: Tensor,
    logp: Tensor,
    weight: number,
    crossEntropy?: Tensor,
  ): void {
    const { be, B, nh, nv, C } = this.sizes(v);
    const s = weight / B;
    const mode = this.mode(B);
    const q = this.t(B, C, 'q');
    const y = this.t(B, C, 'y');
    const row = this.t(1, nh, 'row');
    this.units.gather(y, v, this.group);
    if (crossEntropy) {
      const yl = this.t(B, C, 'ylogp');
      const col = this.t(B, 1, 'ce');
      be.binary('mul', yl, y, logp);
      be.sum(col, yl, 1);
      be.sum(crossEntropy, col, 0);
      be.unary('neg', crossEntropy, crossEntropy);
    }
    be.unary('exp', q, logp);
    be.binary('sub', q, y, q);
    if (mode === 'joint') {
      // Row k of P becomes q_k H_k; gW += s X^T P is x^T D + labelRows^T R at once.
      const P = this.t(C, nh, 'P');
      const qcol = this.t(C, 1, 'col');
      be.matMul(qcol, q, this.one(), { transposeA: true });
      be.unary('sigmoid', P, P);
      be.binary('mul', P, P, qcol);
      be.matMul(g.gW, this.t(C, nv, 'X'), P, { transposeA: true, alpha: s, beta: 1 });
      be.sum(row, P, 0);
    } else {
      // D[b] = sum_k q_bk H_bk (the inputs' and hidden biases' gradient), R[k] = sum_b q_bk H_bk (U's).
      const D = this.t(B, nh, 'D');
      const R = this.t(C, nh, 'R');
      if (mode === 'stacked') {
        const { tile, repeat } = this.stacking(B);
        const P = this.t(C * B, nh, 'P');
        const spread = this.t(C * B, C, 'spread');
        const qcol = this.t(C * B, 1, 'col');
        be.matMul(spread, tile, q);
        be.binary('mul', spread, spread, repeat);
        be.sum(qcol, spread, 1); // q_bk at row k B + b
        be.unary('sigmoid', P, P);
        be.binary('mul', P, P, qcol);
        be.matMul(D, tile, P, { transposeA: true });
        be.matMul(R, repeat, P, { transposeA: true });
      } else {
        const qk = this.t(B, 1, 'qk');
        for (let k = 0; k < C; k++) {
          const pre = this.t(B, nh, `o${k}`);
          be.matMul(qk, q, this.classRows[k]!, { transposeB: true });
          be.unary('sigmoid', pre, pre);
          be.binary('mul', pre, pre, qk); // q_k H_k
          if (k === 0) be.copy(D, pre);
          else be.binary('add', D, D, pre);
          be.sum(row, pre, 0);
          be.matMul(R, this.classRows[k]!, row, { transposeA: true, beta: k === 0 ? 0 : 1 });
        }
      }
      // gW += s (x^T D + labelRows^T R): the inputs' rows and the label rows, two products a compiling
      // backend may stack into one.
      be.matMul(g.gW, this.t(B, nv, 'x'), D, { transposeA: true, alpha: s, beta: 1 });
      be.matMul(g.gW, this.labelRows, R, { transposeA: true, alpha: s, beta: 1 });
      be.sum(row, D, 0);
    }
    be.axpby(g.gb, 1, g.gb, s, row);
    const colQ = this.t(1, C, 'colq');
    be.sum(colQ, q, 0);
    this.units.scatter(g.ga, colQ, this.group, s);
  }
}

/** Confusion matrix and summary figures of predictions against labels. */
export interface ClassificationReport {
  readonly examples: number;
  readonly accuracy: number;
  readonly error: number;
  /** Mean -log p(y | x) (nats). */
  readonly crossEntropy: number;
  /** confusion[true][predicted]: counts. */
  readonly confusion: number[][];
}

/** Rows per device batch when scoring: C pre-activation tensors of [rows, nh] are alive at once. */
const SCORE_ROWS = 500;

/**
 * log p(y | x) of every row of `inputs` ([rows, n_x] inputs, or [rows, nv] joint rows whose label units
 * are ignored), in batches, as float64 [rows * C].
 */
export async function classLogProbabilities(model: RBM, inputs: Dataset | HostArray): Promise<Float64Array> {
  const { numInputs: nx, numClasses: C } = labelLayout(model);
  const nv = model.numVisible;
  const ds = inputsOf(inputs, nx, nv);
  const out = new Float64Array(ds.rows * C);
  await withScope(model.backend, async (scope) => {
    const scorer = new LabelScorer(model, scope);
    const rows = Math.min(SCORE_ROWS, ds.rows);
    const host = new Float32Array(rows * nv);
    const v = scope.tensor(rows, nv);
    const lp = scope.tensor(rows, C);
    for (let start = 0; start < ds.rows; start += rows) {
      const n = Math.min(rows, ds.rows - start);
      host.fill(0);
      for (let r = 0; r < n; r++) {
        const src = (start + r) * ds.cols;
        host.set(ds.data.subarray(src, src + nx), r * nv);
      }
      model.backend.write(v, host);
      fused(model.backend, 'classify', () => scorer.logProbabilities(lp, v));
      const got = await model.backend.read(lp);
      for (let i = 0; i < n * C; i++) out[start * C + i] = got[i]!;
    }
  });
  return out;
}

/** Inputs as a Dataset of n_x or nv columns, checked: finite, in [0, 1]. */
function inputsOf(inputs: Dataset | HostArray, nx: number, nv: number): Dataset {
  let ds: Dataset;
  const cols = ArrayBuffer.isView(inputs) ? nx : (inputs as Dataset).cols;
  if (cols !== nx && cols !== nv)
    throw new ShapeError(`inputs have ${cols} columns; the classifier takes ${nx} (or ${nv} with the label units)`);
  ds = asDataset(inputs, cols, 'classifier inputs');
  assertFinite(ds);
  if (cols === nx) assertUnitInterval(ds);
  else {
    // Joint rows: only the inputs are read; check those.
    const x = new Float32Array(ds.rows * nx);
    for (let r = 0; r < ds.rows; r++) x.set(ds.data.subarray(r * nv, r * nv + nx), r * nx);
    assertUnitInterval({ data: x, rows: ds.rows, cols: nx });
  }
  return ds;
}

/** The most probable class of each row (the first on ties). */
export function argmaxRows(logp: ArrayLike<number>, classes: number): Int32Array {
  const rows = logp.length / classes;
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let k = 1; k < classes; k++) if (logp[r * classes + k]! > logp[r * classes + best]!) best = k;
    out[r] = best;
  }
  return out;
}

/** Accuracy, error, cross-entropy and the confusion matrix of log-probabilities against labels. */
export function classificationReport(
  logp: ArrayLike<number>,
  labels: ArrayLike<number>,
  classes: number,
): ClassificationReport {
  const y = checkLabels(labels, classes, logp.length / classes);
  const predicted = argmaxRows(logp, classes);
  const confusion = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  let right = 0;
  let nll = 0;
  for (let r = 0; r < y.length; r++) {
    confusion[y[r]!]![predicted[r]!]!++;
    if (predicted[r] === y[r]) right++;
    nll -= logp[r * classes + y[r]!]!;
  }
  const n = y.length;
  return { examples: n, accuracy: right / n, error: 1 - right / n, crossEntropy: nll / n, confusion };
}

/** The label of each joint row: the argmax of its label group. */
export function labelsOfRows(rows: Dataset, classes: number): Int32Array {
  const out = new Int32Array(rows.rows);
  const nx = rows.cols - classes;
  for (let r = 0; r < rows.rows; r++) {
    let best = 0;
    for (let k = 1; k < classes; k++)
      if (rows.data[r * rows.cols + nx + k]! > rows.data[r * rows.cols + nx + best]!) best = k;
    out[r] = best;
  }
  return out;
}
