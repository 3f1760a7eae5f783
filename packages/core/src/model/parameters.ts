import type { HostArray } from '../backend/types.js';
import { checkMemory, modelMemory } from '../budget.js';
import {
  assertColumns,
  assertFinite,
  assertUnitInterval,
  columnMeans,
  type Dataset,
  describeValue,
} from '../data/dataset.js';
import { checkBatch, identityIndices } from '../data/source.js';
import { ArgumentError, ShapeError, TooLargeError } from '../errors.js';
import type { Watch } from '../progress.js';
import { RandomStream, Streams } from '../random/stream.js';
import { HIDDEN_UNITS, type HiddenUnits } from './hidden-units.js';
import type { RBM } from './rbm.js';
import type { VisibleUnits, VisibleUnitType } from './units.js';

/**
 * An RBM's parameters as plain host data: their types, their initialisation (Hinton 2010, section 8), the
 * checks every model and file goes through, and the energy in float64. The device model is ./rbm.ts.
 */

/** `signal` and `onProgress` are checked between chunks of sweeps (an aborted signal: an `AbortedError`). */
export interface SampleOptions extends Watch {
  readonly chains?: number;
  readonly steps: number;
  readonly seed?: number;
  readonly init?: Dataset;
}

/** Samples on the host: the last p(v | h) (means) and states, `rows` chains. */
export interface Samples {
  readonly probabilities: HostArray;
  readonly states: HostArray;
  readonly rows: number;
}

/** Parameters on the host: W is [numVisible, numHidden] row-major; a (visible) and b (hidden) biases. */
export interface RbmParameters {
  readonly numVisible: number;
  readonly numHidden: number;
  readonly weights: Float32Array;
  readonly visibleBias: Float32Array;
  readonly hiddenBias: Float32Array;
  /** Default `bernoulli`. */
  readonly visibleUnits?: VisibleUnits;
  /** Gaussian units: log variances z (default 0: unit variances). */
  readonly logVariance?: Float32Array;
  /**
   * Softmax units: the sizes of the one-hot groups that end the visible layer (a classification RBM's
   * labels are one group of as many units as classes); the units before them are Bernoulli.
   */
  readonly softmaxGroups?: readonly number[];
  /** Hidden units (default `bernoulli`; see ./hidden-units.ts): `gaussian` (unit variance) or `nrelu`. */
  readonly hiddenUnits?: HiddenUnits;
}

export interface InitOptions {
  readonly numVisible: number;
  readonly numHidden: number;
  /** Seed of the initial weights (stream `init`). */
  readonly seed?: number;
  /** Standard deviation of W's initial N(0, sigma^2) entries; 0.01 as in Hinton's practical guide. */
  readonly weightScale?: number;
  /** Training data: the visible biases start at log(p / (1 - p)) of its column means. */
  readonly data?: Dataset;
  /** Or the column means themselves (for data read from a {@link DataSource}: `sourceColumnMeans`). */
  readonly means?: ArrayLike<number>;
  /** Visible unit type (default bernoulli). Gaussian visible biases start at the data means, variances at 1. */
  readonly visibleUnits?: VisibleUnits;
  /** Softmax units: the group sizes (see {@link RbmParameters.softmaxGroups}); biases start at log p of the data. */
  readonly softmaxGroups?: readonly number[];
  /** Hidden unit type (default bernoulli). */
  readonly hiddenUnits?: HiddenUnits;
}

/** Clamp for the data means in the visible-bias initialisation, so that constant pixels get finite biases. */
const MEAN_CLAMP = 1e-3;

/** The most weights a model may have: 2^28 float32 values are 1 GiB. */
export const MAX_WEIGHTS = 2 ** 28;

