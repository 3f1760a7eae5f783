import { logSumExp, softplus } from '../backend/scalar.js';
import { constant } from '../backend/scope.js';
import type { Backend, Tensor } from '../backend/types.js';
import { DataError } from '../errors.js';
import type { DeviceRandom } from '../random/device.js';

/**
 * Visible-unit types. Each owns what differs between them: the conditional p(v | h) (at an inverse
 * temperature beta, for tempering and annealing), how v is sampled, how v enters the hidden units' input,
 * and the visible term of the energy. The model, the trainer, tempering, AIS and exact evaluation call
 * these instead of branching on the type; a new type (softmax groups, ...) is one more object here.
 *
 * Energies, with x = h W^T + a the visible units' input from the hidden layer:
 *   bernoulli: E(v, h) = -a.v - b.h - v W h,                      p(v_i = 1 | h) = sigmoid(x_i)
 *   gaussian:  E(v, h) = sum_i (v_i - a_i)^2 / (2 sigma_i^2) - b.h - (v / sigma^2) W h,
 *              p(v_i | h) = N(x_i, sigma_i^2)   (Cho, Ilin & Raiko 2011, with z = log sigma^2)
 *   softmax:   the energy of bernoulli units, but the last units form one-hot groups G (a label layer is one
 *              group; categorical data are several): p(v_G = e_k | h) = exp(x_k) / sum_{l in G} exp(x_l),
 *              the other units Bernoulli as above (Salakhutdinov, Mnih & Hinton 2007; Larochelle & Bengio 2008)
 */

/** The names of the visible-unit types, as model files store them. */
export type VisibleUnits = 'bernoulli' | 'gaussian' | 'softmax';

/** The parameters a unit type reads: the visible bias and, for Gaussian units, exp(-z) and exp(z / 2). */
export interface VisibleParameters {
  readonly backend: Backend;
  /** Visible bias a [1, nv]. */
  readonly a: Tensor;
  readonly precision: Tensor | undefined;
  readonly sigma: Tensor | undefined;
  /** A scratch tensor owned by the model, reused per (rows, cols, slot). */
  scratchTensor(rows: number, cols: number, slot: string): Tensor;
}

export interface VisibleUnitType {
  readonly name: VisibleUnits;
  /** Whether states are 0/1 (data in [0, 1], chains binary), or real values. */
  readonly binary: boolean;
  /**
   * In place: `x` holds the input h W^T + a; leaves E[v | h] under p_beta(v, h) ∝ exp(-beta E(v, h)).
   * Bernoulli: sigmoid(beta x). Gaussian: x (only the variance is tempered, see {@link sample}).
   */
  conditionalMean(p: VisibleParameters, x: Tensor, beta: number): void;
  /** out ~ p_beta(v | h) given its mean; `noise` is scratch of out's shape. */
  sample(p: VisibleParameters, out: Tensor, mean: Tensor, random: DeviceRandom, noise: Tensor, beta: number): void;
  /** v as the hidden units see it: v (Bernoulli) or v / sigma^2 (Gaussian). */
  scaled(p: VisibleParameters, v: Tensor): Tensor;
  /**
   * In place on a [1, nv] difference of visible means (data minus model): the gradient of the visible bias.
   * Bernoulli: as it is. Gaussian: divided by sigma^2, since -dE/da_i = (v_i - a_i) / sigma_i^2.
   */
  scaleBiasGradient(p: VisibleParameters, g: Tensor): void;
  /** out[B, 1] += the visible term of -E(v, h): a.v, or -sum_i (v_i - a_i)^2 / (2 sigma_i^2). */
  addVisibleTerm(p: VisibleParameters, out: Tensor, v: Tensor): void;
  /**
   * out[B, 1] = log sum_v exp(-E(v, h)) - b.h: the visible layer summed (integrated) out, given x = h W^T in
   * `x` [B, nv] (overwritten). Bernoulli: sum_i softplus(a_i + x_i). Gaussian: sum_i ((x_i + a_i)^2 - a_i^2)
   * / (2 sigma_i^2), its constant sum_i log(2 pi sigma_i^2) / 2 left to {@link logPartitionConstant}.
   */
  logSumOverVisible(p: VisibleParameters, out: Tensor, x: Tensor): void;
  /** The constant the device computation leaves out, from the log variances z (Gaussian) or 0. */
  logPartitionConstant(z: ArrayLike<number> | undefined): number;
  /**
   * Binary units, on the host in float64: log sum_v exp(a.v) for visible biases `a` (the log partition
   * function of the visible layer alone, AIS's base model), and the biases of the model that matches the
   * data's column means (smoothed: p = (sum + 1) / (N + 2), or (sum + 1) / (N + K) in a group of K).
   */
  baseLogPartition?(a: ArrayLike<number>): number;
  baseBiases?(means: ArrayLike<number>, rows: number): Float32Array;
  /** Checks rows beyond [0, 1] (softmax groups must sum to 1); `row(r)` names row r of the data set. */
  checkRows?(values: ArrayLike<number>, rows: number, row: (r: number) => number, source?: string): void;
  /** Frees what the type holds on the device (softmax: its constant selection matrices). */
  dispose?(): void;
}

