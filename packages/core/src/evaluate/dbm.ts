import { logSumExp, softplus } from '../backend/scalar.js';
import { withScope } from '../backend/scope.js';
import { fused } from '../backend/trace.js';
import { checkMemory, float32Bytes, formatBytes } from '../budget.js';
import { assertColumns, assertExamples, columnMeans, type Dataset } from '../data/dataset.js';
import { AbortedError, ArgumentError, TooLargeError } from '../errors.js';
import { checkDbmParameters, type DBM, type DbmParameters, DEFAULT_MEAN_FIELD_ITERATIONS } from '../model/dbm.js';
import { afterChunk, SWEEPS_PER_CHECK, type Watch } from '../progress.js';
import { DeviceRandom } from '../random/device.js';
import { RandomStream, Streams } from '../random/stream.js';
import { type AisEstimate, type AisSchedule, aisBetas, forwardInterval, logMeanExp } from './ais.js';

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
  /**
   * Data for the base model's biases: v at the data's smoothed log-odds, each even hidden layer at those of its
   * mean-field means on the first 1,000 rows; without data the base is uniform.
   */
  readonly data?: Dataset;
}

/**
 * log Z of a DBM by AIS (Salakhutdinov & Hinton 2009, section 3.2), with the odd layers summed out:
 *
 *   log p*_k(e) = sum_{l even} ((1 - beta_k) a_l + beta_k b_l).s_l + sum_{l odd} sum_j softplus(beta_k x_lj(e))
 *
 * over the even layers e; at beta = 0 the model is independent units with base rates a_l on the even layers
 * (from `data`: see {@link DbmAisOptions.data}) and uniform odd ones, so log Z_0 = sum_{l even} sum_i softplus(a_li) + (odd units)
 * log 2. The transition at beta_k samples the odd layers from sigmoid(beta_k x), then the even ones from
 * sigmoid(beta_k x + (1 - beta_k) a_l). Each step is one fused unit (`dbm-ais-step`).
 */
