import { assertBackend } from '../backend/check.js';
import { sigmoid, softplus } from '../backend/scalar.js';
import type { Backend, Tensor } from '../backend/types.js';
import { checkMemory, MODEL_WEIGHT_COPIES } from '../budget.js';
import { checkLevels, type Ratings } from '../data/ratings.js';
import { ArgumentError, RbmError, ShapeError } from '../errors.js';
import type { DeviceRandom } from '../random/device.js';
import { RandomStream, Streams } from '../random/stream.js';

/**
 * The collaborative-filtering RBM (Salakhutdinov, Mnih & Hinton 2007, "Restricted Boltzmann Machines for
 * Collaborative Filtering", section 2). Each user is an RBM of their own whose visible layer holds one
 * K-way softmax unit per item the user rated (K rating levels); all users share each item's weights
 * W_i^k (a row of H per level), its biases a_i^k, and the hidden biases b. With V the user's one-hot
 * ratings over the rated items only:
 *
 *   E(V, h) = - sum_{i rated} sum_k W_ij^k h_j v_i^k - sum_{i rated} sum_k v_i^k a_i^k - sum_j h_j b_j
 *   p(h_j = 1 | V)   = sigmoid(b_j + sum_{i rated} sum_k v_i^k W_ij^k)
 *   p(v_i^k = 1 | h) = exp(a_i^k + sum_j h_j W_ij^k) / sum_l exp(a_i^l + sum_j h_j W_ij^l)
 *
 * Unrated items are absent units, not zeros: they add nothing to p(h | V), nothing to the gradient, and
 * are not reconstructed. The conditional RBM (section 4) adds D [items, H]: r_i = 1 for each item the
 * user rated, rating known or not, and p(h_j = 1 | V, r) = sigmoid(b_j + ... + sum_i r_i D_ij).
 *
 * On the device a batch of B users is K one-hot matrices V_k [B, items] (rows zero at unrated items) and a
 * mask M [B, items] (1 where the rating is in V), so users with few ratings and users with many share one
 * matrix product per level, and the softmax over levels is elementwise across the K matrices: every op is
 * one of the backend interface's, so every backend runs it.
 */

/** The model's parameters on the host (float32), as model files hold them. */
export interface CollaborativeParameters {
  readonly numItems: number;
  readonly numHidden: number;
  /** The rating value of each level, ascending (K = levels.length). */
  readonly levels: readonly number[];
  /** W [numItems, K, numHidden]: item i, level k, hidden j at (i K + k) H + j. */
  readonly weights: Float32Array;
  /** a [numItems, K]. */
  readonly visibleBias: Float32Array;
  /** b [numHidden]. */
  readonly hiddenBias: Float32Array;
  /** D [numItems, numHidden]: the conditional RBM's weights from "rated or not" (absent: plain model). */
  readonly ratedWeights?: Float32Array;
}

export function checkCollaborativeParameters(p: CollaborativeParameters, where = ''): void {
  const { numItems: M, numHidden: H } = p;
  if (!Number.isInteger(M) || M < 1 || !Number.isInteger(H) || H < 1)
    throw new ShapeError(`${where}items and hidden units must be positive integers, got ${M} and ${H}`);
  checkLevels(p.levels, `${where}levels`);
  const K = p.levels.length;
  const sizes: Array<[string, ArrayLike<number> | undefined, number]> = [
    ['weights', p.weights, M * K * H],
    ['visibleBias', p.visibleBias, M * K],
    ['hiddenBias', p.hiddenBias, H],
    ['ratedWeights', p.ratedWeights, M * H],
  ];
  for (const [name, a, n] of sizes) {
    if (a === undefined) continue;
    if (a.length !== n) throw new ShapeError(`${where}${name} has ${a.length} values, expected ${n}`);
    for (let k = 0; k < a.length; k++)
      if (!Number.isFinite(a[k]!)) throw new ArgumentError(`${where}${name}[${k}] is ${a[k]}, not finite`);
  }
}