function logit(p: number): number {
  return Math.log(p / (1 - p));
}

export const bernoulliUnits: VisibleUnitType = {
  name: 'bernoulli',
  binary: true,
  conditionalMean(p, x, beta) {
    if (beta !== 1) p.backend.axpby(x, beta, x, 0, x);
    p.backend.unary('sigmoid', x, x);
  },
  sample(p, out, mean, random, noise) {
    random.uniform(noise);
    p.backend.bernoulli(out, mean, noise);
  },
  scaled(_p, v) {
    return v;
  },
  scaleBiasGradient() {},
  addVisibleTerm(p, out, v) {
    p.backend.matMul(out, v, p.a, { transposeB: true, beta: 1 });
  },
  logSumOverVisible(p, out, x) {
    const be = p.backend;
    be.binary('add', x, x, p.a);
    be.unary('softplus', x, x);
    be.sum(out, x, 1);
  },
  logPartitionConstant() {
    return 0;
  },
  baseLogPartition(a) {
    let s = 0;
    for (let i = 0; i < a.length; i++) s += softplus(a[i]!);
    return s;
  },
  baseBiases(means, rows) {
    return Float32Array.from(means, (m) => logit((m * rows + 1) / (rows + 2)));
  },
};

export const gaussianUnits: VisibleUnitType = {
  name: 'gaussian',
  binary: false,
  conditionalMean() {
    // The mean x does not depend on beta.
  },
  sample(p, out, mean, random, noise, beta) {
    // mean + sigma / sqrt(beta) * N(0, 1)
    const be = p.backend;
    random.normal(noise);
    be.binary('mul', noise, noise, p.sigma!);
    if (beta !== 1) be.axpby(noise, 1 / Math.sqrt(beta), noise, 0, noise);
    be.binary('add', out, mean, noise);
  },
  scaled(p, v) {
    const out = p.scratchTensor(v.rows, v.cols, 'scaled');
    p.backend.binary('mul', out, v, p.precision!);
    return out;
  },
  scaleBiasGradient(p, g) {
    p.backend.binary('mul', g, g, p.precision!);
  },
  addVisibleTerm(p, out, v) {
    const be = p.backend;
    const d = p.scratchTensor(v.rows, v.cols, 'quadratic');
    const q = p.scratchTensor(v.rows, 1, 'quadratic-sum');
    be.binary('sub', d, v, p.a);
    be.unary('square', d, d);
    be.binary('mul', d, d, p.precision!);
    be.sum(q, d, 1);
    be.axpby(out, 1, out, -0.5, q);
  },
  logSumOverVisible(p, out, x) {
    // (x + a)^2 - a^2 = x (x + 2a)
    const be = p.backend;
    const y = p.scratchTensor(x.rows, x.cols, 'marginal');
    be.binary('add', y, x, p.a);
    be.binary('add', y, y, p.a);
    be.binary('mul', x, x, y);
    be.binary('mul', x, x, p.precision!);
    be.sum(out, x, 1);
    be.axpby(out, 0.5, out, 0, out);
  },
  logPartitionConstant(z) {
    if (!z) return 0;
    let c = 0;
    for (let i = 0; i < z.length; i++) c += 0.5 * (Math.log(2 * Math.PI) + z[i]!);
    return c;
  },
};

/** The Bernoulli and Gaussian types (softmax groups are per model: {@link SoftmaxUnits}). */
export function visibleUnitType(name: 'bernoulli' | 'gaussian'): VisibleUnitType {
  return name === 'gaussian' ? gaussianUnits : bernoulliUnits;
}

