import { softplus } from '../backend/scalar.js';
import { withScope } from '../backend/scope.js';
import { fused } from '../backend/trace.js';
import { assertExamples, assertUnitInterval, type Dataset } from '../data/dataset.js';
import { ArgumentError } from '../errors.js';
import { assertBinaryUnits, type RBM } from '../model/rbm.js';
import { RandomStream, Streams } from '../random/stream.js';

/**
 * Pseudo-likelihood (Besag 1975): PL(v) = sum_i log p(v_i | v_-i). For an RBM,
 *
 *   p(v_i | v_-i) = p(v) / (p(v) + p(v^(i))) = sigmoid(F(v^(i)) - F(v)),
 *
 * where v^(i) is v with bit i flipped, so log p(v_i | v_-i) = -softplus(F(v) - F(v^(i))) needs no log Z.
 * Flipping bit i (s_i = 1 - 2 v_i) moves the hidden inputs x = b + v W by s_i W_i:
 *
 *   F(v^(i)) - F(v) = -s_i a_i - sum_j [softplus(x_j + s_i W_ij) - softplus(x_j)].
 */

export interface PseudoLikelihoodOptions {
  /**
   * `full` (default): every bit flipped, the exact pseudo-likelihood.
   * `random-bit`: one random bit per example, scaled by the number of visible units (scikit-learn's
   * BernoulliRBM.score_samples): an unbiased, much cheaper and noisier estimate of the same quantity.
   */
  readonly method?: 'full' | 'random-bit';
  /** Seed of the random bits (default 0). */
  readonly seed?: number;
}

export interface PseudoLikelihood {
  /** Mean over examples of the pseudo-log-likelihood, in nats per example. */
  readonly mean: number;
  readonly method: 'full' | 'random-bit';
  /** Per-example values. */
  readonly perExample: Float64Array;
}

export async function pseudoLogLikelihood(
  model: RBM,
  data: Dataset,
  options: PseudoLikelihoodOptions = {},
): Promise<PseudoLikelihood> {
  assertExamples(data, model.numVisible, 'pseudoLogLikelihood');
  assertBinaryUnits(model, 'pseudo-likelihood by bit flips');
  if (model.softmaxGroups)
    throw new ArgumentError(
      'pseudo-likelihood by bit flips is defined for Bernoulli units only (flipping one unit of a softmax group leaves no one-hot state)',
    );
  assertUnitInterval(data);
  const method = options.method ?? 'full';
  if (method === 'random-bit') return randomBit(model, data, options.seed ?? 0);
  if (method !== 'full')
    throw new ArgumentError(`pseudo-likelihood method must be 'full' or 'random-bit', got ${String(method)}`);
  const be = model.backend;
  const nv = model.numVisible;
  const nh = model.numHidden;
  return withScope(be, async (scope) => {
    const aCol = scope.tensor(nv, 1, (await model.parameters()).visibleBias);
    const vRow = scope.tensor(1, nv);
    const vCol = scope.tensor(nv, 1);
    const s = scope.tensor(nv, 1);
    const one = scope.tensor(1, 1, Float32Array.of(1));
    const x = scope.tensor(1, nh);
    const spx = scope.tensor(1, nh);
    const c = scope.tensor(1, 1);
    const wide = scope.tensor(nv, nh);
    const col = scope.tensor(nv, 1);
    const as = scope.tensor(nv, 1);
    const sum = scope.tensor(1, 1);
    // Per-example values gather into a [1, CHUNK] row (sum times a one-hot row), read once per chunk.
    const CHUNK = 256;
    const gathered = scope.tensor(1, CHUNK);
    const oneHot = scope.tensor(1, CHUNK);
    const hot = new Float32Array(CHUNK);
    const perExample = new Float64Array(data.rows);
    for (let r = 0; r < data.rows; r++) {
      if (r % CHUNK === 0) be.fill(gathered, 0);
      const v = data.data.subarray(r * nv, (r + 1) * nv);
      hot.fill(0);
      hot[r % CHUNK] = 1;
      // One unit per row where the backend fuses (the same ops every row).
      fused(
        be,
        'pseudo-likelihood-row',
        () => {
          be.write(vRow, v);
          be.write(vCol, v);
          // x = v W + b, c = sum_j softplus(x_j).
          be.matMul(x, vRow, model.W);
          be.binary('add', x, x, model.b);
          be.unary('softplus', spx, x);
          be.sum(c, spx, 1);
          // s = 1 - 2 v; column i of `wide` row i: x + s_i W_i.
          be.axpby(s, -2, vCol, 0, vCol);
          be.binary('add', s, s, one);
          be.binary('mul', wide, model.W, s);
          be.binary('add', wide, wide, x);
          be.unary('softplus', wide, wide);
          be.sum(col, wide, 1);
          // F(v) - F(v^(i)) = s_i a_i + sum_j softplus(x_j + s_i W_ij) - c;  log p(v_i | v_-i) = -softplus of it.
          be.binary('mul', as, aCol, s);
          be.binary('add', col, col, as);
          be.binary('sub', col, col, c);
          be.unary('softplus', col, col);
          be.sum(sum, col, 0);
          be.write(oneHot, hot);
          be.matMul(gathered, sum, oneHot, { beta: 1 });
        },
        { scratch: [x, spx, c, s, wide, col, as, sum] },
      );
      if (r % CHUNK === CHUNK - 1 || r === data.rows - 1) {
        const got = await be.read(gathered);
        const start = r - (r % CHUNK);
        for (let i = start; i <= r; i++) perExample[i] = -got[i - start]!;
      }
    }
    let total = 0;
    for (const x of perExample) total += x;
    return { mean: total / data.rows, method, perExample };
  });
}

async function randomBit(model: RBM, data: Dataset, seed: number): Promise<PseudoLikelihood> {
  const nv = model.numVisible;
  const flipped = data.data.slice();
  const rng = new RandomStream(seed, Streams.sample);
  for (let r = 0; r < data.rows; r++) {
    const i = r * nv + rng.nextInt(nv);
    flipped[i] = 1 - flipped[i]!;
  }
  const F = await model.freeEnergy(data);
  const Fflip = await model.freeEnergy({ ...data, data: flipped });
  const perExample = new Float64Array(data.rows);
  let sum = 0;
  for (let r = 0; r < data.rows; r++) {
    // nv * log sigmoid(F(v~) - F(v)) = -nv * softplus(F(v) - F(v~))
    const d = F[r]! - Fflip[r]!;
    perExample[r] = -nv * softplus(d);
    sum += perExample[r]!;
  }
  return { mean: sum / data.rows, method: 'random-bit', perExample };
}
