import { describe, expect, it } from 'vitest';
import {
  CollaborativeModel,
  type CollaborativeParameters,
  CollaborativeRBM,
  createReferenceBackend,
  decodeCollaborative,
  decodeSafetensors,
  encodeCollaborative,
  encodeSafetensors,
  exactDistribution,
  expectedRatings,
  expectedValue,
  holdoutSplit,
  initialCollaborativeParameters,
  ModelFormatError,
  meanFieldDistribution,
  mergeRatings,
  predictQueries,
  RandomStream,
  type Ratings,
  ratingsFromIndices,
  ratingsFromTriples,
  syntheticRatings,
  topIndices,
} from '../src/index.js';

/**
 * Serving a recommender: one user's expected ratings on the host (float64) against the per-item reference
 * formulas, the top-n selection against a full sort, every user's recommendations in device batches against
 * one user's, and the model file's compact ratings (CSR: I32 offsets and items, U8 levels) against the
 * files written before them.
 */

/** A model with weights large enough that the items' predictions differ. */
function parameters(M: number, H: number, conditional: boolean, seed: number): CollaborativeParameters {
  const p = initialCollaborativeParameters({ numItems: M, numHidden: H, levels: [1, 2, 3, 4, 5], conditional, seed });
  const noise = new Float64Array(M * 5 + H + M * H);
  new RandomStream(seed + 1, 0).normal(noise);
  const visibleBias = Float32Array.from(p.visibleBias, (_, k) => noise[k]!);
  const hiddenBias = Float32Array.from(p.hiddenBias, (_, j) => noise[M * 5 + j]!);
  const weights = Float32Array.from(p.weights, (w) => 50 * w);
  const ratedWeights = p.ratedWeights && Float32Array.from(p.ratedWeights, (_, k) => 0.3 * noise[M * 5 + H + k]!);
  return { ...p, weights, visibleBias, hiddenBias, ...(ratedWeights ? { ratedWeights } : {}) };
}

function userOf(r: Ratings, u: number) {
  const [s, e] = [r.userStart[u]!, r.userStart[u + 1]!];
  return { items: r.item.subarray(s, e), levels: r.level.subarray(s, e) };
}

describe('one user on the host', () => {
  for (const conditional of [false, true])
    it(`every item's expected rating is the reference's, mean field and exact${conditional ? ' (conditional RBM)' : ''}`, () => {
      const p = parameters(30, 7, conditional, 3);
      const e = { items: [2, 9, 17], levels: [4, 0, 2] };
      const mean = expectedRatings(p, e, 'mean-field');
      const exact = expectedRatings(p, e, 'exact');
      for (let q = 0; q < 30; q++) {
        expect(mean[q]).toBeCloseTo(expectedValue(p.levels, meanFieldDistribution(p, e, q)), 12);
        expect(exact[q]).toBeCloseTo(expectedValue(p.levels, exactDistribution(p, e, q)), 12);
      }
      // The items differ, and the two methods differ: the check above compares numbers that mean something.
      expect(Math.max(...mean) - Math.min(...mean)).toBeGreaterThan(0.3);
      expect(Math.max(...mean.map((x, q) => Math.abs(x - exact[q]!)))).toBeGreaterThan(1e-3);
    });

  it('topIndices is a full sort cut at n: best first, ties by index, skipped and NaN entries left out', () => {
    const rng = new RandomStream(5, 0);
    const u = new Float64Array(500);
    rng.uniform(u);
    const values = Array.from(u, (x) => Math.round(x * 40) / 8); // many ties
    values[17] = Number.NaN;
    const skip = new Set([3, 99, 250]);
    for (const n of [1, 10, 60, 600]) {
      const sorted = values
        .map((v, i) => [v, i] as const)
        .filter(([v, i]) => !skip.has(i) && !Number.isNaN(v))
        .sort((a, b) => b[0] - a[0] || a[1] - b[1])
        .slice(0, n)
        .map(([, i]) => i);
      expect(topIndices(values, n, skip)).toEqual(sorted);
    }
    expect(() => topIndices(values, 0)).toThrow(/positive integer/);
  });
});

