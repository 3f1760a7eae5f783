import { logAddExp } from '../backend/scalar.js';
import type { Scope } from '../backend/scope.js';
import { withScope } from '../backend/scope.js';
import type { Tensor } from '../backend/types.js';
import { assertBinary, assertColumns, type Dataset } from '../data/dataset.js';
import { ArgumentError, TooLargeError } from '../errors.js';
import { assertBinaryHidden } from '../model/parameters.js';
import { assertBinaryUnits, type RBM } from '../model/rbm.js';
import { RandomStream, Streams } from '../random/stream.js';

/**
 * Exact evaluation by enumerating the smaller layer. With n units in that layer there are 2^n states;
 * summing out the other layer analytically gives, for the hidden layer,
 *
 *   log Z = log sum_h exp( b.h + sum_i softplus(a_i + (W h)_i) )
 *
 * and symmetrically log Z = log sum_v exp(-F(v)) for the visible layer. The sum is a log-sum-exp over
 * chunks of states computed on the backend; chunk results are combined on the host in float64.
 */

export interface ExactOptions {
  /** Refuse models whose smaller layer has more states than this (default 2^24). */
  readonly maxStates?: number;
  /** States per chunk (default: about 2^22 values per chunk tensor). */
  readonly chunkSize?: number;
}

export interface LogPartition {
  readonly logZ: number;
  /** The layer that was enumerated. */
  readonly enumerated: 'hidden' | 'visible';
  readonly states: number;
}

const DEFAULT_MAX_STATES = 2 ** 24;

interface Plan {
  layer: 'hidden' | 'visible';
  bits: number;
  states: number;
  chunk: number;
}

function plan(model: RBM, options: ExactOptions): Plan {
  // Gaussian visible units are integrated analytically, and softmax groups summed per group (2^nv bit
  // patterns would include states that are not one-hot), so their models always enumerate the hidden layer.
  const layer = model.units.name !== 'bernoulli' || model.numHidden <= model.numVisible ? 'hidden' : 'visible';
  const bits = layer === 'hidden' ? model.numHidden : model.numVisible;
  const maxStates = options.maxStates ?? DEFAULT_MAX_STATES;
  const states = 2 ** bits;
  if (bits > 52 || states > maxStates) {
    throw new TooLargeError(
      `exact evaluation enumerates the ${layer} layer: 2^${bits} states for a ` +
        `${model.numVisible}x${model.numHidden} model exceeds the limit of ${maxStates} (2^${Math.log2(maxStates).toFixed(0)}); ` +
        'use an estimator such as AIS instead',
    );
  }
  const other = Math.max(model.numHidden, model.numVisible);
  const fit = 2 ** Math.max(0, Math.floor(Math.log2((1 << 22) / other)));
  const chunk = Math.min(states, options.chunkSize ?? Math.max(1, fit));
  if (!Number.isInteger(chunk) || chunk < 1)
    throw new ArgumentError(`chunkSize must be a positive integer, got ${chunk}`);
  return { layer, bits, states, chunk };
}

/** Writes states start .. start+rows-1 as rows of bits (bit j of the index is unit j). */
function fillStates(buf: Float32Array, start: number, rows: number, bits: number): void {
  for (let r = 0; r < rows; r++) {
    const index = start + r;
    // index < 2^52: use arithmetic rather than 32-bit shifts.
    let x = index;
    for (let j = 0; j < bits; j++) {
      buf[r * bits + j] = x % 2;
      x = Math.floor(x / 2);
    }
  }
}

/**
 * Computes, for a chunk of states S (rows), out[S, 1] = the unnormalised log-marginal of each state:
 * b.h + log sum_v exp(v.a + v W h) for hidden states (the unit type sums or integrates v out:
 * `logSumOverVisible`; Gaussian units leave a constant that {@link gaussianConstant} adds on the host),
 * -F(v) for visible states. `wide` is [S, other].
 */
function logMarginal(model: RBM, p: Plan, out: Tensor, states: Tensor, wide: Tensor): void {
  if (p.layer === 'visible') {
    model.negativeFreeEnergy(out, states, wide);
    return;
  }
  model.backend.matMul(wide, states, model.W, { transposeB: true });
  model.units.logSumOverVisible(model, out, wide);
  model.backend.matMul(out, states, model.b, { transposeB: true, beta: 1 });
}

async function forEachChunk(
  model: RBM,
  p: Plan,
  scope: Scope,
  body: (states: Tensor, logm: Tensor, wide: Tensor, rows: number) => Promise<void>,
): Promise<void> {
  const host = new Float32Array(p.chunk * p.bits);
  const other = p.layer === 'hidden' ? model.numVisible : model.numHidden;
  const states = scope.tensor(p.chunk, p.bits);
  const logm = scope.tensor(p.chunk, 1);
  const wide = scope.tensor(p.chunk, other);
  for (let start = 0; start < p.states; start += p.chunk) {
    // The last chunk is full too: p.states and p.chunk are powers of two.
    fillStates(host, start, p.chunk, p.bits);
    model.backend.write(states, host);
    logMarginal(model, p, logm, states, wide);
    await body(states, logm, wide, p.chunk);
  }
}

