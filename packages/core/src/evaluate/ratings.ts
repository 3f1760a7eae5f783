import { memo } from '../backend/scope.js';
import { fused } from '../backend/trace.js';
import type { Ratings } from '../data/ratings.js';
import { ShapeError } from '../errors.js';
import type { CollaborativeModel } from '../model/collaborative.js';
import { ratedSets, Workspace } from '../model/collaborative-batch.js';
import { hostPredictions } from '../model/collaborative-predict.js';

/**
 * JavaScript's loops against a backend's products: how many times more a flop costs on the host, for the
 * choice between the two passes below (ONNX Runtime's products run at 30-70 GFLOP/s here, the host's dot
 * products at about 1).
 */
export const HOST_FLOP_COST = 30;

/**
 * Which pass {@link predictQueries} takes by default: the one with less work, a host flop counted
 * `HOST_FLOP_COST` (30) times (dense: 4 K H flops an item of each user asked about; host: 2 H a rating of
 * their evidence and 2 K H a pair asked).
 */
export function predictionPass(
  model: { readonly numItems: number; readonly numLevels: number; readonly numHidden: number },
  inputs: Ratings,
  queries: Ratings,
): 'device' | 'host' {
  const [M, K, H] = [model.numItems, model.numLevels, model.numHidden];
  let [users, evidence] = [0, 0];
  for (let u = 0; u + 1 < queries.userStart.length; u++)
    if (queries.userStart[u + 1]! > queries.userStart[u]!) {
      users++;
      evidence += (inputs.userStart[u + 1] ?? 0) - (inputs.userStart[u] ?? 0);
    }
  return HOST_FLOP_COST * 2 * H * (evidence + K * queries.user.length) < 4 * K * H * M * users ? 'host' : 'device';
}

/**
 * Mean-field predictions (S, M & H 2007, section 2.2: p-hat = p(h = 1 | V), then p(v_q^k = 1 | p-hat)) of
 * the pairs in `queries`, each user's evidence their ratings in `inputs` (same ids). Returns the expected
 * rating of each query, in its order. `rated` is the conditional RBM's r per user (else unused).
 *
 * Two passes give the same predictions (float32 against float64): on the device, dense batches predict every
 * item of each user asked about (4 K H flops an item: two products a level) and keep the pairs asked; on the
 * host ({@link hostPredictions}), H flops a rating of evidence and K H a pair asked. `on` picks one; by default
 * the one with less work, a host flop counted `HOST_FLOP_COST` (30) times: MovieLens-100k's u1 test goes to
 * the host, and so does a held-out set of Netflix's size, whose dense pass would predict 8.5 billion pairs.
 */
export async function predictQueries(
  model: CollaborativeModel,
  inputs: Ratings,
  queries: Ratings,
  options: {
    readonly batchSize?: number;
    readonly rated?: readonly Int32Array[];
    readonly on?: 'device' | 'host';
  } = {},
): Promise<Float64Array> {
  const M = model.numItems;
  if (inputs.items.length !== M || queries.items.length !== M)
    throw new ShapeError(
      `the model has ${M} items; the ratings have ${inputs.items.length} and the queries ${queries.items.length}`,
    );
  const be = model.backend;
  const rated = model.conditional
    ? (options.rated ?? ratedSets([inputs, queries], Math.max(inputs.users.length, queries.users.length)))
    : undefined;
  const users: number[] = [];
  for (let u = 0; u + 1 < queries.userStart.length; u++)
    if (queries.userStart[u + 1]! > queries.userStart[u]!) users.push(u);
  const B = Math.min(options.batchSize ?? 100, users.length);
  const out = new Float64Array(queries.user.length);
  if (B === 0) return out;
  if ((options.on ?? predictionPass(model, inputs, queries)) === 'host')
    return hostPredictions(await model.parameters(), inputs, queries, rated);
  const spaces = new Map<number, Workspace>();
  try {
    for (let start = 0; start < users.length; start += B) {
      const batch = users.slice(start, start + B);
      const ws = memo(spaces, batch.length, () => new Workspace(be, batch.length, M, model.numHidden, model.numLevels));
      ws.input.load(inputs, batch, rated);
      const expected = ws.lse;
      fused(be, 'cf-predict', () => {
        model.hiddenProbabilities(ws.ph, ws.input.V, ws.input.rated);
        model.visibleProbabilities(ws.P, ws.ph, ws.lse, ws.tmp);
        model.expectedRating(expected, ws.P);
      });
      const values = await be.read(expected);
      batch.forEach((u, n) => {
        for (let k = queries.userStart[u]!; k < queries.userStart[u + 1]!; k++)
          out[k] = values[n * M + queries.item[k]!]!;
      });
    }
  } finally {
    for (const ws of spaces.values()) ws.dispose();
  }
  return out;
}

/** RMSE and MAE of predictions against the ratings' values. */
export function ratingErrors(
  predictions: ArrayLike<number>,
  truth: Ratings,
): { rmse: number; mae: number; count: number } {
  const n = truth.user.length;
  let se = 0;
  let ae = 0;
  for (let k = 0; k < n; k++) {
    const d = predictions[k]! - truth.levels[truth.level[k]!]!;
    se += d * d;
    ae += Math.abs(d);
  }
  return { rmse: Math.sqrt(se / n), mae: ae / n, count: n };
}
