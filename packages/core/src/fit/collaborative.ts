import type { Backend } from '../backend/types.js';
import {
  alignRatings,
  holdoutSplit,
  levelCounts,
  levelOf,
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
  exactDistribution,
  expectedValue,
  hiddenFeatures,
  initialCollaborativeParameters,
  type UserEvidence,
} from '../model/collaborative.js';
import { ratedSets } from '../model/collaborative-batch.js';
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

/** A prediction method, checked: `mean-field` or `exact`. */
function checkMethod(method: PredictionMethod): PredictionMethod {
  if (method !== 'mean-field' && method !== 'exact')
    throw new ArgumentError(`method must be 'mean-field' or 'exact', got ${JSON.stringify(method)}`);
  return method;
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

/** How a prediction is made: one mean-field up-down pass (the paper's fast one), or exactly (eq. 4, float64). */
export type PredictionMethod = 'mean-field' | 'exact';

export interface Recommendation {
  readonly item: string;
  /** The expected rating. */
  readonly score: number;
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

  private indexOf(ids: readonly string[], id: string, what: 'user' | 'item'): number {
    const k = ids.indexOf(id);
    if (k < 0)
      throw new ArgumentError(`${what} ${JSON.stringify(id)} is not one of the model's ${ids.length} ${what}s`);
    return k;
  }

  /** Case c's evidence (a user's ratings, or an item's for the I-RBM). */
  private evidenceOf(c: number): UserEvidence {
    const r = this.cases;
    const [s, e] = [r.userStart[c]!, r.userStart[c + 1]!];
    return { items: r.item.subarray(s, e), levels: r.level.subarray(s, e) };
  }

  /** The conditional RBM's r when all that is known of each case is its ratings (not the pairs asked about). */
  private ratedByEvidence(): Int32Array[] {
    return ratedSets([this.cases], this.cases.users.length);
  }

  /**
   * Expected ratings of (user, item) pairs given in the model's terms (case, unit), in the given order:
   * mean field on the device, or exact on the host.
   */
  private async predictPairs(
    cases: readonly number[],
    units: readonly number[],
    method: PredictionMethod,
  ): Promise<number[]> {
    checkMethod(method);
    if (method === 'exact') {
      const p = await this.parameters();
      return cases.map((c, k) => expectedValue(p.levels, exactDistribution(p, this.evidenceOf(c), units[k]!)));
    }
    const r = this.cases;
    const queries = ratingsFromIndices(
      r,
      cases,
      units,
      cases.map(() => 0),
    );
    const values = await predictQueries(this.model, r, queries, { rated: this.ratedByEvidence() });
    // ratingsFromIndices sorts by (case, unit): look each pair up.
    const at = new Map<string, number>();
    for (let k = 0; k < queries.user.length; k++) at.set(`${queries.user[k]} ${queries.item[k]}`, values[k]!);
    return cases.map((c, k) => at.get(`${c} ${units[k]}`)!);
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
    const distinct = [...new Set(items.map((id) => this.indexOf(this.items, id, 'item')))];
    const [cases, units] = this.side === 'item' ? [distinct, distinct.map(() => u)] : [distinct.map(() => u), distinct];
    const values = await this.predictPairs(cases, units, options.method ?? 'mean-field');
    const byItem = new Map(distinct.map((i, k) => [i, values[k]!]));
    return items.map((id) => byItem.get(this.items.indexOf(id))!);
  }

  /** The `n` items the user has not rated with the highest expected rating (ties: the data's order). */
  async recommend(user: string, n = 10, options: { method?: PredictionMethod } = {}): Promise<Recommendation[]> {
    if (!Number.isInteger(n) || n < 1) throw new ArgumentError(`n must be a positive integer, got ${n}`);
    const u = this.indexOf(this.users, user, 'user');
    const data = this.ratings;
    const seen = new Set(Array.from(data.item.subarray(data.userStart[u]!, data.userStart[u + 1]!)));
    const unrated: number[] = [];
    for (let i = 0; i < this.items.length; i++) if (!seen.has(i)) unrated.push(i);
    if (unrated.length === 0) return [];
    const [cases, units] = this.side === 'item' ? [unrated, unrated.map(() => u)] : [unrated.map(() => u), unrated];
    const values = await this.predictPairs(cases, units, options.method ?? 'mean-field');
    const order = Array.from(values.keys()).sort((x, y) => values[y]! - values[x]! || unrated[x]! - unrated[y]!);
    return order.slice(0, n).map((k) => ({ item: this.items[unrated[k]!]!, score: values[k]! }));
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
    let predictions: Float64Array;
    if (checkMethod(options.method ?? 'mean-field') === 'exact') {
      const p = await this.parameters();
      predictions = new Float64Array(t.user.length);
      for (let k = 0; k < t.user.length; k++) {
        const c = t.user[k]!;
        const [s, e] = [train.userStart[c]!, train.userStart[c + 1]!];
        const items = train.item.subarray(s, e);
        const rated = p.ratedWeights
          ? { rated: [...new Set([...Array.from(items), ...t.item.subarray(t.userStart[c]!, t.userStart[c + 1]!)])] }
          : {};
        predictions[k] = expectedValue(
          p.levels,
          exactDistribution(p, { items, levels: train.level.subarray(s, e), ...rated }, t.item[k]!),
        );
      }
    } else predictions = Float64Array.from(await predictQueries(this.model, train, t));
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
    const data = this.ratings;
    for (const v of extra.levels)
      if (levelOf(data.levels, v) < 0)
        throw new ArgumentError(`the ratings use the level ${v}, the model's scale is ${data.levels.join(', ')}`);
    const users = new Map(data.users.map((id, k) => [id, k]));
    const items = new Map(data.items.map((id, k) => [id, k]));
    const userIds = [...data.users];
    const pairs = new Map<number, number>();
    const M = data.items.length;
    for (let k = 0; k < data.user.length; k++) pairs.set(data.user[k]! * M + data.item[k]!, data.level[k]!);
    let leftOut = 0;
    for (let k = 0; k < extra.user.length; k++) {
      const id = extra.users[extra.user[k]!]!;
      const i = items.get(extra.items[extra.item[k]!]!);
      let u = users.get(id);
      if (i === undefined || (u === undefined && this.side === 'item')) {
        leftOut++;
        continue;
      }
      if (u === undefined) {
        u = userIds.length;
        users.set(id, u);
        userIds.push(id);
      }
      pairs.set(u * M + i, levelOf(data.levels, extra.levels[extra.level[k]!]!));
    }
    const keys = [...pairs.keys()];
    const merged = ratingsFromIndices(
      { users: userIds, items: data.items, levels: data.levels },
      keys.map((key) => Math.floor(key / M)),
      keys.map((key) => key % M),
      keys.map((key) => pairs.get(key)!),
    );
    const view = new CollaborativeRBM(this.backend, this.options);
    view.current = this.model;
    view.host = this.host;
    view.side = this.side;
    view.owner = false;
    view.evidence = this.toModel(merged);
    return { view, leftOut };
  }

  dispose(): void {
    if (this.owner) this.current?.dispose();
    this.current = undefined;
  }
}