function checkUnits(numVisible: number, numHidden: number): void {
  for (const [name, n] of [
    ['numVisible', numVisible],
    ['numHidden', numHidden],
  ] as const) {
    if (!Number.isInteger(n) || n < 1)
      throw new ArgumentError(
        `${name} must be a positive integer, got ${typeof n === 'number' ? n : `${JSON.stringify(n) ?? 'undefined'} (${typeof n})`}`,
      );
  }
  if (numVisible * numHidden > MAX_WEIGHTS) {
    throw new TooLargeError(
      `${numVisible} x ${numHidden} = ${numVisible * numHidden} weights, more than the ${MAX_WEIGHTS} (1 GiB of float32) a model may have`,
    );
  }
  const { bytes, detail } = modelMemory(numVisible, numHidden);
  checkMemory(`a ${numVisible}-${numHidden} model`, bytes, detail);
}

function isHostArray(x: unknown): x is HostArray {
  return x instanceof Float32Array || x instanceof Float64Array;
}

/**
 * Checks that `data` is a Dataset ({ data, rows, cols } with a Float32Array or Float64Array) or a typed
 * array of whole rows of `cols` values, and returns it as a Dataset.
 */
export function asDataset(data: unknown, cols: number, what: string): Dataset {
  if (isHostArray(data)) {
    const rows = data.length / cols;
    if (!Number.isInteger(rows) || rows < 1)
      throw new ShapeError(`${what}: ${data.length} values are not a whole number of rows of ${cols}`);
    // Read only: the checks and the upload accept either precision.
    return { data: data as Float32Array, rows, cols };
  }
  const ds = data as Partial<Dataset> | null;
  if (ds === null || typeof ds !== 'object' || !isHostArray(ds.data)) {
    throw new ArgumentError(
      `${what}: expected a Float32Array, a Float64Array or a Dataset { data, rows, cols }, got ${describeValue(ds?.data ?? data)}`,
    );
  }
  if (
    !Number.isInteger(ds.rows) ||
    !Number.isInteger(ds.cols) ||
    ds.rows! < 1 ||
    ds.rows! * ds.cols! !== ds.data.length
  )
    throw new ShapeError(`${what}: a Dataset of ${ds.rows} x ${ds.cols} cannot hold ${ds.data.length} values`);
  if (ds.cols !== cols) throw new ShapeError(`${what}: rows have ${ds.cols} values, expected ${cols}`);
  return ds as Dataset;
}

/** Initial parameters as in Hinton, "A practical guide to training RBMs" (2010), section 8. */
export function initialParameters(options: InitOptions): RbmParameters {
  if (options === null || typeof options !== 'object')
    throw new ArgumentError(
      `initial parameters need options { numVisible, numHidden, ... }, got ${options === null ? 'null' : typeof options}`,
    );
  const { numVisible, numHidden } = options;
  checkUnits(numVisible, numHidden);
  const scale = options.weightScale ?? 0.01;
  if (!(scale >= 0) || !Number.isFinite(scale)) throw new ArgumentError(`weightScale must be >= 0, got ${scale}`);
  const weights = new Float32Array(numVisible * numHidden);
  new RandomStream(options.seed ?? 0, Streams.init).normal(weights);
  for (let i = 0; i < weights.length; i++) weights[i]! *= scale;
  const visibleBias = new Float32Array(numVisible);
  const gaussian = options.visibleUnits === 'gaussian';
  let p: ArrayLike<number> | undefined = options.means;
  if (options.data) {
    assertColumns(options.data, numVisible, 'initialisation');
    if (gaussian) assertFinite(options.data);
    else assertUnitInterval(options.data);
    p = columnMeans(options.data);
  }
  // The biases are filled in below; the arrays are the returned ones.
  const base = { numVisible, numHidden, weights, visibleBias, hiddenBias: new Float32Array(numHidden) };
  if (gaussian) {
    if (p) visibleBias.set(Float32Array.from(p));
    return withHidden(
      { ...base, visibleUnits: 'gaussian', logVariance: new Float32Array(numVisible) },
      options.hiddenUnits,
    );
  }
  const softmax = options.visibleUnits === 'softmax';
  if (softmax) checkGroups(numVisible, options.softmaxGroups);
  const groups = softmax ? options.softmaxGroups! : [];
  const grouped = numVisible - groups.reduce((x, k) => x + k, 0);
  if (p) {
    if (p.length !== numVisible) throw new ShapeError(`means has ${p.length} values, expected ${numVisible}`);
    for (let i = 0; i < numVisible; i++) {
      const pi = Math.min(1 - MEAN_CLAMP, Math.max(MEAN_CLAMP, p[i]!));
      // Softmax groups: a_k = log p_k gives p(v_G = e_k) = p_k in the model without weights.
      visibleBias[i] = i >= grouped ? Math.log(pi) : Math.log(pi / (1 - pi));
    }
  }
  return withHidden(
    { ...base, ...(softmax ? { visibleUnits: 'softmax' as const, softmaxGroups: [...groups] } : {}) },
    options.hiddenUnits,
  );
}

