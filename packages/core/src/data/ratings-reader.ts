import { checkMemory } from '../budget.js';
import { DataError, RbmError } from '../errors.js';
import { checkLevels, inferLevels, levelOf, MAX_LEVELS, NUMBER, type Ratings } from './ratings.js';

/** Options of {@link RatingsReader}. */
export interface RatingsReadOptions {
  /** The file or source, for messages. */
  readonly source?: string;
  /** The rating scale; inferred from the data when absent ({@link inferLevels}). */
  readonly levels?: readonly number[];
}

/** Text separators the reader knows, tried in this order on the first line. */
const SEPARATORS = ['::', '\t', ',', ';'] as const;
const INTEGER = /^[+-]?\d+$/;

/**
 * Reads ratings line by line, in the formats people have: MovieLens-100k's `u.data` (tab-separated user,
 * item, rating, timestamp), `ratings.csv` (a header line, commas), `ratings.dat` (`::`), and any
 * "user,item,rating[,...]" file with or without a header. The separator is the first line's; a first line
 * whose rating column is not a number is a header. Columns past the third (timestamps) are ignored.
 * Bad rows are {@link DataError}s naming the line, column and value; a (user, item) pair rated twice names
 * both lines.
 *
 * Memory is bounded by the ratings, not the text: 9 bytes a rating as read (user, item, a one-byte code of
 * the value, in blocks of 2^20; line numbers are kept only where they leave the run k + 1 + offset), and
 * 14 at most while {@link finish} lays them out by user (a counting sort, then each user's items sorted:
 * no sort of all n). Each block is checked against the memory budget ({@link checkMemory}), so a file too
 * large for it is refused with the budget's message, not by the operating system.
 */
export class RatingsReader {
  private readonly source: string;
  private readonly levels: readonly number[] | undefined;
  private separator: string | undefined;
  private header: string | undefined;
  private readonly userIds = new Map<string, number>();
  private readonly itemIds = new Map<string, number>();
  private n = 0;
  private readonly users = new Blocks(Int32Array);
  private readonly items = new Blocks(Int32Array);
  private readonly codes = new Blocks(Uint8Array);
  /** Without --levels: the distinct values in the order met (a rating's code is its index here). */
  private readonly values: number[] = [];
  private readonly valueCode = new Map<number, number>();
  /** Rating k is on line k + 1 + offset, offset the last entry of `lineOffsets` at or before k. */
  private readonly lineAt: number[] = [];
  private readonly lineOffsets: number[] = [];
  private lines = 0;
  private finished = false;

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
    this.add(this.idOf(this.userIds, u), this.idOf(this.itemIds, i), this.codeOf(v, where, lineNumber), lineNumber);
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

  /** The value's level (with --levels) or its code among the distinct values met so far. */
  private codeOf(v: number, where: string, lineNumber: number): number {
    if (this.levels) {
      const k = levelOf(this.levels, v);
      if (k < 0)
        throw new DataError(
          `${where}, column 3: rating ${v} is not one of the levels ${this.levels.join(', ')} (--levels sets the scale)`,
          { row: lineNumber, column: 2, value: v },
        );
      return k;
    }
    let c = this.valueCode.get(v);
    if (c === undefined) {
      c = this.values.length;
      if (c === MAX_LEVELS) inferLevels([...this.values, v], this.source); // throws: too many distinct values
      this.values.push(v);
      this.valueCode.set(v, c);
    }
    return c;
  }

  private add(u: number, i: number, code: number, lineNumber: number): void {
    const n = this.n;
    if (n === this.users.capacity)
      checkMemory(
        `${this.source}: ${n + BLOCK} ratings`,
        READ_BYTES_PER_RATING * (n + BLOCK),
        `${READ_BYTES_PER_RATING} bytes a rating while they are laid out by user`,
      );
    this.users.push(u);
    this.items.push(i);
    this.codes.push(code);
    const offset = this.lineOffsets.at(-1) ?? 0;
    if (lineNumber !== n + 1 + offset) {
      this.lineAt.push(n);
      this.lineOffsets.push(lineNumber - n - 1);
    }
    this.n++;
  }

