import { ArgumentError } from '../errors.js';
import { RandomStream, Streams } from '../random/stream.js';
import { type Ratings, ratingsFromIndices } from './ratings.js';

/**
 * Generated ratings with a known low-rank structure, for tests and benchmarks (no data set is downloaded):
 *
 *   mu_ui = (K + 1) / 2 + d_u + c_i + s * (x_u . y_i) / sqrt(r),   x_u, y_i ~ N(0, I_r),
 *   rating = clamp(round(mu_ui + e), 1, K),                        e ~ N(0, noise^2),
 *
 * with user and item offsets d_u ~ N(0, 0.3^2), c_i ~ N(0, 0.5^2), and each (user, item) pair rated with
 * probability `density`. The generator knows each pair's rating distribution, so it knows the best any
 * predictor can do: E[rating | u, i] has the least expected squared error, and its RMSE over a set of pairs
 * (`noiseFloor`) is the floor a model's RMSE is measured against.
 */
export interface SyntheticRatingsOptions {
  readonly users: number;
  readonly items: number;
  /** Rating levels 1..K (default 5). */
  readonly levels?: number;
  /** Rank of the interaction (default 3). */
  readonly rank?: number;
  /** Scale s of the interaction (default 1). */
  readonly spread?: number;
  /** Probability that a pair is rated (default 0.1). */
  readonly density?: number;
  /** Standard deviation of the noise before rounding (default 0.7). */
  readonly noise?: number;
  readonly seed?: number;
}

export interface SyntheticRatings {
  readonly ratings: Ratings;
  /** E[rating | user u, item i] (indices). */
  expected(u: number, i: number): number;
  /** The sqrt of the mean of Var[rating | u, i] over the pairs of `r` (the Bayes predictor's expected RMSE). */
  noiseFloor(r: Ratings): number;
  /** The RMSE of predicting E[rating | u, i] on the pairs of `r` as they were drawn. */
  oracleRmse(r: Ratings): number;
}

/** Standard normal CDF (Abramowitz & Stegun 7.1.26 for erf, error below 1.5e-7). */
function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * z);
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-z * z);
  return x >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

/** The generator's model of every pair: E[rating], its distribution and what follows from it. */
export interface RatingModel {
  /** mu_ui: the mean before noise and rounding. */
  mu(u: number, i: number): number;
  /** rating = clamp(round(mu_ui + noise e), 1, K) for a standard normal e. */
  draw(u: number, i: number, e: number): number;
  /** The generated ratings' known figures, over the ratings' own pairs. */
  figures(ratings: Ratings): SyntheticRatings;
}

/** Checks the shared options and draws the model's factors (x, y, d, c), in that order, from `rng`. */
export function ratingModel(
  options: Omit<SyntheticRatingsOptions, 'density'>,
  rng: RandomStream,
  what = 'syntheticRatings',
): RatingModel {
  const { users, items } = options;
  const K = options.levels ?? 5;
  const rank = options.rank ?? 3;
  const spread = options.spread ?? 1;
  const noise = options.noise ?? 0.7;
  for (const [name, v] of [
    ['users', users],
    ['items', items],
    ['levels', K],
    ['rank', rank],
  ] as const)
    if (!Number.isInteger(v) || v < (name === 'levels' ? 2 : 1))
      throw new ArgumentError(`${what}: ${name} must be a positive integer, got ${v}`);
  if (!(noise > 0)) throw new ArgumentError(`${what}: noise must be positive`);
  const normals = (n: number, sd: number) => {
    const a = new Float64Array(n);
    rng.normal(a);
    for (let k = 0; k < n; k++) a[k]! *= sd;
    return a;
  };
  const x = normals(users * rank, 1);
  const y = normals(items * rank, 1);
  const d = normals(users, 0.3);
  const c = normals(items, 0.5);
  const mu = (u: number, i: number) => {
    let s = 0;
    for (let r = 0; r < rank; r++) s += x[u * rank + r]! * y[i * rank + r]!;
    return (K + 1) / 2 + d[u]! + c[i]! + (spread * s) / Math.sqrt(rank);
  };
  /** P(rating = k + 1 | u, i) for k = 0..K-1: rounding N(mu, noise^2) into the levels. */
  const distribution = (u: number, i: number) => {
    const m = mu(u, i);
    const p = new Float64Array(K);
    let below = 0;
    for (let k = 0; k < K; k++) {
      const upper = k === K - 1 ? 1 : normalCdf((k + 1.5 - m) / noise);
      p[k] = upper - below;
      below = upper;
    }
    return p;
  };
  const moments = (u: number, i: number) => {
    const p = distribution(u, i);
    let m1 = 0;
    let m2 = 0;
    for (let k = 0; k < K; k++) {
      m1 += (k + 1) * p[k]!;
      m2 += (k + 1) ** 2 * p[k]!;
    }
    return { mean: m1, variance: m2 - m1 * m1 };
  };
  const over = (r: Ratings, f: (k: number) => number) => {
    let s = 0;
    for (let k = 0; k < r.user.length; k++) s += f(k);
    return Math.sqrt(s / r.user.length);
  };
  return {
    mu,
    draw: (u, i, e) => Math.min(K, Math.max(1, Math.round(mu(u, i) + noise * e))),
    figures: (ratings) => ({
      ratings,
      expected: (u, i) => moments(u, i).mean,
      noiseFloor: (r) => over(r, (k) => moments(r.user[k]!, r.item[k]!).variance),
      oracleRmse: (r) => over(r, (k) => (r.levels[r.level[k]!]! - moments(r.user[k]!, r.item[k]!).mean) ** 2),
    }),
  };
}

export function syntheticRatings(options: SyntheticRatingsOptions): SyntheticRatings {
  const { users, items } = options;
  const K = options.levels ?? 5;
  const density = options.density ?? 0.1;
  if (!(density > 0 && density <= 1)) throw new ArgumentError(`syntheticRatings: density must be in (0, 1]`);
  const rng = new RandomStream(options.seed ?? 0, Streams.synthetic);
  const model = ratingModel(options, rng);
  const pick = new Float64Array(items);
  const e = new Float64Array(items);
  const uu: number[] = [];
  const ii: number[] = [];
  const ll: number[] = [];
  for (let u = 0; u < users; u++) {
    rng.uniform(pick);
    rng.normal(e);
    for (let i = 0; i < items; i++) {
      if (pick[i]! >= density) continue;
      uu.push(u);
      ii.push(i);
      ll.push(model.draw(u, i, e[i]!) - 1);
    }
  }
  return model.figures(
    ratingsFromIndices({ users: numberedIds(users), items: numberedIds(items), levels: levelValues(K) }, uu, ii, ll),
  );
}

/** Ids "1" ... "n". */
export function numberedIds(n: number): string[] {
  return Array.from({ length: n }, (_, k) => String(k + 1));
}

/** The levels 1 ... K. */
export function levelValues(K: number): number[] {
  return Array.from({ length: K }, (_, k) => k + 1);
}

/** Ratings as tab-separated `user item rating` lines (MovieLens-100k's layout, no timestamp). */
export function formatRatings(r: Ratings, separator = '\t'): string {
  const lines: string[] = [];
  for (let k = 0; k < r.user.length; k++)
    lines.push(`${r.users[r.user[k]!]}${separator}${r.items[r.item[k]!]}${separator}${r.levels[r.level[k]!]}`);
  return `${lines.join('\n')}\n`;
}
