import { logSumExp, softplus } from '../backend/scalar.js';
import { assertColumns, assertExamples, type Dataset } from '../data/dataset.js';
import { AbortedError, ArgumentError, TooLargeError } from '../errors.js';
import { checkDbmParameters, type DBM, type DbmParameters, DEFAULT_MEAN_FIELD_ITERATIONS } from '../model/dbm.js';
import type { Watch } from '../progress.js';
import { RandomStream, Streams } from '../random/stream.js';
import { type AisEstimate, type AisSchedule, aisBetas, forwardInterval, logMeanExp } from './ais.js';
import { checkDbmChainsMemory, dbmAnneal, dbmAnnealingBase, largestOddInput } from './dbm-anneal.js';

/**
 * Evaluating a deep Boltzmann machine (Salakhutdinov & Hinton 2009, section 3.2):
 * - exactly, on a model small enough to enumerate its even layers (the tests' oracle);
 * - log Z by annealed importance sampling with the odd layers summed out;
 * - the mean-field (variational) lower bound on log p(v) per example, with AIS's log Z.
 */

/** The most units the even layers of a DBM may have for exact evaluation (2^22 states). */
export const MAX_DBM_ENUMERABLE = 22;

/**
 * log p*(s_even) = sum_{l even} b_l.s_l + sum_{l odd} sum_j softplus(b_lj + s_{l-1} W_{l-1} + s_{l+1} W_l^T)
 * in float64, for states of the even layers (`s[l]` for even l; odd entries unused).
 */
function logUnnormalisedEven(p: DbmParameters, s: readonly Float64Array[]): number {
  const L = p.sizes.length - 1;
  let out = 0;
  for (let l = 0; l <= L; l += 2) {
    const b = p.biases[l]!;
    for (let i = 0; i < b.length; i++) out += b[i]! * s[l]![i]!;
  }
  for (let l = 1; l <= L; l += 2) {
    const n = p.sizes[l]!;
    for (let j = 0; j < n; j++) {
      let x = p.biases[l]![j]!;
      const below = p.weights[l - 1]!;
      for (let i = 0; i < p.sizes[l - 1]!; i++) x += s[l - 1]![i]! * below[i * n + j]!;
      if (l < L) {
        const above = p.weights[l]!;
        const m = p.sizes[l + 1]!;
        for (let k = 0; k < m; k++) x += s[l + 1]![k]! * above[j * m + k]!;
      }
      out += softplus(x);
    }
  }
  return out;
}

/** Every state of the even layers `layers` (bits of a counter), calling `visit` with the states. */
function enumerateEven(p: DbmParameters, s: Float64Array[], layers: readonly number[], visit: () => void): void {
  const units = layers.reduce((t, l) => t + p.sizes[l]!, 0);
  for (let c = 0; c < 2 ** units; c++) {
    let bit = 0;
    for (const l of layers) {
      const t = s[l]!;
      for (let i = 0; i < t.length; i++, bit++) t[i] = Math.floor(c / 2 ** bit) % 2;
    }
    visit();
  }
}

function checkEnumerable(p: DbmParameters, withVisible: boolean): number[] {
  const layers = p.sizes.map((_, l) => l).filter((l) => l % 2 === 0 && (withVisible || l > 0));
  const units = layers.reduce((t, l) => t + p.sizes[l]!, 0);
  if (units > MAX_DBM_ENUMERABLE)
    throw new TooLargeError(
      `exact evaluation of a ${p.sizes.join('-')} DBM enumerates its even layers, ${units} units: more than ${MAX_DBM_ENUMERABLE}`,
    );
  return layers;
}

/** log Z of a DBM by enumerating its even layers (the odd ones summed out), in float64. */
export function exactDbmLogPartition(p: DbmParameters): number {
  checkDbmParameters(p);
  const layers = checkEnumerable(p, true);
  const s = p.sizes.map((n) => new Float64Array(n));
  const terms: number[] = [];
  enumerateEven(p, s, layers, () => terms.push(logUnnormalisedEven(p, s)));
  return logSumExp(terms);
}

/** log p(v) of each row of `data`, exactly (float64), given log Z (computed when not given). */
export function exactDbmLogLikelihood(p: DbmParameters, data: Dataset, logZ = exactDbmLogPartition(p)): Float64Array {
  checkDbmParameters(p);
  assertColumns(data, p.sizes[0]!, 'exactDbmLogLikelihood');
  const layers = checkEnumerable(p, false);
  const s = p.sizes.map((n) => new Float64Array(n));
  const out = new Float64Array(data.rows);
  for (let r = 0; r < data.rows; r++) {
    for (let i = 0; i < p.sizes[0]!; i++) s[0]![i] = data.data[r * p.sizes[0]! + i]!;
    const terms: number[] = [];
    enumerateEven(p, s, layers, () => terms.push(logUnnormalisedEven(p, s)));
    out[r] = logSumExp(terms) - logZ;
  }
  return out;
}

