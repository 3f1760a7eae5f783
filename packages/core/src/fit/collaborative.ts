import type { Backend } from '../backend/types.js';
import {
  alignRatings,
  holdoutSplit,
  IdIndex,
  levelCounts,
  levelOf,
  mergeRatings,
  type Ratings,
  ratingsFromIndices,
  selectRatings,
  transposeRatings,
} from '../data/ratings.js';
import { ArgumentError, RbmError } from '../errors.js';
import { predictQueries, ratingErrors } from '../evaluate/ratings.js';
import { type CollaborativeFile, decodeCollaborative, encodeCollaborative } from '../io/collaborative-file.js';
import type { DecodeOptions } from '../io/safetensors.js';
import {
  CollaborativeModel,
  type CollaborativeParameters,
  evidenceIn,
  exactDistribution,
  expectedValue,
  hiddenFeatures,
  initialCollaborativeParameters,
  type UserEvidence,
} from '../model/collaborative.js';
import { ratedSets } from '../model/collaborative-batch.js';
import {
  checkMethod,
  exactPredictions,
  expectedRatings,
  type PredictionMethod,
  type Recommendation,
  servingBatches,
  topIndices,
} from '../model/collaborative-predict.js';
import {
  type CollaborativeEpoch,
  type CollaborativeTrainOptions,
  collaborativeFamily,
} from '../train/collaborative.js';
import type { EpochMetrics } from '../train/options.js';
import type { Schedule } from '../train/schedule.js';
import { Trainer } from '../train/trainer.js';
import { canonicalOptions, type Estimator, type SampleScores } from './interface.js';

/**
 * Recommendations with the collaborative-filtering RBM (Salakhutdinov, Mnih & Hinton 2007), in the
 * estimator's vocabulary:
 *
 * ```ts
 * const ratings = parseRatings(text);                     // u.data, ratings.csv, ratings.dat, user,item,rating
 * const cf = new CollaborativeRBM(backend, { numHidden: 100 });
 * await cf.fit(ratings, { holdout: 0.1, patience: 5 });   // held-out RMSE each epoch
 * await cf.predict('196', ['242', '302']);                // expected ratings, in the data's ids
 * await cf.recommend('196', 10);                          // unrated items, best first
 * ```
 */

export interface CollaborativeRbmOptions
  extends Omit<CollaborativeTrainOptions, 'patience' | 'weightDecay' | 'gibbsSteps'> {
  /** Hidden units (default 100, the paper's). */
  readonly numHidden?: number;
  /** The conditional RBM (S, M & H 2007, section 4): the hidden units also see which items a user rated. */
  readonly conditional?: boolean;
  /** L2 weight decay of W and D (default 0.001). */
  readonly l2?: number;
  /** @deprecated {@link l2}. */
  readonly weightDecay?: number;
  /** T of CD-T: a number or a schedule (default 1 for 15 epochs, 3 to 25, then 5). */
  readonly k?: Schedule;
  /** @deprecated {@link k}. */
  readonly gibbsSteps?: Schedule;
  /** Standard deviation of the initial weights (default 0.01). */
  readonly weightScale?: number;
  /** @deprecated {@link weightScale}. */
  readonly initScale?: number;
  /**
   * Whose RBM: `user` (the paper's: one RBM a user, over the items they rated), `item` (one RBM an item,
   * over the users who rated it: the I-RBM), or `auto` (default): the more numerous side are the cases,
   * so that more examples share the weights (users on Netflix, items on MovieLens-100k).
   */
  readonly orientation?: Orientation | 'auto';
}

export type Orientation = 'user' | 'item';

/** `auto`: the side with more ids are the cases (ties: users). Anything else is refused by name. */
export function resolveOrientation(
  o: Orientation | 'auto' | undefined,
  r: Pick<Ratings, 'users' | 'items'>,
): Orientation {
  if (o === 'user' || o === 'item') return o;
  if (o !== undefined && o !== 'auto')
    throw new ArgumentError(`orientation must be 'user', 'item' or 'auto', got ${JSON.stringify(o)}`);
  return r.items.length > r.users.length ? 'item' : 'user';
}

export interface CollaborativeFitOptions {
  /** Held-out ratings on the same ids, or a fraction of the ratings to hold out (seeded by `seed`). */
  readonly validation?: Ratings;
  readonly holdout?: number;
  /** Early stopping on the held-out RMSE. */
  readonly patience?: number;
  readonly onEpoch?: (e: CollaborativeEpoch) => void | Promise<void>;
  readonly signal?: AbortSignal;
}