export interface CollaborativeInitOptions {
  readonly numItems: number;
  readonly numHidden: number;
  readonly levels: readonly number[];
  /** The conditional RBM (adds D). */
  readonly conditional?: boolean;
  /** Per item and level, how often the level was given ([numItems, K]): the visible biases start at their log frequencies. */
  readonly counts?: ArrayLike<number>;
  /** Standard deviation of the initial weights (default 0.01, Hinton's practical guide). */
  readonly initScale?: number;
  readonly seed?: number;
}

/** W ~ N(0, 0.01^2), a_i^k = log((n_ik + 1) / (n_i + K)) (smoothed log frequencies), b = 0, D = 0. */
export function initialCollaborativeParameters(o: CollaborativeInitOptions): CollaborativeParameters {
  const K = o.levels.length;
  const { numItems: M, numHidden: H } = o;
  checkLevels(o.levels);
  const weights = new Float32Array(M * K * H);
  const noise = new Float64Array(weights.length);
  new RandomStream(o.seed ?? 0, Streams.init).normal(noise);
  const scale = o.initScale ?? 0.01;
  for (let k = 0; k < noise.length; k++) weights[k] = scale * noise[k]!;
  const visibleBias = new Float32Array(M * K);
  for (let i = 0; i < M; i++) {
    let n = 0;
    for (let k = 0; k < K; k++) n += o.counts?.[i * K + k] ?? 0;
    for (let k = 0; k < K; k++) visibleBias[i * K + k] = Math.log(((o.counts?.[i * K + k] ?? 0) + 1) / (n + K));
  }
  return {
    numItems: M,
    numHidden: H,
    levels: [...o.levels],
    weights,
    visibleBias,
    hiddenBias: new Float32Array(H),
    ...(o.conditional ? { ratedWeights: new Float32Array(M * H) } : {}),
  };
}

/** The collaborative-filtering RBM on a backend: W as K tensors W_k [items, H], a as K rows a_k [1, items]. */
export class CollaborativeModel {
  readonly backend: Backend;
  readonly numItems: number;
  readonly numHidden: number;
  readonly levels: readonly number[];
  readonly W: readonly Tensor[];
  readonly a: readonly Tensor[];
  readonly b: Tensor;
  readonly D: Tensor | undefined;
  private disposed = false;

  private constructor(backend: Backend, p: CollaborativeParameters) {
    checkCollaborativeParameters(p);
    this.backend = assertBackend(backend);
    const { numItems: M, numHidden: H } = p;
    const K = p.levels.length;
    checkMemory(
      `a collaborative RBM of ${M} items x ${K} levels x ${H} hidden units`,
      4 * MODEL_WEIGHT_COPIES * M * (K + 1) * H,
      `${MODEL_WEIGHT_COPIES} copies of ${M} x ${K + 1} x ${H} weights, float32`,
    );
    this.numItems = M;
    this.numHidden = H;
    this.levels = [...p.levels];
    const [w, a] = splitLevels(p);
    this.W = w.map((data) => backend.tensor(M, H, data));
    this.a = a.map((data) => backend.tensor(1, M, data));
    this.b = backend.tensor(1, H, p.hiddenBias);
    this.D = p.ratedWeights ? backend.tensor(M, H, p.ratedWeights) : undefined;
  }

  static fromParameters(backend: Backend, p: CollaborativeParameters): CollaborativeModel {
    return new CollaborativeModel(backend, p);
  }

  get numLevels(): number {
    return this.levels.length;
  }

  get conditional(): boolean {
    return this.D !== undefined;
  }

  /** The names of {@link tensors}, in their order (checkpoints, best-epoch copies). */
  get tensorNames(): string[] {
    return collaborativeNames(this);
  }

  /** Every parameter tensor, weights first (W_k, D), then biases (a_k, b): the order updates use. */
  get tensors(): Tensor[] {
    return [...this.W, ...(this.D ? [this.D] : []), ...this.a, this.b];
  }

  private live(): void {
    if (this.disposed) throw new RbmError('DISPOSED', 'CollaborativeModel used after dispose()');
  }

