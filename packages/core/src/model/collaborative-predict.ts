import { sigmoid, softplus } from '../backend/scalar.js';
import { memo } from '../backend/scope.js';
import { fused } from '../backend/trace.js';
import type { Backend, Tensor } from '../backend/types.js';
import type { Ratings } from '../data/ratings.js';
import { ArgumentError } from '../errors.js';
import {
  type CollaborativeModel,
  type CollaborativeParameters,
  evidenceIn,
  exactDistribution,
  expectedValue,
  hiddenInput,
  type UserEvidence,
} from './collaborative.js';

/**
 * Serving: every item's expected rating for one user, and the best unrated ones.
 *
 * One user on the host, in float64: the hidden units' input c = b + sum_{i rated} W_i^{k_i} (+ r D) is
 * formed once, then each item q's K logits, mean field (S, M & H 2007, section 2.2)
 *   a_q^k + sum_j W_qj^k p_j,   p_j = sigmoid(c_j),
 * or exact (eq. 4: the hidden units summed out; prod_j (1 + exp(c_j)) is the same for every k and cancels)
 *   a_q^k + sum_j softplus(c_j + W_qj^k),
 * and the softmax over k. At Netflix's size that is 17,770 x 5 x 100 = 8.9 million multiply-adds a user:
 * milliseconds, where a device round trip for one row costs more than the arithmetic.
 *
 * Many users at once (`rbm recommend --all`) on the device: p = p(h = 1 | V) from the host (each user's rated
 * rows only), then one product per level P_k = p W_k^T + a_k, the softmax over levels and sum_k levels_k P_k
 * for a batch of users: [B, H] x [H, items], the GEMM the backends are fast at.
 */

/** How a prediction is made: one mean-field up-down pass (the paper's fast one), or exactly (eq. 4, float64). */
export type PredictionMethod = 'mean-field' | 'exact';

/** A prediction method, checked: `mean-field` or `exact`. */
export function checkMethod(method: PredictionMethod): PredictionMethod {
  if (method !== 'mean-field' && method !== 'exact')
    throw new ArgumentError(`method must be 'mean-field' or 'exact', got ${JSON.stringify(method)}`);
  return method;
}

export interface Recommendation {
  readonly item: string;
  /** The expected rating. */
  readonly score: number;
}

/** The expected rating of every item (length numItems) given one user's evidence, in float64. */
export function expectedRatings(
  p: CollaborativeParameters,
  e: UserEvidence,
  method: PredictionMethod = 'mean-field',
): Float64Array {
  const [M, K, H] = [p.numItems, p.levels.length, p.numHidden];
  const c = hiddenInput(p, e);
  const ph = c.map(sigmoid);
  const W = p.weights;
  const out = new Float64Array(M);
  const logits = new Float64Array(K);
  const term = method === 'exact' ? exactTerms : meanFieldTerms;
  const x = method === 'exact' ? c : ph;
  for (let q = 0; q < M; q++) {
    for (let k = 0; k < K; k++) logits[k] = p.visibleBias[q * K + k]! + term(W, (q * K + k) * H, x, H);
    out[q] = expectation(logits, p.levels);
  }
  return out;
}

/** sum_j W[row + j] p_j: a mean-field logit (small functions: V8 optimises them within the first call). */
function meanFieldTerms(W: Float32Array, row: number, p: Float64Array, H: number): number {
  let s = 0;
  for (let j = 0; j < H; j++) s += W[row + j]! * p[j]!;
  return s;
}

/** sum_j softplus(c_j + W[row + j]): an exact logit less its k-free part. */
function exactTerms(W: Float32Array, row: number, c: Float64Array, H: number): number {
  let s = 0;
  for (let j = 0; j < H; j++) s += softplus(c[j]! + W[row + j]!);
  return s;
}

/** sum_k levels_k softmax_k(logits), stably. */
function expectation(logits: Float64Array, levels: readonly number[]): number {
  let max = -Infinity;
  for (let k = 0; k < logits.length; k++) if (logits[k]! > max) max = logits[k]!;
  let [z, m] = [0, 0];
  for (let k = 0; k < logits.length; k++) {
    const w = Math.exp(logits[k]! - max);
    z += w;
    m += w * levels[k]!;
  }
  return m / z;
}

/**
 * The `n` indices with the largest values, best first, ties by index, leaving out those `skip` holds (a
 * user's rated items): one pass keeping the best n in order (an insertion only for a value that enters them),
 * not a sort of every item.
 */
export function topIndices(values: ArrayLike<number>, n: number, skip?: ReadonlySet<number>): number[] {
  if (!Number.isInteger(n) || n < 1) throw new ArgumentError(`n must be a positive integer, got ${n}`);
  const best: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (skip?.has(i) || Number.isNaN(v)) continue;
    if (best.length === n && !(v > values[best[n - 1]!]!)) continue;
    let at = best.length;
    while (at > 0 && v > values[best[at - 1]!]!) at--;
    best.splice(at, 0, i);
    if (best.length > n) best.pop();
  }
  return best;
}

/**
 * Device tensors for the expected ratings of B users from their p(h = 1 | V): p [B, H] in, expected
 * [B, items] out (the expected ratings; `lse` is the softmax's scratch).
 */
export class ServingBatch {
  readonly p: Tensor;
  readonly P: Tensor[];
  readonly expected: Tensor;
  private readonly tmp: Tensor;

