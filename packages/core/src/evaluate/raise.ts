import { checkMemory, modelMemory } from '../budget.js';
import { assertColumns, type Dataset } from '../data/dataset.js';
import { ArgumentError } from '../errors.js';
import { assertVisibleData, type RBM } from '../model/rbm.js';
import type { Watch } from '../progress.js';
import { RandomStream, Streams } from '../random/stream.js';
import { type AisSchedule, aisBetas, logMeanExp } from './ais.js';
import { anneal, annealingBase, largestHiddenInput } from './anneal.js';

/**
 * RAISE, reverse annealed importance sampling estimation (Burda, Grosse & Salakhutdinov 2015): a
 * conservative estimate of each example's log-likelihood.
 *
 * Forward AIS defines a generative model q: v_0 ~ p_0, then Gibbs transitions T_1..T_K, T_k leaving p_k
 * invariant, whose last state is the observation. q approaches the RBM as the schedule grows finer. For a
 * test example v, RAISE runs that chain backwards from v: x_K = v, x_{k-1} ~ T_k(. | x_k) (Gibbs sweeps are
 * reversible), and the importance weight of the reverse path against the forward one is
 *
 *   w = p*_K(v) / Z_0 * prod_{k=0}^{K-1} p*_k(x_k) / p*_{k+1}(x_k)      (h summed out of every p*_k)
 *
 * with E[w] = q(v). So log mean(w) over M chains is a stochastic lower bound on log q(v) (Jensen:
 * E[log w-hat] <= log q(v), and P(log w-hat > log q(v) + t) <= e^-t), where forward AIS's log Z-hat, a
 * stochastic lower bound on log Z, makes -F(v) - log Z-hat a stochastic upper bound on log p(v). RAISE bounds
 * q, not p: q is the RBM only in the limit of the schedule, so it is a lower bound on the RBM's likelihood
 * only as far as q is below p, which Burda et al. found to hold in practice (q lacks the modes the annealing
 * misses): "conservative", not guaranteed. It can fail: q can put more mass near the data than the RBM does.
 * Here q ends with `sweeps` Gibbs sweeps at beta = 1 (T_K^m: the reverse chain starts with them, their
 * weight ratios are 1), which pull q towards the RBM whatever the annealing reached.
 */

export interface RaiseOptions extends Watch {
  /** Reverse chains per example (default 1): log mean(w) over them, a tighter bound with more. */
  readonly chains?: number;
  /** The annealing schedule (default S&M's 14,500 steps); use the same as forward AIS's to compare. */
  readonly schedule?: AisSchedule;
  /** Gibbs sweeps at each inverse temperature (default 1), as forward AIS or SMC took them. */
  readonly stepSweeps?: number;
  readonly seed?: number;
  /** The base model's visible biases: base rates of `baseData` (e.g. the training data), or given. */
  readonly baseData?: Dataset;
  readonly baseVisibleBias?: Float32Array;
  /**
   * Gibbs sweeps at beta = 1 from the example before annealing down (default 5,000): the annealing model q
   * then ends with that many sweeps of the RBM's own chain, which bring q towards the RBM whatever the
   * annealing reached (q T^m -> p), so the estimate, a lower bound on log q(v), approaches one on log p(v).
   * With one sweep (Burda et al.'s q), RAISE came out 0.38 nats above the exact mean on the 784-20 fixture
   * (docs/reproductions.md). Each costs about as much as an annealing step.
   */
  readonly sweeps?: number;
  /** Chains annealed together, as the rows of one matrix (default 1,000); more examples go in passes. */
  readonly rowsPerPass?: number;
  /**
   * Chains for the examples a one-chain pilot finds stuck (default `chains`: no pilot). Some examples sit in
   * modes that Gibbs chains at beta = 1 do not leave; their reverse chains must escape during the annealing,
   * and only a rare chain escapes early, so a few chains put their estimate tens of nats below the rest (on
   * the bounds issue's 784-500 model, 4% of the test digits: 60 nats with 16 chains, 5 with 128). A pilot,
   * one chain an example, flags the examples more than {@link stuckGap} nats below its median; they get
   * `stuckChains`, the rest `chains`. The pilot's weights are thrown away: every estimate comes from chains
   * drawn after the choice, so each is still unbiased for q(v) given it, and RAISE stays a lower bound.
   */
  readonly stuckChains?: number;
  /** Nats below the pilot's median log p-hat(v) + F(v) that flag an example as stuck (default 3). */
  readonly stuckGap?: number;
  /**
   * The pilot's log p-hat(v), one an example, from an earlier run on the same examples (e.g. the last round
   * of {@link likelihoodBounds}), in place of the one-chain pilot.
   */
  readonly pilot?: Float64Array;
}