describe('CollaborativeRBM serving', () => {
  const { ratings } = syntheticRatings({ users: 70, items: 25, density: 0.3, seed: 2 });

  for (const conditional of [false, true])
    it(`recommend is the top of expectedRatings; recommendAll's device batches give every user the same${conditional ? ' (conditional RBM)' : ''}`, async () => {
      const be = createReferenceBackend();
      const p = parameters(25, 6, conditional, 9);
      const file = decodeCollaborative(encodeCollaborative(p, ratings, { ratings }));
      const cf = CollaborativeRBM.fromFile(be, file);
      const all = [];
      for await (const r of cf.recommendAll(4, { batchSize: 16 })) all.push(r);
      const users = ratings.users.filter((_, u) => ratings.userStart[u + 1]! > ratings.userStart[u]!);
      expect(all.map((r) => r.user)).toEqual(users);
      for (const { user, items } of all) {
        const u = ratings.users.indexOf(user);
        const values = expectedRatings(p, userOf(ratings, u));
        const rated = new Set(userOf(ratings, u).items);
        const best = topIndices(values, 4, rated).map((i) => ({ item: ratings.items[i]!, score: values[i]! }));
        expect(await cf.recommend(user, 4)).toEqual(best);
        expect(items.map((r) => r.item)).toEqual(best.map((r) => r.item));
        // The device gets p(h | V) rounded to float32: the reference backend computes the rest in float64.
        items.forEach((r, k) => {
          expect(r.score).toBeCloseTo(best[k]!.score, 6);
        });
        expect(await cf.predict(user, [best[0]!.item])).toEqual([best[0]!.score]);
      }
      // Exact goes user by user on the host.
      const exact = [];
      for await (const r of cf.recommendAll(3, { method: 'exact' })) exact.push(r);
      expect(exact[5]!.items).toEqual(await cf.recommend(exact[5]!.user, 3, { method: 'exact' }));
      cf.dispose();
      be.destroy();
    });
});

describe('predictQueries', () => {
  for (const conditional of [false, true])
    it(`predicts the pairs asked on the host as the device's dense pass does${conditional ? ' (conditional RBM)' : ''}`, async () => {
      const { ratings } = syntheticRatings({ users: 90, items: 30, density: 0.4, seed: 8 });
      const { train, test } = holdoutSplit(ratings, 0.2, 1);
      const p = parameters(30, 6, conditional, 5);
      const be = createReferenceBackend();
      const model = CollaborativeModel.fromParameters(be, p);
      const host = await predictQueries(model, train, test, { on: 'host' });
      const device = await predictQueries(model, train, test, { on: 'device', batchSize: 32 });
      const fallback = await predictQueries(model, train, test); // the default: whichever is less work
      for (let k = 0; k < test.user.length; k++) {
        expect(device[k]).toBeCloseTo(host[k]!, 5);
        expect(fallback[k]).toBeCloseTo(host[k]!, 5);
        // The host's pass is the float64 formula itself, for the conditional RBM with r = rated and asked.
        const u = test.user[k]!;
        const own = train.item.subarray(train.userStart[u]!, train.userStart[u + 1]!);
        const asked = test.item.subarray(test.userStart[u]!, test.userStart[u + 1]!);
        const e = {
          items: own,
          levels: train.level.subarray(train.userStart[u]!, train.userStart[u + 1]!),
          ...(conditional ? { rated: [...own, ...asked] } : {}),
        };
        expect(host[k]).toBeCloseTo(expectedValue(p.levels, meanFieldDistribution(p, e, test.item[k]!)), 12);
      }
      model.dispose();
      be.destroy();
    });
});

