import { describe, expect, it } from 'vitest';
import { createJsBackend } from '../../backend-js/src/index.js';
import {
  ArgumentError,
  alignRatings,
  CollaborativeModel,
  type CollaborativeParameters,
  CollaborativeRBM,
  collaborativeFamily,
  createReferenceBackend,
  DataError,
  DeviceRandom,
  decodeCollaborative,
  exactDistribution,
  holdoutSplit,
  inferLevels,
  levelCounts,
  ModelFormatError,
  meanFieldDistribution,
  parseLevels,
  parseRatings,
  predictQueries,
  RandomStream,
  type Ratings,
  ratingsFromIndices,
  ratingsFromTriples,
  syntheticRatings,
  Trainer,
  transposeRatings,
} from '../src/index.js';

/**
 * The collaborative-filtering RBM (Salakhutdinov, Mnih & Hinton 2007) against enumeration: a user's RBM
 * has one softmax unit per rated item only, so p(h | V) and the predictive distribution of an unrated item
 * are sums over every hidden state (and the query's levels), done here in float64 from the energy alone.
 */

const reference = createReferenceBackend();

function randomCf(M: number, K: number, H: number, seed: number, conditional = false): CollaborativeParameters {
  const rng = new RandomStream(seed, 0);
  const n = (count: number, sd: number) => {
    const a = new Float64Array(count);
    rng.normal(a);
    return Float32Array.from(a, (x) => sd * x);
  };
  return {
    numItems: M,
    numHidden: H,
    levels: Array.from({ length: K }, (_, k) => k + 1),
    weights: n(M * K * H, 1),
    visibleBias: n(M * K, 1),
    hiddenBias: n(H, 1),
    ...(conditional ? { ratedWeights: n(M * H, 1) } : {}),
  };
}

/** -E(V, h) of a user's RBM over the rated items (item i at level k), in float64. */
function negEnergy(
  p: CollaborativeParameters,
  items: number[],
  levels: number[],
  h: number[],
  rated: number[],
): number {
  const K = p.levels.length;
  const H = p.numHidden;
  let s = 0;
  for (let j = 0; j < H; j++) s += p.hiddenBias[j]! * h[j]!;
  items.forEach((i, n) => {
    const k = levels[n]!;
    s += p.visibleBias[i * K + k]!;
    for (let j = 0; j < H; j++) s += p.weights[(i * K + k) * H + j]! * h[j]!;
  });
  if (p.ratedWeights) for (const i of rated) for (let j = 0; j < H; j++) s += p.ratedWeights[i * H + j]! * h[j]!;
  return s;
}

function hiddenStates(H: number): number[][] {
  return Array.from({ length: 2 ** H }, (_, s) => Array.from({ length: H }, (_, j) => (s >> j) & 1));
}

/** Uploads one user's ratings as the device model takes them: V_k [1, M], the mask, r. */
function upload(be: typeof reference, M: number, K: number, items: number[], levels: number[], rated: number[]) {
  const V = Array.from({ length: K }, () => new Float64Array(M));
  items.forEach((i, n) => {
    V[levels[n]!]![i] = 1;
  });
  const r = new Float64Array(M);
  for (const i of rated) r[i] = 1;
  return { V: V.map((v) => be.tensor(1, M, v)), rated: be.tensor(1, M, r) };
}