export interface RaiseEstimate {
  /** Mean over the examples of log p-hat(v): a stochastic lower bound on the mean log q(v), nats. */
  readonly mean: number;
  /**
   * mean -+ 3 standard errors of the estimator's part (log p-hat(v) + F(v), whose spread over the examples
   * is the annealing's, not the data's).
   */
  readonly low: number;
  readonly high: number;
  /** log p-hat(v) of each example. */
  readonly perExample: Float64Array;
  /** Mean -F(v) over the examples: mean - meanNegativeFreeEnergy estimates -log Z from this side. */
  readonly meanNegativeFreeEnergy: number;
  /** The log Z that the mean implies, mean(-F) - mean: a stochastic upper bound's counterpart of AIS's. */
  readonly logZ: number;
  readonly chains: number;
  readonly steps: number;
  /** Gibbs sweeps at beta = 1 before the annealing (see {@link RaiseOptions.sweeps}). */
  readonly sweeps: number;
  readonly examples: number;
  /**
   * Mean over the examples of Kish's effective sample size of their chains' weights (1 to `chains`): near
   * 1 with several chains says one chain per example carries the estimate.
   */
  readonly effectiveSampleSize: number;
  /** The examples (indices) the pilot flagged, which got {@link RaiseOptions.stuckChains} chains each. */
  readonly stuck: Uint32Array;
  readonly stuckChains: number;
}

/** RAISE's default sweeps at beta = 1 before the annealing. */
export const DEFAULT_RAISE_SWEEPS = 5000;

/** Rows (examples times chains) RAISE anneals at once by default: the memory a caller must allow for. */
export const DEFAULT_RAISE_ROWS_PER_PASS = 1000;

export function raiseExamplesPerPass(chains: number, rowsPerPass = DEFAULT_RAISE_ROWS_PER_PASS): number {
  return Math.max(1, Math.floor(rowsPerPass / chains));
}

