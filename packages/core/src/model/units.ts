import type { Backend, Tensor } from '../backend/types.js';
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
 */

/** The names of the visible-unit types, as model files store them. */
export type VisibleUnits = 'bernoulli' | 'gaussian';

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

export function visibleUnitType(name: VisibleUnits): VisibleUnitType {
  return name === 'gaussian' ? gaussianUnits : bernoulliUnits;
}