describe('collaborative RBM against enumeration', () => {
  for (const conditional of [false, true]) {
    it(`p(h | observed ratings) and the predictive distribution of an unrated item${conditional ? ' (conditional RBM)' : ''}`, async () => {
      const [M, K, H] = [4, 3, 3];
      const p = randomCf(M, K, H, conditional ? 7 : 3, conditional);
      const items = [0, 2, 3];
      const levels = [2, 0, 1];
      const q = 1;
      // The conditional RBM's r: the rated items, and the query (rated, rating unknown).
      const rated = conditional ? [0, 1, 2, 3] : [];
      const hs = hiddenStates(H);
      // p(h_j = 1 | V) by enumeration.
      const w = hs.map((h) => Math.exp(negEnergy(p, items, levels, h, rated)));
      const Z = w.reduce((x, y) => x + y, 0);
      const marginal = Array.from({ length: H }, (_, j) => hs.reduce((s, h, n) => s + h[j]! * w[n]!, 0) / Z);
      const model = CollaborativeModel.fromParameters(reference, p);
      const { V, rated: r } = upload(reference, M, K, items, levels, rated);
      const ph = reference.tensor(1, H);
      model.hiddenProbabilities(ph, V, r);
      const device = await reference.read(ph);
      for (let j = 0; j < H; j++) expect(device[j]).toBeCloseTo(marginal[j]!, 6);
      // p(v_q = k | V): the query as one more softmax unit, h summed out.
      const joint = Array.from({ length: K }, (_, k) =>
        hs.reduce((s, h) => s + Math.exp(negEnergy(p, [...items, q], [...levels, k], h, rated)), 0),
      );
      const total = joint.reduce((x, y) => x + y, 0);
      const exact = exactDistribution(p, { items, levels, rated }, q);
      for (let k = 0; k < K; k++) expect(exact[k]).toBeCloseTo(joint[k]! / total, 12);
      // Mean field on the device against its float64 formula: softmax_k(a_q^k + sum_j p-hat_j W_qj^k).
      const P = Array.from({ length: K }, () => reference.tensor(1, M));
      const [lse, tmp] = [reference.tensor(1, M), reference.tensor(1, M)];
      model.visibleProbabilities(P, ph, lse, tmp);
      const mf = meanFieldDistribution(p, { items, levels, rated }, q);
      for (let k = 0; k < K; k++) expect((await reference.read(P[k]!))[q]).toBeCloseTo(mf[k]!, 10);
      // Mean field is not the exact predictive: they differ (by more than rounding) on a random model.
      expect(Math.max(...mf.map((x, k) => Math.abs(x - exact[k]!)))).toBeGreaterThan(1e-4);
      model.dispose();
    });
  }

  it('missing ratings change nothing: an unrated item added to the catalogue leaves p(h | V) and the predictions as they were', async () => {
    const [M, K, H] = [5, 4, 6];
    const p = randomCf(M, K, H, 11);
    // The same model with a sixth item whose weights are large: the user has not rated it.
    const extra = randomCf(1, K, H, 12);
    const bigger: CollaborativeParameters = {
      ...p,
      numItems: M + 1,
      weights: Float32Array.of(...p.weights, ...extra.weights.map((x) => 10 * x)),
      visibleBias: Float32Array.of(...p.visibleBias, ...extra.visibleBias),
    };
    const items = [0, 3, 4];
    const levels = [3, 0, 2];
    const run = async (params: CollaborativeParameters) => {
      const model = CollaborativeModel.fromParameters(reference, params);
      const { V } = upload(reference, params.numItems, K, items, levels, []);
      const ph = reference.tensor(1, H);
      model.hiddenProbabilities(ph, V);
      const P = Array.from({ length: K }, () => reference.tensor(1, params.numItems));
      model.visibleProbabilities(P, ph, reference.tensor(1, params.numItems), reference.tensor(1, params.numItems));
      const out = { ph: await reference.read(ph), P: await Promise.all(P.map((t) => reference.read(t))) };
      model.dispose();
      return out;
    };
    const [small, big] = [await run(p), await run(bigger)];
    expect(Array.from(big.ph)).toEqual(Array.from(small.ph));
    for (let k = 0; k < K; k++) expect(Array.from(big.P[k]!.subarray(0, M))).toEqual(Array.from(small.P[k]!));
    // And in the data: a catalogue item nobody in the batch rated leaves the trained parameters of the others alone
    // except through the shared biases (its own weights see no data, only decay).
    expect(exactDistribution(bigger, { items, levels }, 1)).toEqual(exactDistribution(p, { items, levels }, 1));
  });

  it('the categorical sampler draws each level with its probability, one per rated item, nothing elsewhere', async () => {
    const be = reference;
    const [B, M, K] = [400, 3, 4];
    const probs = [0.1, 0.2, 0.3, 0.4];
    const P = probs.map((x) => be.tensor(B, M, new Float64Array(B * M).fill(x)));
    const mask = new Float64Array(B * M);
    for (let n = 0; n < B; n++) mask[n * M + (n % M)] = 1;
    const model = CollaborativeModel.fromParameters(be, randomCf(M, K, 2, 1));
    const out = probs.map(() => be.tensor(B, M));
    const t = () => be.tensor(B, M);
    const random = new DeviceRandom(be, new RandomStream(5, 3));
    const counts = new Float64Array(K);
    for (let rep = 0; rep < 10; rep++) {
      model.sampleVisible(out, P, be.tensor(B, M, mask), random, { u: t(), c: t(), s: [t(), t()] });
      const v = await Promise.all(out.map((x) => be.read(x)));
      for (let e = 0; e < B * M; e++) {
        const sum = v.reduce((s, x) => s + x[e]!, 0);
        expect(sum).toBe(mask[e]);
        for (let k = 0; k < K; k++) {
          expect([0, 1]).toContain(v[k]![e]);
          counts[k]! += v[k]![e]!;
        }
      }
    }
    // 4,000 draws: each frequency within 4 standard deviations.
    for (let k = 0; k < K; k++) {
      const sd = Math.sqrt((probs[k]! * (1 - probs[k]!)) / 4000);
      expect(Math.abs(counts[k]! / 4000 - probs[k]!)).toBeLessThan(4 * sd);
    }
    model.dispose();
  });
});

