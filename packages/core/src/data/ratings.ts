import { ArgumentError, DataError } from '../errors.js';
import { RandomStream, Streams } from '../random/stream.js';

/**
 * Explicit ratings (user, item, rating), as collaborative filtering reads them: ids are the file's own
 * strings, remapped to 0-based indices; ratings are indices into `levels` (the rating scale: 1..5 stars,
 * half stars, 1..10). Stored sorted by user, then item, with each user's ratings contiguous (CSR):
 * user u's ratings are r = userStart[u] .. userStart[u + 1] - 1.
 */
export interface Ratings {
  /** The ids, by index: `users[u]` is user u's id as the data spell it. */
  readonly users: readonly string[];
  readonly items: readonly string[];
  /** The rating values, ascending: level k means the rating `levels[k]`. */
  readonly levels: readonly number[];
  readonly user: Int32Array;
  readonly item: Int32Array;
  readonly level: Uint8Array;
  /** [users.length + 1] offsets into the arrays above. */
  readonly userStart: Int32Array;
}

/** At most this many rating levels (a softmax group per item has one unit a level). */
export const MAX_LEVELS = 32;

export function ratingCount(r: Ratings): number {
  return r.user.length;
}

/** The rating value of rating `i` (its level's value). */
export function ratingValue(r: Ratings, i: number): number {
  return r.levels[r.level[i]!]!;
}

/** Checks a rating scale: finite, strictly ascending, at least 2 and at most {@link MAX_LEVELS} values. */
export function checkLevels(levels: readonly number[], where = 'levels'): void {
  if (levels.length < 2 || levels.length > MAX_LEVELS)
    throw new ArgumentError(`${where}: ${levels.length} rating levels; a scale has 2 to ${MAX_LEVELS}`);
  for (let k = 0; k < levels.length; k++) {
    if (!Number.isFinite(levels[k]!)) throw new ArgumentError(`${where}: level ${k} is ${levels[k]}, not a number`);
    if (k > 0 && !(levels[k]! > levels[k - 1]!))
      throw new ArgumentError(`${where}: the levels must ascend, got ${levels[k - 1]} then ${levels[k]}`);
  }
}

/**
 * `--levels`: `1,2,3,4,5` (the values), or `FROM:TO[:STEP]` (`1:5`, `0.5:5:0.5`, `1:10`; STEP defaults to 1).
 */
export function parseLevels(text: string): number[] {
  const range = /^\s*([^:]+):([^:]+)(?::([^:]+))?\s*$/.exec(text);
  let levels: number[];
  // Decimal numbers only, as in the files (Number() would also take 0x1, 0b1, 1_0 is refused by both).
  const decimal = (t: string) => (NUMBER.test(t.trim()) ? Number(t) : Number.NaN);
  if (range) {
    const [from, to, step] = [decimal(range[1]!), decimal(range[2]!), range[3] === undefined ? 1 : decimal(range[3])];
    if (![from, to, step].every(Number.isFinite) || !(step > 0) || !(to > from))
      throw new ArgumentError(`levels ${JSON.stringify(text)}: FROM:TO[:STEP] needs FROM < TO and STEP > 0`);
    const n = Math.round((to - from) / step);
    if (Math.abs(from + n * step - to) > 1e-9 * Math.max(1, Math.abs(to)))
      throw new ArgumentError(`levels ${JSON.stringify(text)}: TO - FROM is not a whole number of STEPs`);
    if (n + 1 > MAX_LEVELS)
      throw new ArgumentError(`levels ${JSON.stringify(text)}: ${n + 1} levels; a scale has at most ${MAX_LEVELS}`);
    levels = Array.from({ length: n + 1 }, (_, k) => Number((from + k * step).toPrecision(12)));
  } else {
    levels = text.split(',').map(decimal);
    if (levels.some((x, k) => !Number.isFinite(x) || text.split(',')[k]!.trim() === ''))
      throw new ArgumentError(
        `levels ${JSON.stringify(text)}: expected numbers separated by commas, or FROM:TO[:STEP]`,
      );
  }
  checkLevels(levels, `levels ${JSON.stringify(text)}`);
  return levels;
}

/** A decimal number as the files write them (no hex, no separators). */
export const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** The level index of a rating value, or -1 (values within 1e-9 of a level count as it). */
export function levelOf(levels: readonly number[], value: number): number {
  for (let k = 0; k < levels.length; k++) if (Math.abs(levels[k]! - value) <= 1e-9) return k;
  return -1;
}

