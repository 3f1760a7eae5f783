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

/** Options of {@link RatingsReader}. */
export interface RatingsReadOptions {
  /** The file or source, for messages. */
  readonly source?: string;
  /** The rating scale; inferred from the data when absent ({@link inferLevels}). */
  readonly levels?: readonly number[];
}

/** Text separators the reader knows, tried in this order on the first line. */
const SEPARATORS = ['::', '\t', ',', ';'] as const;
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const INTEGER = /^[+-]?\d+$/;

/**
 * Reads ratings line by line, in the formats people have: MovieLens-100k's `u.data` (tab-separated user,
 * item, rating, timestamp), `ratings.csv` (a header line, commas), `ratings.dat` (`::`), and any
 * "user,item,rating[,...]" file with or without a header. The separator is the first line's; a first line
 * whose rating column is not a number is a header. Columns past the third (timestamps) are ignored.
 * Bad rows are {@link DataError}s naming the line, column and value; a (user, item) pair rated twice names
 * both lines. Memory: three numbers a rating and the id strings.
 */
export class RatingsReader {
  private readonly source: string;
  private readonly levels: readonly number[] | undefined;
  private separator: string | undefined;
  private header: string | undefined;
  private readonly userIds = new Map<string, number>();
  private readonly itemIds = new Map<string, number>();
  private n = 0;
  private user = new Int32Array(1024);
  private item = new Int32Array(1024);
  private value = new Float64Array(1024);
  private line = new Float64Array(1024);
  private lines = 0;

  constructor(options: RatingsReadOptions = {}) {
    this.source = options.source ?? 'ratings';
    if (options.levels) checkLevels(options.levels);
    this.levels = options.levels;
  }

  /** The header line, when the first line was one. */
  get headerLine(): string | undefined {
    return this.header;
  }

  /** Takes one line (without its line break); `lineNumber` is 1-based. Blank lines are skipped. */
  push(text: string, lineNumber = this.lines + 1): void {
    this.lines = lineNumber;
    const line = text.endsWith('\r') ? text.slice(0, -1) : text;
    if (line.trim() === '') return;
    const where = `${this.source}: line ${lineNumber}`;
    if (this.separator === undefined) {
      this.separator = SEPARATORS.find((s) => line.includes(s));
      if (this.separator === undefined)
        throw new DataError(
          `${where}: ${JSON.stringify(line.slice(0, 80))} has no separator (expected user, item and rating separated by tabs, commas, semicolons or '::')`,
          { row: lineNumber },
        );
      const cells = line.split(this.separator).map((c) => c.trim());
      // A header names its columns: a first line whose ids are numbers (`1,101,x`) is a bad row, not a header.
      const numericIds = INTEGER.test(cells[0] ?? '') && INTEGER.test(cells[1] ?? '');
      if (cells.length >= 3 && !NUMBER.test(cells[2]!) && !numericIds) {
        this.header = line;
        return;
      }
    }
    const cells = line.split(this.separator);
    if (cells.length < 3)
      throw new DataError(
        `${where}: ${cells.length} field${cells.length === 1 ? '' : 's'}, expected user, item and rating separated by ${JSON.stringify(this.separator)}`,
        { row: lineNumber },
      );
    const u = cells[0]!.trim();
    const i = cells[1]!.trim();
    const text3 = cells[2]!.trim();
    if (u === '') throw new DataError(`${where}, column 1: the user id is empty`, { row: lineNumber, column: 0 });
    if (i === '') throw new DataError(`${where}, column 2: the item id is empty`, { row: lineNumber, column: 1 });
    const v = Number(text3);
    if (!NUMBER.test(text3) || !Number.isFinite(v))
      throw new DataError(`${where}, column 3: rating ${JSON.stringify(text3)} is not a number`, {
        row: lineNumber,
        column: 2,
      });
    if (v === 0 && /[1-9]/.test(text3.replace(/[eE].*$/, '')))
      throw new DataError(`${where}, column 3: rating ${JSON.stringify(text3)} underflows to 0 in floating point`, {
        row: lineNumber,
        column: 2,
      });
    if (this.levels && levelOf(this.levels, v) < 0)
      throw new DataError(
        `${where}, column 3: rating ${v} is not one of the levels ${this.levels.join(', ')} (--levels sets the scale)`,
        { row: lineNumber, column: 2, value: v },
      );
    this.add(this.idOf(this.userIds, u), this.idOf(this.itemIds, i), v, lineNumber);
  }

  /** Takes a whole text (a small file, a string in a test or a browser). */
  pushText(text: string): this {
    const lines = text.split('\n');
    lines.forEach((l, k) => {
      this.push(l, k + 1);
    });
    return this;
  }

  private idOf(map: Map<string, number>, id: string): number {
    let k = map.get(id);
    if (k === undefined) {
      k = map.size;
      map.set(id, k);
    }
    return k;
  }