/** The hidden units of `options` on the parameters (left out when Bernoulli), checked with them. */
function withHidden(p: RbmParameters, hidden: HiddenUnits | undefined): RbmParameters {
  const q = hidden === undefined || hidden === 'bernoulli' ? p : { ...p, hiddenUnits: hidden };
  checkHiddenUnits(q);
  return q;
}

/**
 * Hidden units other than Bernoulli: a known type; not Gaussian under Gaussian visible units (the energy is
 * then unbounded below for large weights: no distribution), not under softmax units (a classifier's label
 * posterior sums its hidden layer out as binary units).
 */
export function checkHiddenUnits(p: RbmParameters): void {
  const h = p.hiddenUnits;
  if (h === undefined || h === 'bernoulli') return;
  if (!HIDDEN_UNITS.includes(h))
    throw new ArgumentError(`hiddenUnits must be one of ${HIDDEN_UNITS.join(', ')}, got ${JSON.stringify(h)}`);
  if (h === 'gaussian' && p.visibleUnits === 'gaussian')
    throw new ArgumentError(
      'Gaussian hidden units under Gaussian visible units make no proper distribution; use nrelu or bernoulli hidden units',
    );
  if (p.visibleUnits === 'softmax')
    throw new ArgumentError(
      `${h} hidden units are not for softmax visible units (a classifier's hidden units are binary)`,
    );
}

/** Softmax group sizes: integers >= 2 whose sum is at most the visible units. */
function checkGroups(numVisible: number, groups: readonly number[] | undefined): void {
  if (!Array.isArray(groups) || groups.length === 0)
    throw new ArgumentError(`softmax visible units need softmaxGroups (group sizes), got ${JSON.stringify(groups)}`);
  for (const k of groups) {
    if (!Number.isInteger(k) || k < 2)
      throw new ArgumentError(`softmax group sizes must be integers >= 2, got ${JSON.stringify(groups)}`);
  }
  const total = groups.reduce((x, k) => x + k, 0);
  if (total > numVisible)
    throw new ShapeError(`softmax groups of ${total} units in all do not fit in ${numVisible} visible units`);
}

export function checkParameters(p: RbmParameters): void {
  if (p === null || typeof p !== 'object')
    throw new ArgumentError(`parameters: expected an object, got ${describeValue(p)}`);
  checkUnits(p.numVisible, p.numHidden);
  const expect = (name: string, arr: ArrayLike<number>, n: number) => {
    if (!ArrayBuffer.isView(arr) && !Array.isArray(arr))
      throw new ArgumentError(`${name}: expected a Float32Array, got ${describeValue(arr)}`);
    if (arr.length !== n) throw new ShapeError(`${name} has ${arr.length} values, expected ${n}`);
    for (let i = 0; i < arr.length; i++) {
      // Parameters are stored as float32: 1e300 would silently become Infinity.
      if (!Number.isFinite(Math.fround(arr[i]!))) {
        throw new ArgumentError(`${name}[${i}] is ${arr[i]}, parameters must be finite in float32 (|x| < 3.4e38)`);
      }
    }
  };
  expect('weights', p.weights, p.numVisible * p.numHidden);
  expect('visibleBias', p.visibleBias, p.numVisible);
  expect('hiddenBias', p.hiddenBias, p.numHidden);
  if (
    p.visibleUnits !== undefined &&
    p.visibleUnits !== 'bernoulli' &&
    p.visibleUnits !== 'gaussian' &&
    p.visibleUnits !== 'softmax'
  ) {
    throw new ArgumentError(`visibleUnits must be 'bernoulli', 'gaussian' or 'softmax', got ${String(p.visibleUnits)}`);
  }
  checkHiddenUnits(p);
  if (p.visibleUnits === 'softmax') checkGroups(p.numVisible, p.softmaxGroups);
  else if (p.softmaxGroups !== undefined) throw new ArgumentError('softmaxGroups are for softmax visible units');
  if (p.logVariance) {
    if (p.visibleUnits !== 'gaussian') throw new ArgumentError('logVariance is for gaussian visible units');
    expect('logVariance', p.logVariance, p.numVisible);
  }
}