/** Where each softmax group starts, given the group sizes that end a layer of `numVisible` units. */
export function groupStarts(numVisible: number, groups: readonly number[]): number[] {
  let start = numVisible;
  for (const k of groups) start -= k;
  return groups.map((k) => {
    const s = start;
    start += k;
    return s;
  });
}

/** How far a softmax group's sum may be from 1 (float32 data written from float64 probabilities). */
const GROUP_SUM_TOLERANCE = 1e-4;

/**
 * Bernoulli units followed by softmax (one-hot) groups, with everything per group done by multiplying with
 * constant 0/1 matrices, so that every backend runs it with the interface's ops:
 *   S_g [nv, K]  picks group g's columns (x S_g) and puts them back (y S_g^T);
 *   conditional: p_g = exp(x S_g - logsumexp(x S_g)) (stable: log-sum-exp per row of the group alone);
 *   sampling (one categorical draw per group and row, from the uniform at the group's first column u):
 *     c = p_g C_K (cumulative sums; the last column's weight is 2, so c_K > u even after rounding),
 *     s = [u < c] (0 ... 0 1 ... 1), one-hot = s D_K (s_k - s_{k-1}).
 */
export class SoftmaxUnits implements VisibleUnitType {
  readonly name = 'softmax' as const;
  readonly binary = true;
  readonly numVisible: number;
  /** Group sizes, and where each starts: the groups end the layer; the units before them are Bernoulli. */
  readonly groups: readonly number[];
  readonly starts: readonly number[];
  /** Units before the first group (Bernoulli). */
  readonly numBernoulli: number;
  private readonly backend: Backend;
  private readonly select: Tensor[];
  private readonly cumulative: Tensor[];
  private readonly first: Tensor[];
  private readonly difference = new Map<number, Tensor>();
  private readonly bernoulliMask: Tensor | undefined;

  constructor(backend: Backend, numVisible: number, groups: readonly number[]) {
    this.backend = backend;
    this.numVisible = numVisible;
    this.groups = [...groups];
    this.starts = groupStarts(numVisible, groups);
    this.numBernoulli = this.starts[0] ?? numVisible;
    const nv = numVisible;
    this.select = [];
    this.cumulative = [];
    this.first = [];
    this.groups.forEach((K, g) => {
      const s = this.starts[g]!;
      const sel = new Float32Array(nv * K);
      const cum = new Float32Array(nv * K);
      const first = new Float32Array(nv * K);
      for (let k = 0; k < K; k++) {
        sel[(s + k) * K + k] = 1;
        first[s * K + k] = 1;
        for (let j = 0; j < K; j++) cum[(s + k) * K + j] = j === K - 1 ? 2 : k <= j ? 1 : 0;
      }
      this.select.push(constant(backend, backend.tensor(nv, K, sel)));
      this.cumulative.push(constant(backend, backend.tensor(nv, K, cum)));
      this.first.push(constant(backend, backend.tensor(nv, K, first)));
      if (!this.difference.has(K)) {
        const d = new Float32Array(K * K);
        for (let k = 0; k < K; k++) {
          d[k * K + k] = 1;
          if (k + 1 < K) d[k * K + k + 1] = -1;
        }
        this.difference.set(K, constant(backend, backend.tensor(K, K, d)));
      }
    });
    if (this.numBernoulli > 0) {
      const mask = new Float32Array(nv);
      mask.fill(1, 0, this.numBernoulli);
      this.bernoulliMask = constant(backend, backend.tensor(1, nv, mask));
    }
  }

  /** out[B, K] = group g's columns of x [B, nv]. */
  gather(out: Tensor, x: Tensor, g: number): void {
    this.backend.matMul(out, x, this.select[g]!);
  }

  /** out[B, nv] += alpha y [B, K] in group g's columns. */
  scatter(out: Tensor, y: Tensor, g: number, alpha = 1): void {
    this.backend.matMul(out, y, this.select[g]!, { transposeB: true, alpha, beta: 1 });
  }

  conditionalMean(p: VisibleParameters, x: Tensor, beta: number): void {
    const be = this.backend;
    if (beta !== 1) be.axpby(x, beta, x, 0, x);
    const B = x.rows;
    const parts = this.groups.map((K, g) => {
      const t = p.scratchTensor(B, K, `softmax-p${g}`);
      const l = p.scratchTensor(B, 1, 'softmax-lse');
      this.gather(t, x, g);
      be.logSumExp(l, t, 1);
      be.binary('sub', t, t, l);
      be.unary('exp', t, t);
      return t;
    });
    if (this.bernoulliMask) {
      be.unary('sigmoid', x, x);
      be.binary('mul', x, x, this.bernoulliMask);
    } else be.fill(x, 0);
    parts.forEach((t, g) => {
      this.scatter(x, t, g);
    });
  }