export async function dbmAnnealedImportanceSampling(model: DBM, options: DbmAisOptions = {}): Promise<AisEstimate> {
  const runs = options.runs ?? 100;
  if (!Number.isInteger(runs) || runs < 1) throw new ArgumentError(`runs must be a positive integer, got ${runs}`);
  const sizes = model.sizes;
  const L = model.depth;
  const units = sizes.reduce((t, n) => t + n, 0);
  const bytes = float32Bytes(5 * units * runs);
  checkMemory(`DBM AIS with runs: ${runs}`, bytes, `${formatBytes(bytes)} for the runs' states of every layer`);
  const betas = aisBetas(options.schedule);
  if (options.signal?.aborted) throw new AbortedError('DBM AIS', 0, betas.length - 1);
  const _nv = sizes[0]!;
  const bases = await baseRates(model, options.data);
  let logZBase = 0;
  sizes.forEach((n, l) => {
    if (l % 2 === 1) logZBase += n * Math.LN2;
    else for (const a of bases[l]!) logZBase += softplus(a);
  });

  const be = model.backend;
  const logWeights = await withScope(be, async (scope) => {
    const rnd = new DeviceRandom(be, new RandomStream(options.seed ?? 0, Streams.dbmAis));
    const aA = bases.map((a, l) => (a ? scope.tensor(1, sizes[l]!, a) : undefined));
    const s = sizes.map((n) => scope.tensor(runs, n));
    const x = sizes.map((n) => scope.tensor(runs, n));
    const p = sizes.map((n) => scope.tensor(runs, n));
    const u = sizes.map((n) => scope.tensor(runs, n));
    const w = scope.tensor(runs, 1);
    const col = scope.tensor(runs, 1);
    const total = new Float64Array(runs);
    // Start: the even layers from the base rates (the odd ones are drawn by the first step).
    fused(be, 'dbm-ais-start', () => {
      for (let l = 0; l <= L; l += 2) {
        be.fill(p[l]!, 0);
        be.binary('add', p[l]!, p[l]!, aA[l]!);
        be.unary('sigmoid', p[l]!, p[l]!);
        rnd.uniform(u[l]!);
        be.bernoulli(s[l]!, p[l]!, u[l]!);
      }
    });
    const K = betas.length - 1;
    for (let k = 1; k <= K; k++) {
      const b0 = betas[k - 1]!;
      const b1 = betas[k]!;
      fused(be, 'dbm-ais-step', () => {
        // log w += log p*_k(e) - log p*_{k-1}(e): the linear terms' (b1 - b0) sum_even (b_l - a_l).s_l ...
        for (let l = 0; l <= L; l += 2) {
          be.matMul(col, s[l]!, model.b[l]!, { transposeB: true, alpha: b1 - b0 });
          be.matMul(col, s[l]!, aA[l]!, { transposeB: true, alpha: -(b1 - b0), beta: 1 });
          be.axpby(w, 1, w, 1, col);
        }
        // ... and each odd unit's softplus(b1 x) - softplus(b0 x); then the odd layers ~ sigmoid(b1 x).
        for (let l = 1; l <= L; l += 2) {
          model.layerInput(x[l]!, s, l);
          be.axpby(p[l]!, b1, x[l]!, 0, x[l]!);
          be.unary('softplus', u[l]!, p[l]!);
          be.sum(col, u[l]!, 1);
          be.axpby(w, 1, w, 1, col);
          be.axpby(u[l]!, b0, x[l]!, 0, x[l]!);
          be.unary('softplus', u[l]!, u[l]!);
          be.sum(col, u[l]!, 1);
          be.axpby(w, 1, w, -1, col);
          be.unary('sigmoid', p[l]!, p[l]!);
          rnd.uniform(u[l]!);
          be.bernoulli(s[l]!, p[l]!, u[l]!);
        }
        // The even layers ~ sigmoid(b1 x + (1 - b1) a) given the odd ones (the base's share of the biases).
        for (let l = 0; l <= L; l += 2) {
          model.layerInput(x[l]!, s, l);
          be.axpby(p[l]!, b1, x[l]!, 0, x[l]!);
          if (b1 !== 1) {
            be.fill(x[l]!, 0);
            be.binary('add', x[l]!, x[l]!, aA[l]!);
            be.axpby(p[l]!, 1, p[l]!, 1 - b1, x[l]!);
          }
          be.unary('sigmoid', p[l]!, p[l]!);
          rnd.uniform(u[l]!);
          be.bernoulli(s[l]!, p[l]!, u[l]!);
        }
      });
      if (k % SWEEPS_PER_CHECK === 0 || k === K) {
        // The weights are summed on the device for a chunk of steps, then in float64 here.
        const chunk = await be.read(w);
        for (let r = 0; r < runs; r++) total[r]! += chunk[r]!;
        be.fill(w, 0);
        await afterChunk('DBM AIS', k, K, options);
      }
    }
    return total;
  });
  const { log, relativeError, effectiveSampleSize } = logMeanExp(logWeights);
  const logZ = logZBase + log;
  return {
    logZ,
    ...forwardInterval(logZ, relativeError),
    direction: 'forward',
    runs,
    steps: betas.length - 1,
    logWeights,
    logZBase,
    effectiveSampleSize,
  };
}

/** Rows of the data whose mean field sets the even hidden layers' base rates. */
const BASE_ROWS = 1000;

/**
 * The base model's biases, per layer (undefined for the odd ones, which are summed out): v at the data's
 * smoothed log-odds, p = (sum + 1) / (N + 2) (S&M's base rates), each even hidden layer at the smoothed
 * log-odds of its mean-field means on the first 1,000 rows (the base then resembles the model's posterior,
 * not a uniform layer of 1,000 units); all zero without data.
 */
async function baseRates(model: DBM, data: Dataset | undefined): Promise<(Float32Array | undefined)[]> {
  const sizes = model.sizes;
  const bases = sizes.map((n, l) => (l % 2 === 0 ? new Float32Array(n) : undefined));
  if (!data) return bases;
  assertColumns(data, sizes[0]!, 'DBM AIS base data');
  const logit = (m: number, rows: number) => {
    const q = (m * rows + 1) / (rows + 2);
    return Math.log(q / (1 - q));
  };
  bases[0] = Float32Array.from(columnMeans(data), (m) => logit(m, data.rows));
  const rows = Math.min(BASE_ROWS, data.rows);
  const head = { data: data.data.subarray(0, rows * data.cols), rows, cols: data.cols };
  const mu = await model.meanFieldFeatures(head);
  for (let l = 2; l < sizes.length; l += 2) {
    const n = sizes[l]!;
    const means = new Float64Array(n);
    const m = mu[l - 1]!;
    for (let r = 0; r < rows; r++) for (let j = 0; j < n; j++) means[j]! += m[r * n + j]! / rows;
    bases[l] = Float32Array.from(means, (x) => logit(x, rows));
  }
  return bases;
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
