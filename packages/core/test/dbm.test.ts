import { describe, expect, it } from 'vitest';
import {
  type AisEstimate,
  createDataset,
  createReferenceBackend,
  DBM,
  DbmEstimator,
  type DbmParameters,
  dbmAnnealedImportanceSampling,
  dbmFamily,
  dbmVariationalBound,
  decodeAnyModel,
  decodeCheckpoint,
  decodeDbm,
  encodeCheckpoint,
  encodeDbm,
  exactDbmLogLikelihood,
  exactDbmLogPartition,
  initialDbmParameters,
  ModelFormatError,
  RandomStream,
  Trainer,
  type TrainerState,
} from '../src/index.js';
import { allStates, bits, randomDbm } from './brute.js';

const backend = createReferenceBackend();

/** -E(s) of a full state of every layer, in float64, by plain loops (no code shared with the library). */
function negEnergy(p: DbmParameters, s: number[][]): number {
  let e = 0;
  p.sizes.forEach((n, l) => {
    for (let i = 0; i < n; i++) e += p.biases[l]![i]! * s[l]![i]!;
    if (l + 1 < p.sizes.length) {
      const m = p.sizes[l + 1]!;
      for (let i = 0; i < n; i++)
        for (let j = 0; j < m; j++) e += s[l]![i]! * p.weights[l]![i * m + j]! * s[l + 1]![j]!;
    }
  });
  return e;
}

function logSumExp(xs: number[]): number {
  const m = Math.max(...xs);
  return m + Math.log(xs.reduce((t, x) => t + Math.exp(x - m), 0));
}

/** log Z and log p(v) of every v by summing over every state of every layer. */
function brute(p: DbmParameters): { logZ: number; logPv: number[] } {
  const total = p.sizes.reduce((t, n) => t + n, 0);
  const nv = p.sizes[0]!;
  const byV: number[][] = Array.from({ length: 2 ** nv }, () => []);
  for (let c = 0; c < 2 ** total; c++) {
    const all = bits(c, total);
    let o = 0;
    const s = p.sizes.map((n) => {
      const x = all.slice(o, o + n);
      o += n;
      return x;
    });
    byV[c % 2 ** nv]!.push(negEnergy(p, s));
  }
  const logZ = logSumExp(byV.flat());
  return { logZ, logPv: byV.map((t) => logSumExp(t) - logZ) };
}

describe('DBM: exact values by enumeration', () => {
  it('log Z and log p(v) with the odd layers summed out match the sum over every state (4-3-2 and 3-2-2-2)', () => {
    for (const sizes of [
      [4, 3, 2],
      [3, 2, 2, 2],
    ]) {
      const p = randomDbm(sizes, 7);
      const b = brute(p);
      expect(exactDbmLogPartition(p)).toBeCloseTo(b.logZ, 10);
      const ll = exactDbmLogLikelihood(p, allStates(sizes[0]!));
      b.logPv.forEach((x, c) => {
        expect(ll[c]).toBeCloseTo(x, 10);
      });
    }
  });

  it('refuses a model whose even layers are too many to enumerate', () => {
    expect(() => exactDbmLogPartition(randomDbm([20, 2, 4], 1, 0.1))).toThrow(/enumerates its even layers, 24 units/);
  });
});

