import { softplus } from '../backend/reference.js';
import { type Scope, withScope } from '../backend/scope.js';
import { fused } from '../backend/trace.js';
import { assertColumns, columnMeans, type Dataset } from '../data/dataset.js';
import { ArgumentError } from '../errors.js';
import { assertVisibleData, type RBM } from '../model/rbm.js';
import { DeviceRandom } from '../random/device.js';
import { RandomStream, Streams } from '../random/stream.js';
import { gaussianConstant } from './exact.js';

/**
 * Annealed importance sampling of log Z (Neal 2001), as Salakhutdinov & Murray (2008) apply it to RBMs.
 *
 * The base model A has visible biases a_A only (no weights), so log Z_A is known. Intermediate models
 * interpolate with inverse temperatures 0 = beta_0 < ... < beta_K = 1, summing out h:
 *
 *   log p*_k(v) = (1 - beta_k) a_A.v + beta_k a.v + sum_j softplus(beta_k (b_j + (v W)_j))
 *
 * (at beta = 0 this is a_A.v + n_h log 2, so log Z_0 = sum_i softplus(a_A,i) + n_h log 2; at beta = 1 it is
 * -F(v)). A forward run draws v ~ p_0, accumulates log w += log p*_k(v) - log p*_{k-1}(v) and moves v with a
 * Gibbs transition that leaves p_k invariant; mean(w) estimates Z / Z_0. Jensen's inequality makes the log of
 * the estimate a stochastic lower bound: E[log Z-hat] <= log Z.
 *
 * A reverse run (Burda, Grosse & Salakhutdinov 2015) starts from samples of the model and anneals down to
 * the base; mean(w) estimates Z_0 / Z, so its log Z-hat is a stochastic upper bound when the starting samples
 * are exact. Forward and reverse estimates that disagree say the estimate is not to be trusted.
 */

export type AisSchedule = 'salakhutdinov-murray' | { readonly linear: number } | Float64Array;

/** Inverse temperatures: S&M's default is 0 to 0.5 in steps of 1e-3, 0.5 to 0.9 in 1e-4, 0.9 to 1 in 1e-5. */
export function aisBetas(schedule: AisSchedule = 'salakhutdinov-murray'): Float64Array {
  if (schedule instanceof Float64Array) {
    if (schedule.length < 2 || schedule[0] !== 0 || schedule[schedule.length - 1] !== 1) {
      throw new ArgumentError('an AIS schedule must start at 0 and end at 1');
    }
    for (let k = 1; k < schedule.length; k++) {
      if (!(schedule[k]! > schedule[k - 1]!)) throw new ArgumentError(`AIS schedule is not increasing at index ${k}`);
    }
    return schedule;
  }
  if (schedule === 'salakhutdinov-murray') {
    const out: number[] = [];
    const segment = (from: number, to: number, steps: number) => {
      for (let i = 0; i < steps; i++) out.push(from + ((to - from) * i) / steps);
    };
    segment(0, 0.5, 500);
    segment(0.5, 0.9, 4000);
    segment(0.9, 1, 10000);
    out.push(1);
    return Float64Array.from(out);
  }
  const K = schedule.linear;
  if (!Number.isInteger(K) || K < 1)
    throw new ArgumentError(`linear AIS schedule needs a positive number of steps, got ${K}`);
  return Float64Array.from({ length: K + 1 }, (_, k) => k / K);
}

export interface AisOptions {
  /** Parallel annealing runs (default 100). */
  readonly runs?: number;
  readonly schedule?: AisSchedule;
  readonly seed?: number;
  /**
   * Visible biases of the base model: log(p / (1 - p)) of smoothed data means, p = (sum + 1) / (N + 2)
   * (S&M use the training data). Without data or biases the base model is uniform.
   */
  readonly data?: Dataset;
  readonly baseVisibleBias?: Float32Array;
  /** `forward` (default) or `reverse`; a reverse run needs `start`. */
  readonly direction?: 'forward' | 'reverse';
  /** Reverse AIS: the starting samples of the model, one per run (rows cycle if fewer). */
  readonly start?: Dataset;
}

export interface AisEstimate {
  readonly logZ: number;
  /** log(Z-hat - 3 sigma) and log(Z-hat + 3 sigma), sigma the standard error of the mean weight. */
  readonly logZLow: number;
  readonly logZHigh: number;
  readonly direction: 'forward' | 'reverse';
  readonly runs: number;
  readonly steps: number;
  /** log of each run's importance weight. */
  readonly logWeights: Float64Array;
  readonly logZBase: number;
}

