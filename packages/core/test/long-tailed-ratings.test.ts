import { describe, expect, it } from 'vitest';
import { ArgumentError, longTailedRatings, type Ratings } from '../src/index.js';

/** Ratings per user, and per item. */
function counts(r: Ratings): { users: number[]; items: number[] } {
  const users = Array.from({ length: r.users.length }, (_, u) => r.userStart[u + 1]! - r.userStart[u]!);
  const items = new Array<number>(r.items.length).fill(0);
  for (const i of r.item) items[i]!++;
  return { users, items };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

describe('longTailedRatings: ratings shaped like Netflix', () => {
  const {
    ratings: r,
    noiseFloor,
    oracleRmse,
  } = longTailedRatings({
    users: 3000,
    items: 2000,
    ratings: 300_000,
    seed: 4,
  });

  it('gives each user distinct items in order, every rating on the scale, exactly the count asked for', () => {
    expect(r.userStart[0]).toBe(0);
    expect(r.userStart[r.users.length]).toBe(r.user.length);
    expect(r.user.length).toBe(300_000);
    let bad = 0;
    for (let u = 0; u < r.users.length; u++) {
      if (r.userStart[u + 1]! <= r.userStart[u]!) bad++;
      for (let k = r.userStart[u]!; k < r.userStart[u + 1]!; k++) {
        if (r.user[k] !== u) bad++;
        if (k > r.userStart[u]! && r.item[k]! <= r.item[k - 1]!) bad++;
      }
    }
    expect(bad).toBe(0);
    expect(r.level.reduce((m, l) => Math.max(m, l), 0)).toBe(4);
  });

  it('is long-tailed on both sides: mean / median about 2.2 for a user (Netflix: 2.2), more for an item', () => {
    const c = counts(r);
    const userRatio = r.user.length / r.users.length / median(c.users);
    const itemRatio = r.user.length / r.items.length / median(c.items);
    expect(userRatio).toBeGreaterThan(1.8);
    expect(userRatio).toBeLessThan(2.8);
    // Items saturate (an item is rated by each user once at most), so their tail is cut here; it still beats
    // the users'. A uniform draw (syntheticRatings) would give both ratios near 1.
    expect(itemRatio).toBeGreaterThan(userRatio);
  });

  it('knows its noise floor, and the ratings drawn respect it', () => {
    const floor = noiseFloor(r);
    expect(floor).toBeGreaterThan(0.5);
    expect(floor).toBeLessThan(0.8);
    expect(Math.abs(oracleRmse(r) - floor)).toBeLessThan(0.01);
  });

  it('draws heavy users without replacement too, and is reproducible from its seed', () => {
    // 20 users x 40 items with 600 ratings: most users rate over a quarter of the items (the other path).
    const a = longTailedRatings({ users: 20, items: 40, ratings: 600, seed: 1 }).ratings;
    const b = longTailedRatings({ users: 20, items: 40, ratings: 600, seed: 1 }).ratings;
    expect(Array.from(a.item)).toEqual(Array.from(b.item));
    expect(Array.from(a.level)).toEqual(Array.from(b.level));
    const heavy = counts(a).users.filter((n) => n > 10).length;
    expect(heavy).toBeGreaterThan(5);
    for (let u = 0; u < 20; u++)
      for (let k = a.userStart[u]! + 1; k < a.userStart[u + 1]!; k++)
        expect(a.item[k]!).toBeGreaterThan(a.item[k - 1]!);
  });

  it('refuses what cannot be generated', () => {
    expect(() => longTailedRatings({ users: 10, items: 5, ratings: 60 })).toThrow(ArgumentError);
    expect(() => longTailedRatings({ users: 10, items: 5, ratings: 5 })).toThrow(/at least one a user/);
    expect(() => longTailedRatings({ users: 10, items: 5, ratings: 30, activitySpread: -1 })).toThrow(/activitySpread/);
  });
});