  sample(p: VisibleParameters, out: Tensor, mean: Tensor, random: DeviceRandom, noise: Tensor): void {
    const be = this.backend;
    random.uniform(noise);
    const B = out.rows;
    // Every group reads `mean` and `noise` before `out` is written (out may not alias mean, but be safe).
    const draws = this.groups.map((K, g) => {
      const c = p.scratchTensor(B, K, `softmax-c${g}`);
      const u = p.scratchTensor(B, K, 'softmax-u');
      be.matMul(c, mean, this.cumulative[g]!);
      be.matMul(u, noise, this.first[g]!);
      be.bernoulli(c, c, u);
      const onehot = p.scratchTensor(B, K, `softmax-s${g}`);
      be.matMul(onehot, c, this.difference.get(K)!);
      return onehot;
    });
    if (this.bernoulliMask) {
      be.bernoulli(out, mean, noise);
      be.binary('mul', out, out, this.bernoulliMask);
    } else be.fill(out, 0);
    draws.forEach((t, g) => {
      this.scatter(out, t, g);
    });
  }

  scaled(_p: VisibleParameters, v: Tensor): Tensor {
    return v;
  }

  scaleBiasGradient(): void {}

  addVisibleTerm(p: VisibleParameters, out: Tensor, v: Tensor): void {
    p.backend.matMul(out, v, p.a, { transposeB: true, beta: 1 });
  }

  /** sum over Bernoulli units of softplus(a_i + x_i) + sum over groups of logsumexp_k(a_k + x_k). */
  logSumOverVisible(p: VisibleParameters, out: Tensor, x: Tensor): void {
    const be = this.backend;
    be.binary('add', x, x, p.a);
    const B = x.rows;
    const sums = this.groups.map((K, g) => {
      const t = p.scratchTensor(B, K, `softmax-p${g}`);
      const l = p.scratchTensor(B, 1, `softmax-l${g}`);
      this.gather(t, x, g);
      be.logSumExp(l, t, 1);
      return l;
    });
    if (this.bernoulliMask) {
      be.unary('softplus', x, x);
      be.binary('mul', x, x, this.bernoulliMask);
      be.sum(out, x, 1);
    } else be.fill(out, 0);
    for (const l of sums) be.binary('add', out, out, l);
  }

  logPartitionConstant(): number {
    return 0;
  }

  baseLogPartition(a: ArrayLike<number>): number {
    let s = 0;
    for (let i = 0; i < this.numBernoulli; i++) s += softplus(a[i]!);
    this.groups.forEach((K, g) => {
      const start = this.starts[g]!;
      s += logSumExp(a, start, start + K);
    });
    return s;
  }

  baseBiases(means: ArrayLike<number>, rows: number): Float32Array {
    const out = bernoulliUnits.baseBiases!(means, rows);
    this.groups.forEach((K, g) => {
      const start = this.starts[g]!;
      for (let k = 0; k < K; k++) out[start + k] = Math.log((means[start + k]! * rows + 1) / (rows + K));
    });
    return out;
  }

  checkRows(values: ArrayLike<number>, rows: number, row: (r: number) => number, source?: string): void {
    const nv = this.numVisible;
    for (let r = 0; r < rows; r++) {
      this.groups.forEach((K, g) => {
        const start = this.starts[g]!;
        let s = 0;
        for (let k = 0; k < K; k++) s += values[r * nv + start + k]!;
        if (!(Math.abs(s - 1) <= GROUP_SUM_TOLERANCE)) {
          throw new DataError(
            `row ${row(r)}${source ? ` of ${source}` : ''}: softmax group ${g} (columns ${start}-${start + K - 1}) sums to ${s}, not 1 (one-hot or a distribution)`,
            { row: row(r), column: start, value: s },
          );
        }
      });
    }
  }

  dispose(): void {
    for (const t of [...this.select, ...this.cumulative, ...this.first, ...this.difference.values()])
      this.backend.dispose(t);
    if (this.bernoulliMask) this.backend.dispose(this.bernoulliMask);
  }
}