/**
 * The scale a data set implies when none is given: every integer from the smallest to the largest value
 * when all are integers (a 1-5 star file that happens to lack 1s still has 5 levels), else the distinct
 * values.
 */
export function inferLevels(values: ArrayLike<number>, source = 'ratings'): number[] {
  const distinct = [...new Set(Array.from(values))].sort((x, y) => x - y);
  if (distinct.length === 0) throw new DataError(`${source}: no ratings`);
  let levels = distinct;
  if (distinct.every(Number.isInteger)) {
    const [lo, hi] = [distinct[0]!, distinct.at(-1)!];
    if (hi - lo + 1 <= MAX_LEVELS) levels = Array.from({ length: hi - lo + 1 }, (_, k) => lo + k);
  }
  if (levels.length < 2)
    throw new DataError(`${source}: every rating is ${distinct[0]}; give the scale with --levels (e.g. 1:5)`);
  if (levels.length > MAX_LEVELS)
    throw new DataError(
      `${source}: ${levels.length} distinct rating values (${levels.slice(0, 6).join(', ')}, ...), more than ${MAX_LEVELS} levels; give the scale with --levels`,
    );
  return levels;
}

/** Indices 0..n-1 ordered by (user, item). */
function sortedOrder(user: Int32Array, item: Int32Array, n: number): Uint32Array {
  const order = new Uint32Array(n);
  for (let k = 0; k < n; k++) order[k] = k;
  order.sort((p, q) => user[p]! - user[q]! || item[p]! - item[q]!);
  return order;
}

function userOffsets(user: Int32Array, numUsers: number): Int32Array {
  const start = new Int32Array(numUsers + 1);
  for (let k = 0; k < user.length; k++) start[user[k]! + 1]!++;
  for (let u = 0; u < numUsers; u++) start[u + 1]! += start[u]!;
  return start;
}

/**
 * Ratings from index arrays over known id lists (a subset, or data already indexed): sorts them and
 * builds the per-user offsets. Pairs must be distinct.
 */
export function ratingsFromIndices(
  base: Pick<Ratings, 'users' | 'items' | 'levels'>,
  user: ArrayLike<number>,
  item: ArrayLike<number>,
  level: ArrayLike<number>,
): Ratings {
  return laidOut(base, Int32Array.from(user), Int32Array.from(item), Uint8Array.from(level));
}

/**
 * Ratings from index arrays this module owns: used as they are when already in order (by user, then item, as
 * every Ratings is made: a subset of one, an old file's rows), else sorted. One check, no sort of n in order.
 */
function laidOut(
  base: Pick<Ratings, 'users' | 'items' | 'levels'>,
  user: Int32Array,
  item: Int32Array,
  level: Uint8Array,
): Ratings {
  const n = user.length;
  let inOrder = true;
  for (let k = 1; k < n && inOrder; k++)
    inOrder = user[k]! > user[k - 1]! || (user[k] === user[k - 1] && item[k]! > item[k - 1]!);
  if (!inOrder) {
    const order = sortedOrder(user, item, n);
    [user, item, level] = [
      Int32Array.from(order, (r) => user[r]!),
      Int32Array.from(order, (r) => item[r]!),
      Uint8Array.from(order, (r) => level[r]!),
    ];
  }
  return {
    users: base.users,
    items: base.items,
    levels: base.levels,
    user,
    item,
    level,
    userStart: userOffsets(user, base.users.length),
  };
}

/** The ratings whose index passes `keep`, over the same ids and levels (in one pass, for ratings in order). */
export function selectRatings(r: Ratings, keep: (k: number) => boolean): Ratings {
  const n = r.user.length;
  const kept = new Uint8Array(n);
  let m = 0;
  for (let k = 0; k < n; k++) if (keep(k)) [kept[k], m] = [1, m + 1];
  const [user, item, level] = [new Int32Array(m), new Int32Array(m), new Uint8Array(m)];
  for (let k = 0, j = 0; k < n; k++)
    if (kept[k]) [user[j], item[j], level[j++]] = [r.user[k]!, r.item[k]!, r.level[k]!];
  return laidOut(r, user, item, level);
}