describe('ratings files', () => {
  it('reads u.data, ratings.csv, ratings.dat and a plain CSV, ids remapped in order of appearance', () => {
    const forms = [
      '196\t242\t3\t881250949\n186\t302\t3\t891717742\n196\t377\t1\t878887116\n',
      'userId,movieId,rating,timestamp\n196,242,3,881250949\n186,302,3,891717742\n196,377,1,878887116\n',
      '196::242::3::881250949\n186::302::3::891717742\n196::377::1::878887116\n',
      '196,242,3\r\n186,302,3\r\n\r\n196,377,1\r\n',
    ];
    for (const text of forms) {
      const r = parseRatings(text);
      expect(r.users).toEqual(['196', '186']);
      expect(r.items).toEqual(['242', '302', '377']);
      expect(r.levels).toEqual([1, 2, 3]);
      // Sorted by user index, then item: 196 (242, 377), then 186 (302).
      expect(Array.from(r.user)).toEqual([0, 0, 1]);
      expect(Array.from(r.item)).toEqual([0, 2, 1]);
      expect(Array.from(r.level)).toEqual([2, 0, 2]);
      expect(Array.from(r.userStart)).toEqual([0, 2, 3]);
    }
  });

  it('infers the scale, or takes --levels (half stars, 1-10)', () => {
    expect(inferLevels([5, 2, 4])).toEqual([2, 3, 4, 5]);
    expect(inferLevels([0.5, 4.5, 3])).toEqual([0.5, 3, 4.5]);
    expect(parseLevels('0.5:5:0.5')).toEqual([0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5]);
    expect(parseLevels('1:10')).toHaveLength(10);
    expect(parseLevels('1,2,4')).toEqual([1, 2, 4]);
    expect(() => parseLevels('5:1')).toThrow(ArgumentError);
    expect(() => parseLevels('1,x')).toThrow(ArgumentError);
    const r = parseRatings('a\tx\t3.5\nb\tx\t5\n', { levels: parseLevels('0.5:5:0.5') });
    expect(r.levels).toHaveLength(10);
    expect(Array.from(r.level)).toEqual([6, 9]);
  });

  it('names the line, column and value of bad rows', () => {
    const bad: Array<[string, RegExp, object?]> = [
      ['1\t2\t3\n1\t3\tfive\n', /line 2, column 3: rating "five" is not a number/],
      ['1\t2\t3\n1\t3\n', /line 2: 2 fields, expected user, item and rating/],
      ['1\t2\t3\n\t3\t4\n', /line 2, column 1: the user id is empty/],
      ['1\t2\t3\n7\t8\t4\n1\t2\t5\n', /line 3: user "1" rated item "2" before, on line 1/],
      ['1 2 3\n', /line 1: "1 2 3" has no separator/],
      ['userId,movieId,rating\n', /no ratings \(only a header line\)/],
      ['1\t1\t3\n2\t1\t3\n', /every rating is 3; give the scale with --levels/],
    ];
    for (const [text, message] of bad) expect(() => parseRatings(text, { source: 'r.tsv' })).toThrow(message);
    expect(() => parseRatings('1\t2\t6\n', { source: 'r.tsv', levels: [1, 2, 3, 4, 5] })).toThrow(
      /r.tsv: line 1, column 3: rating 6 is not one of the levels 1, 2, 3, 4, 5/,
    );
    try {
      parseRatings('1\t2\t3\n1\t3\tfive\n', { source: 'r.tsv' });
    } catch (error) {
      expect(error).toBeInstanceOf(DataError);
      expect((error as DataError).row).toBe(2);
      expect((error as DataError).column).toBe(2);
    }
  });

  it('splits by rating with shared ids, and aligns a test file on the training ids', () => {
    const { ratings } = syntheticRatings({ users: 30, items: 20, density: 0.5, seed: 2 });
    const { train, test } = holdoutSplit(ratings, 0.2, 1);
    expect(train.user.length + test.user.length).toBe(ratings.user.length);
    expect(test.user.length / ratings.user.length).toBeGreaterThan(0.1);
    expect(test.user.length / ratings.user.length).toBeLessThan(0.3);
    const pairs = (r: Ratings) => new Set(Array.from(r.user, (u, k) => `${u}:${r.item[k]}`));
    const [a, b] = [pairs(train), pairs(test)];
    for (const x of b) expect(a.has(x)).toBe(false);
    expect(train.users).toBe(ratings.users);
    // A test file with a new user (kept: no ratings to go on), an unknown item (dropped) and a known pair.
    const file = parseRatings('new\t1\t4\n1\tunknown\t2\n2\t3\t5\n');
    const aligned = alignRatings(train, file);
    expect(aligned.droppedUnknownItems).toBe(1);
    expect(aligned.test.user.length).toBe(2);
    expect(aligned.train.users.at(-1)).toBe('new');
    expect(aligned.test.items).toBe(train.items);
    expect(() => alignRatings(train, parseRatings('1\t1\t0.5\n1\t2\t1\n'))).toThrow(/not on the scale/);
    // Transposing twice gives the ratings back.
    const back = transposeRatings(transposeRatings(train));
    expect(Array.from(back.item)).toEqual(Array.from(train.item));
    expect(Array.from(back.level)).toEqual(Array.from(train.level));
  });
});

