import { ArgumentError } from '../errors.js';
import { RandomStream, Streams } from '../random/stream.js';
import type { Ratings } from './ratings.js';
import {
  levelValues,
  numberedIds,
  ratingModel,
  type SyntheticRatings,
  type SyntheticRatingsOptions,
} from './synthetic-ratings.js';

/**
 * Generated ratings shaped like Netflix's (Bennett & Lanning 2007: 480,189 users, 17,770 movies, 100,480,507
 * ratings; a user's count has median 96 and mean 209, a movie's median 561 and mean 5,654): the low-rank
 * model of {@link syntheticRatings} (so the noise floor is known), but who rates what is long-tailed, not
 * uniform. Each user's share of the ratings is log-normal (sigma `activitySpread`), each item's popularity
 * too (sigma `popularitySpread`), and a user's items are drawn by popularity without replacement. The pairs
 * are generated user by user, already in order, in typed arrays: 100 million ratings take 0.9 GB and no
 * sort, where {@link syntheticRatings} visits every (user, item) pair.
 */
export interface LongTailedRatingsOptions extends Omit<SyntheticRatingsOptions, 'density'> {
  /** Ratings in all (default 100 per user). */
  readonly ratings?: number;
  /** Sigma of the log-normal share of each user (default 1.27: Netflix's mean / median of 2.2). */
  readonly activitySpread?: number;
  /** Sigma of the log-normal popularity of each item (default 2.15: Netflix's mean / median of 10). */
  readonly popularitySpread?: number;
}

/** The sizes of Netflix's Prize data, for {@link longTailedRatings}. */
export const NETFLIX_SHAPE = { users: 480_189, items: 17_770, ratings: 100_480_507 } as const;

export function longTailedRatings(options: LongTailedRatingsOptions): SyntheticRatings {
  const { users, items } = options;
  const K = options.levels ?? 5;
  const total = options.ratings ?? 100 * users;
  const activitySpread = options.activitySpread ?? 1.27;
  const popularitySpread = options.popularitySpread ?? 2.15;
  if (!(Number.isInteger(total) && total >= users))
    throw new ArgumentError(`longTailedRatings: ratings must be a whole number of at least one a user, got ${total}`);
  if (!(total <= users * items))
    throw new ArgumentError(`longTailedRatings: ${total} ratings do not fit ${users} users x ${items} items`);
  for (const [name, v] of [
    ['activitySpread', activitySpread],
    ['popularitySpread', popularitySpread],
  ] as const)
    if (!(v >= 0 && v <= 5)) throw new ArgumentError(`longTailedRatings: ${name} must be in [0, 5], got ${v}`);
  const rng = new RandomStream(options.seed ?? 0, Streams.synthetic);
  const model = ratingModel(options, rng, 'longTailedRatings');
  const counts = shares(rng, users, activitySpread, total, items);
  const popularity = logNormal(rng, items, popularitySpread);
  const alias = aliasTable(popularity);

  const userStart = new Int32Array(users + 1);
  for (let u = 0; u < users; u++) userStart[u + 1] = userStart[u]! + counts[u]!;
  const n = userStart[users]!;
  const user = new Int32Array(n);
  const item = new Int32Array(n);
  const level = new Uint8Array(n);
  // taken[i] = u + 1 once user u has item i: a marker per item, no set per user.
  const taken = new Int32Array(items);
  const pair = new Float64Array(2);
  const keys = new Float64Array(items);
  const order = new Int32Array(items);
  let e = new Float64Array(0);
  for (let u = 0; u < users; u++) {
    const [start, count] = [userStart[u]!, counts[u]!];
    const mine = item.subarray(start, start + count);
    if (count <= items / 4) {
      // Draw by popularity with replacement (Walker's alias method), dropping repeats.
      let got = 0;
      while (got < count) {
        rng.uniform(pair);
        const slot = Math.min(items - 1, Math.floor(pair[0]! * items));
        const i = pair[1]! < alias.probability[slot]! ? slot : alias.other[slot]!;
        if (taken[i] === u + 1) continue;
        taken[i] = u + 1;
        mine[got++] = i;
      }
    } else {
      // A heavy user: the `count` items of smallest key -log(v) / w (Efraimidis & Spirakis 2006).
      rng.uniform(keys);
      for (let i = 0; i < items; i++) {
        keys[i] = -Math.log(1 - keys[i]!) / popularity[i]!;
        order[i] = i;
      }
      order.sort((a, b) => keys[a]! - keys[b]!);
      mine.set(order.subarray(0, count));
    }
    mine.sort();
    if (e.length < count) e = new Float64Array(Math.max(count, 2 * e.length));
    const noise = e.subarray(0, count);
    rng.normal(noise);
    user.fill(u, start, start + count);
    for (let k = 0; k < count; k++) level[start + k] = model.draw(u, mine[k]!, noise[k]!) - 1;
  }
  const ratings: Ratings = {
    users: numberedIds(users),
    items: numberedIds(items),
    levels: levelValues(K),
    user,
    item,
    level,
    userStart,
  };
  return model.figures(ratings);
}

