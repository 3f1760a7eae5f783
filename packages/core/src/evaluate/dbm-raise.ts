import { softplus } from '../backend/scalar.js';
import { assertExamples, type Dataset } from '../data/dataset.js';
import { ArgumentError } from '../errors.js';
import { type DBM, DEFAULT_MEAN_FIELD_ITERATIONS } from '../model/dbm.js';
import type { Watch } from '../progress.js';
import { RandomStream, Streams } from '../random/stream.js';
import { type AisSchedule, aisBetas, logMeanExp } from './ais.js';
import { checkDbmChainsMemory, dbmAnneal, dbmAnnealingBase, largestOddInput } from './dbm-anneal.js';
import { DEFAULT_RAISE_ROWS_PER_PASS, DEFAULT_RAISE_SWEEPS, estimatorInterval, raiseExamplesPerPass } from './raise.js';

/**
 * RAISE for a deep Boltzmann machine (Burda, Grosse & Salakhutdinov 2015): a conservative estimate of each
 * example's log-likelihood that, unlike the mean-field bound with AIS's log Z, does not rest on log Z.
 *
 * The annealing model q is forward AIS's on the DBM's path (dbm-anneal.ts): its states are the even layers
 * e = (v, h) (h: the even hidden layers), the odd ones summed out. RAISE's reverse chain from e estimates
 * q(e) without bias: w_R = p*_1(e) / Z_0 prod_{k<K} p*_k(x_k) / p*_{k+1}(x_k). h is not observed, so each chain
 * first draws it by annealing with v held, from r(h | v), the mean-field posterior's factorial distribution
 * (probabilities within [floor, 1 - floor]), to p(h | v), over `posteriorSteps` steps of the same path (the
 * base per chain: a_l = logit r, normalised, so its log Z_0(v) is known). That forward run's weight w_P
 * estimates p*(v) / Z_0(v), and for any f, E[w_P f(h_T)] = E_{p(h|v)}[f] p*(v) / Z_0(v) (Neal 2001); with
 * f(h) = w_R / p*_1(v, h),
 *
 *   E[ Z_0(v) w_P w_R / p*_1(v, h_T) ] = sum_h q(v, h) = q(v),
 *
 * so the mean over M chains is unbiased for q(v) and its log a stochastic lower bound on log q(v), tighter
 * with M (Burda, Grosse & Salakhutdinov 2016's importance-weighted bound). p*_1(v, h_T) cancels, so neither
 * side computes it. With one posterior step this is importance sampling from r itself (w_P = p*_1(v, h) /
 * (Z_0(v) r(h | v))), whose mismatch with the posterior costs at most the mean-field bound's own gap; more steps
 * take h to the posterior and the mismatch away.
 */

export interface DbmRaiseOptions extends Watch {
  /** Reverse chains per example, each with its own draw from r(h | v) (default 4). */
  readonly chains?: number;
  /** The annealing schedule (default S&M's 14,500 steps; S&H's DBM AIS took 20,000). */
  readonly schedule?: AisSchedule;
  /** Gibbs sweeps at each inverse temperature (default 1). */
  readonly stepSweeps?: number;
  /** Gibbs sweeps at beta = 1 before annealing down (default 5,000, as RAISE's for an RBM). */
  readonly sweeps?: number;
  readonly seed?: number;
  /** The base model's data (as DBM AIS's `baseData`): base rates of v and mean-field rates of the even hidden layers. */
  readonly baseData?: Dataset;
  /** Mean-field iterations for r(h | v) (default 30). */
  readonly iterations?: number;
  /** r's probabilities are kept within [floor, 1 - floor] (default 1e-4). */
  readonly floor?: number;
  /** Steps of the annealing from r(h | v) to p(h | v) with v held, linear in beta (default 500; 1: r itself). */
  readonly posteriorSteps?: number;
  /** Chains annealed together (default 1,000); more examples go in passes. */
  readonly rowsPerPass?: number;
}

export interface DbmRaiseEstimate {
  /** Mean over the examples of log p-hat(v): a stochastic lower bound on the mean log q(v), nats. */
  readonly mean: number;
  /**
   * mean -+ 3 standard errors of the estimator's part: log p-hat(v) less the mean-field bound's terms before
   * log Z, whose spread over the examples is the annealing's and the posterior's, not the data's.
   */
  readonly low: number;
  readonly high: number;
  readonly perExample: Float64Array;
  /** Mean over the examples of the mean-field bound's terms before log Z: mean - this estimates -log Z. */
  readonly meanVariationalTerms: number;
  readonly chains: number;
  readonly steps: number;
  readonly sweeps: number;
  readonly posteriorSteps: number;
  readonly examples: number;
  /** Mean over the examples of Kish's effective sample size of their chains' weights (1 to `chains`). */
  readonly effectiveSampleSize: number;
}