  async parameters(): Promise<CollaborativeParameters> {
    this.live();
    const be = this.backend;
    const [w, a, b, d] = await Promise.all([
      Promise.all(this.W.map((t) => be.read(t))),
      Promise.all(this.a.map((t) => be.read(t))),
      be.read(this.b),
      this.D ? be.read(this.D) : Promise.resolve(undefined),
    ]);
    const { weights, visibleBias } = joinLevels(this.numItems, this.numHidden, w, a);
    return {
      numItems: this.numItems,
      numHidden: this.numHidden,
      levels: [...this.levels],
      weights,
      visibleBias,
      hiddenBias: Float32Array.from(b),
      ...(d ? { ratedWeights: Float32Array.from(d) } : {}),
    };
  }

  setParameters(p: CollaborativeParameters): void {
    this.live();
    checkCollaborativeParameters(p);
    if (
      p.numItems !== this.numItems ||
      p.numHidden !== this.numHidden ||
      p.levels.length !== this.numLevels ||
      (p.ratedWeights !== undefined) !== this.conditional
    )
      throw new ShapeError('setParameters: the parameters are for a model of another shape or kind');
    const [w, a] = splitLevels(p);
    w.forEach((data, k) => {
      this.backend.write(this.W[k]!, data);
    });
    a.forEach((data, k) => {
      this.backend.write(this.a[k]!, data);
    });
    this.backend.write(this.b, p.hiddenBias);
    if (this.D && p.ratedWeights) this.backend.write(this.D, p.ratedWeights);
  }

  /** out [B, H] = sigmoid(b + sum_k V_k W_k + r D): p(h = 1 | V, r). `rated` is needed by the conditional RBM. */
  hiddenProbabilities(out: Tensor, V: readonly Tensor[], rated?: Tensor): void {
    const be = this.backend;
    V.forEach((v, k) => {
      be.matMul(out, v, this.W[k]!, k === 0 ? undefined : { beta: 1 });
    });
    if (this.D) {
      if (!rated) throw new ArgumentError('the conditional RBM needs the rated items (r) of each user');
      be.matMul(out, rated, this.D, { beta: 1 });
    }
    be.binary('add', out, out, this.b);
    be.unary('sigmoid', out, out);
  }

  /**
   * P_k [B, items] = p(v_i^k = 1 | h) for every item: the softmax over levels of h W_k^T + a_k, taken
   * elementwise across the K matrices (`softmaxLevels`). `lse` and `tmp` are [B, items] scratch.
   */
  visibleProbabilities(P: readonly Tensor[], h: Tensor, lse: Tensor, tmp: Tensor): void {
    const be = this.backend;
    P.forEach((p, k) => {
      be.matMul(p, h, this.W[k]!, { transposeB: true });
      be.binary('add', p, p, this.a[k]!);
    });
    softmaxLevels(be, P, lse, tmp);
  }

  /**
   * out_k = one draw per (user, item) from the categorical P_k, kept only where `mask` is 1 (see
   * `sampleLevels`), with one uniform per cell of [B, items] from `random`. `u`, `c`, `s0`, `s1` are
   * [B, items] scratch.
   */
  sampleVisible(
    out: readonly Tensor[],
    P: readonly Tensor[],
    mask: Tensor,
    random: DeviceRandom,
    scratch: { readonly u: Tensor; readonly c: Tensor; readonly s: readonly [Tensor, Tensor] },
  ): void {
    random.uniform(scratch.u);
    sampleLevels(this.backend, out, P, mask, scratch);
  }

  /** out [B, items] = sum_k levels[k] P_k: the expected rating of every item. */
  expectedRating(out: Tensor, P: readonly Tensor[]): void {
    const be = this.backend;
    P.forEach((p, k) => {
      be.axpby(out, k === 0 ? 0 : 1, out, this.levels[k]!, p);
    });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const t of this.tensors) this.backend.dispose(t);
  }
}

/**
 * P_k <- exp(P_k - lse), lse = log sum_k exp(P_k): the softmax over levels of logits held as K tensors of one
 * shape, elementwise across them, stably (log-sum-exp by pairs: l <- l + softplus(x_k - l)). `lse` and `tmp`
 * have the same shape. The dense batch's [B, items] and the sparse batch's [rated, 1] both use it.
 */
