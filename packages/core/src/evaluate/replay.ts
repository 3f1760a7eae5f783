import { sigmoid, softplus } from '../backend/scalar.js';
import { ArgumentError } from '../errors.js';
import type { RbmParameters } from '../model/parameters.js';
import { fillUniforms } from '../random/philox.js';
import { RandomStream, Streams } from '../random/stream.js';
import type { AnnealingBase } from './anneal.js';

/**
 * One run of forward AIS replayed on the host in float64, from the uniforms that run drew: the uniforms that
 * row `run` of a batched forward AIS of `rows` runs took from the stream (its draws are row-major
 * [rows, cols] blocks of one Philox stream, one v ~ p_0, then h and v at every step but the last). A heavy
 * log-weight that float64 reproduces belongs to the model; one it does not is the arithmetic's (float32
 * rounding that turned a Bernoulli draw).
 *
 * Bernoulli visible and hidden units, forward direction. The increments are the path's own,
 *
 *   log p*_to(v) - log p*_from(v) = (to - from) (a - a_A).v + sum_j softplus(to x_j) - softplus(from x_j),
 *
 * with x = b + vW (module comment of anneal.ts), summed in float64 without the batched path's rewriting.
 */

export interface ReplayOptions {
  /** The annealing base the batched run used ({@link annealingBase}). */
  readonly base: AnnealingBase;
  readonly betas: Float64Array;
  /** Runs of the batched call, and which of them to replay (0-based). */
  readonly rows: number;
  readonly run: number;
  /** The batched call's seed (`AisOptions.seed`, default 0) and stream (default {@link Streams.ais}). */
  readonly seed?: number;
  readonly stream?: number;
}

export interface ReplayedRun {
  /** log w of the run, in float64. */
  readonly logWeight: number;
  /**
   * The smallest |u - p| over the run's Bernoulli draws (u the uniform, p its probability): how far the
   * closest draw was from turning. A float32 run takes the same draws as this one unless its p erred by more.
   */
  readonly closestDraw: number;
  /** The run's last state v (the sample it weighs at beta = 1), 0 or 1 per visible unit. */
  readonly visible: Float64Array;
}

export function replayForwardRun(p: RbmParameters, options: ReplayOptions): ReplayedRun {
  const { base, betas, rows, run } = options;
  const { numVisible: nv, numHidden: nh, weights: W, visibleBias: a, hiddenBias: b } = p;
  if ((p.visibleUnits ?? 'bernoulli') !== 'bernoulli' || (p.hiddenUnits ?? 'bernoulli') !== 'bernoulli')
    throw new ArgumentError('replayForwardRun replays Bernoulli visible and hidden units only');
  if (!Number.isInteger(run) || run < 0 || run >= rows)
    throw new ArgumentError(`run must be a whole number in 0..${rows - 1}, got ${run}`);
  const aA = base.visibleBias;
  const random = new RandomStream(options.seed ?? 0, options.stream ?? Streams.ais);
  let closestDraw = Number.POSITIVE_INFINITY;
  /** Reserves a [rows, cols] draw as the batched run does and returns row `run` of it. */
  const draw = (cols: number): Float64Array => {
    const start = random.reserve(rows * cols);
    const first = run * cols;
    const skip = first % 4;
    const u = new Float64Array(skip + cols);
    fillUniforms(u, random.k0, random.k1, random.stream, start + (first - skip) / 4);
    return u.subarray(skip);
  };
  const bernoulli = (u: number, q: number): number => {
    closestDraw = Math.min(closestDraw, Math.abs(u - q));
    return u < q ? 1 : 0;
  };

  const v = new Float64Array(nv);
  const uv0 = draw(nv);
  for (let i = 0; i < nv; i++) v[i] = bernoulli(uv0[i]!, sigmoid(aA[i]!));
  const x = new Float64Array(nh);
  const h = new Float64Array(nh);
  const K = betas.length - 1;
  let logWeight = 0;
  for (let k = 1; k <= K; k++) {
    const from = betas[k - 1]!;
    const to = betas[k]!;
    // x = b + vW, v binary: the rows of W where v is on.
    x.set(b);
    for (let i = 0; i < nv; i++) if (v[i] === 1) for (let j = 0; j < nh; j++) x[j]! += W[i * nh + j]!;
    for (let j = 0; j < nh; j++) logWeight += softplus(to * x[j]!) - softplus(from * x[j]!);
    for (let i = 0; i < nv; i++) if (v[i] === 1) logWeight += (to - from) * (a[i]! - aA[i]!);
    if (k === K) break;
    // A Gibbs sweep at beta = to: h ~ sigmoid(to x), v ~ sigmoid(to (W h + a) + (1 - to) a_A).
    const uh = draw(nh);
    for (let j = 0; j < nh; j++) h[j] = bernoulli(uh[j]!, sigmoid(to * x[j]!));
    const uv = draw(nv);
    for (let i = 0; i < nv; i++) {
      let s = 0;
      for (let j = 0; j < nh; j++) if (h[j] === 1) s += W[i * nh + j]!;
      v[i] = bernoulli(uv[i]!, sigmoid(to * (s + a[i]!) + (1 - to) * aA[i]!));
    }
  }
  return { logWeight: logWeight + base.shift, closestDraw, visible: v };
}