/** RAISE for a DBM: a conservative estimate of every example's log-likelihood, and their mean. */
export async function dbmRaise(model: DBM, data: Dataset, options: DbmRaiseOptions = {}): Promise<DbmRaiseEstimate> {
  const chains = options.chains ?? 4;
  const sweeps = options.sweeps ?? DEFAULT_RAISE_SWEEPS;
  const perPass = options.rowsPerPass ?? DEFAULT_RAISE_ROWS_PER_PASS;
  const iterations = options.iterations ?? DEFAULT_MEAN_FIELD_ITERATIONS;
  const floor = options.floor ?? 1e-4;
  const posteriorSteps = options.posteriorSteps ?? 500;
  for (const [name, x] of [
    ['chains', chains],
    ['posteriorSteps', posteriorSteps],
    ['sweeps', sweeps],
    ['rowsPerPass', perPass],
  ] as const)
    if (!Number.isInteger(x) || x < 1) throw new ArgumentError(`${name} must be a positive integer, got ${x}`);
  if (!(floor > 0 && floor < 0.5)) throw new ArgumentError(`floor must be in (0, 0.5), got ${floor}`);
  assertExamples(data, model.numVisible, 'DBM RAISE');
  const sizes = model.sizes;
  const examplesPerPass = raiseExamplesPerPass(chains, perPass);
  const rows = Math.min(data.rows, examplesPerPass) * chains;
  checkDbmChainsMemory(model, rows, `DBM RAISE with ${rows} chains a pass`);
  const betas = aisBetas(options.schedule);
  const K = betas.length - 1;
  const base = await dbmAnnealingBase(model, options.baseData);
  const p = await model.parameters();
  const maxAbsInput = await largestOddInput(model, p);
  const terms = new Float64Array(data.rows);
  const random = new RandomStream(options.seed ?? 0, Streams.raise);
  const draws = new RandomStream(options.seed ?? 0, Streams.dbmRaise);
  const posteriorBetas = aisBetas({ linear: posteriorSteps });
  const nv = model.numVisible;
  const oddUnits = sizes.reduce((t, n, l) => (l % 2 === 1 ? t + n : t), 0);
  const perExample = new Float64Array(data.rows);
  let ess = 0;
  const passes = Math.ceil(data.rows / examplesPerPass);
  const perPassSteps = posteriorSteps + K + sweeps;
  for (let pass = 0; pass < passes; pass++) {
    const first = pass * examplesPerPass;
    const count = Math.min(examplesPerPass, data.rows - first);
    const n = count * chains;
    const head = { data: data.data.subarray(first * nv, (first + count) * nv), rows: count, cols: nv };
    // The mean field sets each chain's posterior base, and its bound's terms the estimator's spread (below).
    const { features: mu, terms: headTerms } = await model.meanFieldAndTerms(head, iterations);
    terms.set(headTerms, first);
    // Example-major: the chains of example e are rows e * chains .. + chains - 1. Each chain's base for the
    // posterior annealing: v held, h_l at logit r; log Z_0(v) = b_0.v + (odd units) log 2 + sum softplus(a).
    const v = new Float32Array(n * nv);
    const logZ0 = new Float64Array(n);
    const rowBase: (Float32Array | undefined)[] = sizes.map(() => undefined);
    for (let e = 0; e < count; e++) {
      const row = head.data.subarray(e * nv, (e + 1) * nv);
      let bv = oddUnits * Math.LN2;
      for (let i = 0; i < nv; i++) bv += p.biases[0]![i]! * row[i]!;
      for (let m = 0; m < chains; m++) {
        v.set(row, (e * chains + m) * nv);
        logZ0[e * chains + m] = bv;
      }
    }
    for (let l = 2; l < sizes.length; l += 2) {
      const size = sizes[l]!;
      const m = mu[l - 1]!;
      const a = new Float32Array(n * size);
      for (let r = 0; r < n; r++) {
        const e = Math.floor(r / chains);
        for (let j = 0; j < size; j++) {
          const q = Math.min(Math.max(m[e * size + j]!, floor), 1 - floor);
          a[r * size + j] = Math.log(q / (1 - q));
        }
      }
      // Z_0(v) of the float32 base the device uses.
      for (let r = 0; r < n; r++) for (let j = 0; j < size; j++) logZ0[r]! += softplus(a[r * size + j]!);
      rowBase[l] = a;
    }
    const watch = {
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    };
    const hidden: (Float32Array | undefined)[] = sizes.map(() => undefined);
    const logP = await dbmAnneal(model, {
      base: { biases: rowBase, logZBase: 0, perRow: true, clampVisible: true },
      betas: posteriorBetas,
      rows: n,
      direction: 'forward',
      start: [v],
      finalStates: hidden,
      maxAbsInput,
      random: draws,
      label: 'DBM RAISE, posterior',
      progress: { done: pass * perPassSteps, total: passes * perPassSteps },
      ...watch,
    });
    hidden[0] = v;
    const logW = await dbmAnneal(model, {
      base,
      betas,
      rows: n,
      direction: 'reverse',
      start: hidden,
      startSweeps: sweeps,
      ...(options.stepSweeps !== undefined ? { stepSweeps: options.stepSweeps } : {}),
      maxAbsInput,
      random,
      label: 'DBM RAISE',
      progress: { done: pass * perPassSteps + posteriorSteps, total: passes * perPassSteps },
      ...watch,
    });
    for (let r = 0; r < n; r++) logW[r]! += logP[r]! + logZ0[r]!;
    for (let e = 0; e < count; e++) {
      const { log, effectiveSampleSize } = logMeanExp(logW.subarray(e * chains, (e + 1) * chains));
      // log p-hat(v) = log mean(Z_0(v) w_P w_R / p*_1(v, h)) - log Z_0 of the path.
      perExample[first + e] = log - base.logZBase;
      ess += effectiveSampleSize;
    }
  }
  let meanTerms = 0;
  for (const t of terms) meanTerms += t / data.rows;
  const { mean, low, high } = estimatorInterval(
    perExample,
    perExample.map((x, i) => x - terms[i]!),
  );
  return {
    mean,
    low,
    high,
    perExample,
    meanVariationalTerms: meanTerms,
    chains,
    steps: K,
    sweeps,
    posteriorSteps,
    examples: data.rows,
    effectiveSampleSize: ess / data.rows,
  };
}