/** Exact log Z. */
export async function exactLogPartition(model: RBM, options: ExactOptions = {}): Promise<LogPartition> {
  assertBinaryHidden(model, 'exact log Z');
  const p = plan(model, options);
  return withScope(model.backend, async (scope) => {
    const lse = scope.tensor(1, 1);
    let logZ = Number.NEGATIVE_INFINITY;
    await forEachChunk(model, p, scope, async (_states, logm) => {
      model.backend.logSumExp(lse, logm, 0);
      const [x] = await model.backend.read(lse);
      logZ = logAddExp(logZ, x!);
    });
    return { logZ: logZ + (await gaussianConstant(model)), enumerated: p.layer, states: p.states };
  });
}

/** The visible layer's constant: sum_i log(2 pi sigma_i^2) / 2 for Gaussian units (their integral), else 0. */
export async function gaussianConstant(model: RBM): Promise<number> {
  return model.units.logPartitionConstant(model.z ? await model.backend.read(model.z) : undefined);
}

export interface ExactLogLikelihood {
  /** Mean log p(v) over the rows of the data, in nats per example. */
  readonly mean: number;
  /** log p(v) of each row. */
  readonly perExample: Float64Array;
  readonly logZ: number;
}

/** Exact log-likelihood of each row of `data`: log p(v) = -F(v) - log Z. */
export async function exactLogLikelihood(
  model: RBM,
  data: Dataset,
  options: ExactOptions & { logZ?: number } = {},
): Promise<ExactLogLikelihood> {
  assertColumns(data, model.numVisible, 'exactLogLikelihood');
  const logZ = options.logZ ?? (await exactLogPartition(model, options)).logZ;
  const F = await model.freeEnergy(data);
  const perExample = F.map((f) => -f - logZ);
  let sum = 0;
  for (const x of perExample) sum += x;
  return { mean: sum / perExample.length, perExample, logZ };
}

/** The empirical distribution of binary data: each distinct row with its probability. */
export function empiricalDistribution(data: Dataset): { rows: Dataset; probabilities: Float64Array } {
  assertBinary(data);
  const counts = new Map<string, { index: number; count: number }>();
  for (let i = 0; i < data.rows; i++) {
    let key = '';
    for (let j = 0; j < data.cols; j++) key += data.data[i * data.cols + j] ? '1' : '0';
    const entry = counts.get(key);
    if (entry) entry.count++;
    else counts.set(key, { index: i, count: 1 });
  }
  const unique = new Float32Array(counts.size * data.cols);
  const probabilities = new Float64Array(counts.size);
  let r = 0;
  for (const { index, count } of counts.values()) {
    unique.set(data.data.subarray(index * data.cols, (index + 1) * data.cols), r * data.cols);
    probabilities[r] = count / data.rows;
    r++;
  }
  return { rows: { data: unique, rows: counts.size, cols: data.cols }, probabilities };
}

/**
 * KL(q || p) = sum_v q(v) (log q(v) - log p(v)) for the empirical distribution q of binary data:
 * the quantity that maximum-likelihood training minimises, 0 when the model reproduces the data exactly.
 */
export async function exactKL(model: RBM, data: Dataset, options: ExactOptions = {}): Promise<number> {
  assertBinaryUnits(model, 'exactKL');
  assertColumns(data, model.numVisible, 'exactKL');
  const q = empiricalDistribution(data);
  const ll = await exactLogLikelihood(model, q.rows, options);
  let kl = 0;
  for (let r = 0; r < q.probabilities.length; r++) {
    const qr = q.probabilities[r]!;
    kl += qr * (Math.log(qr) - ll.perExample[r]!);
  }
  return kl;
}

export interface Gradient {
  /** d/dW of the mean log-likelihood, [numVisible * numHidden] row-major. */
  readonly weights: Float64Array;
  readonly visibleBias: Float64Array;
  readonly hiddenBias: Float64Array;
}

/**
 * The exact gradient of the mean log-likelihood of `data`:
 *   d/dW = <v h^T>_data - <v h^T>_model,  d/da = <v>_data - <v>_model,  d/db = <h>_data - <h>_model,
 * with h ~ p(h|v) in the data term taken analytically (p(h = 1 | v)), and the model term by enumeration.
 */