export interface DbmAisOptions extends Watch {
  /** Parallel annealing runs (default 100). */
  readonly runs?: number;
  readonly schedule?: AisSchedule;
  readonly seed?: number;
  /** Gibbs sweeps at each inverse temperature (default 1). */
  readonly stepSweeps?: number;
  /**
   * Data for the base model's biases: v at the data's smoothed log-odds, each even hidden layer at those of its
   * mean-field means on the first 1,000 rows; without data the base is uniform.
   */
  readonly baseData?: Dataset;
  /** @deprecated The older name of {@link DbmAisOptions.baseData}. */
  readonly data?: Dataset;
}

/**
 * log Z of a DBM by AIS (Salakhutdinov & Hinton 2009, section 3.2), with the odd layers summed out, along the
 * path of dbm-anneal.ts from base rates a_l on the even layers (from `baseData`: see {@link DbmAisOptions.baseData})
 * and uniform odd ones. Each step is one fused unit (`dbm-ais-step`).
 */
export async function dbmAnnealedImportanceSampling(model: DBM, options: DbmAisOptions = {}): Promise<AisEstimate> {
  const runs = options.runs ?? 100;
  if (!Number.isInteger(runs) || runs < 1) throw new ArgumentError(`runs must be a positive integer, got ${runs}`);
  checkDbmChainsMemory(model, runs, `DBM AIS with runs: ${runs}`);
  const betas = aisBetas(options.schedule);
  if (options.signal?.aborted) throw new AbortedError('DBM AIS', 0, betas.length - 1);
  const base = await dbmAnnealingBase(model, options.baseData ?? options.data);
  const logWeights = await dbmAnneal(model, {
    base,
    betas,
    rows: runs,
    direction: 'forward',
    maxAbsInput: await largestOddInput(model),
    random: new RandomStream(options.seed ?? 0, Streams.dbmAis),
    label: 'DBM AIS',
    ...(options.stepSweeps !== undefined ? { stepSweeps: options.stepSweeps } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
  const { log, relativeError, effectiveSampleSize } = logMeanExp(logWeights);
  const logZ = base.logZBase + log;
  return {
    logZ,
    ...forwardInterval(logZ, relativeError),
    direction: 'forward',
    runs,
    steps: betas.length - 1,
    logWeights,
    logZBase: base.logZBase,
    effectiveSampleSize,
  };
}

export interface DbmBoundOptions extends DbmAisOptions {
  /** Mean-field iterations per example (default 30). */
  readonly iterations?: number;
  /** Examples per mean-field pass (default 1000). */
  readonly batch?: number;
  /** A log Z estimate to use instead of running AIS. */
  readonly ais?: AisEstimate;
}

export interface DbmBounds {
  /** Mean over the examples of the variational bound with AIS's log Z: the estimate. */
  readonly lowerEstimate: number;
  /**
   * The same with the high end of log Z's +-3 sigma interval: a lower bound on the mean log p(v) as far as AIS
   * does not underestimate log Z by more than its interval (AIS is a stochastic lower bound of log Z, so an
   * unconverged run makes this bound too high, not too low).
   */
  readonly lower: number;
  /** Each example's bound with AIS's log Z. */
  readonly perExample: Float64Array;
  readonly ais: AisEstimate;
  readonly iterations: number;
}

/** The mean-field lower bound on log p(v) of each row of `data`, with log Z from AIS (run here unless given). */
export async function dbmVariationalBound(
  model: DBM,
  data: Dataset,
  options: DbmBoundOptions = {},
): Promise<DbmBounds> {
  assertExamples(data, model.numVisible, 'dbmVariationalBound');
  const iterations = options.iterations ?? DEFAULT_MEAN_FIELD_ITERATIONS;
  const batch = options.batch ?? 1000;
  if (!Number.isInteger(batch) || batch < 1) throw new ArgumentError(`batch must be a positive integer, got ${batch}`);
  const ais = options.ais ?? (await dbmAnnealedImportanceSampling(model, options));
  const perExample = new Float64Array(data.rows);
  for (let start = 0; start < data.rows; start += batch) {
    const rows = Math.min(batch, data.rows - start);
    const chunk = data.data.subarray(start * data.cols, (start + rows) * data.cols);
    const terms = await model.variationalTerms({ data: chunk, rows, cols: data.cols }, iterations);
    for (let r = 0; r < rows; r++) perExample[start + r] = terms[r]! - ais.logZ;
  }
  let mean = 0;
  for (const x of perExample) mean += x;
  mean /= data.rows;
  return { lowerEstimate: mean, lower: mean - (ais.logZHigh - ais.logZ), perExample, ais, iterations };
}