/** Refuses a model with Gaussian visible units where only binary ones are defined (`what` names the computation). */
export function assertBinaryUnits(model: RBM, what: string): void {
  if (model.gaussian) throw new ArgumentError(`${what} is defined for binary visible units only`);
  assertBinaryHidden(model, what);
}

/** Refuses hidden units other than Bernoulli where a computation sums over binary hidden states. */
export function assertBinaryHidden(model: { readonly hiddenUnits: HiddenUnits }, what: string): void {
  if (model.hiddenUnits !== 'bernoulli')
    throw new ArgumentError(`${what} is implemented for Bernoulli hidden units only, not ${model.hiddenUnits}`);
}

/**
 * Checks data for a visible unit type: finite for Gaussian units, in [0, 1] for Bernoulli ones; softmax
 * groups must also sum to 1 (given the type itself, `model.units`).
 */
export function assertVisibleData(ds: Dataset, units: VisibleUnits | VisibleUnitType): void {
  const name = typeof units === 'string' ? units : units.name;
  if (name === 'gaussian') {
    // Finite and within GAUSSIAN_MAX_VALUE: the check a batch read from a source gets.
    assertFinite(ds);
    checkBatch(ds.data, identityIndices(ds.rows), ds.cols, ds.source, 'gaussian');
  } else assertUnitInterval(ds);
  if (typeof units !== 'string') units.checkRows?.(ds.data, ds.rows, (r) => r, ds.source);
}

/** E(v, h) = -a.v - b.h - v W h on the host, in float64 (for tests and small models). */
export function energy(p: RbmParameters, v: ArrayLike<number>, h: ArrayLike<number>): number {
  // Gaussian hidden units add sum_j h_j^2 / 2 (NReLU units have no energy of their own: see hidden-units.ts).
  let e = 0;
  if (p.hiddenUnits === 'gaussian') for (let j = 0; j < p.numHidden; j++) e += h[j]! ** 2 / 2;
  if (p.visibleUnits === 'gaussian') {
    // sum_i (v_i - a_i)^2 / (2 s_i) - b.h - sum_ij (v_i / s_i) W_ij h_j, with s_i = exp(z_i)
    for (let i = 0; i < p.numVisible; i++) {
      const s = Math.exp(p.logVariance?.[i] ?? 0);
      e += (v[i]! - p.visibleBias[i]!) ** 2 / (2 * s);
      let wh = 0;
      for (let j = 0; j < p.numHidden; j++) wh += p.weights[i * p.numHidden + j]! * h[j]!;
      e -= (v[i]! / s) * wh;
    }
    for (let j = 0; j < p.numHidden; j++) e -= p.hiddenBias[j]! * h[j]!;
    return e;
  }
  for (let i = 0; i < p.numVisible; i++) e -= p.visibleBias[i]! * v[i]!;
  for (let j = 0; j < p.numHidden; j++) e -= p.hiddenBias[j]! * h[j]!;
  for (let i = 0; i < p.numVisible; i++) {
    if (v[i] === 0) continue;
    let s = 0;
    for (let j = 0; j < p.numHidden; j++) s += p.weights[i * p.numHidden + j]! * h[j]!;
    e -= v[i]! * s;
  }
  return e;
}
