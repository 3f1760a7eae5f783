import { memo } from '../backend/scope.js';
import { fused } from '../backend/trace.js';
import type { Ratings } from '../data/ratings.js';
import { ShapeError } from '../errors.js';
import type { CollaborativeModel } from '../model/collaborative.js';
import { ratedSets, Workspace } from '../model/collaborative-batch.js';

/**
 * Mean-field predictions (S, M & H 2007, section 2.2: p-hat = p(h = 1 | V), then p(v_q^k = 1 | p-hat)) of
 * the pairs in `queries`, each user's evidence their ratings in `inputs` (same ids). Returns the expected
 * rating of each query, in its order. `rated` is the conditional RBM's r per user (else unused).
 */
export async function predictQueries(
  model: CollaborativeModel,
  inputs: Ratings,
  queries: Ratings,
  options: { readonly batchSize?: number; readonly rated?: readonly Int32Array[] } = {},
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