export interface CollaborativeFitResult {
  readonly history: readonly CollaborativeEpoch[];
  readonly bestEpoch?: number;
  readonly rmse?: number;
}

export type { PredictionMethod, Recommendation };

/** One user's recommendations, as {@link CollaborativeRBM.recommendAll} yields them. */
export interface UserRecommendations {
  readonly user: string;
  readonly items: readonly Recommendation[];
}

export class CollaborativeRBM implements Estimator<Ratings> {
  readonly backend: Backend;
  readonly options: CollaborativeRbmOptions;
  private current: CollaborativeModel | undefined;
  /** The training ratings in the model's terms: cases (users, or items for the I-RBM) rate units. */
  private evidence: Ratings | undefined;
  private host: CollaborativeParameters | undefined;
  private side: Orientation = 'user';
  /** Views made by {@link withRatings} share the model and do not dispose it. */
  private owner = true;
  /** partialFit calls since the last fit: each draws its own randomness. */
  private partialFits = 0;

  constructor(backend: Backend, given: CollaborativeRbmOptions = {}) {
    const options = canonicalOptions(given, ['weightDecay', 'gibbsSteps', 'initScale']);
    const H = options.numHidden ?? 100;
    if (!Number.isInteger(H) || H < 1) throw new ArgumentError(`numHidden must be a positive integer, got ${H}`);
    resolveOrientation(options.orientation, { users: [], items: [] }); // a bad orientation is refused now
    this.backend = backend;
    this.options = options;
  }

  /** A fitted model from a file's contents (see {@link decodeCollaborative}). */
  static fromFile(backend: Backend, file: CollaborativeFile): CollaborativeRBM {
    const cf = new CollaborativeRBM(backend, {
      numHidden: file.parameters.numHidden,
      conditional: file.parameters.ratedWeights !== undefined,
      orientation: file.orientation,
    });
    cf.current = CollaborativeModel.fromParameters(backend, file.parameters);
    cf.host = file.parameters;
    cf.side = file.orientation;
    const data =
      file.ratings ??
      ratingsFromIndices({ users: file.users, items: file.items, levels: file.parameters.levels }, [], [], []);
    cf.evidence = file.orientation === 'item' ? transposeRatings(data) : data;
    return cf;
  }

  /** Whose RBM the model is (see {@link CollaborativeRbmOptions.orientation}). */
  get orientation(): Orientation {
    return this.side;
  }

  /** Data-space ratings to the model's terms and back (the I-RBM swaps users and items). */
  private toModel(r: Ratings): Ratings {
    return this.side === 'item' ? transposeRatings(r) : r;
  }

  static load(backend: Backend, bytes: Uint8Array, options: DecodeOptions = {}): CollaborativeRBM {
    return CollaborativeRBM.fromFile(backend, decodeCollaborative(bytes, options));
  }

  get model(): CollaborativeModel {
    if (!this.current) throw new RbmError('NOT_FITTED', 'the recommender has no model yet: call fit or load first');
    return this.current;
  }

  /** The model's training ratings, by user (each user's evidence), on the model's ids. */
  get ratings(): Ratings {
    return this.toModel(this.cases);
  }

  /** The training ratings in the model's terms. */
  private get cases(): Ratings {
    if (!this.evidence) throw new RbmError('NOT_FITTED', 'the recommender has no ratings yet: call fit or load first');
    return this.evidence;
  }

  get users(): readonly string[] {
    return this.side === 'item' ? this.cases.items : this.cases.users;
  }

  get items(): readonly string[] {
    return this.side === 'item' ? this.cases.users : this.cases.items;
  }