  constructor(
    private readonly backend: Backend,
    readonly rows: number,
    items: number,
    hidden: number,
    levels: number,
  ) {
    this.p = backend.tensor(rows, hidden);
    this.P = Array.from({ length: levels }, () => backend.tensor(rows, items));
    this.expected = backend.tensor(rows, items);
    this.tmp = backend.tensor(rows, items);
  }

  /** expected = sum_k levels_k softmax_k(p W_k^T + a_k), fused where the backend compiles. */
  run(model: CollaborativeModel): void {
    fused(this.backend, 'cf-serve', () => {
      model.visibleProbabilities(this.P, this.p, this.expected, this.tmp);
      model.expectedRating(this.expected, this.P);
    });
  }

  dispose(): void {
    for (const t of [this.p, ...this.P, this.expected, this.tmp]) this.backend.dispose(t);
  }
}

/** p(h = 1 | V) of each user in `evidence`, as float32 rows [users, H] (the host's float64, rounded). */
export function hiddenMeans(p: CollaborativeParameters, evidence: readonly UserEvidence[]): Float32Array {
  const H = p.numHidden;
  const out = new Float32Array(evidence.length * H);
  evidence.forEach((e, n) => {
    const c = hiddenInput(p, e);
    for (let j = 0; j < H; j++) out[n * H + j] = sigmoid(c[j]!);
  });
  return out;
}

/**
 * Mean-field recommendations for `users` (case indices of `r`, the evidence) in batches of `batchSize` on the
 * device: per user its `n` best unrated items (`top`, indices) and its row of expected ratings (`values`, valid
 * until the next batch); `done` is the users finished, on each batch's last user.
 */
export async function* servingBatches(
  model: CollaborativeModel,
  p: CollaborativeParameters,
  r: Ratings,
  users: readonly number[],
  n: number,
  batchSize: number,
): AsyncGenerator<{ user: number; top: number[]; values: ArrayLike<number>; done?: number }> {
  const [M, be] = [p.numItems, model.backend];
  const B = Math.max(1, Math.min(batchSize, users.length));
  const spaces = new Map<number, ServingBatch>();
  try {
    for (let start = 0; start < users.length; start += B) {
      const batch = users.slice(start, start + B);
      const space = memo(
        spaces,
        batch.length,
        () => new ServingBatch(be, batch.length, M, p.numHidden, p.levels.length),
      );
      be.write(
        space.p,
        hiddenMeans(
          p,
          batch.map((u) => evidenceIn(r, u)),
        ),
      );
      space.run(model);
      const values = await be.read(space.expected);
      for (const [row, u] of batch.entries()) {
        const own = values.subarray(row * M, (row + 1) * M);
        const top = topIndices(own, n, new Set(evidenceIn(r, u).items));
        yield { user: u, top, values: own, ...(row === batch.length - 1 ? { done: start + batch.length } : {}) };
      }
    }
  } finally {
    for (const space of spaces.values()) space.dispose();
  }
}

/**
 * The exact expected rating (eq. 4) of each pair of `queries`, each case's evidence its ratings in `inputs`
 * (same ids); for the conditional RBM, r is the case's rated items and its queried ones (the paper's protocol:
 * which movies a user rated is known for the qualifying set). Float64, on the host.
 */
export function exactPredictions(p: CollaborativeParameters, inputs: Ratings, queries: Ratings): Float64Array {
  const out = new Float64Array(queries.user.length);
  for (let k = 0; k < queries.user.length; k++) {
    const c = queries.user[k]!;
    const own = evidenceIn(inputs, c);
    const asked = evidenceIn(queries, c).items;
    const rated = p.ratedWeights ? { rated: [...new Set([...own.items, ...asked])] } : {};
    const dist = exactDistribution(p, { ...own, ...rated }, queries.item[k]!);
    out[k] = expectedValue(p.levels, dist);
  }
  return out;
}

/**
 * Mean-field predictions of the pairs in `queries` on the host, in float64: per user p = sigmoid(c) from the
 * evidence in `inputs` (same ids; `rated`, the conditional RBM's r per user), then per pair the K logits
 * a_q^k + W_q^k . p and their expectation. H multiply-adds a rating of evidence and K H a pair asked, where the
 * device's dense pass predicts every item of every user asked about.
 */
export function hostPredictions(
  p: CollaborativeParameters,
  inputs: Ratings,
  queries: Ratings,
  rated?: readonly ArrayLike<number>[],
): Float64Array {
  const [K, H] = [p.levels.length, p.numHidden];
  const out = new Float64Array(queries.user.length);
  const logits = new Float64Array(K);
  for (let u = 0; u + 1 < queries.userStart.length; u++) {
    const [qs, qe] = [queries.userStart[u]!, queries.userStart[u + 1]!];
    if (qe === qs) continue;
    const c = hiddenInput(p, {
      ...evidenceIn(inputs, u),
      ...(p.ratedWeights && rated?.[u] ? { rated: rated[u] } : {}),
    });
    const ph = c.map(sigmoid);
    for (let k = qs; k < qe; k++) {
      const q = queries.item[k]!;
      for (let l = 0; l < K; l++)
        logits[l] = p.visibleBias[q * K + l]! + meanFieldTerms(p.weights, (q * K + l) * H, ph, H);
      out[k] = expectation(logits, p.levels);
    }
  }
  return out;
}