describe('DBM 6-4-3: AIS and the mean-field bound against the exact values', () => {
  const p = randomDbm([6, 4, 3], 11, 1);
  const logZ = exactDbmLogPartition(p);
  const data = allStates(6);
  const exact = exactDbmLogLikelihood(p, data, logZ);

  it('AIS with the odd layers summed out: exact log Z inside its +-3 sigma interval', async () => {
    const model = DBM.fromParameters(backend, p);
    const ais = await dbmAnnealedImportanceSampling(model, { runs: 200, schedule: { linear: 2000 }, seed: 3 });
    expect(ais.logZLow).toBeLessThanOrEqual(logZ);
    expect(ais.logZHigh).toBeGreaterThanOrEqual(logZ);
    expect(Math.abs(ais.logZ - logZ)).toBeLessThan(0.05);
    // The base's log Z: every unit uniform without data.
    expect(ais.logZBase).toBeCloseTo(13 * Math.LN2, 12);
    // With data, the base rates of v and of the even hidden layer (from mean field): the same log Z.
    const withBase = await dbmAnnealedImportanceSampling(model, {
      runs: 200,
      schedule: { linear: 2000 },
      seed: 4,
      data: patterns(100, 3),
    });
    expect(withBase.logZBase).not.toBeCloseTo(13 * Math.LN2, 3);
    expect(withBase.logZLow).toBeLessThanOrEqual(logZ);
    expect(withBase.logZHigh).toBeGreaterThanOrEqual(logZ);
    model.dispose();
  });

  it('the mean-field bound is at or below the exact log p(v) for every v, and rises with the iterations', async () => {
    const model = DBM.fromParameters(backend, p);
    const ais = { logZ, logZLow: logZ, logZHigh: logZ } as AisEstimate;
    let previous: Float64Array | undefined;
    for (const iterations of [1, 3, 10, 50]) {
      const b = await dbmVariationalBound(model, data, { ais, iterations });
      b.perExample.forEach((x, c) => {
        expect(x).toBeLessThanOrEqual(exact[c]! + 1e-9);
      });
      // Each mean-field sweep maximises the bound over one layer given the others: it never falls.
      if (previous)
        b.perExample.forEach((x, c) => {
          expect(x).toBeGreaterThanOrEqual(previous![c]! - 1e-9);
        });
      previous = b.perExample;
    }
    // Not vacuous: at the fixed point the bound is within a nat of log p(v) on average.
    const gap = previous!.reduce((t, x, c) => t + exact[c]! - x, 0) / data.rows;
    expect(gap).toBeGreaterThan(0);
    expect(gap).toBeLessThan(1);
    model.dispose();
  });

  it('Gibbs samples follow p(v): total variation to the exact distribution below 0.05', async () => {
    const model = DBM.fromParameters(backend, p);
    const samples = await model.sample({ chains: 4000, steps: 100, seed: 5 });
    const counts = new Float64Array(64);
    for (let r = 0; r < samples.rows; r++) {
      let c = 0;
      for (let i = 0; i < 6; i++) c += samples.states[r * 6 + i]! * 2 ** i;
      counts[c]! += 1 / samples.rows;
    }
    let tv = 0;
    for (let c = 0; c < 64; c++) tv += Math.abs(counts[c]! - Math.exp(exact[c]!)) / 2;
    expect(tv).toBeLessThan(0.05);
    model.dispose();
  });
});

/** Two 2x3 bar patterns and their noisy copies: a data set a 6-4-3 DBM can learn. */
function patterns(rows: number, seed: number) {
  const rng = new RandomStream(seed, 0);
  const u = new Float32Array(rows * 7);
  rng.uniform(u);
  const protos = [
    [1, 1, 1, 0, 0, 0],
    [0, 0, 0, 1, 1, 1],
    [1, 0, 1, 0, 1, 0],
  ];
  const data = new Float32Array(rows * 6);
  for (let r = 0; r < rows; r++) {
    const proto = protos[Math.floor(u[r * 7]! * 3)]!;
    for (let i = 0; i < 6; i++) data[r * 6 + i] = u[r * 7 + 1 + i]! < 0.05 ? 1 - proto[i]! : proto[i]!;
  }
  return createDataset(data, rows, 6);
}