  async fit(ratings: Ratings, fit: CollaborativeFitOptions = {}): Promise<CollaborativeFitResult> {
    const o = this.options;
    if (fit.validation && fit.holdout !== undefined) throw new ArgumentError('give validation or holdout, not both');
    this.side = resolveOrientation(o.orientation, ratings);
    let train = this.toModel(ratings);
    let heldOut: Ratings | undefined;
    if (fit.holdout !== undefined) ({ train, test: heldOut } = holdoutSplit(train, fit.holdout, o.seed ?? 0));
    else if (fit.validation) {
      const aligned = alignRatings(train, this.toModel(fit.validation), 'validation ratings');
      ({ train, test: heldOut } = aligned);
    }
    this.current?.dispose();
    this.current = CollaborativeModel.fromParameters(
      this.backend,
      initialCollaborativeParameters({
        numItems: train.items.length,
        numHidden: o.numHidden ?? 100,
        levels: train.levels,
        counts: levelCounts(train),
        ...(o.conditional ? { conditional: true } : {}),
        ...(o.weightScale !== undefined ? { initScale: o.weightScale } : {}),
        ...(o.seed !== undefined ? { seed: o.seed } : {}),
      }),
    );
    this.evidence = train;
    this.partialFits = 0;
    const family = collaborativeFamily(this.current, train, heldOut, {
      ...this.trainOptions(),
      ...(fit.patience !== undefined ? { patience: fit.patience } : {}),
    });
    const trainer = new Trainer(family, {
      ...(fit.onEpoch ? { onEpoch: fit.onEpoch as (e: EpochMetrics) => void | Promise<void> } : {}),
      ...(fit.signal ? { signal: fit.signal } : {}),
    });
    try {
      const history = (await trainer.run()) as CollaborativeEpoch[];
      const b = trainer.bestEpoch;
      const best = b ? { epoch: b.epoch, rmse: b.value } : undefined;
      this.host = await this.current.parameters();
      // Held out for early stopping, a rating is still the user's: predictions and recommendations use them all.
      if (fit.holdout !== undefined) this.evidence = this.toModel(ratings);
      return { history, ...(best ? { bestEpoch: best.epoch, rmse: best.rmse } : {}) };
    } finally {
      trainer.dispose();
    }
  }

  /** The family's options from the estimator's (the family's names: weightDecay, gibbsSteps). */
  private trainOptions(): CollaborativeTrainOptions {
    const { numHidden: _h, conditional: _c, weightScale: _w, orientation: _o, l2, k, ...rest } = this.options;
    return { ...rest, ...(l2 !== undefined ? { weightDecay: l2 } : {}), ...(k !== undefined ? { gibbsSteps: k } : {}) };
  }

  /**
   * More epochs (one by default) on `ratings` (the ids the model was fitted on) from the current model: a
   * fresh pass, its velocities starting again; the first call fits a model.
   */
  async partialFit(ratings: Ratings, options: { readonly epochs?: number } = {}): Promise<CollaborativeEpoch[]> {
    const epochs = options.epochs ?? 1;
    if (!this.current) return (await this.fit(ratings)).history.slice(-epochs);
    const { train } = alignRatings(this.cases, this.toModel(ratings), 'partialFit ratings');
    const seed = (this.options.seed ?? 0) + ++this.partialFits;
    const family = collaborativeFamily(this.model, train, undefined, { ...this.trainOptions(), epochs, seed });
    const trainer = new Trainer(family);
    try {
      const history = (await trainer.run()) as CollaborativeEpoch[];
      this.host = undefined;
      return history;
    } finally {
      trainer.dispose();
    }
  }

  /**
   * The hidden features of each case of `ratings` (users; items for the I-RBM) given its ratings: p(h = 1 | V)
   * [cases x numHidden], in float64 from the model's parameters. Ratings of units the model has no weights
   * for are left out.
   */
  async transform(ratings: Ratings): Promise<Float32Array> {
    const { train } = alignRatings(this.cases, this.toModel(ratings), 'transform ratings');
    return hiddenFeatures(await this.parameters(), train);
  }

  /** The squared error of each test rating's prediction (as {@link evaluate} makes them), with RMSE and MAE. */
  async scoreSamples(
    test: Ratings,
    options: { method?: PredictionMethod } = {},
  ): Promise<SampleScores<{ rmse: number; mae: number; count: number; droppedUnknownItems: number }>> {
    const { predictions, truth, droppedUnknownItems } = await this.predictTest(test, options);
    const values = Float64Array.from(predictions, (x, k) => (x - truth.levels[truth.level[k]!]!) ** 2);
    return { values, figure: 'squared-error', detail: { ...ratingErrors(predictions, truth), droppedUnknownItems } };
  }

  private async parameters(): Promise<CollaborativeParameters> {
    this.host ??= await this.model.parameters();
    return this.host;
  }

  /** The users' ids to indices, kept while the users are the same (a server looks users up per request). */
  private userMap: IdIndex | undefined;
  private get userIndex(): IdIndex {
    if (this.userMap?.ids !== this.users) this.userMap = new IdIndex(this.users);
    return this.userMap;
  }

  private indexOf(ids: readonly string[], id: string, what: 'user' | 'item'): number {
    const k = ids === this.users ? (this.userIndex.get(id) ?? -1) : ids.indexOf(id);
    if (k < 0)
      throw new ArgumentError(`${what} ${JSON.stringify(id)} is not one of the model's ${ids.length} ${what}s`);
    return k;
  }