/** Base-rate visible biases from smoothed data means, p = (sum + 1) / (N + 2). */
export function baseRateBiases(data: Dataset): Float32Array {
  const means = columnMeans(data);
  return Float32Array.from(means, (m) => {
    const p = (m * data.rows + 1) / (data.rows + 2);
    return Math.log(p / (1 - p));
  });
}

/** log mean exp of x, and the standard error of mean(exp(x)) relative to it. */
function logMeanExp(x: Float64Array): { log: number; relativeError: number } {
  let m = Number.NEGATIVE_INFINITY;
  for (const v of x) m = Math.max(m, v);
  let s = 0;
  let s2 = 0;
  for (const v of x) {
    const e = Math.exp(v - m);
    s += e;
    s2 += e * e;
  }
  const n = x.length;
  const mean = s / n;
  const variance = n > 1 ? Math.max(0, (s2 / n - mean * mean) * (n / (n - 1))) : 0;
  return { log: m + Math.log(mean), relativeError: Math.sqrt(variance / n) / mean };
}

export async function annealedImportanceSampling(model: RBM, options: AisOptions = {}): Promise<AisEstimate> {
  const runs = options.runs ?? 100;
  if (!Number.isInteger(runs) || runs < 1) throw new ArgumentError(`runs must be a positive integer, got ${runs}`);
  const betas = aisBetas(options.schedule);
  const direction = options.direction ?? 'forward';
  const nv = model.numVisible;
  const nh = model.numHidden;
  const gaussian = model.gaussian;
  let aA = options.baseVisibleBias;
  if (!aA && options.data) {
    assertColumns(options.data, nv, 'AIS base model');
    assertVisibleData(options.data, model.visibleUnits);
    // Gaussian units: the base model is N(data means, sigma^2) with the model's variances.
    aA = gaussian ? Float32Array.from(columnMeans(options.data)) : baseRateBiases(options.data);
  }
  aA ??= new Float32Array(nv);
  if (aA.length !== nv)
    throw new ArgumentError(`baseVisibleBias has ${aA.length} values, the model has ${nv} visible units`);
  if (direction === 'reverse') {
    if (!options.start) throw new ArgumentError('reverse AIS needs starting samples of the model (options.start)');
    assertColumns(options.start, nv, 'reverse AIS start');
  }
  let logZBase = nh * Math.LN2;
  // Gaussian units: log p*_k(v) carries the constant -beta_k sum_i (a_i^2 - a_A,i^2) / (2 sigma_i^2); it adds
  // up to `shift` over a whole run (the betas go from 0 to 1), added to every weight at the end.
  let shift = 0;
  if (gaussian) {
    logZBase += await gaussianConstant(model);
    const [z, a] = await Promise.all([model.backend.read(model.z!), model.backend.read(model.a)]);
    for (let i = 0; i < nv; i++) shift -= (a[i]! ** 2 - aA[i]! ** 2) / (2 * Math.exp(z[i]!));
  } else {
    for (const x of aA) logZBase += softplus(x);
  }

  const be = model.backend;
  const logWeights = await withScope(be, async (scope: Scope) => {
    const rnd = new DeviceRandom(be, new RandomStream(options.seed ?? 0, Streams.ais));
    const a0 = scope.tensor(1, nv, aA);
    const dA = scope.tensor(1, nv); // a - a_A (Gaussian units: divided by sigma^2)
    be.binary('sub', dA, model.a, a0);
    if (gaussian) be.binary('mul', dA, dA, model.precision!);
    const v = scope.tensor(runs, nv);
    const uv = scope.tensor(runs, nv);
    const pv = scope.tensor(runs, nv);
    const X = scope.tensor(runs, nh); // b + v W
    const bx = scope.tensor(runs, nh);
    const sp = scope.tensor(runs, nh);
    const h = scope.tensor(runs, nh);
    const uh = scope.tensor(runs, nh);
    const col = scope.tensor(runs, 1);
    const logw = scope.tensor(runs, 1);
    const c = scope.tensor(1, nv);

    if (direction === 'forward') {
      // v ~ p_0: independent Bernoulli(sigmoid(a_A)), or N(a_A, sigma^2).
      const p0 = scope.tensor(runs, nv);
      be.fill(p0, 0);
      be.binary('add', p0, p0, a0);
      model.units.conditionalMean(model, p0, 1);
      model.sampleVisible(v, p0, rnd, uv);
    } else {
      const start = options.start!;
      const rows = new Float32Array(runs * nv);
      for (let r = 0; r < runs; r++)
        rows.set(start.data.subarray((r % start.rows) * nv, ((r % start.rows) + 1) * nv), r * nv);
      be.write(v, rows);
    }

    /** logw += sign * (log p*_to(v) - log p*_from(v)), from X = b + v W of the current v. */
    const accumulate = (from: number, to: number) => {
      be.matMul(X, model.scaledVisible(v), model.W);
      be.binary('add', X, X, model.b);
      be.axpby(bx, to, X, 0, X);
      be.unary('softplus', sp, bx);
      be.sum(col, sp, 1);
      be.binary('add', logw, logw, col);
      be.axpby(bx, from, X, 0, X);
      be.unary('softplus', sp, bx);
      be.sum(col, sp, 1);
      be.binary('sub', logw, logw, col);
      // (to - from) (a - a_A).v
      be.matMul(logw, v, dA, { transposeB: true, alpha: to - from, beta: 1 });
    };
    /** One Gibbs sweep leaving p_beta invariant: h ~ sigmoid(beta X), v ~ sigmoid(beta (h W^T) + (1 - beta) a_A + beta a). */
    const transition = (beta: number) => {
      be.matMul(X, model.scaledVisible(v), model.W);
      be.binary('add', X, X, model.b);
      be.axpby(bx, beta, X, 0, X);
      be.unary('sigmoid', bx, bx);
      rnd.uniform(uh);
      be.bernoulli(h, bx, uh);
      be.axpby(c, 1 - beta, a0, beta, model.a);
      be.matMul(pv, h, model.W, { transposeB: true, alpha: beta });
      be.binary('add', pv, pv, c);
      model.units.conditionalMean(model, pv, 1);
      model.sampleVisible(v, pv, rnd, uv);
    };

    const K = betas.length - 1;
    if (direction === 'forward') {
      for (let k = 1; k <= K; k++) {
        fused(be, 'ais-step', () => {
          accumulate(betas[k - 1]!, betas[k]!);
          if (k < K) transition(betas[k]!);
        });
      }
    } else {
      for (let k = K; k >= 1; k--) {
        fused(be, 'ais-step', () => {
          accumulate(betas[k]!, betas[k - 1]!);
          if (k > 1) transition(betas[k - 1]!);
        });
      }
    }
    const sign = direction === 'forward' ? 1 : -1;
    return Float64Array.from(await be.read(logw), (x) => x + sign * shift);
  });

  const { log, relativeError } = logMeanExp(logWeights);
  // Forward: Z = Z_0 mean(w). Reverse: Z = Z_0 / mean(w).
  const sign = direction === 'forward' ? 1 : -1;
  const logZ = logZBase + sign * log;
  const lo = Math.log(Math.max(0, 1 - 3 * relativeError));
  const hi = Math.log(1 + 3 * relativeError);
  const [dLow, dHigh] = direction === 'forward' ? [lo, hi] : [-hi, -lo];
  return {
    logZ,
    logZLow: logZ + dLow,
    logZHigh: logZ + dHigh,
    direction,
    runs,
    steps: betas.length - 1,
    logWeights,
    logZBase,
  };
}

export interface EstimatedLogLikelihood {
  /** Mean log p(v) over the data with log Z-hat, nats per example. */
  readonly mean: number;
  /** The same with the ends of log Z's +-3 sigma interval (a higher log Z gives a lower likelihood). */
  readonly low: number;
  readonly high: number;
  readonly logZ: number;
}

/** Mean log-likelihood of `data` from an AIS estimate of log Z, with the interval that log Z's carries. */
export async function estimatedLogLikelihood(
  model: RBM,
  data: Dataset,
  estimate: AisEstimate,
): Promise<EstimatedLogLikelihood> {
  assertColumns(data, model.numVisible, 'estimatedLogLikelihood');
  const F = await model.freeEnergy(data);
  let negF = 0;
  for (const f of F) negF -= f;
  negF /= F.length;
  return {
    mean: negF - estimate.logZ,
    low: negF - estimate.logZHigh,
    high: negF - estimate.logZLow,
    logZ: estimate.logZ,
  };
}