describe('DBM training', () => {
  const train = patterns(300, 1);
  const mean = (x: Float64Array) => x.reduce((t, y) => t + y, 0) / x.length;

  it('pretraining and joint training raise the exact log-likelihood far above the start', async () => {
    const est = new DbmEstimator(backend, {
      hidden: [4, 3],
      pretrainEpochs: 30,
      epochs: 60,
      batchSize: 10,
      learningRate: 0.01,
      pretrainLearningRate: 0.1,
      chains: 50,
      seed: 2,
    });
    const start = initialDbmParameters({ sizes: [6, 4, 3], seed: 2 });
    const before = mean(exactDbmLogLikelihood(start, train));
    const history = await est.fit(train);
    expect(history.filter((e) => e.stage?.startsWith('pretrain'))).toHaveLength(60);
    expect(history.filter((e) => e.stage === 'joint')).toHaveLength(60);
    const after = mean(exactDbmLogLikelihood(await est.model.parameters(), train));
    // The data have about log 3 + 6 H(0.05) = 2.29 nats of entropy (the best a model can do); uniform is 4.16.
    expect(before).toBeLessThan(-4);
    expect(after).toBeGreaterThan(-2.5);
    const features = await est.transform(train);
    expect(features.length).toBe(300 * 7);
    for (const f of features) expect(f >= 0 && f <= 1).toBe(true);
    est.dispose();
  });

  it("a run resumed from a checkpoint file matches the run straight through (to the file's float32)", async () => {
    const options = { pretrainEpochs: 1, epochs: 2, batchSize: 30, chains: 20, seed: 4 };
    const straight = DBM.create(backend, { sizes: [6, 4, 3], seed: 1 });
    const t1 = new Trainer(dbmFamily(straight, train, options));
    await t1.run();
    t1.dispose();
    const first = DBM.create(backend, { sizes: [6, 4, 3], seed: 1 });
    const controller = new AbortController();
    let saved: TrainerState | undefined;
    let params: DbmParameters | undefined;
    const t2: Trainer<DBM> = new Trainer(dbmFamily(first, train, options), {
      signal: controller.signal,
      onEpoch: async (e) => {
        if (e.stage === 'pretrain.1') {
          // Through a file, as the CLI's checkpoints go.
          const bytes = encodeCheckpoint(
            { kind: 'dbm', parameters: await first.parameters() },
            await t2.exportState(),
            {},
          );
          const file = decodeCheckpoint(decodeAnyModel(bytes), 'checkpoint');
          saved = file.state;
          params = file.file.kind === 'dbm' ? file.file.parameters : undefined;
          controller.abort();
        }
      },
    });
    await t2.run().catch(() => undefined);
    t2.dispose();
    // After pretraining's last epoch: on to joint training (stage 2), no epoch of it done.
    expect(saved?.stage).toBe(2);
    expect(saved?.epoch).toBe(0);
    const resumed = DBM.fromParameters(backend, params!);
    const t3 = new Trainer(dbmFamily(resumed, train, options));
    t3.importState(saved!);
    await t3.run();
    t3.dispose();
    const a = await straight.parameters();
    const b = await resumed.parameters();
    // The reference backend computes in float64; the file holds float32, so the runs differ by its rounding.
    const close = (x: Float32Array, y: Float32Array) =>
      x.forEach((v, i) => {
        expect(Math.abs(v - y[i]!)).toBeLessThan(1e-6);
      });
    a.weights.forEach((w, l) => {
      close(b.weights[l]!, w);
    });
    a.biases.forEach((w, l) => {
      close(b.biases[l]!, w);
    });
    // Not trivially equal: the second half of the run moved the parameters.
    expect(Array.from(a.weights[1]!)).not.toEqual(Array.from(params!.weights[1]!));
  });

  it('refuses bad options with their names', () => {
    const m = DBM.create(backend, { sizes: [6, 4, 3] });
    expect(() => dbmFamily(m, train, { chains: 0 })).toThrow(/chains must be an integer >= 1/);
    expect(() => dbmFamily(m, train, { meanFieldIterations: -1 })).toThrow(/mean-field iterations/);
    expect(() => dbmFamily(m, patterns(5, 1).data.length ? createDataset(new Float32Array(5), 1, 5) : train)).toThrow(
      /5 columns, the DBM's visible layer 6/,
    );
    expect(() => DBM.create(backend, { sizes: [6, 4] })).toThrow(/at least two hidden layers/);
    m.dispose();
  });
});

describe('DBM files', () => {
  it('round-trips, is recognised as a DBM, and names what is wrong', () => {
    const p = randomDbm([6, 4, 3], 2);
    const bytes = encodeDbm(p, { note: 'x' });
    const any = decodeAnyModel(bytes);
    expect(any.kind).toBe('dbm');
    const back = decodeDbm(bytes).parameters;
    expect(back.sizes).toEqual([6, 4, 3]);
    expect(Array.from(back.weights[1]!)).toEqual(Array.from(p.weights[1]!));
    const bad = encodeDbm({ ...p, sizes: [6, 4, 3] }, { sizes: '[6,4,2]' });
    // Metadata given by the caller cannot override the sizes the file is written with.
    expect(decodeDbm(bad).parameters.sizes).toEqual([6, 4, 3]);
    expect(() => decodeDbm(encodeDbm(p).slice(0, 40))).toThrow();
    expect(() => encodeDbm({ ...p, biases: p.biases.slice(0, 2) })).toThrow(/3 bias vectors, got 2/);
    expect(() => decodeAnyModel(new TextEncoder().encode('not a file'))).toThrow();
    expect(ModelFormatError).toBeDefined();
  });
});
