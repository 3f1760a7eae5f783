import { type Scope, withScope } from '../backend/scope.js';
import { fused } from '../backend/trace.js';
import type { Backend, Tensor } from '../backend/types.js';
import { assertColumns, columnMeans, type Dataset } from '../data/dataset.js';
import { AbortedError, ArgumentError } from '../errors.js';
import { assertBinaryHidden } from '../model/parameters.js';
import { assertVisibleData, type RBM } from '../model/rbm.js';
import { afterChunk, type Watch } from '../progress.js';
import { DeviceRandom } from '../random/device.js';
import type { RandomStream } from '../random/stream.js';
import { gaussianConstant } from './exact.js';
import { addSoftplusIncrement } from './increment.js';

/**
 * The annealing path shared by forward AIS, reverse AIS and RAISE (Neal 2001; Salakhutdinov & Murray 2008;
 * Burda, Grosse & Salakhutdinov 2015). The base model A has visible biases a_A only, so log Z_A is known;
 * the intermediate models, with h summed out, are
 *
 *   log p*_beta(v) = (1 - beta) a_A.v + beta a.v + sum_j softplus(beta (b_j + (v W)_j))
 *
 * (beta = 0: a_A.v + n_h log 2, so log Z_0 = sum_i softplus(a_A,i) + n_h log 2; beta = 1: -F(v)). Every
 * row of one matrix is a run: all runs advance together, one matrix product per layer and step.
 */

/** The base model: its visible biases, log Z_0 and (Gaussian units) the constant the weights leave out. */
export interface AnnealingBase {
  readonly visibleBias: Float32Array;
  readonly logZBase: number;
  /**
   * Gaussian units: log p*_k(v) carries the constant -beta_k sum_i (a_i^2 - a_A,i^2) / (2 sigma_i^2), left
   * out of the steps; over a whole run (beta from 0 to 1) it adds up to `shift`, added to forward weights at
   * the end and subtracted from reverse ones. 0 for binary units.
   */
  readonly shift: number;
}

/** Where the base model's visible biases come from (see `AisOptions`). */
export interface BaseOptions {
  /** Data whose base rates (smoothed means) the base model takes, as RAISE's and `likelihoodBounds`'s do. */
  readonly baseData?: Dataset;
  /** @deprecated The older name of {@link BaseOptions.baseData}. */
  readonly data?: Dataset;
  readonly baseVisibleBias?: Float32Array;
}

/** The base model of the annealing path: base rates from `baseData`, the biases given, or uniform. */
export async function annealingBase(model: RBM, options: BaseOptions): Promise<AnnealingBase> {
  assertBinaryHidden(model, 'annealed importance sampling');
  const nv = model.numVisible;
  let aA = options.baseVisibleBias;
  const data = options.baseData ?? options.data;
  if (!aA && data) {
    assertColumns(data, nv, 'AIS base model');
    assertVisibleData(data, model.units);
    // Gaussian units: the base model is N(data means, sigma^2) with the model's variances.
    aA = model.gaussian ? Float32Array.from(columnMeans(data)) : model.units.baseBiases!(columnMeans(data), data.rows);
  }
  aA ??= new Float32Array(nv);
  if (aA.length !== nv)
    throw new ArgumentError(`baseVisibleBias has ${aA.length} values, the model has ${nv} visible units`);
  let logZBase = model.numHidden * Math.LN2;
  let shift = 0;
  if (model.gaussian) {
    logZBase += await gaussianConstant(model);
    const [z, a] = await Promise.all([model.backend.read(model.z!), model.backend.read(model.a)]);
    for (let i = 0; i < nv; i++) shift -= (a[i]! ** 2 - aA[i]! ** 2) / (2 * Math.exp(z[i]!));
  } else {
    // log sum_v exp(a_A.v): softplus per Bernoulli unit, log-sum-exp per softmax group.
    logZBase += model.units.baseLogPartition!(aA);
  }
  return { visibleBias: aA, logZBase, shift };
}

/**
 * Samples of the model to fit a base model to (`baseData`): `chains` block Gibbs chains of `sweeps` sweeps
 * from p(v) = 1/2 (Gaussian units: N(a, sigma^2)). Base rates from the data put the path's start where the
 * data is; a model whose mass lies elsewhere (a PCD model trained at a high rate: chains from the digits take
 * thousands of sweeps to leave them) then anneals through a change the runs cannot follow, and every estimate
 * of log Z falls tens of nats short. Any fixed base keeps the estimators what they are (its log Z_0 is exact),
 * so a base fitted to the model's own samples costs nothing in validity. The chains draw from
 * `Streams.sample` with `seed`.
 */
