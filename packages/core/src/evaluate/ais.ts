import { checkMemory, modelMemory } from '../budget.js';
import { assertColumns, columnMeans, type Dataset } from '../data/dataset.js';
import { ArgumentError } from '../errors.js';
import type { RBM } from '../model/rbm.js';
import type { Watch } from '../progress.js';
import { RandomStream, Streams } from '../random/stream.js';
import { anneal, annealingBase } from './anneal.js';
import type { RaiseEstimate } from './raise.js';

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

/**
 * `salakhutdinov-murray`: S&M's 14,500 steps; `{ salakhutdinovMurray: f }`: the same three pieces with f times
 * the steps in each (f = 4: 58,000 steps); `{ linear: K }`: K equal steps; or the inverse temperatures themselves.
 */
export type AisSchedule =
  | 'salakhutdinov-murray'
  | { readonly salakhutdinovMurray: number }
  | { readonly linear: number }
  | Float64Array;

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
  if (schedule === 'salakhutdinov-murray' || 'salakhutdinovMurray' in schedule) {
    const f = schedule === 'salakhutdinov-murray' ? 1 : schedule.salakhutdinovMurray;
    if (!Number.isInteger(f) || f < 1)
      throw new ArgumentError(`the S&M schedule's step multiplier must be a positive integer, got ${f}`);
    const out = scheduleArray(14500 * f, `sm:${f}`);
    let at = 0;
    const segment = (from: number, to: number, steps: number) => {
      for (let i = 0; i < steps; i++) out[at++] = from + ((to - from) * i) / steps;
    };
    segment(0, 0.5, 500 * f);
    segment(0.5, 0.9, 4000 * f);
    segment(0.9, 1, 10000 * f);
    out[at] = 1;
    return out;
  }
  const K = schedule.linear;
  if (!Number.isSafeInteger(K) || K < 1)
    throw new ArgumentError(`linear AIS schedule needs a positive number of steps, got ${K}`);
  const out = scheduleArray(K, `linear:${K}`);
  for (let k = 0; k <= K; k++) out[k] = k / K;
  return out;
}

/** The steps of a schedule (its betas less one), without building it: 14,500 F for S&M's, N for linear:N. */
export function aisScheduleSteps(schedule: AisSchedule = 'salakhutdinov-murray'): number {
  if (schedule instanceof Float64Array) return schedule.length - 1;
  if (schedule === 'salakhutdinov-murray') return 14500;
  return 'salakhutdinovMurray' in schedule ? 14500 * schedule.salakhutdinovMurray : schedule.linear;
}

/**
 * A schedule of `steps` steps within the memory budget, checked before anything is allocated (`linear:400000000`
 * asks for 3.2 GB); `what` names it in the refusal. The figure counts the betas and a copy.
 */
export function checkAisScheduleMemory(steps: number, what: string): void {
  checkMemory(what, 2 * 8 * (steps + 1), '2 float64 values a step');
}

/** The inverse temperatures of a schedule of `steps` steps, within the memory budget. */
function scheduleArray(steps: number, name: string): Float64Array {
  checkAisScheduleMemory(steps, `an AIS schedule of ${steps} steps (${name})`);
  return new Float64Array(steps + 1);
}

/** `signal` and `onProgress` are checked every 100 steps (an aborted signal: an `AbortedError`). */
export interface AisOptions extends Watch {
  /** Parallel annealing runs (default 100). */
  readonly runs?: number;
  readonly schedule?: AisSchedule;
  /** Gibbs sweeps at each inverse temperature (default 1). */
  readonly stepSweeps?: number;
  readonly seed?: number;
  /**
   * Visible biases of the base model: log(p / (1 - p)) of smoothed data means, p = (sum + 1) / (N + 2)
   * (S&M use the training data). Without data or biases the base model is uniform.
   */
  readonly baseData?: Dataset;
  /** @deprecated The older name of {@link AisOptions.baseData}. */
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
  /** log of each run's importance weight, summed in float64 whatever the backend's precision. */
  readonly logWeights: Float64Array;
  readonly logZBase: number;
  /**
   * Kish's effective sample size of the weights, (sum w)^2 / sum w^2: from 1 (one run carries all the weight)
   * to `runs` (equal weights). A few effective runs out of many mean the estimate rests on those few.
   */
  readonly effectiveSampleSize: number;
}

/** Base-rate visible biases from smoothed data means, p = (sum + 1) / (N + 2). */
export function baseRateBiases(data: Dataset): Float32Array {
  const means = columnMeans(data);
  return Float32Array.from(means, (m) => {
    const p = (m * data.rows + 1) / (data.rows + 2);
    return Math.log(p / (1 - p));
  });
}