  /** Case c's evidence (a user's ratings, or an item's for the I-RBM). */
  private evidenceOf(c: number): UserEvidence {
    return evidenceIn(this.cases, c);
  }

  /**
   * The I-RBM's expected ratings of its unit `unit` (a user) in each case's RBM (`cases`: distinct items), in
   * their order: mean field on the device, or exact on the host.
   */
  private async predictCases(cases: readonly number[], unit: number, method: PredictionMethod): Promise<number[]> {
    if (checkMethod(method) === 'exact') {
      const p = await this.parameters();
      return cases.map((c) => expectedValue(p.levels, exactDistribution(p, this.evidenceOf(c), unit)));
    }
    const r = this.cases;
    const queries = ratingsFromIndices(
      r,
      cases,
      cases.map(() => unit),
      cases.map(() => 0),
    );
    // The conditional RBM's r: all that is known of each case is its ratings (not the pairs asked about).
    const values = await predictQueries(this.model, r, queries, { rated: ratedSets([r], r.users.length) });
    const at = new Map(Array.from(queries.user, (c, k) => [c, values[k]!])); // sorted by case: look each up
    return cases.map((c) => at.get(c)!);
  }

  /**
   * Expected ratings of `items` for `user` (ids as in the data), given the ratings the model was trained on
   * (for the conditional RBM, r is the items rated there). Mean field by default, as the paper predicts;
   * `exact` sums the hidden units out (eq. 4 of the paper, float64 on the host).
   */
  async predict(
    user: string,
    items: readonly string[],
    options: { method?: PredictionMethod } = {},
  ): Promise<number[]> {
    const u = this.indexOf(this.users, user, 'user');
    const wanted = items.map((id) => this.indexOf(this.items, id, 'item'));
    const method = checkMethod(options.method ?? 'mean-field');
    if (this.side === 'user') {
      const all = expectedRatings(await this.parameters(), this.evidenceOf(u), method);
      return wanted.map((i) => all[i]!);
    }
    const distinct = [...new Set(wanted)];
    const values = await this.predictCases(distinct, u, method);
    const byItem = new Map(distinct.map((i, k) => [i, values[k]!]));
    return wanted.map((i) => byItem.get(i)!);
  }

  /**
   * The `n` items the user has not rated with the highest expected rating (ties: the data's order). A per-user
   * model answers on the host in float64 (see {@link expectedRatings}: milliseconds at Netflix's size); the
   * I-RBM asks each item's RBM on the device.
   */
  async recommend(user: string, n = 10, options: { method?: PredictionMethod } = {}): Promise<Recommendation[]> {
    if (!Number.isInteger(n) || n < 1) throw new ArgumentError(`n must be a positive integer, got ${n}`);
    const method = checkMethod(options.method ?? 'mean-field');
    const u = this.indexOf(this.users, user, 'user');
    const data = this.ratings;
    const seen = new Set(data.item.subarray(data.userStart[u]!, data.userStart[u + 1]!));
    if (this.side === 'user') {
      const values = expectedRatings(await this.parameters(), this.evidenceOf(u), method);
      return topIndices(values, n, seen).map((i) => ({ item: this.items[i]!, score: values[i]! }));
    }
    const unrated: number[] = [];
    for (let i = 0; i < this.items.length; i++) if (!seen.has(i)) unrated.push(i);
    if (unrated.length === 0) return [];
    const values = await this.predictCases(unrated, u, method);
    return topIndices(values, n).map((k) => ({ item: this.items[unrated[k]!]!, score: values[k]! }));
  }