export async function modelSamplesForBase(
  model: RBM,
  options: { readonly chains?: number; readonly sweeps?: number; readonly seed?: number } & Watch = {},
): Promise<Dataset> {
  const chains = options.chains ?? 1000;
  const s = await model.sample({
    chains,
    steps: options.sweeps ?? 1000,
    seed: options.seed ?? 0,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
  return { data: Float32Array.from(s.states), rows: chains, cols: model.numVisible };
}

/** Steps whose log-weight increments the device sums before the host adds them up in float64. */
const FLUSH_STEPS = 100;

export interface AnnealOptions extends Watch {
  readonly base: AnnealingBase;
  readonly betas: Float64Array;
  readonly rows: number;
  /** `forward`: from v ~ p_0 up to beta = 1; `reverse`: from `start` down to beta = 0. */
  readonly direction: 'forward' | 'reverse';
  /** Reverse: the starting states, [rows, nv] (rows of a Dataset are cycled when it has fewer). */
  readonly start?: Dataset;
  /**
   * Reverse: Gibbs sweeps at beta = 1 before the first step (RAISE: the reverse chain starts with T_K, m
   * times, at the observed v; reverse AIS from exact samples needs none).
   */
  readonly startSweeps?: number;
  /**
   * Gibbs sweeps at each inverse temperature (default 1): T_k^m leaves p_k invariant as T_k does (and is
   * reversible, so RAISE's reverse chains take it too).
   */
  readonly stepSweeps?: number;
  /** {@link largestHiddenInput} of the model, when the caller anneals several times (RAISE's passes). */
  readonly maxAbsInput?: number;
  readonly random: RandomStream;
  /** What progress reports call the run, and the offset and total of steps (start sweeps included) they count. */
  readonly label: string;
  readonly progress?: { readonly done: number; readonly total: number };
}

/**
 * Runs `rows` annealing chains along `betas` and returns each one's log importance weight, summed in
 * float64 whatever the backend's precision (the base's `shift` included). Forward: log w estimates
 * log Z - log Z_0; reverse: log Z_0 - log Z (from exact samples of the model), and with RAISE's start it is
 * the weight of Burda et al.'s reverse chain.
 */
export async function anneal(model: RBM, options: AnnealOptions): Promise<Float64Array> {
  const { rows, betas, direction, base } = options;
  const nv = model.numVisible;
  const be = model.backend;
  if (direction === 'reverse') {
    if (!options.start) throw new ArgumentError('reverse AIS needs starting samples of the model (options.start)');
    assertColumns(options.start, nv, 'reverse AIS start');
  }
  // An already-aborted signal stops it before the first step, not after the first chunk of steps.
  if (options.signal?.aborted) throw new AbortedError(options.label, 0, betas.length - 1);
  const maxAbsInput = options.maxAbsInput ?? (await largestHiddenInput(model));
  const total = await withScope(be, async (scope: Scope) => {
    const rnd = new DeviceRandom(be, options.random);
    const path = annealingPath(model, scope, base, rows, rnd, maxAbsInput);
    const { v, logw, hiddenInput, accumulate, transition } = path;
    if (direction === 'forward') {
      path.drawBase();
    } else {
      const start = options.start!;
      const data = new Float32Array(rows * nv);
      for (let r = 0; r < rows; r++)
        data.set(start.data.subarray((r % start.rows) * nv, ((r % start.rows) + 1) * nv), r * nv);
      be.write(v, data);
    }
    // Only v and the log-weights outlive a unit: the rest is its workspace, which a compiling backend need
    // not give back.
    return runSchedule(be, {
      ...options,
      scratch: [path.X, ...path.scratch],
      logw,
      step: (from, to) => {
        hiddenInput();
        accumulate(from, to);
      },
      transition,
      sweep: path.sweep,
      units: { sweep: 'ais-start', step: 'ais-step' },
    });
  });
  const sign = direction === 'forward' ? 1 : -1;
  return total.map((x) => x + sign * base.shift);
}

/** What {@link runSchedule} drives: one path's log-weights and moves (ops only), and its units' names. */
export interface ScheduleRun extends Watch {
  readonly betas: Float64Array;
  readonly rows: number;
  readonly direction: 'forward' | 'reverse';
  /** Reverse: sweeps at beta = 1 before the first step. */
  readonly startSweeps?: number;
  readonly stepSweeps?: number;
  readonly label: string;
  readonly progress?: { readonly done: number; readonly total: number };
  /** The moves' workspace: nothing in it outlives a unit. */
  readonly scratch: readonly Tensor[];
  /** The log-weights, [rows, 1]; what they hold when the run begins counts too (e.g. RAISE's log p*_1(start)). */
  readonly logw: Tensor;
  /** logw += log p*_to - log p*_from of the current state, leaving what a transition at `to` needs. */
  step(from: number, to: number): void;
  transition(beta: number): void;
  /** A whole sweep at beta from the chains' states alone. */
  sweep(beta: number): void;
  readonly units: { readonly sweep: string; readonly step: string };
}

/**
 * The schedule loop of every annealing path (an RBM's, a DBM's): in reverse `startSweeps` sweeps at beta = 1,
 * then K steps, each one fused unit: forward beta_{i-1} -> beta_i then a transition at beta_i, reverse
 * beta_{K-i+1} -> beta_{K-i} then a transition there. The device sums at most FLUSH_STEPS increments (a few
 * nats), then the host adds them in float64: a float32 running sum near log Z - log Z_0 (hundreds of nats)
 * would round every one of 14,500 additions.
 */
export async function runSchedule(be: Backend, run: ScheduleRun): Promise<Float64Array> {
  const { rows, betas, direction, logw } = run;
  const stepSweeps = run.stepSweeps ?? 1;
  if (!Number.isInteger(stepSweeps) || stepSweeps < 1)
    throw new ArgumentError(`sweeps a step must be a positive integer, got ${stepSweeps}`);
  const scratch = { scratch: run.scratch };
  const K = betas.length - 1;
  const sweeps = direction === 'reverse' ? (run.startSweeps ?? 0) : 0;
  const done = run.progress?.done ?? 0;
  const all = run.progress?.total ?? K + sweeps;
  const watched = Boolean(run.signal || run.onProgress);
  const sums = new Float64Array(rows);
  const flush = async () => {
    const part = await be.read(logw);
    for (let r = 0; r < rows; r++) sums[r]! += part[r]!;
    be.fill(logw, 0);
  };
  await flush();
  for (let t = 1; t <= sweeps; t++) {
    fused(be, run.units.sweep, () => run.sweep(1), scratch);
    // As the steps below are: a bounded queue, and a chance to report and to stop.
    if (t % FLUSH_STEPS === 0) {
      await be.drain?.();
      if (watched) await afterChunk(run.label, done + t, all, run);
    }
  }
  for (let i = 1; i <= K; i++) {
    const [from, to] = direction === 'forward' ? [betas[i - 1]!, betas[i]!] : [betas[K - i + 1]!, betas[K - i]!];
    fused(
      be,
      run.units.step,
      () => {
        run.step(from, to);
        if (i === K) return;
        run.transition(to);
        for (let m = 1; m < stepSweeps; m++) run.sweep(to);
      },
      scratch,
    );
    if (i % FLUSH_STEPS === 0 || i === K) {
      await flush();
      if (watched) await afterChunk(run.label, done + sweeps + i, all, run);
    }
  }
  return sums;
}

/**
 * The tensors and moves of `rows` annealing chains (one row each) along the path above, shared by the fixed
 * schedules ({@link anneal}) and the adaptive sampler ({@link sequentialMonteCarlo}). The moves record backend
 * ops only, so a caller fuses them into units of its own.
 */
export interface AnnealingPath {
  /** The chains' visible states, [rows, nv]. */
  readonly v: Tensor;
  /** b + v W of the current v, [rows, nh], once {@link AnnealingPath.hiddenInput} ran. */
  readonly X: Tensor;
  /** p(h = 1 | v) at the last step's beta (left by {@link AnnealingPath.accumulate}). */
  readonly s: Tensor;
  /** Each run's log-weight increments since the caller last cleared it, [rows, 1]. */
  readonly logw: Tensor;
  /** a - a_A (Gaussian units: divided by sigma^2), d/dbeta of the visible term of log p*_beta(v), [1, nv]. */
  readonly dA: Tensor;
  /** The moves' workspace: nothing in it outlives a unit. */
  readonly scratch: readonly Tensor[];
  /** v ~ p_0: independent Bernoulli(sigmoid(a_A)), or N(a_A, sigma^2). */
  drawBase(): void;
  /** X = b + v W for the current v. */
  hiddenInput(): void;
  /** logw += log p*_to(v) - log p*_from(v) from X of the current v; s = p(h = 1 | v) at beta = to. */
  accumulate(from: number, to: number): void;
  /** One Gibbs sweep leaving p_beta invariant, from `s` at that beta. */
  transition(beta: number): void;
  /** A whole sweep at beta from v alone: X, then s, then {@link AnnealingPath.transition}. */
  sweep(beta: number): void;
}

/** The path's tensors in `scope` (see {@link AnnealingPath}); `maxAbsInput` is {@link largestHiddenInput}'s. */
export function annealingPath(
  model: RBM,
  scope: Scope,
  base: AnnealingBase,
  rows: number,
  rnd: DeviceRandom,
  maxAbsInput: number,
): AnnealingPath {
  const be = model.backend;
  const nv = model.numVisible;
  const nh = model.numHidden;
  const a0 = scope.tensor(1, nv, base.visibleBias);
  const dA = scope.tensor(1, nv);
  be.binary('sub', dA, model.a, a0);
  if (model.gaussian) be.binary('mul', dA, dA, model.precision!);
  const v = scope.tensor(rows, nv);
  const uv = scope.tensor(rows, nv);
  const pv = scope.tensor(rows, nv);
  const X = scope.tensor(rows, nh);
  const sp = scope.tensor(rows, nh);
  const s = scope.tensor(rows, nh);
  const one = scope.tensor(1, 1, Float32Array.of(1));
  const h = scope.tensor(rows, nh);
  const uh = scope.tensor(rows, nh);
  const col = scope.tensor(rows, 1);
  const logw = scope.tensor(rows, 1);
  const c = scope.tensor(1, nv);
  be.fill(logw, 0);
  const hiddenInput = () => {
    be.matMul(X, model.scaledVisible(v), model.W);
    be.binary('add', X, X, model.b);
  };
  /** h ~ s, v ~ sigmoid(beta (h W^T) + (1 - beta) a_A + beta a) (Gaussian units: N of that mean). */
  const transition = (beta: number) => {
    rnd.uniform(uh);
    be.bernoulli(h, s, uh);
    be.axpby(c, 1 - beta, a0, beta, model.a);
    be.matMul(pv, h, model.W, { transposeB: true, alpha: beta });
    be.binary('add', pv, pv, c);
    model.units.conditionalMean(model, pv, 1);
    model.sampleVisible(v, pv, rnd, uv);
  };
  return {
    v,
    X,
    s,
    logw,
    dA,
    scratch: [sp, h, uh, uv, pv, col, c],
    drawBase() {
      be.fill(pv, 0);
      be.binary('add', pv, pv, a0);
      model.units.conditionalMean(model, pv, 1);
      model.sampleVisible(v, pv, rnd, uv);
    },
    hiddenInput,
    /** The hidden units' share per unit (increment.ts), then the visible term. */
    accumulate(from: number, to: number) {
      addSoftplusIncrement(be, { x: X, p: s, work: [sp, h], col, one, logw }, from, to, maxAbsInput);
      // (to - from) (a - a_A).v
      be.matMul(logw, v, dA, { transposeB: true, alpha: to - from, beta: 1 });
    },
    transition,
    sweep(beta: number) {
      hiddenInput();
      be.axpby(s, beta, X, 0, X);
      be.unary('sigmoid', s, s);
      transition(beta);
    },
  };
}

/**
 * A bound on |b_j + (v W)_j| over v in [0, 1]^n (binary and softmax units): max_j |b_j| + sum_i |W_ij|.
 * Infinite for Gaussian units, whose v is unbounded.
 */
export async function largestHiddenInput(model: RBM): Promise<number> {
  if (model.gaussian) return Number.POSITIVE_INFINITY;
  const [W, b] = await Promise.all([model.backend.read(model.W), model.backend.read(model.b)]);
  const nh = model.numHidden;
  let most = 0;
  for (let j = 0; j < nh; j++) {
    let x = Math.abs(b[j]!);
    for (let i = 0; i < model.numVisible; i++) x += Math.abs(W[i * nh + j]!);
    most = Math.max(most, x);
  }
  return most;
}