/**
 * A random split of the ratings (not of the users): a fraction of each data set's ratings held out, drawn
 * with the seed, the standard protocol of the Netflix probe set and MovieLens' u1..u5 splits. Both halves
 * share the ids, so every held-out user keeps the rest of their ratings as the model's input. The uniforms are
 * drawn in blocks of 2^20 (the same numbers as one draw of all: the stream is counter-based), a byte a rating.
 */
export function holdoutSplit(r: Ratings, fraction: number, seed: number): { train: Ratings; test: Ratings } {
  if (!(fraction > 0 && fraction < 1)) throw new ArgumentError(`holdout fraction must be in (0, 1), got ${fraction}`);
  const n = r.user.length;
  const held = new Uint8Array(n);
  const rng = new RandomStream(seed, Streams.holdout);
  const u = new Float64Array(Math.min(n, 1 << 20));
  for (let start = 0; start < n; start += u.length) {
    const block = u.subarray(0, Math.min(u.length, n - start));
    rng.uniform(block);
    for (let k = 0; k < block.length; k++) held[start + k] = block[k]! < fraction ? 1 : 0;
  }
  const test = selectRatings(r, (k) => held[k] === 1);
  const train = selectRatings(r, (k) => held[k] === 0);
  if (test.user.length === 0 || train.user.length === 0)
    throw new DataError(
      `holdout ${fraction} of ${n} ratings leaves ${train.user.length} to train and ${test.user.length} to test`,
    );
  return { train, test };
}

/**
 * Puts a second set of ratings (a test file) on the first's ids and levels: its users are the first's plus
 * any new ones (appended: they have no ratings to go on), its pairs whose item the first has never seen are
 * dropped and counted (a model has no weights for them), and its values must be on the first's scale.
 * Returns both on the shared ids.
 */
export function alignRatings(
  train: Ratings,
  test: Ratings,
  source = 'test ratings',
): { train: Ratings; test: Ratings; droppedUnknownItems: number } {
  const userIndex = new Map(train.users.map((id, k) => [id, k]));
  const itemIndex = new Map(train.items.map((id, k) => [id, k]));
  const users = [...train.users];
  for (const id of test.users)
    if (!userIndex.has(id)) {
      userIndex.set(id, users.length);
      users.push(id);
    }
  const levelMap = test.levels.map((v) => levelOf(train.levels, v));
  const uu: number[] = [];
  const ii: number[] = [];
  const ll: number[] = [];
  let dropped = 0;
  for (let k = 0; k < test.user.length; k++) {
    const item = itemIndex.get(test.items[test.item[k]!]!);
    if (item === undefined) {
      dropped++;
      continue;
    }
    const level = levelMap[test.level[k]!]!;
    if (level < 0)
      throw new DataError(
        `${source}: rating ${test.levels[test.level[k]!]} (user ${test.users[test.user[k]!]}, item ${test.items[test.item[k]!]}) is not on the scale ${train.levels.join(', ')}`,
        { value: test.levels[test.level[k]!] },
      );
    uu.push(userIndex.get(test.users[test.user[k]!]!)!);
    ii.push(item);
    ll.push(level);
  }
  const base = { users, items: train.items, levels: train.levels };
  return {
    train: { ...train, users, userStart: userOffsets(train.user, users.length) },
    test: ratingsFromIndices(base, uu, ii, ll),
    droppedUnknownItems: dropped,
  };
}

/** Per item and level, how often the level was given (rows: items, K columns). */
export function levelCounts(r: Ratings): Float64Array {
  const K = r.levels.length;
  const counts = new Float64Array(r.items.length * K);
  for (let k = 0; k < r.user.length; k++) counts[r.item[k]! * K + r.level[k]!]!++;
  return counts;
}

/**
 * The same ratings with users and items swapped: the item-based RBM (I-RBM, as Sedhain et al. 2015 and
 * Zheng et al. 2016 compare it) is the user-based model trained on these, one RBM a item over the users who
 * rated it.
 */
export function transposeRatings(r: Ratings): Ratings {
  return ratingsFromIndices({ users: r.items, items: r.users, levels: r.levels }, r.item, r.user, r.level);
}

/** Looks ids up: `get(id)` is the id's index or undefined. */
export interface IdLookup {
  get(id: string): number | undefined;
}

/**
 * Ids to indices for a long id list: a scan for the first 256 lookups, a Map after (ski rental: a scan of
 * 480,000 ids takes 1.5 ms, building the Map 0.3-0.5 s, so a one-off request never pays for it and a long run
 * of them pays it once). `prefix`
 * indexes the ids this list begins with (a model's users, then the new users of a view), which it asks first.
 */