  /**
   * Every user's `n` best unrated items, user by user in the data's order, for users with at least one rating
   * (`rbm recommend --all`). A per-user model runs mean field on the device in batches of `batchSize` users:
   * p(h | V) on the host from each user's rated rows, then one product per level for the whole batch
   * ({@link ServingBatch}); `exact`, and the I-RBM, go user by user as {@link recommend} does. `onProgress`
   * sees the users done.
   */
  async *recommendAll(
    n = 10,
    options: {
      method?: PredictionMethod;
      batchSize?: number;
      onProgress?: (done: number, total: number) => void;
    } = {},
  ): AsyncGenerator<UserRecommendations> {
    if (!Number.isInteger(n) || n < 1) throw new ArgumentError(`n must be a positive integer, got ${n}`);
    const method = checkMethod(options.method ?? 'mean-field');
    const data = this.ratings;
    const users: number[] = [];
    for (let u = 0; u < data.users.length; u++) if (data.userStart[u + 1]! > data.userStart[u]!) users.push(u);
    const report = (done: number) => options.onProgress?.(done, users.length);
    if (this.side === 'item' || method === 'exact') {
      for (const [k, u] of users.entries()) {
        yield { user: data.users[u]!, items: await this.recommend(data.users[u]!, n, { method }) };
        report(k + 1);
      }
      return;
    }
    const batches = servingBatches(this.model, await this.parameters(), data, users, n, options.batchSize ?? 256);
    for await (const { user, top, values, done } of batches) {
      yield { user: data.users[user]!, items: top.map((i) => ({ item: this.items[i]!, score: values[i]! })) };
      if (done) report(done);
    }
  }

  /**
   * RMSE and MAE on test ratings (their own ids: put on the model's; test pairs of items, or for the I-RBM
   * users, the model has no weights for are dropped and counted). Each case's evidence is its training
   * ratings, less the pairs asked about (a rating is never its own evidence); for the conditional RBM, r adds the test pairs (the paper's protocol: which movies a user
   * rated is known for the qualifying set).
   */
  async evaluate(
    test: Ratings,
    options: { method?: PredictionMethod } = {},
  ): Promise<{ rmse: number; mae: number; count: number; droppedUnknownItems: number }> {
    const { predictions, truth, droppedUnknownItems } = await this.predictTest(test, options);
    return { ...ratingErrors(predictions, truth), droppedUnknownItems };
  }

  /** Predictions of test ratings on the model's ids, as {@link evaluate} describes. */
  private async predictTest(
    test: Ratings,
    options: { method?: PredictionMethod },
  ): Promise<{ predictions: Float64Array; truth: Ratings; droppedUnknownItems: number }> {
    for (const v of test.levels)
      if (levelOf(this.cases.levels, v) < 0)
        throw new ArgumentError(
          `the test ratings use the level ${v}, the model's scale is ${this.cases.levels.join(', ')}`,
        );
    const aligned = alignRatings(this.cases, this.toModel(test));
    const { test: t, droppedUnknownItems } = aligned;
    // A rating being predicted is never its own evidence: test pairs the model was trained on leave the evidence.
    const M = t.items.length;
    const asked = new Set(Array.from(t.user, (c, k) => c * M + t.item[k]!));
    const train = selectRatings(aligned.train, (k) => !asked.has(aligned.train.user[k]! * M + aligned.train.item[k]!));
    if (t.user.length === 0)
      throw new ArgumentError(`no test rating is of ${this.side === 'item' ? 'a user' : 'an item'} the model knows`);
    const predictions =
      checkMethod(options.method ?? 'mean-field') === 'exact'
        ? exactPredictions(await this.parameters(), train, t)
        : Float64Array.from(await predictQueries(this.model, train, t));
    return { predictions, truth: t, droppedUnknownItems };
  }

  /** The model file (with the training ratings, so that `recommend` works from the file alone). */
  async save(
    metadata: Readonly<Record<string, string>> = {},
    options: { ratings?: boolean } = {},
  ): Promise<Uint8Array> {
    const r = this.ratings;
    return encodeCollaborative(
      await this.parameters(),
      { users: r.users, items: r.items, orientation: this.side },
      { ...(options.ratings === false ? {} : { ratings: r }), metadata },
    );
  }

  /**
   * The same model with more evidence: `extra` ratings (their own ids; a user's newer ratings) added to the
   * training ratings, a pair already there taking the new rating. Ratings of items the model has no weights
   * for are left out and counted; so are new users of the I-RBM (its visible units are the users it was
   * trained with). New users of the user-based model are added. The view shares the model: disposing it
   * leaves the model to its owner.
   */
  withRatings(extra: Ratings): { view: CollaborativeRBM; leftOut: number } {
    const { merged, leftOut } = mergeRatings(this.ratings, extra, {
      newUsers: this.side === 'user',
      userIndex: this.userIndex,
    });
    const view = new CollaborativeRBM(this.backend, this.options);
    view.current = this.model;
    view.host = this.host;
    view.side = this.side;
    view.owner = false;
    view.evidence = this.toModel(merged);
    view.userMap = new IdIndex(view.users, this.userIndex); // this model's users, then any new ones
    return { view, leftOut };
  }

  dispose(): void {
    if (this.owner) this.current?.dispose();
    this.current = undefined;
  }
}
