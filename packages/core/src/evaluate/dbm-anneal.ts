import { softplus } from '../backend/scalar.js';
import { type Scope, withScope } from '../backend/scope.js';
import { fused } from '../backend/trace.js';
import type { Tensor } from '../backend/types.js';
import { checkMemory, float32Bytes, formatBytes } from '../budget.js';
import { assertColumns, columnMeans, type Dataset } from '../data/dataset.js';
import { AbortedError, ArgumentError } from '../errors.js';
import type { DBM, DbmParameters } from '../model/dbm.js';
import type { Watch } from '../progress.js';
import { DeviceRandom } from '../random/device.js';
import type { RandomStream } from '../random/stream.js';
import { runSchedule } from './anneal.js';
import { addSoftplusIncrement, softplusSlope } from './increment.js';

/**
 * The annealing path of a deep Boltzmann machine (Salakhutdinov & Hinton 2009, section 3.2), shared by
 * forward AIS and RAISE: the chains' states are the even layers e, the odd ones summed out,
 *
 *   log p*_beta(e) = sum_{l even} ((1 - beta) a_l + beta b_l).s_l + sum_{l odd} sum_j softplus(beta x_lj(e))
 *
 * with x_l = b_l + s_{l-1} W_{l-1} + s_{l+1} W_l^T. At beta = 0 the even layers are independent units with
 * base rates a_l and the odd ones uniform, so log Z_0 = sum_{l even} sum_i softplus(a_li) + (odd units) log 2.
 * The transition at beta samples the odd layers from sigmoid(beta x), then the even ones from
 * sigmoid(beta x + (1 - beta) a_l): a Gibbs sweep on the even layers' marginal, reversible, so RAISE's reverse
 * chains take it as it is.
 */

/** The base model: biases a_l of the even layers (undefined for the odd ones) and its log Z_0. */
export interface DbmAnnealingBase {
  /** [n_l] each, or with `perRow` [rows, n_l]: one base per chain. */
  readonly biases: readonly (Float32Array | undefined)[];
  readonly logZBase: number;
  readonly perRow?: boolean;
  /**
   * The visible layer held at the chains' starting v (not resampled, its term left out of the increments):
   * the path then runs over the even hidden layers given v, from the base to p(h | v) (RAISE's posterior
   * annealing). Its log Z_0 differs per chain; `logZBase` is unused.
   */
  readonly clampVisible?: boolean;
}

/** Rows of the data whose mean field sets the even hidden layers' base rates. */
const BASE_ROWS = 1000;

/**
 * The base model, from `data`: v at the data's smoothed log-odds, p = (sum + 1) / (N + 2) (S&M's base
 * rates), each even hidden layer at the smoothed log-odds of its mean-field means on the first 1,000 rows (the
 * base then resembles the model's posterior, not a uniform layer of 1,000 units); all zero without data.
 */
export async function dbmAnnealingBase(model: DBM, data: Dataset | undefined): Promise<DbmAnnealingBase> {
  const sizes = model.sizes;
  const biases = sizes.map((n, l) => (l % 2 === 0 ? new Float32Array(n) : undefined));
  if (data) {
    assertColumns(data, sizes[0]!, 'DBM annealing base data');
    const logit = (m: number, rows: number) => {
      const q = (m * rows + 1) / (rows + 2);
      return Math.log(q / (1 - q));
    };
    biases[0] = Float32Array.from(columnMeans(data), (m) => logit(m, data.rows));
    const rows = Math.min(BASE_ROWS, data.rows);
    const head = { data: data.data.subarray(0, rows * data.cols), rows, cols: data.cols };
    const mu = await model.meanFieldFeatures(head);
    for (let l = 2; l < sizes.length; l += 2) {
      const n = sizes[l]!;
      const means = new Float64Array(n);
      const m = mu[l - 1]!;
      for (let r = 0; r < rows; r++) for (let j = 0; j < n; j++) means[j]! += m[r * n + j]! / rows;
      biases[l] = Float32Array.from(means, (x) => logit(x, rows));
    }
  }
  let logZBase = 0;
  sizes.forEach((n, l) => {
    if (l % 2 === 1) logZBase += n * Math.LN2;
    else for (const a of biases[l]!) logZBase += softplus(a);
  });
  return { biases, logZBase };
}

/**
 * Refuses, before anything is allocated, `rows` annealing chains of `model` that would not fit the memory budget:
 * each chain holds about five float32 rows of every layer (states, inputs, probabilities, uniforms, work).
 */
export function checkDbmChainsMemory(model: DBM, rows: number, what: string): void {
  const units = model.sizes.reduce((t, n) => t + n, 0);
  const bytes = float32Bytes(5 * units * rows);
  checkMemory(what, bytes, `${formatBytes(bytes)} for the chains' states of every layer`);
}

/**
 * A bound on |x_lj| over binary states, every odd layer: max_j |b_lj| + sum_i |W_{l-1,ij}| + sum_k |W_{l,jk}|
 * (from `parameters` when the caller has read them).
 */