  /** The line rating k (in reading order) came from. */
  private lineOf(k: number): number {
    let [lo, hi] = [0, this.lineAt.length]; // the last entry at or before k: binary search
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.lineAt[mid]! <= k) lo = mid + 1;
      else hi = mid;
    }
    return k + 1 + (lo === 0 ? 0 : this.lineOffsets[lo - 1]!);
  }

  /** The first two ratings (reading order) of a pair rated twice, as a DataError naming both lines. */
  private duplicate(u: number, i: number): DataError {
    const found: number[] = [];
    for (let k = 0; k < this.n && found.length < 2; k++)
      if (this.users.at(k) === u && this.items.at(k) === i) found.push(k);
    const [first, second] = [this.lineOf(found[0]!), this.lineOf(found[1]!)];
    return new DataError(
      `${this.source}: line ${second}: user ${JSON.stringify(idsOf(this.userIds)[u])} rated item ${JSON.stringify(idsOf(this.itemIds)[i])} before, on line ${first} (one rating per pair)`,
      { row: second },
    );
  }

  /** The ratings read, sorted by user then item; refuses an empty file and pairs rated twice. Once only. */
  finish(): Ratings {
    if (this.finished) throw new RbmError('DISPOSED', `${this.source}: the reader was used after finish()`);
    this.finished = true;
    const n = this.n;
    if (n === 0)
      throw new DataError(`${this.source}: no ratings${this.header ? ' (only a header line)' : ''}`, { row: 0 });
    const levels = this.levels ? [...this.levels] : inferLevels(this.values, this.source);
    const levelOfCode = Uint8Array.from(this.levels ? levels.keys() : this.values, (v) =>
      this.levels ? v : levelOf(levels, v),
    );
    const numUsers = this.userIds.size;
    // Counting sort by user (stable), then each user's (item, level) pairs sorted as item K + level.
    const userStart = new Int32Array(numUsers + 1);
    this.users.forEach((u) => {
      userStart[u + 1]!++;
    });
    for (let u = 0; u < numUsers; u++) userStart[u + 1]! += userStart[u]!;
    const K = levels.length;
    if (this.itemIds.size * K > 2 ** 31 - 1)
      throw new DataError(`${this.source}: ${this.itemIds.size} items of ${K} levels are more than the reader indexes`);
    // item[k] holds the key item K + level until the user's pairs are sorted, then the item.
    const item = new Int32Array(n);
    const next = userStart.slice(0, numUsers);
    this.users.blocks.forEach((us, b) => {
      const [is, cs] = [this.items.blocks[b]!, this.codes.blocks[b]!];
      const m = Math.min(BLOCK, n - b * BLOCK);
      for (let k = 0; k < m; k++) item[next[us[k]!]!++] = is[k]! * K + levelOfCode[cs[k]!]!;
    });
    const level = new Uint8Array(n);
    for (let u = 0; u < numUsers; u++) {
      const [s, e] = [userStart[u]!, userStart[u + 1]!];
      item.subarray(s, e).sort();
      for (let k = s; k < e; k++) {
        const key = item[k]!;
        const i = Math.floor(key / K);
        if (k > s && i === item[k - 1]) throw this.duplicate(u, i);
        item[k] = i;
        level[k] = key - i * K;
      }
    }
    for (const column of [this.users, this.items, this.codes]) column.clear(); // what was read: laid out now
    const user = new Int32Array(n);
    for (let u = 0; u < numUsers; u++) user.fill(u, userStart[u]!, userStart[u + 1]!);
    return { users: idsOf(this.userIds), items: idsOf(this.itemIds), levels, user, item, level, userStart };
  }
}

/** Ratings a reader block holds. */
const BLOCK = 1 << 20;
/** Bytes a rating at the reader's peak: 9 as read and 5 laid out (item, level). */
const READ_BYTES_PER_RATING = 14;

/** A growing column in blocks of {@link BLOCK} (no doubling copies: 100 million ratings grow in place). */
class Blocks<T extends Int32Array | Uint8Array> {
  readonly blocks: T[] = [];
  private length = 0;
  constructor(private readonly make: new (n: number) => T) {}

  get capacity(): number {
    return this.blocks.length * BLOCK;
  }

  /** Lets the blocks go (the reader has laid them out). */
  clear(): void {
    this.blocks.length = 0;
    this.length = 0;
  }

  push(x: number): void {
    if (this.length === this.capacity) this.blocks.push(new this.make(BLOCK));
    this.blocks[this.blocks.length - 1]![this.length++ % BLOCK] = x;
  }

  at(k: number): number {
    return this.blocks[Math.floor(k / BLOCK)]![k % BLOCK]!;
  }

  forEach(f: (x: number) => void): void {
    for (let k = 0; k < this.length; k++) f(this.blocks[Math.floor(k / BLOCK)]![k % BLOCK]!);
  }
}

function idsOf(map: Map<string, number>): string[] {
  const ids = new Array<string>(map.size);
  for (const [id, k] of map) ids[k] = id;
  return ids;
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