  private add(u: number, i: number, v: number, lineNumber: number): void {
    if (this.n === this.user.length) {
      const grow = <T extends Int32Array | Float64Array>(a: T): T => {
        const b = new (a.constructor as new (n: number) => T)(a.length * 2);
        b.set(a);
        return b;
      };
      this.user = grow(this.user);
      this.item = grow(this.item);
      this.value = grow(this.value);
      this.line = grow(this.line);
    }
    this.user[this.n] = u;
    this.item[this.n] = i;
    this.value[this.n] = v;
    this.line[this.n] = lineNumber;
    this.n++;
  }

  /** The ratings read, sorted by user then item; refuses an empty file and pairs rated twice. */
  finish(): Ratings {
    const n = this.n;
    if (n === 0)
      throw new DataError(`${this.source}: no ratings${this.header ? ' (only a header line)' : ''}`, { row: 0 });
    const values = this.value.subarray(0, n);
    const levels = this.levels ? [...this.levels] : inferLevels(values, this.source);
    const order = sortedOrder(this.user, this.item, n);
    for (let k = 1; k < n; k++) {
      const [p, q] = [order[k - 1]!, order[k]!];
      if (this.user[p] === this.user[q] && this.item[p] === this.item[q]) {
        const [first, second] = [Math.min(this.line[p]!, this.line[q]!), Math.max(this.line[p]!, this.line[q]!)];
        throw new DataError(
          `${this.source}: line ${second}: user ${JSON.stringify(idsOf(this.userIds)[this.user[q]!])} rated item ${JSON.stringify(idsOf(this.itemIds)[this.item[q]!])} before, on line ${first} (one rating per pair)`,
          { row: second },
        );
      }
    }
    const users = idsOf(this.userIds);
    const user = new Int32Array(n);
    const item = new Int32Array(n);
    const level = new Uint8Array(n);
    for (let k = 0; k < n; k++) {
      const r = order[k]!;
      user[k] = this.user[r]!;
      item[k] = this.item[r]!;
      level[k] = levelOf(levels, this.value[r]!);
    }
    return { users, items: idsOf(this.itemIds), levels, user, item, level, userStart: userOffsets(user, users.length) };
  }
}

function idsOf(map: Map<string, number>): string[] {
  const ids = new Array<string>(map.size);
  for (const [id, k] of map) ids[k] = id;
  return ids;
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

/** Parses a whole text of ratings (see {@link RatingsReader}). */
export function parseRatings(text: string, options: RatingsReadOptions = {}): Ratings {
  return new RatingsReader(options).pushText(text).finish();
}

/** One rating as a program holds it. */
export interface RatingTriple {
  readonly user: string | number;
  readonly item: string | number;
  readonly rating: number;
}

/** Ratings from triples (ids as strings; numbers are written in decimal). */
export function ratingsFromTriples(triples: Iterable<RatingTriple>, options: RatingsReadOptions = {}): Ratings {
  const reader = new RatingsReader(options);
  let k = 0;
  for (const t of triples) {
    k++;
    reader.push(`${String(t.user).replaceAll('\t', ' ')}\t${String(t.item).replaceAll('\t', ' ')}\t${t.rating}`, k);
  }
  return reader.finish();
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
  const n = user.length;
  const u = Int32Array.from(user);
  const i = Int32Array.from(item);
  const order = sortedOrder(u, i, n);
  const out = { user: new Int32Array(n), item: new Int32Array(n), level: new Uint8Array(n) };
  for (let k = 0; k < n; k++) {
    const r = order[k]!;
    out.user[k] = u[r]!;
    out.item[k] = i[r]!;
    out.level[k] = level[r]!;
  }
  return {
    users: base.users,
    items: base.items,
    levels: base.levels,
    ...out,
    userStart: userOffsets(out.user, base.users.length),
  };
}

/** The ratings whose index passes `keep`, over the same ids and levels. */
export function selectRatings(r: Ratings, keep: (k: number) => boolean): Ratings {
  const idx: number[] = [];
  for (let k = 0; k < r.user.length; k++) if (keep(k)) idx.push(k);
  return ratingsFromIndices(
    r,
    idx.map((k) => r.user[k]!),
    idx.map((k) => r.item[k]!),
    idx.map((k) => r.level[k]!),
  );
}

/**
 * A random split of the ratings (not of the users): a fraction of each data set's ratings held out, drawn
 * with the seed, the standard protocol of the Netflix probe set and MovieLens' u1..u5 splits. Both halves
 * share the ids, so every held-out user keeps the rest of their ratings as the model's input.
 */
export function holdoutSplit(r: Ratings, fraction: number, seed: number): { train: Ratings; test: Ratings } {
  if (!(fraction > 0 && fraction < 1)) throw new ArgumentError(`holdout fraction must be in (0, 1), got ${fraction}`);
  const n = r.user.length;
  const u = new Float64Array(n);
  new RandomStream(seed, Streams.holdout).uniform(u);
  const test = selectRatings(r, (k) => u[k]! < fraction);
  const train = selectRatings(r, (k) => u[k]! >= fraction);
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