/** n log-normal draws exp(sigma z), z ~ N(0, 1). */
function logNormal(rng: RandomStream, n: number, sigma: number): Float64Array {
  const z = new Float64Array(n);
  rng.normal(z);
  for (let k = 0; k < n; k++) z[k] = Math.exp(sigma * z[k]!);
  return z;
}

/**
 * Each user's number of ratings: a log-normal share of `total`, at least 1 and at most `items`, summing to
 * `total` exactly (the remainders of the rounding, largest first, get the ratings that are left over).
 */
function shares(rng: RandomStream, users: number, sigma: number, total: number, items: number): Int32Array {
  const w = logNormal(rng, users, sigma);
  let sum = 0;
  for (const x of w) sum += x;
  const exact = Float64Array.from(w, (x) => (total * x) / sum);
  const counts = Int32Array.from(exact, (x) => Math.min(items, Math.max(1, Math.floor(x))));
  let left = total;
  for (const c of counts) left -= c;
  // By remainder, largest first when adding, smallest first when taking away.
  const order = Int32Array.from({ length: users }, (_, u) => u).sort(
    (a, b) => exact[b]! - Math.floor(exact[b]!) - (exact[a]! - Math.floor(exact[a]!)),
  );
  while (left !== 0) {
    const before = left;
    for (let k = 0; k < users && left !== 0; k++) {
      const u = left > 0 ? order[k]! : order[users - 1 - k]!;
      if (left > 0 && counts[u]! < items) {
        counts[u]!++;
        left--;
      } else if (left < 0 && counts[u]! > 1) {
        counts[u]!--;
        left++;
      }
    }
    if (left === before) break; // every user at a cap: cannot happen within users <= total <= users x items
  }
  return counts;
}

/** Walker's alias table of weights w (Vose's construction): slot s keeps itself with probability[s]. */
function aliasTable(w: Float64Array): { probability: Float64Array; other: Int32Array } {
  const n = w.length;
  let sum = 0;
  for (const x of w) sum += x;
  const scaled = Float64Array.from(w, (x) => (x * n) / sum);
  const probability = new Float64Array(n).fill(1);
  const other = Int32Array.from({ length: n }, (_, k) => k);
  const small: number[] = [];
  const large: number[] = [];
  scaled.forEach((p, k) => {
    (p < 1 ? small : large).push(k);
  });
  while (small.length > 0 && large.length > 0) {
    const s = small.pop()!;
    const l = large.at(-1)!;
    probability[s] = scaled[s]!;
    other[s] = l;
    scaled[l] = scaled[l]! + scaled[s]! - 1;
    if (scaled[l]! < 1) small.push(large.pop()!);
  }
  return { probability, other };
}