export async function largestOddInput(model: DBM, parameters?: DbmParameters): Promise<number> {
  const p = parameters ?? (await model.parameters());
  let most = 0;
  for (let l = 1; l <= model.depth; l += 2) {
    const n = p.sizes[l]!;
    const below = p.weights[l - 1]!;
    const above = l < model.depth ? p.weights[l]! : undefined;
    const m = p.sizes[l + 1] ?? 0;
    for (let j = 0; j < n; j++) {
      let x = Math.abs(p.biases[l]![j]!);
      for (let i = 0; i < p.sizes[l - 1]!; i++) x += Math.abs(below[i * n + j]!);
      if (above) for (let k = 0; k < m; k++) x += Math.abs(above[j * m + k]!);
      most = Math.max(most, x);
    }
  }
  return most;
}

/** The tensors and moves of `rows` chains on the path (ops only: the caller fuses them into units). */
export interface DbmAnnealingPath {
  /** Every layer's states, [rows, n_l]: the even ones are the chains', the odd ones the last draw. */
  readonly s: readonly Tensor[];
  /** Each chain's log-weight increments since the caller last cleared it, [rows, 1]. */
  readonly logw: Tensor;
  /**
   * The odd layers' inputs that {@link DbmAnnealingPath.oddInput} leaves for the next unit (an adaptive
   * schedule's slope reads them); workspace where the unit that computes them also uses them.
   */
  readonly oddInputs: readonly Tensor[];
  /** The moves' workspace (the odd inputs aside). */
  readonly scratch: readonly Tensor[];
  /** The even layers ~ the base model. */
  drawBase(): void;
  /** The odd layers' inputs x_l for the current even layers (what {@link accumulate} and {@link slope} read). */
  oddInput(): void;
  /**
   * logw += log p*_to(e) - log p*_from(e) for the current e, from the inputs {@link oddInput} left; leaves the
   * odd layers' p(s = 1 | e) at `to`.
   */
  accumulate(from: number, to: number): void;
  /** g = d/dbeta log p*_beta(e), [rows, 1], from the inputs {@link oddInput} left (an adaptive schedule's slope). */
  slope(beta: number, g: Tensor): void;
  /** The odd layers from the probabilities {@link accumulate} left, then the even ones, at beta. */
  transition(beta: number): void;
  /** A whole sweep at beta from the even layers alone. */
  sweep(beta: number): void;
}

/** The path's tensors in `scope`; `maxAbsInput` is {@link largestOddInput}'s. */
export function dbmAnnealingPath(
  model: DBM,
  scope: Scope,
  base: DbmAnnealingBase,
  rows: number,
  rnd: DeviceRandom,
  maxAbsInput: number,
): DbmAnnealingPath {
  const be = model.backend;
  const sizes = model.sizes;
  const even = sizes.map((_, l) => l).filter((l) => l % 2 === 0 && (l > 0 || !base.clampVisible));
  const odd = sizes.map((_, l) => l).filter((l) => l % 2 === 1);
  const baseRows = base.perRow ? rows : 1;
  const s = sizes.map((n) => scope.tensor(rows, n));
  const x = sizes.map((n) => scope.tensor(rows, n));
  const p = sizes.map((n) => scope.tensor(rows, n));
  const u = sizes.map((n) => scope.tensor(rows, n));
  const aA = sizes.map((n, l) => (even.includes(l) ? scope.tensor(baseRows, n, base.biases[l]!) : undefined));
  // -d/dbeta of the even layers' linear terms: a_l - b_l (b_l broadcast over a per-chain base).
  const dA = aA.map((a, l) => {
    if (!a) return undefined;
    const d = scope.tensor(baseRows, sizes[l]!);
    be.binary('sub', d, a, model.b[l]!);
    return d;
  });
  const c = sizes.map((n, l) => (even.includes(l) ? scope.tensor(baseRows, n) : undefined));
  const one = scope.tensor(1, 1, Float32Array.of(1));
  const col = scope.tensor(rows, 1);
  const logw = scope.tensor(rows, 1);
  be.fill(logw, 0);
  const sampleLayer = (l: number) => {
    rnd.uniform(u[l]!);
    be.bernoulli(s[l]!, p[l]!, u[l]!);
  };
  /** x_l = b_l + s_{l-1} W_{l-1} + s_{l+1} W_l^T of every odd layer, for the current even layers. */
  const oddInput = () => {
    for (const l of odd) model.layerInput(x[l]!, s, l);
  };
  const transition = (beta: number) => {
    for (const l of odd) sampleLayer(l);
    for (const l of even) {
      model.layerInput(x[l]!, s, l);
      be.axpby(p[l]!, beta, x[l]!, 0, x[l]!);
      if (beta !== 1) {
        be.axpby(c[l]!, 1 - beta, aA[l]!, 0, aA[l]!);
        be.binary('add', p[l]!, p[l]!, c[l]!);
      }
      be.unary('sigmoid', p[l]!, p[l]!);
      sampleLayer(l);
    }
  };
  return {
    s,
    logw,
    oddInputs: odd.map((l) => x[l]!),
    scratch: [...odd.map((l) => s[l]!), ...even.map((l) => x[l]!), ...p, ...u, ...(c.filter(Boolean) as Tensor[]), col],
    drawBase() {
      for (const l of even) {
        be.fill(p[l]!, 0);
        be.binary('add', p[l]!, p[l]!, aA[l]!);
        be.unary('sigmoid', p[l]!, p[l]!);
        sampleLayer(l);
      }
    },
    oddInput,
    /** The odd layers' share per unit (increment.ts), then the even layers' linear terms. */
    accumulate(from: number, to: number) {
      for (const l of odd)
        addSoftplusIncrement(be, { x: x[l]!, p: p[l]!, work: [u[l]!, s[l]!], col, one, logw }, from, to, maxAbsInput);
      // (to - from) (b_l - a_l).s_l
      for (const l of even) {
        if (!base.perRow) {
          be.matMul(logw, s[l]!, dA[l]!, { transposeB: true, alpha: from - to, beta: 1 });
          continue;
        }
        be.binary('mul', u[l]!, s[l]!, dA[l]!);
        be.sum(col, u[l]!, 1);
        be.axpby(logw, 1, logw, from - to, col);
      }
    },
    /**
     * g = d/dbeta log p*_beta(e) = sum_{l odd} sum_j x_lj sigmoid(beta x_lj) + sum_{l even} (b_l - a_l).s_l,
     * from the inputs {@link DbmAnnealingPath.oddInput} left.
     */
    slope(beta: number, g: Tensor) {
      odd.forEach((l, k) => {
        softplusSlope(be, k === 0 ? g : col, x[l]!, u[l]!, beta);
        if (k > 0) be.binary('add', g, g, col);
      });
      for (const l of even) {
        if (!base.perRow) {
          be.matMul(g, s[l]!, dA[l]!, { transposeB: true, alpha: -1, beta: 1 });
          continue;
        }
        be.binary('mul', u[l]!, s[l]!, dA[l]!);
        be.sum(col, u[l]!, 1);
        be.binary('sub', g, g, col);
      }
    },
    transition,
    sweep(beta: number) {
      oddInput();
      for (const l of odd) {
        be.axpby(p[l]!, beta, x[l]!, 0, x[l]!);
        be.unary('sigmoid', p[l]!, p[l]!);
      }
      transition(beta);
    },
  };
}

