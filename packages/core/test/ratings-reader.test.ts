import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DataError,
  holdoutSplit,
  inferLevels,
  levelOf,
  memoryBudget,
  RandomStream,
  type Ratings,
  RatingsReader,
  RbmError,
  ratingsFromIndices,
  Streams,
  selectRatings,
  setMemoryBudget,
  TooLargeError,
} from '../src/index.js';
import { readRatingsFile, writeRatingsFile } from '../src/node/index.js';

/**
 * The ratings reader keeps 9 bytes a rating in blocks of 2^20 and lays them out by user with a counting sort
 * and a sort of each user's items. These tests hold it to the obvious reader: every line kept as numbers,
 * one sort of all the triples by (user, item), across block boundaries, with blank lines and a header that
 * move line numbers off the rating count.
 */

interface Line {
  readonly user: string;
  readonly item: string;
  readonly rating: number;
}

/** The ratings as a plain sort of the triples (users and items numbered in order of first appearance). */
function obvious(lines: readonly Line[]): Ratings {
  const users = [...new Set(lines.map((l) => l.user))];
  const items = [...new Set(lines.map((l) => l.item))];
  const levels = inferLevels(lines.map((l) => l.rating));
  const [u, i] = [new Map(users.map((id, k) => [id, k])), new Map(items.map((id, k) => [id, k]))];
  const t = lines
    .map((l) => [u.get(l.user)!, i.get(l.item)!, levelOf(levels, l.rating)] as const)
    .sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  const userStart = new Int32Array(users.length + 1);
  for (const [uu] of t) userStart[uu + 1]!++;
  for (let k = 0; k < users.length; k++) userStart[k + 1]! += userStart[k]!;
  return {
    users,
    items,
    levels,
    user: Int32Array.from(t, (x) => x[0]),
    item: Int32Array.from(t, (x) => x[1]),
    level: Uint8Array.from(t, (x) => x[2]),
    userStart,
  };
}

/** Equal ratings, the typed arrays compared as bytes (a deep equality of millions of numbers takes seconds). */
function expectSame(r: Ratings, s: Ratings): void {
  expect([r.users, r.items, r.levels]).toEqual([s.users, s.items, s.levels]);
  for (const name of ['user', 'item', 'level', 'userStart'] as const) {
    const [a, b] = [r[name], s[name]];
    expect(
      Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength)),
      name,
    ).toBe(true);
  }
}

/** n distinct (user, item) pairs over `users` x `items`, ratings 1..5 (half stars when `halves`). */
function lines(n: number, users: number, items: number, seed: number, halves = false): Line[] {
  const rng = new RandomStream(seed, 0);
  const u = new Float64Array(3 * n);
  rng.uniform(u);
  const seen = new Set<number>();
  const out: Line[] = [];
  for (let k = 0; k < n; k++) {
    const [uu, ii] = [Math.floor(u[3 * k]! * users), Math.floor(u[3 * k + 1]! * items)];
    if (seen.has(uu * items + ii)) continue;
    seen.add(uu * items + ii);
    const r = 1 + Math.floor(u[3 * k + 2]! * 5);
    out.push({ user: `u${uu}`, item: String(ii), rating: halves && r < 5 ? r + 0.5 : r });
  }
  return out;
}

