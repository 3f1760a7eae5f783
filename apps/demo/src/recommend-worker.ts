/// <reference lib="webworker" />
import { createJsBackend } from '@rbmjs/backend-js';
import { CollaborativeRBM, holdoutSplit, levelCounts, ratingsFromTriples, syntheticRatings } from '@rbmjs/core';

/**
 * The recommendations page's worker: generates the catalogue's ratings, trains a collaborative-filtering RBM
 * on them (reporting the held-out RMSE each epoch), then answers requests with the visitor as one more user.
 */

export type ToRecommender =
  | { readonly type: 'train'; readonly users: number; readonly items: number; readonly seed: number }
  | {
      readonly type: 'recommend';
      readonly id: number;
      readonly ratings: ReadonlyArray<[number, number]>;
      readonly top: number;
    };

export type FromRecommender =
  | { readonly type: 'epoch'; readonly epoch: number; readonly epochs: number; readonly rmse: number }
  | {
      readonly type: 'ready';
      readonly ratings: number;
      readonly rmse: number;
      readonly itemMeanRmse: number;
      readonly means: number[];
    }
  | {
      readonly type: 'recommended';
      readonly id: number;
      readonly items: ReadonlyArray<{ item: number; score: number }>;
    }
  | { readonly type: 'failed'; readonly id?: number; readonly message: string };

declare const self: DedicatedWorkerGlobalScope;
const post = (m: FromRecommender) => self.postMessage(m);
let model: CollaborativeRBM | undefined;

self.onmessage = async (event: MessageEvent<ToRecommender>) => {
  const m = event.data;
  try {
    if (m.type === 'train') {
      const { ratings } = syntheticRatings({ users: m.users, items: m.items, density: 0.3, seed: m.seed });
      const epochs = 40;
      // Twelve ratings a user: larger initial weights and steps than the defaults (made for MovieLens-sized
      // data) leave the first epochs' plateau sooner; 2-3 s on the js backend.
      model = new CollaborativeRBM(await createJsBackend(), {
        numHidden: 30,
        epochs,
        learningRate: 0.1,
        initScale: 0.1,
        orientation: 'user',
        seed: m.seed,
      });
      const fit = await model.fit(ratings, {
        holdout: 0.1,
        patience: 10,
        onEpoch: (e) => post({ type: 'epoch', epoch: e.epoch + 1, epochs, rmse: e.rmse! }),
      });
      // The item-mean baseline on the same held-out ratings, for the page to quote beside the RBM.
      const { train, test } = holdoutSplit(ratings, 0.1, m.seed);
      const counts = levelCounts(train);
      const K = train.levels.length;
      const means = Array.from({ length: m.items }, (_, i) => {
        let [s, n] = [0, 0];
        for (let k = 0; k < K; k++) {
          s += train.levels[k]! * counts[i * K + k]!;
          n += counts[i * K + k]!;
        }
        return n > 0 ? s / n : (K + 1) / 2;
      });
      let se = 0;
      for (let k = 0; k < test.user.length; k++) se += (means[test.item[k]!]! - test.levels[test.level[k]!]!) ** 2;
      post({
        type: 'ready',
        ratings: ratings.user.length,
        rmse: fit.rmse!,
        itemMeanRmse: Math.sqrt(se / test.user.length),
        means,
      });
      return;
    }
    if (!model) throw new Error('the model is still training');
    // The visitor as a new user: item i of the page is id String(i + 1), as syntheticRatings names them.
    const mine = ratingsFromTriples(
      m.ratings.map(([item, rating]) => ({ user: 'you', item: item + 1, rating })),
      {
        levels: [1, 2, 3, 4, 5],
      },
    );
    const { view } = model.withRatings(mine);
    try {
      const recs = await view.recommend('you', m.top);
      post({ type: 'recommended', id: m.id, items: recs.map((r) => ({ item: Number(r.item) - 1, score: r.score })) });
    } finally {
      view.dispose();
    }
  } catch (error) {
    post({
      type: 'failed',
      ...('id' in m ? { id: m.id } : {}),
      message: error instanceof Error ? error.message : String(error),
    });
  }
};