export async function exactGradient(model: RBM, data: Dataset, options: ExactOptions = {}): Promise<Gradient> {
  assertBinaryHidden(model, 'exactGradient');
  assertBinaryUnits(model, 'exactGradient');
  assertColumns(data, model.numVisible, 'exactGradient');
  const p = plan(model, options);
  const { logZ } = await exactLogPartition(model, options);
  const be = model.backend;
  const nv = model.numVisible;
  const nh = model.numHidden;
  return withScope(be, async (scope) => {
    // Data term.
    const v = scope.tensor(data.rows, nv, data.data);
    const ph = scope.tensor(data.rows, nh);
    model.hiddenProbabilities(ph, v);
    const dataVH = scope.tensor(nv, nh);
    be.matMul(dataVH, v, ph, { transposeA: true, alpha: 1 / data.rows });
    const dataV = scope.tensor(1, nv);
    be.sum(dataV, v, 0);
    const dataH = scope.tensor(1, nh);
    be.sum(dataH, ph, 0);

    // Model term: weights p(state) = exp(logm - log Z) per enumerated state.
    const modelVH = scope.tensor(nv, nh);
    const modelV = scope.tensor(1, nv);
    const modelH = scope.tensor(1, nh);
    const logZt = scope.tensor(1, 1, Float32Array.of(logZ));
    const probs = scope.tensor(p.chunk, 1);
    const cond = scope.tensor(p.chunk, p.layer === 'hidden' ? nv : nh);
    const weighted = scope.tensor(p.chunk, p.bits);
    const weightedCond = scope.tensor(p.chunk, cond.cols);
    const rowV = scope.tensor(1, nv);
    const rowH = scope.tensor(1, nh);
    let first = true;
    await forEachChunk(model, p, scope, async (states, logm) => {
      be.binary('sub', probs, logm, logZt);
      be.unary('exp', probs, probs);
      be.binary('mul', weighted, states, probs);
      const beta = first ? 0 : 1;
      if (p.layer === 'hidden') {
        model.visibleProbabilities(cond, states); // E[v | h]
        be.matMul(modelVH, cond, weighted, { transposeA: true, beta });
        be.binary('mul', weightedCond, cond, probs);
        be.sum(rowV, weightedCond, 0);
        be.sum(rowH, weighted, 0);
      } else {
        model.hiddenProbabilities(cond, states); // E[h | v]
        be.matMul(modelVH, weighted, cond, { transposeA: true, beta });
        be.binary('mul', weightedCond, cond, probs);
        be.sum(rowV, weighted, 0);
        be.sum(rowH, weightedCond, 0);
      }
      if (first) {
        be.copy(modelV, rowV);
        be.copy(modelH, rowH);
      } else {
        be.binary('add', modelV, modelV, rowV);
        be.binary('add', modelH, modelH, rowH);
      }
      first = false;
    });
    const [dvh, dv, dh, mvh, mv, mh] = await Promise.all(
      [dataVH, dataV, dataH, modelVH, modelV, modelH].map((t) => be.read(t)),
    );
    const weights = new Float64Array(nv * nh);
    for (let i = 0; i < weights.length; i++) weights[i] = dvh![i]! - mvh![i]!;
    const visibleBias = new Float64Array(nv);
    for (let i = 0; i < nv; i++) visibleBias[i] = dv![i]! / data.rows - mv![i]!;
    const hiddenBias = new Float64Array(nh);
    for (let j = 0; j < nh; j++) hiddenBias[j] = dh![j]! / data.rows - mh![j]!;
    return { weights, visibleBias, hiddenBias };
  });
}

/**
 * Exact samples of p(v) for a model small enough to enumerate: a state of the smaller layer is drawn from
 * its exact marginal, then (when that layer is the hidden one) v ~ p(v | h). For tests and for starting
 * reverse AIS from the model itself.
 */
export async function exactSamples(
  model: RBM,
  count: number,
  options: ExactOptions & { seed?: number } = {},
): Promise<Dataset> {
  assertBinaryHidden(model, 'exactSamples');
  if (!Number.isInteger(count) || count < 1) throw new ArgumentError(`count must be a positive integer, got ${count}`);
  const p = plan(model, options);
  const logm = new Float64Array(p.states);
  await withScope(model.backend, async (scope) => {
    let start = 0;
    await forEachChunk(model, p, scope, async (_states, lm) => {
      logm.set(await model.backend.read(lm), start);
      start += p.chunk;
    });
  });
  let max = Number.NEGATIVE_INFINITY;
  for (const x of logm) max = Math.max(max, x);
  const cdf = new Float64Array(p.states);
  let acc = 0;
  for (let s = 0; s < p.states; s++) {
    acc += Math.exp(logm[s]! - max);
    cdf[s] = acc;
  }
  const rng = new RandomStream(options.seed ?? 0, Streams.sample);
  const u = new Float64Array(count);
  rng.uniform(u);
  const states = new Float32Array(count * p.bits);
  for (let r = 0; r < count; r++) {
    const target = u[r]! * acc;
    let lo = 0;
    let hi = p.states - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! > target) hi = mid;
      else lo = mid + 1;
    }
    fillStates(states.subarray(r * p.bits, (r + 1) * p.bits), lo, 1, p.bits);
  }
  if (p.layer === 'visible') return { data: states, rows: count, cols: p.bits };
  // v ~ p(v | h), with the same stream: Bernoulli, or Gaussian around the mean.
  const pv = await model.visibleGivenHidden(states);
  const noise = new Float32Array(count * model.numVisible);
  if (model.z) {
    rng.normal(noise);
    const z = await model.backend.read(model.z);
    const v = Float32Array.from(pv, (x, i) => x + Math.exp(0.5 * z[i % model.numVisible]!) * noise[i]!);
    return { data: v, rows: count, cols: model.numVisible };
  }
  rng.uniform(noise);
  const v = Float32Array.from(pv, (x, i) => (noise[i]! < x ? 1 : 0));
  return { data: v, rows: count, cols: model.numVisible };
}