describe('CollaborativeRBM', () => {
  it('learns generated ratings: held-out RMSE well below the item means, near the noise floor', async () => {
    const be = await createJsBackend();
    const syn = syntheticRatings({ users: 600, items: 60, density: 0.5, seed: 1 });
    const { train, test } = holdoutSplit(syn.ratings, 0.1, 1);
    const cf = new CollaborativeRBM(be, { numHidden: 30, epochs: 30, learningRate: 0.05, seed: 1 });
    const fit = await cf.fit(train, { validation: test });
    expect(cf.orientation).toBe('user');
    const floor = syn.noiseFloor(test);
    // The item-mean baseline on the same split.
    const counts = levelCounts(train);
    const K = train.levels.length;
    let se = 0;
    for (let k = 0; k < test.user.length; k++) {
      let [s, n] = [0, 0];
      for (let l = 0; l < K; l++) {
        s += (l + 1) * counts[test.item[k]! * K + l]!;
        n += counts[test.item[k]! * K + l]!;
      }
      se += (s / n - test.levels[test.level[k]!]!) ** 2;
    }
    const itemMean = Math.sqrt(se / test.user.length);
    // 600 users: 0.81 against the item means' 0.94 and a floor of 0.69 (docs/recommend.md has larger runs).
    expect(fit.rmse!).toBeLessThan(0.9 * itemMean);
    expect(fit.rmse!).toBeLessThan(1.2 * floor);
    // The exact predictive does as well as mean field (within 2%).
    const exact = await cf.evaluate(test, { method: 'exact' });
    expect(exact.rmse).toBeLessThan(1.02 * fit.rmse!);
    be.destroy();
  }, 60_000);

  it('recommends only unrated items, in the data ids, best first; predict agrees; the file round-trips', async () => {
    const be = createReferenceBackend();
    const triples = [];
    const { ratings } = syntheticRatings({ users: 40, items: 12, density: 0.4, seed: 3 });
    for (let k = 0; k < ratings.user.length; k++)
      triples.push({ user: `u${ratings.user[k]}`, item: `movie ${ratings.item[k]}`, rating: ratings.level[k]! + 1 });
    const data = ratingsFromTriples(triples);
    for (const orientation of ['user', 'item'] as const) {
      const cf = new CollaborativeRBM(be, { numHidden: 8, epochs: 3, seed: 1, orientation, conditional: true });
      // Per user with a holdout: the held-out ratings are still the user's, never recommended.
      await cf.fit(data, orientation === 'user' ? { holdout: 0.3 } : {});
      const user = 'u7';
      const u = data.users.indexOf(user);
      const rated = new Set(
        Array.from(data.item.subarray(data.userStart[u]!, data.userStart[u + 1]!), (i) => data.items[i]),
      );
      const recs = await cf.recommend(user, 5);
      expect(recs).toHaveLength(5);
      for (const r of recs) {
        expect(rated.has(r.item)).toBe(false);
        expect(data.items).toContain(r.item);
      }
      for (let k = 1; k < recs.length; k++) expect(recs[k - 1]!.score).toBeGreaterThanOrEqual(recs[k]!.score);
      const predicted = await cf.predict(
        user,
        recs.map((r) => r.item),
      );
      predicted.forEach((x, k) => {
        expect(x).toBeCloseTo(recs[k]!.score, 10);
      });
      const bytes = await cf.save({ note: 'test' });
      const file = decodeCollaborative(bytes);
      expect(file.orientation).toBe(orientation);
      expect(file.metadata.note).toBe('test');
      const loaded = CollaborativeRBM.load(be, bytes);
      // The file holds float32: the reference backend computed in float64 from float64 updates.
      const again = await loaded.recommend(user, 5);
      again.forEach((r, k) => {
        expect(r.score).toBeCloseTo(recs[k]!.score, 5);
      });
      expect(loaded.users).toEqual(data.users);
      await expect(cf.predict('nobody', ['movie 1'])).rejects.toThrow(
        new RegExp(`user "nobody" is not one of the model's ${data.users.length} users`),
      );
      await expect(cf.predict(user, ['movie 99'])).rejects.toThrow(/item "movie 99"/);
      cf.dispose();
      loaded.dispose();
    }
    be.destroy();
  });

  it('refuses a corrupt model file with a ModelFormatError', async () => {
    const be = createReferenceBackend();
    const data = syntheticRatings({ users: 10, items: 5, density: 0.6, seed: 1 }).ratings;
    const cf = new CollaborativeRBM(be, { numHidden: 3, epochs: 1 });
    await cf.fit(data);
    const bytes = await cf.save();
    const text = new TextDecoder().decode(
      bytes.subarray(8, 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true))),
    );
    const broken = new TextEncoder().encode(text.replace('"orientation":"user"', '"orientation":"diag"'));
    const copy = new Uint8Array(bytes);
    copy.set(broken, 8);
    expect(() => decodeCollaborative(copy)).toThrow(ModelFormatError);
    expect(() => decodeCollaborative(copy)).toThrow(/orientation is "diag"/);
    be.destroy();
  });

  it('a resumed run ends like an uninterrupted one', async () => {
    const be = createReferenceBackend();
    const { ratings } = syntheticRatings({ users: 20, items: 8, density: 0.5, seed: 4 });
    const { train, test } = holdoutSplit(ratings, 0.2, 1);
    const init = () =>
      CollaborativeModel.fromParameters(be, {
        ...randomCf(8, 5, 4, 2),
        weights: randomCf(8, 5, 4, 2).weights.map((x) => 0.01 * x),
      });
    const options = { epochs: 4, batchSize: 6, gibbsSteps: 2, seed: 3 };
    const straight = init();
    const t0 = new Trainer(collaborativeFamily(straight, train, test, options));
    await t0.run();
    const first = init();
    const t1 = new Trainer(collaborativeFamily(first, train, test, { ...options, epochs: 2 }));
    await t1.run();
    const state = await t1.exportState();
    const resumed = CollaborativeModel.fromParameters(be, await first.parameters());
    const t2 = new Trainer(collaborativeFamily(resumed, train, test, options));
    t2.importState(state);
    const rest = await t2.run();
    expect(rest.map((e) => e.epoch)).toEqual([2, 3]);
    // The state is float32 on the host, the reference backend float64: equal to float32 rounding.
    const [a, b] = [await straight.parameters(), await resumed.parameters()];
    b.weights.forEach((x, k) => {
      expect(Math.abs(x - a.weights[k]!)).toBeLessThan(1e-6);
    });
    for (const t of [t0, t1, t2]) t.dispose();
    const [p1, p2] = [await predictQueries(resumed, train, test), await predictQueries(straight, train, test)];
    p1.forEach((x, k) => {
      expect(Math.abs(x - p2[k]!)).toBeLessThan(1e-5);
    });
    be.destroy();
  });

  it('checks its options', async () => {
    const be = createReferenceBackend();
    const data = ratingsFromIndices({ users: ['a', 'b'], items: ['x', 'y'], levels: [1, 2] }, [0, 1], [0, 1], [0, 1]);
    const model = CollaborativeModel.fromParameters(be, randomCf(2, 2, 2, 1));
    expect(() => new Trainer(collaborativeFamily(model, data, undefined, { gibbsSteps: 1.5 }))).toThrow(/gibbsSteps/);
    expect(() => new Trainer(collaborativeFamily(model, data, undefined, { patience: 2 }))).toThrow(
      /needs held-out ratings/,
    );
    expect(() => new CollaborativeRBM(be, { numHidden: 0 })).toThrow(ArgumentError);
    be.destroy();
  });
});