export function softmaxLevels(be: Backend, P: readonly Tensor[], lse: Tensor, tmp: Tensor): void {
  be.copy(lse, P[0]!);
  for (let k = 1; k < P.length; k++) {
    be.binary('sub', tmp, P[k]!, lse);
    be.unary('softplus', tmp, tmp);
    be.binary('add', lse, lse, tmp);
  }
  for (const p of P) {
    be.binary('sub', p, p, lse);
    be.unary('exp', p, p);
  }
}

/**
 * out_k = one draw from the categorical P_k per cell, kept only where `mask` is 1, from the uniforms in `u`:
 * s_k = [u < P_1 + ... + P_k], v^k = s_k - s_{k-1}, and the last level takes the rest (mask - s_{K-1}), so
 * rounding of the sums cannot lose a draw. `c`, `s` are scratch of the same shape.
 */
export function sampleLevels(
  be: Backend,
  out: readonly Tensor[],
  P: readonly Tensor[],
  mask: Tensor,
  scratch: { readonly u: Tensor; readonly c: Tensor; readonly s: readonly [Tensor, Tensor] },
): void {
  const K = P.length;
  const { u, c, s } = scratch;
  be.copy(c, P[0]!);
  be.bernoulli(s[0], c, u);
  be.binary('mul', out[0]!, s[0], mask);
  for (let k = 1; k < K - 1; k++) {
    const [prev, cur] = [s[(k - 1) % 2]!, s[k % 2]!];
    be.binary('add', c, c, P[k]!);
    be.bernoulli(cur, c, u);
    be.binary('sub', out[k]!, cur, prev);
    be.binary('mul', out[k]!, out[k]!, mask);
  }
  const last = s[(K - 2) % 2]!;
  be.binary('mul', last, last, mask);
  be.binary('sub', out[K - 1]!, mask, last);
}

/** The file layout [items, K, H] / [items, K] as K device matrices [items, H] and K rows [items]. */
export function splitLevels(p: CollaborativeParameters): [Float32Array[], Float32Array[]] {
  const { numItems: M, numHidden: H } = p;
  const K = p.levels.length;
  const w = Array.from({ length: K }, () => new Float32Array(M * H));
  const a = Array.from({ length: K }, () => new Float32Array(M));
  for (let i = 0; i < M; i++)
    for (let k = 0; k < K; k++) {
      w[k]!.set(p.weights.subarray((i * K + k) * H, (i * K + k + 1) * H), i * H);
      a[k]![i] = p.visibleBias[i * K + k]!;
    }
  return [w, a];
}

function joinLevels(
  M: number,
  H: number,
  w: ArrayLike<number>[],
  a: ArrayLike<number>[],
): { weights: Float32Array; visibleBias: Float32Array } {
  const K = w.length;
  const weights = new Float32Array(M * K * H);
  const visibleBias = new Float32Array(M * K);
  for (let i = 0; i < M; i++)
    for (let k = 0; k < K; k++) {
      for (let j = 0; j < H; j++) weights[(i * K + k) * H + j] = w[k]![i * H + j]!;
      visibleBias[i * K + k] = a[k]![i]!;
    }
  return { weights, visibleBias };
}

/** A user's evidence: the rated items with their levels, and (conditional RBM) every item known to be rated. */
export interface UserEvidence {
  readonly items: ArrayLike<number>;
  readonly levels: ArrayLike<number>;
  /** Items rated, rating known or not (conditional RBM); default: `items`. */
  readonly rated?: ArrayLike<number>;
}

/** Case c's evidence in `r`: views of its rated items and their levels (none for a case past r's). */
export function evidenceIn(r: Ratings, c: number): { readonly items: Int32Array; readonly levels: Uint8Array } {
  const [s, e] = [r.userStart[c] ?? 0, r.userStart[c + 1] ?? 0];
  return { items: r.item.subarray(s, e), levels: r.level.subarray(s, e) };
}

/** The hidden units' total input b + sum_{i rated} W_i^{k_i} + sum_{i in r} D_i, in float64 on the host. */
export function hiddenInput(p: CollaborativeParameters, e: UserEvidence): Float64Array {
  const K = p.levels.length;
  const H = p.numHidden;
  const c = Float64Array.from(p.hiddenBias);
  for (let n = 0; n < e.items.length; n++) {
    const row = (e.items[n]! * K + e.levels[n]!) * H;
    for (let j = 0; j < H; j++) c[j]! += p.weights[row + j]!;
  }
  if (p.ratedWeights)
    for (const i of Array.from(e.rated ?? e.items)) for (let j = 0; j < H; j++) c[j]! += p.ratedWeights[i * H + j]!;
  return c;
}