export interface DbmAnnealOptions extends Watch {
  readonly base: DbmAnnealingBase;
  readonly betas: Float64Array;
  readonly rows: number;
  /** `forward`: from the base up to beta = 1; `reverse`: from `start` down to beta = 0. */
  readonly direction: 'forward' | 'reverse';
  /**
   * The even layers' starting states, [rows, n_l] each (undefined for the odd layers): reverse, all of them;
   * forward with a clamped visible layer, v (the hidden ones are drawn from the base).
   */
  readonly start?: readonly (Float32Array | undefined)[];
  /** Reverse: Gibbs sweeps at beta = 1 before the first step (RAISE's T_K^m). */
  readonly startSweeps?: number;
  /** Gibbs sweeps at each inverse temperature (default 1). */
  readonly stepSweeps?: number;
  readonly maxAbsInput: number;
  readonly random: RandomStream;
  readonly label: string;
  readonly progress?: { readonly done: number; readonly total: number };
  /** Filled with the even hidden layers' last states ([rows, n_l] each), when given. */
  readonly finalStates?: (Float32Array | undefined)[];
}

/**
 * Runs `rows` chains along `betas` and returns each one's log-weight, summed in float64. Forward: log w
 * estimates log Z - log Z_0. Reverse (RAISE's chain): sum_k log p*_k(x_k) - log p*_{k+1}(x_k), which
 * times p*_1(start) / Z_0 is the weight of Burda et al.'s reverse path.
 */
export async function dbmAnneal(model: DBM, options: DbmAnnealOptions): Promise<Float64Array> {
  const { rows, direction, base } = options;
  const be = model.backend;
  if ((direction === 'reverse' || base.clampVisible) && !options.start?.[0])
    throw new ArgumentError('this annealing starts from given states (options.start)');
  if (options.signal?.aborted) throw new AbortedError(options.label, 0, options.betas.length - 1);
  return withScope(be, async (scope) => {
    const rnd = new DeviceRandom(be, options.random);
    const path = dbmAnnealingPath(model, scope, base, rows, rnd, options.maxAbsInput);
    options.start?.forEach((states, l) => {
      if (states) be.write(path.s[l]!, states);
    });
    const scratch = [...path.scratch, ...path.oddInputs];
    if (direction === 'forward') fused(be, 'dbm-ais-start', () => path.drawBase(), { scratch });
    const logW = await runSchedule(be, {
      ...options,
      scratch,
      logw: path.logw,
      step: (from, to) => {
        path.oddInput();
        path.accumulate(from, to);
      },
      transition: path.transition,
      sweep: path.sweep,
      units: { sweep: 'dbm-ais-sweep', step: 'dbm-ais-step' },
    });
    const out = options.finalStates;
    if (out) for (let l = 2; l < model.sizes.length; l += 2) out[l] = Float32Array.from(await be.read(path.s[l]!));
    return logW;
  });
}