export class IdIndex implements IdLookup {
  private map: Map<string, number> | undefined;
  private lookups = 0;
  constructor(
    readonly ids: readonly string[],
    private readonly prefix?: IdIndex,
  ) {}

  get(id: string): number | undefined {
    const known = this.prefix?.get(id);
    if (known !== undefined) return known;
    const from = this.prefix?.ids.length ?? 0;
    if (!this.map && ++this.lookups > 256) {
      this.map = new Map();
      for (let k = from; k < this.ids.length; k++) this.map.set(this.ids[k]!, k);
    }
    if (this.map) return this.map.get(id);
    const k = this.ids.indexOf(id, from);
    return k < 0 ? undefined : k;
  }
}

/**
 * `base` with `extra` ratings (their own ids) added, a pair already there taking the new rating. Ratings of
 * items `base` does not have are left out and counted, and so are new users unless `newUsers` (they are
 * appended). Values must be on base's scale. Only the users `extra` touches are rebuilt; the rows between
 * them are copied as blocks, so a few ratings added to 100 million cost a copy, not a map of every pair.
 */
export function mergeRatings(
  base: Ratings,
  extra: Ratings,
  options: {
    readonly newUsers: boolean;
    /** base's user ids to indices, when the caller keeps one (a server answering many requests). */
    readonly userIndex?: IdLookup;
  },
): { merged: Ratings; leftOut: number } {
  const levelMap = extra.levels.map((v) => {
    const k = levelOf(base.levels, v);
    if (k < 0)
      throw new ArgumentError(`the ratings use the level ${v}, the model's scale is ${base.levels.join(', ')}`);
    return k;
  });
  const known = options.userIndex ?? new IdIndex(base.users);
  const added = new Map<string, number>();
  const itemIndex = new Map(base.items.map((id, k) => [id, k]));
  const users = [...base.users];
  const touched = new Map<number, Map<number, number>>();
  let leftOut = 0;
  for (let k = 0; k < extra.user.length; k++) {
    const id = extra.users[extra.user[k]!]!;
    const i = itemIndex.get(extra.items[extra.item[k]!]!);
    let u = added.get(id) ?? known.get(id);
    if (i === undefined || (u === undefined && !options.newUsers)) {
      leftOut++;
      continue;
    }
    if (u === undefined) {
      u = users.length;
      added.set(id, u);
      users.push(id);
    }
    let own = touched.get(u);
    if (!own) {
      own = new Map();
      for (let r = base.userStart[u] ?? 0; r < (base.userStart[u + 1] ?? 0); r++)
        own.set(base.item[r]!, base.level[r]!);
      touched.set(u, own);
    }
    own.set(i, levelMap[extra.level[k]!]!);
  }
  const nb = base.users.length;
  const order = [...touched.keys()].sort((x, y) => x - y);
  const userStart = new Int32Array(users.length + 1);
  for (let u = 0, t = 0; u < users.length; u++) {
    let size = u < nb ? base.userStart[u + 1]! - base.userStart[u]! : 0;
    if (order[t] === u) size = touched.get(order[t++]!)!.size;
    userStart[u + 1] = userStart[u]! + size;
  }
  const n = userStart[users.length]!;
  const [user, item, level] = [new Int32Array(n), new Int32Array(n), new Uint8Array(n)];
  /** Base users [u0, u1), untouched: one block. */
  const copy = (u0: number, u1: number) => {
    const [s, e, at] = [base.userStart[u0]!, base.userStart[u1]!, userStart[u0]!];
    for (const [to, from] of [
      [user, base.user],
      [item, base.item],
      [level, base.level],
    ] as const)
      to.set(from.subarray(s, e), at);
  };
  let from = 0;
  for (const u of order) {
    if (from < Math.min(u, nb)) copy(from, Math.min(u, nb));
    const own = touched.get(u)!;
    const at = userStart[u]!;
    user.fill(u, at, userStart[u + 1]!);
    [...own.keys()]
      .sort((x, y) => x - y)
      .forEach((i, k) => {
        item[at + k] = i;
        level[at + k] = own.get(i)!;
      });
    from = u + 1;
  }
  if (from < nb) copy(from, nb);
  return { merged: { users, items: base.items, levels: base.levels, user, item, level, userStart }, leftOut };
}