/**
 * log mean exp of x, the standard error of mean(exp(x)) relative to it, and Kish's effective sample size
 * (sum w)^2 / sum w^2. One value has no standard error: it is infinite, so no interval is drawn from it.
 */
export function logMeanExp(x: Float64Array): { log: number; relativeError: number; effectiveSampleSize: number } {
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
  const variance = n > 1 ? Math.max(0, (s2 / n - mean * mean) * (n / (n - 1))) : Number.POSITIVE_INFINITY;
  return { log: m + Math.log(mean), relativeError: Math.sqrt(variance / n) / mean, effectiveSampleSize: (s * s) / s2 };
}

/**
 * log Z's +-3 sigma interval from a forward estimate and the relative standard error of Z-hat: log(Z-hat (1 -+
 * 3 r)), with no lower end when 3 r reaches 1.
 */
export function forwardInterval(logZ: number, relativeError: number): { logZLow: number; logZHigh: number } {
  return {
    logZLow: logZ + Math.log(Math.max(0, 1 - 3 * relativeError)),
    logZHigh: logZ + Math.log(1 + 3 * relativeError),
  };
}

export async function annealedImportanceSampling(model: RBM, options: AisOptions = {}): Promise<AisEstimate> {
  const runs = options.runs ?? 100;
  if (!Number.isInteger(runs) || runs < 1) throw new ArgumentError(`runs must be a positive integer, got ${runs}`);
  {
    const need = modelMemory(model.numVisible, model.numHidden, 2 * runs);
    checkMemory(`AIS with runs: ${runs}`, need.bytes, need.detail);
  }
  const betas = aisBetas(options.schedule);
  const direction = options.direction ?? 'forward';
  // A reverse run's start is checked by `anneal`, before it anneals.
  const base = await annealingBase(model, options);
  const logZBase = base.logZBase;
  const logWeights = await anneal(model, {
    base,
    betas,
    rows: runs,
    direction,
    ...(options.stepSweeps !== undefined ? { stepSweeps: options.stepSweeps } : {}),
    ...(options.start ? { start: options.start } : {}),
    random: new RandomStream(options.seed ?? 0, Streams.ais),
    label: `${direction} AIS`,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });

  const { log, relativeError, effectiveSampleSize } = logMeanExp(logWeights);
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
    effectiveSampleSize,
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

export interface AisCheckOptions {
  /** Where the reverse run started: `exact` samples of the model, or `approximate` ones (Gibbs or PT chains). */
  readonly reverseStart?: 'exact' | 'approximate';
  /** Warn below this effective sample size, as a fraction of the runs (default 0.1; never below 10 runs). */
  readonly minEffectiveFraction?: number;
  /** Warn when forward and reverse log Z differ by more than this many nats (default 1). */
  readonly maxGap?: number;
  /** RAISE on the test examples: checked against the forward run (see {@link aisWarnings}). */
  readonly raise?: RaiseEstimate;
  /** With `raise`: warn when the bounds are further apart than this many nats (default 1). */
  readonly maxWidth?: number;
}

/** An SMC estimate (smc.ts), told by its fields: smc.ts builds on this module, so no import. */
function isSmc(e: AisEstimate): e is AisEstimate & { readonly ancestors: number; readonly resamplings: number } {
  return 'ancestors' in e && 'resamplings' in e;
}

/**
 * Plain reasons not to trust an AIS estimate of log Z, empty when none is found:
 * - few effective runs (Kish's ESS): the mean weight rests on a handful of runs, so the log of it is likely
 *   far below log Z (Jensen), and the +-3 sigma interval, which assumes a normal mean, means little;
 * - an interval with no lower end (3 sigma of the mean weight exceeds the mean);
 * - forward above reverse: a forward run is a stochastic lower bound of log Z and a reverse run from exact
 *   samples an upper one, so forward well above reverse says at least one of them is broken, most often the
 *   reverse run's starting samples (chains that cover only part of the model's mass give log Z of that part);
 * - forward and reverse further apart than `maxGap`: log Z is known only to within their bracket;
 * - with RAISE: its lower bound above forward AIS's upper one beyond both intervals (the bounds cross: one
 *   side is too short or rests on too few runs), bounds further apart than `maxWidth`, and few effective
 *   chains per example.
 */
export function aisWarnings(forward: AisEstimate, reverse?: AisEstimate, options: AisCheckOptions = {}): string[] {
  const out: string[] = [];
  const fraction = options.minEffectiveFraction ?? 0.1;
  const maxGap = options.maxGap ?? 1;
  for (const e of reverse ? [forward, reverse] : [forward]) {
    const least = Math.min(e.runs, Math.max(10, fraction * e.runs));
    // SMC's spread is Lee & Whiteley's, from the runs' ancestors, not the last weights' alone.
    if (isSmc(e)) {
      if (!Number.isFinite(e.logZLow))
        out.push(
          `SMC: the estimated spread of Z-hat reaches Z-hat itself (${e.ancestors} of ${e.runs} runs' ancestors left after ${e.resamplings} resamplings), so log Z's interval has no lower end: use more runs or a stricter conditional ESS`,
        );
      else if (e.effectiveSampleSize < least)
        out.push(
          `SMC: the last segment's effective sample size is ${e.effectiveSampleSize.toFixed(1)} of ${e.runs} runs (use more runs or a stricter conditional ESS)`,
        );
      continue;
    }
    if (e.effectiveSampleSize < least) {
      out.push(
        `${e.direction} AIS: the weights' effective sample size is ${e.effectiveSampleSize.toFixed(1)} of ${e.runs} runs: ` +
          'the estimate rests on a few runs (use more runs or a longer schedule)',
      );
    }
    const open = e.direction === 'forward' ? e.logZLow : e.logZHigh;
    if (e.runs < 2) {
      out.push(
        `${e.direction} AIS: one run gives an estimate but no interval (its spread is unknown): use at least 2 runs`,
      );
    } else if (!Number.isFinite(open)) {
      out.push(
        `${e.direction} AIS: 3 sigma of the mean weight exceeds the mean, so log Z's interval has no ${e.direction === 'forward' ? 'lower' : 'upper'} end`,
      );
    }
  }
  if (reverse) {
    const gap = reverse.logZ - forward.logZ;
    const overlap = forward.logZLow <= reverse.logZHigh;
    const start = options.reverseStart === 'exact' ? 'exact samples' : 'approximate samples';
    // Forward above reverse by more than their intervals allow, or by more than maxGap however wide those are.
    if (gap < 0 && (!overlap || -gap > maxGap)) {
      out.push(
        `forward AIS (a stochastic lower bound of log Z) is ${(-gap).toFixed(3)} nats above reverse AIS from ${start}: ` +
          (options.reverseStart === 'exact'
            ? 'at least one of the runs is too short or has too few runs'
            : "the reverse run's starting samples most likely cover only part of the model's mass"),
      );
    } else if (Math.abs(gap) > maxGap) {
      out.push(
        `forward and reverse AIS differ by ${Math.abs(gap).toFixed(3)} nats: log Z is known only to within that bracket` +
          (options.reverseStart === 'exact'
            ? ''
            : ' (an upper bound only if the reverse run started from exact samples)'),
      );
    }
  }
  if (options.raise) out.push(...raiseWarnings(forward, options.raise, options.maxWidth ?? 1));
  return out;
}

function raiseWarnings(forward: AisEstimate, raise: RaiseEstimate, maxWidth: number): string[] {
  const out: string[] = [];
  // The bounds as likelihoodBounds reports them: the low end of RAISE's interval, the high end of AIS's.
  const upper = raise.meanNegativeFreeEnergy - forward.logZLow;
  const width = upper - raise.low;
  if (raise.low > upper) {
    out.push(
      `the RAISE lower bound (${raise.low.toFixed(3)}) is ${(-width).toFixed(3)} nats above the forward-AIS upper bound ` +
        `(${upper.toFixed(3)}), beyond both intervals: one side is too short or rests on too few runs`,
    );
  } else if (width > maxWidth) {
    out.push(
      `the bounds are ${Number.isFinite(width) ? `${width.toFixed(3)} nats` : 'infinitely'} apart: the mean ` +
        `log-likelihood is known only to within [${raise.low.toFixed(3)}, ${upper.toFixed(3)}] (a longer schedule narrows it` +
        (raise.stuckChains > raise.chains
          ? ')'
          : "; where a few examples' RAISE estimates lag far below the rest, more chains for them narrow it: RAISE's stuckChains, rbm eval --raise-stuck-chains)"),
    );
  }
  if (raise.chains >= 10 && raise.effectiveSampleSize < Math.max(2, 0.1 * raise.chains)) {
    out.push(
      `RAISE: the chains' effective sample size is ${raise.effectiveSampleSize.toFixed(1)} of ${raise.chains} per example: ` +
        'each estimate rests on one chain (use a longer schedule)',
    );
  }
  return out;
}