describe('RatingsReader', () => {
  it('lays out ratings as one sort of the triples would, past a block of 2^20 ratings', () => {
    const data = lines(1_100_000, 40_000, 3_000, 7);
    const reader = new RatingsReader({ source: 'big' });
    data.forEach((l, k) => {
      reader.push(`${l.user}\t${l.item}\t${l.rating}`, k + 1);
    });
    expect(data.length).toBeGreaterThan(2 ** 20);
    expectSame(reader.finish(), obvious(data));
  });

  it('holdoutSplit past a block of 2^20 uniforms splits as one draw of all would; selectRatings sorts only what is out of order', () => {
    const data = lines(1_100_000, 30_000, 3_000, 9);
    const reader = new RatingsReader();
    data.forEach((l, k) => {
      reader.push(`${l.user}\t${l.item}\t${l.rating}`, k + 1);
    });
    const r = reader.finish();
    const { train, test } = holdoutSplit(r, 0.1, 4);
    const u = new Float64Array(r.user.length);
    new RandomStream(4, Streams.holdout).uniform(u);
    const pick = (held: boolean) => {
      const idx = Array.from(u.keys()).filter((k) => u[k]! < 0.1 === held);
      return ratingsFromIndices(
        r,
        idx.map((k) => r.user[k]!),
        idx.map((k) => r.item[k]!),
        idx.map((k) => r.level[k]!),
      );
    };
    expectSame(test, pick(true));
    expectSame(train, pick(false));
    // Out of order (users reversed): sorted as ratingsFromIndices sorts.
    const reversed = { ...r, user: r.user.map((x) => r.users.length - 1 - x) };
    expectSame(
      selectRatings(reversed, (k) => k % 3 === 0),
      ratingsFromIndices(
        r,
        Array.from({ length: Math.ceil(r.user.length / 3) }, (_, j) => reversed.user[3 * j]!),
        Array.from({ length: Math.ceil(r.user.length / 3) }, (_, j) => r.item[3 * j]!),
        Array.from({ length: Math.ceil(r.user.length / 3) }, (_, j) => r.level[3 * j]!),
      ),
    );
  });

  it('infers a scale from values met in any order (half stars), and keeps the one given', () => {
    const data = lines(5_000, 300, 200, 3, true);
    const text = data.map((l) => `${l.user},${l.item},${l.rating}`).join('\n');
    const r = new RatingsReader().pushText(text).finish();
    expectSame(r, obvious(data));
    expect(r.levels).toEqual([1.5, 2.5, 3.5, 4.5, 5]);
    const given = new RatingsReader({ levels: [0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5] }).pushText(text).finish();
    expect(Array.from(given.level, (k) => given.levels[k])).toEqual(Array.from(r.level, (k) => r.levels[k]));
  });

  it('names both lines of a pair rated twice, with a header and blank lines between them', () => {
    const text = ['user,item,rating', '1,10,3', '', '2,11,4', '', '', '3,12,5', '2,11,2', '1,13,1'].join('\n');
    expect(() => new RatingsReader({ source: 'f.csv' }).pushText(text).finish()).toThrow(
      /f\.csv: line 8: user "2" rated item "11" before, on line 4/,
    );
    // Line numbers given by the caller, with gaps.
    const reader = new RatingsReader({ source: 'g' });
    reader.push('a\tx\t1', 5);
    reader.push('b\tx\t2', 9);
    reader.push('a\ty\t2', 10);
    reader.push('a\tx\t3', 100);
    expect(() => reader.finish()).toThrow(/g: line 100: user "a" rated item "x" before, on line 5/);
  });

  it('refuses more distinct values than a scale holds as soon as it meets them', () => {
    const reader = new RatingsReader({ source: 's' });
    for (let k = 0; k < 32; k++) reader.push(`u\t${k}\t${k / 10}`);
    let error: unknown;
    try {
      reader.push('u\t99\t9.9', 33);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DataError);
    expect(String(error)).toMatch(/s: 33 distinct rating values .* more than 32 levels; give the scale with --levels/);
  });

  it('checks each block against the memory budget, naming the source', () => {
    const was = memoryBudget();
    setMemoryBudget(20 * 2 ** 20);
    try {
      const reader = new RatingsReader({ source: 'huge.csv' });
      let error: unknown;
      try {
        for (let k = 0; k < 2 ** 21; k++) reader.push(`${k}\t1\t3`, k + 1);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(TooLargeError);
      expect(String(error)).toMatch(/huge\.csv: 2097152 ratings needs about 28\.0 MiB .* memory budget/);
    } finally {
      setMemoryBudget(was);
    }
  });

  it('writeRatingsFile writes what readRatingsFile reads back, in chunks past one of 64 Ki lines', async () => {
    const data = lines(90_000, 900, 400, 12, true);
    const r = new RatingsReader().pushText(data.map((l) => `${l.user},${l.item},${l.rating}`).join('\n')).finish();
    const dir = await mkdtemp(join(tmpdir(), 'rbmjs-ratings-'));
    const path = join(dir, 'ratings.tsv');
    const seen: number[] = [];
    await writeRatingsFile(path, r, { onProgress: (done) => seen.push(done) });
    expect(r.user.length).toBeGreaterThan(65_536);
    expect(seen).toEqual([65_536, r.user.length]);
    // Read back, the ids are numbered in the file's order: compare the triples by id.
    const triples = (x: Ratings) =>
      Array.from(x.user, (u, k) => `${x.users[u]} ${x.items[x.item[k]!]} ${x.levels[x.level[k]!]}`).sort();
    expect(triples(await readRatingsFile(path, { levels: r.levels }))).toEqual(triples(r));
    await rm(dir, { recursive: true });
  });

  it('finishes once', () => {
    const reader = new RatingsReader().pushText('1\t1\t1\n1\t2\t2\n');
    reader.finish();
    expect(() => reader.finish()).toThrow(RbmError);
  });
});