/**
 * The exact predictive distribution of an unrated item q, in float64 (S, M & H 2007, eq. 4): adding q
 * as one more softmax unit and summing h out,
 *   p(v_q^k = 1 | V) ∝ exp(a_q^k) prod_j (1 + exp(c_j + W_qj^k)),   c = b + sum_{i rated} W_i^{k_i} (+ r D),
 * so log p(v_q^k) = a_q^k + sum_j softplus(c_j + W_qj^k) - log Z_q. The fast prediction, mean field,
 * replaces h by p(h = 1 | V) and takes p(v_q | p-hat): {@link meanFieldDistribution}.
 */
export function exactDistribution(p: CollaborativeParameters, e: UserEvidence, q: number): Float64Array {
  return predictive(p, e, q, (c, w) => softplus(c + w));
}

/** p(v_q | p-hat) with p-hat = p(h = 1 | V): one mean-field up-down pass, in float64 (the device's reference). */
export function meanFieldDistribution(p: CollaborativeParameters, e: UserEvidence, q: number): Float64Array {
  return predictive(p, e, q, (c, w) => w / (1 + Math.exp(-c)));
}

/** softmax_k(a_q^k + sum_j term(c_j, W_qj^k)), c the hidden units' input: both predictions above. */
function predictive(
  p: CollaborativeParameters,
  e: UserEvidence,
  q: number,
  term: (c: number, w: number) => number,
): Float64Array {
  const c = hiddenInput(p, e);
  const K = p.levels.length;
  const H = p.numHidden;
  const logits = new Float64Array(K);
  for (let k = 0; k < K; k++) {
    let s = p.visibleBias[q * K + k]!;
    const row = (q * K + k) * H;
    for (let j = 0; j < H; j++) s += term(c[j]!, p.weights[row + j]!);
    logits[k] = s;
  }
  return normalizeLogits(logits);
}

function normalizeLogits(logits: Float64Array): Float64Array {
  const m = Math.max(...logits);
  let z = 0;
  for (let k = 0; k < logits.length; k++) z += Math.exp(logits[k]! - m);
  return logits.map((x) => Math.exp(x - m) / z);
}

/** sum_k levels[k] p_k. */
export function expectedValue(levels: readonly number[], p: ArrayLike<number>): number {
  let s = 0;
  for (let k = 0; k < levels.length; k++) s += levels[k]! * p[k]!;
  return s;
}

/** The parameters' names, in the order of the model's `tensors`: W_k, D, a_k, b. */
export function collaborativeNames(model: { readonly numLevels: number; readonly conditional: boolean }): string[] {
  const K = model.numLevels;
  return [
    ...Array.from({ length: K }, (_, k) => `weights.${k}`),
    ...(model.conditional ? ['rated_weights'] : []),
    ...Array.from({ length: K }, (_, k) => `visible_bias.${k}`),
    'hidden_bias',
  ];
}

/**
 * p(h = 1 | V) of each case of `r` (its rated units and levels; the conditional RBM's D adds r, which units it
 * rated) in float64: [cases x H], x_j = b_j + sum over rated i of (W_{i, level, j} + D_{i, j}).
 */
export function hiddenFeatures(p: CollaborativeParameters, r: Ratings): Float32Array {
  const [H, K] = [p.numHidden, p.levels.length];
  const cases = r.userStart.length - 1;
  const out = new Float32Array(cases * H);
  for (let c = 0; c < cases; c++) {
    const x = Float64Array.from(p.hiddenBias);
    for (let k = r.userStart[c]!; k < r.userStart[c + 1]!; k++) {
      const [i, l] = [r.item[k]!, r.level[k]!];
      for (let j = 0; j < H; j++) x[j]! += p.weights[(i * K + l) * H + j]! + (p.ratedWeights?.[i * H + j] ?? 0);
    }
    for (let j = 0; j < H; j++) out[c * H + j] = sigmoid(x[j]!);
  }
  return out;
}