describe('the model file keeps its ratings compactly', () => {
  const { ratings } = syntheticRatings({ users: 50, items: 20, density: 0.3, seed: 4 });
  const p = parameters(20, 5, false, 1);

  it('as CSR (I32 offsets and items, U8 levels, 5 bytes a rating), read back without a sort', () => {
    const bytes = encodeCollaborative(p, ratings, { ratings });
    const { tensors } = decodeSafetensors(bytes);
    expect([tensors.get('ratings_start')?.dtype, tensors.get('ratings_item')?.dtype]).toEqual(['I32', 'I32']);
    expect(tensors.get('ratings_level')?.dtype).toBe('U8');
    const back = decodeCollaborative(bytes).ratings!;
    for (const k of ['users', 'items', 'levels', 'user', 'item', 'level', 'userStart'] as const)
      expect(back[k], k).toEqual(ratings[k]);
    const without = encodeCollaborative(p, ratings);
    expect(decodeCollaborative(without).ratings).toBeUndefined();
    expect(bytes.length - without.length).toBeLessThan(5 * ratings.user.length + 4 * (ratings.users.length + 1) + 400);
  });

  it('reads the files written before ([n, 3] float32 rows) to the same ratings', () => {
    const { tensors, metadata } = decodeSafetensors(encodeCollaborative(p, ratings));
    const rows = new Float32Array(3 * ratings.user.length);
    for (let k = 0; k < ratings.user.length; k++)
      rows.set([ratings.user[k]!, ratings.item[k]!, ratings.level[k]!], 3 * k);
    const old = encodeSafetensors(
      { ...Object.fromEntries(tensors), ratings: { dtype: 'F32', shape: [ratings.user.length, 3], data: rows } },
      metadata,
    );
    const back = decodeCollaborative(old).ratings!;
    for (const k of ['user', 'item', 'level', 'userStart'] as const) expect(back[k], k).toEqual(ratings[k]);
  });

  it('refuses offsets that fall, items out of order or range, and levels off the scale, naming the tensor', () => {
    const corrupt = (name: string, edit: (data: Int32Array | Uint8Array) => void) => {
      const { tensors, metadata } = decodeSafetensors(encodeCollaborative(p, ratings, { ratings }));
      edit(tensors.get(name)!.data as Int32Array | Uint8Array);
      return () => decodeCollaborative(encodeSafetensors(Object.fromEntries(tensors), metadata));
    };
    const u = 3;
    const s = ratings.userStart[u]!;
    expect(
      corrupt('ratings_start', (d) => {
        d[u + 1] = s - 1;
      }),
    ).toThrow(/ratings_start\[4\] is .*must not fall/);
    expect(
      corrupt('ratings_item', (d) => {
        d[s + 1] = d[s]!;
      }),
    ).toThrow(/rating \d+ \(user 3\) is item .* ascending within a user/);
    expect(
      corrupt('ratings_item', (d) => {
        d[s] = 20;
      }),
    ).toThrow(ModelFormatError);
    expect(
      corrupt('ratings_level', (d) => {
        d[s] = 5;
      }),
    ).toThrow(/levels below 5/);
  });

  it('safetensors holds I32 and U8 exactly, aligned or not', () => {
    const i32 = Int32Array.of(-(2 ** 31), -1, 0, 1, 2 ** 31 - 1);
    const u8 = Uint8Array.of(0, 1, 254, 255, 7);
    const bytes = encodeSafetensors({
      a: { dtype: 'U8', shape: [5], data: u8 },
      b: { dtype: 'I32', shape: [5], data: i32 },
      c: { dtype: 'F32', shape: [1], data: Float32Array.of(0.1) },
    });
    const t = decodeSafetensors(bytes).tensors;
    expect(t.get('a')!.data).toEqual(u8);
    expect(t.get('b')!.data).toEqual(i32);
    expect(t.get('c')!.data).toEqual(Float32Array.of(0.1));
  });
});

describe('mergeRatings', () => {
  it('adds ratings (new pairs, newer ratings of old pairs, new users) as a map of every pair would', () => {
    const { ratings: base } = syntheticRatings({ users: 40, items: 15, density: 0.3, seed: 6 });
    const extra = ratingsFromTriples([
      { user: base.users[3]!, item: base.items[base.item[base.userStart[3]!]!]!, rating: 5 }, // a newer rating
      { user: base.users[3]!, item: base.items[14]!, rating: 1 },
      { user: base.users[39]!, item: base.items[0]!, rating: 2 },
      { user: 'newcomer', item: base.items[7]!, rating: 4 },
      { user: 'newcomer', item: 'unknown item', rating: 4 },
    ]);
    for (const newUsers of [true, false]) {
      const { merged, leftOut } = mergeRatings(base, extra, { newUsers });
      // The obvious merge: every pair in a map.
      const pairs = new Map<string, number>();
      for (let k = 0; k < base.user.length; k++) pairs.set(`${base.user[k]} ${base.item[k]}`, base.level[k]!);
      const users = [...base.users, ...(newUsers ? ['newcomer'] : [])];
      for (let k = 0; k < extra.user.length; k++) {
        const [u, i] = [users.indexOf(extra.users[extra.user[k]!]!), base.items.indexOf(extra.items[extra.item[k]!]!)];
        if (u >= 0 && i >= 0) pairs.set(`${u} ${i}`, base.levels.indexOf(extra.levels[extra.level[k]!]!));
      }
      const keys = [...pairs.keys()].map((key) => key.split(' ').map(Number) as [number, number]);
      const want = ratingsFromIndices(
        { users, items: base.items, levels: base.levels },
        keys.map(([u]) => u),
        keys.map(([, i]) => i),
        keys.map(([u, i]) => pairs.get(`${u} ${i}`)!),
      );
      for (const k of ['users', 'user', 'item', 'level', 'userStart'] as const) expect(merged[k], k).toEqual(want[k]);
      expect(leftOut).toBe(newUsers ? 1 : 2);
    }
    expect(() =>
      mergeRatings(base, ratingsFromTriples([{ user: 'a', item: 'b', rating: 9 }], { levels: [1, 9] }), {
        newUsers: true,
      }),
    ).toThrow(/the ratings use the level 9/);
  });
});