/** RAISE: a conservative (stochastic lower) estimate of every example's log-likelihood, and their mean. */
export async function reverseAnnealedImportanceSampling(
  model: RBM,
  data: Dataset,
  options: RaiseOptions = {},
): Promise<RaiseEstimate> {
  const chains = options.chains ?? 1;
  if (!Number.isInteger(chains) || chains < 1)
    throw new ArgumentError(`chains must be a positive integer, got ${chains}`);
  const sweeps = options.sweeps ?? DEFAULT_RAISE_SWEEPS;
  if (!Number.isInteger(sweeps) || sweeps < 1)
    throw new ArgumentError(`sweeps must be a positive integer, got ${sweeps}`);
  const perPass = options.rowsPerPass ?? DEFAULT_RAISE_ROWS_PER_PASS;
  if (!Number.isInteger(perPass) || perPass < 1)
    throw new ArgumentError(`rowsPerPass must be a positive integer, got ${perPass}`);
  assertColumns(data, model.numVisible, 'RAISE');
  assertVisibleData(data, model.units);
  if (data.rows < 1) throw new ArgumentError('RAISE needs at least one example');
  const stuckChains = options.stuckChains ?? chains;
  if (!Number.isInteger(stuckChains) || stuckChains < chains)
    throw new ArgumentError(`stuckChains must be an integer of at least chains (${chains}), got ${stuckChains}`);
  const stuckGap = options.stuckGap ?? 3;
  if (!(stuckGap > 0)) throw new ArgumentError(`stuckGap must be positive, got ${stuckGap}`);
  if (options.pilot && options.pilot.length !== data.rows)
    throw new ArgumentError(`pilot has ${options.pilot.length} estimates for ${data.rows} examples`);
  const most = Math.max(chains, stuckChains);
  const rows = Math.min(data.rows * most, raiseExamplesPerPass(most, perPass) * most);
  const need = modelMemory(model.numVisible, model.numHidden, 2 * rows);
  checkMemory(`RAISE with ${rows} chains a pass`, need.bytes, need.detail);
  const betas = aisBetas(options.schedule);
  const K = betas.length - 1;
  const base = await annealingBase(model, {
    ...(options.baseData ? { baseData: options.baseData } : {}),
    ...(options.baseVisibleBias ? { baseVisibleBias: options.baseVisibleBias } : {}),
  });
  const F = await model.freeEnergy(data);
  const maxAbsInput = await largestHiddenInput(model);
  const random = new RandomStream(options.seed ?? 0, Streams.raise);
  const nv = model.numVisible;
  const partOf = new Float64Array(data.rows); // log p-hat(v) + F(v)
  const essOf = new Float64Array(data.rows);
  // Progress counts passes over all groups; the total grows once the pilot has chosen the stuck examples.
  const passesOf = (examples: number, perExample: number) =>
    Math.ceil(examples / raiseExamplesPerPass(perExample, perPass));
  const piloted = stuckChains > chains;
  let passesDone = 0;
  let passesTotal = (piloted && !options.pilot ? passesOf(data.rows, 1) : 0) + passesOf(data.rows, chains);
  // Anneals the examples `which` with `perExample` chains each, in passes, into partOf and essOf.
  const group = async (which: readonly number[], perExample: number, label: string) => {
    const examplesPerPass = raiseExamplesPerPass(perExample, perPass);
    const passes = Math.ceil(which.length / examplesPerPass);
    for (let pass = 0; pass < passes; pass++) {
      const chosen = which.slice(pass * examplesPerPass, (pass + 1) * examplesPerPass);
      const n = chosen.length * perExample;
      // Example-major: the chains of the e-th chosen example are rows e * perExample .. + perExample - 1.
      const start = new Float32Array(n * nv);
      chosen.forEach((example, e) => {
        const row = data.data.subarray(example * nv, (example + 1) * nv);
        for (let m = 0; m < perExample; m++) start.set(row, (e * perExample + m) * nv);
      });
      const logW = await anneal(model, {
        base,
        betas,
        rows: n,
        direction: 'reverse',
        start: { data: start, rows: n, cols: nv },
        startSweeps: sweeps,
        ...(options.stepSweeps !== undefined ? { stepSweeps: options.stepSweeps } : {}),
        maxAbsInput,
        random,
        label,
        progress: { done: passesDone++ * (K + sweeps), total: passesTotal * (K + sweeps) },
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      });
      chosen.forEach((example, e) => {
        const { log, effectiveSampleSize } = logMeanExp(logW.subarray(e * perExample, (e + 1) * perExample));
        // log p-hat(v) = log p*_K(v) - log Z_0 + log mean(w), with log p*_K(v) = -F(v).
        partOf[example] = log - base.logZBase;
        essOf[example] = effectiveSampleSize;
      });
    }
  };
  const all = Array.from({ length: data.rows }, (_, i) => i);
  let stuck: number[] = [];
  if (piloted) {
    if (options.pilot) partOf.set(options.pilot.map((x, i) => x + F[i]!));
    else await group(all, 1, 'RAISE pilot');
    const median = medianOf(partOf);
    stuck = all.filter((i) => partOf[i]! < median - stuckGap);
    passesTotal = passesDone + passesOf(data.rows - stuck.length, chains) + passesOf(stuck.length, stuckChains);
  }
  const stuckSet = new Set(stuck);
  await group(
    all.filter((i) => !stuckSet.has(i)),
    chains,
    'RAISE',
  );
  await group(stuck, stuckChains, 'RAISE, stuck examples');
  const perExample = Float64Array.from(partOf, (part, i) => part - F[i]!);
  let ess = 0;
  for (const e of essOf) ess += e;
  let negF = 0;
  for (let i = 0; i < data.rows; i++) negF -= F[i]!;
  negF /= data.rows;
  const { mean, low, high } = estimatorInterval(perExample, partOf);
  return {
    mean,
    low,
    high,
    perExample,
    meanNegativeFreeEnergy: negF,
    logZ: negF - mean,
    chains,
    steps: K,
    sweeps,
    examples: data.rows,
    effectiveSampleSize: ess / data.rows,
    stuck: Uint32Array.from(stuck),
    stuckChains,
  };
}

/** RAISE's usual name (Burda, Grosse & Salakhutdinov 2015). */
export const raise = reverseAnnealedImportanceSampling;

/**
 * The mean of per-example estimates, -+ 3 standard errors of `part`: each estimate less what the data alone
 * decides of it (RBM: -F(v); DBM: the mean-field terms), whose spread is the estimator's, not the data's.
 */
export function estimatorInterval(
  perExample: Float64Array,
  part: Float64Array,
): { mean: number; low: number; high: number } {
  const n = perExample.length;
  let mean = 0;
  let partMean = 0;
  for (let i = 0; i < n; i++) {
    mean += perExample[i]!;
    partMean += part[i]!;
  }
  mean /= n;
  partMean /= n;
  let variance = 0;
  for (const x of part) variance += (x - partMean) ** 2;
  const se = n > 1 ? Math.sqrt(variance / (n - 1) / n) : Number.POSITIVE_INFINITY;
  return { mean, low: mean - 3 * se, high: mean + 3 * se };
}

function medianOf(x: Float64Array): number {
  const sorted = Float64Array.from(x).sort();
  const m = sorted.length >> 1;
  return sorted.length % 2 ? sorted[m]! : (sorted[m - 1]! + sorted[m]!) / 2;
}
