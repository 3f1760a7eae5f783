import { describe, expect, it } from 'vitest';
import {
  type AisEstimate,
  aisBetas,
  aisWarnings,
  annealedImportanceSampling,
  annealingBase,
  createDataset,
  createReferenceBackend,
  estimatedLogLikelihood,
  exactLogLikelihood,
  exactLogPartition,
  exactSamples,
  logMeanExp,
  RBM,
  replayForwardRun,
} from '../src/index.js';
import { randomParameters } from './brute.js';
import { sampledModel } from './fixtures.js';

const backend = createReferenceBackend();

describe('AIS', () => {
  it('one run gives an estimate but no interval, and says so; two runs give a finite one', async () => {
    const model = RBM.fromParameters(backend, randomParameters(9, 4, 1, 3));
    const one = await annealedImportanceSampling(model, { runs: 1, schedule: { linear: 200 }, seed: 1 });
    expect(Number.isFinite(one.logZ)).toBe(true);
    expect(one.logZLow).toBe(Number.NEGATIVE_INFINITY);
    expect(one.logZHigh).toBe(Number.POSITIVE_INFINITY);
    expect(aisWarnings(one)).toEqual([
      'forward AIS: one run gives an estimate but no interval (its spread is unknown): use at least 2 runs',
    ]);
    const two = await annealedImportanceSampling(model, { runs: 2, schedule: { linear: 200 }, seed: 1 });
    expect(two.logZHigh - two.logZLow).toBeGreaterThan(0);
    expect(Number.isFinite(two.logZHigh)).toBe(true);
  });

  it("uses Salakhutdinov & Murray's default schedule", () => {
    const b = aisBetas();
    expect(b.length).toBe(500 + 4000 + 10000 + 1);
    expect([b[0], b[500], b[4500], b.at(-1)]).toEqual([0, 0.5, expect.closeTo(0.9, 12), 1]);
    expect(b[501]! - b[500]!).toBeCloseTo(1e-4, 12);
    expect(b[4501]! - b[4500]!).toBeCloseTo(1e-5, 12);
    expect(() => aisBetas(Float64Array.of(0, 0.5, 0.4, 1))).toThrow(/not increasing at index 2/);
    // Four times the steps in each piece: 58,000, the same breakpoints, a quarter of each step.
    const b4 = aisBetas({ salakhutdinovMurray: 4 });
    expect(b4.length).toBe(58001);
    expect([b4[2000], b4[18000], b4.at(-1)]).toEqual([0.5, expect.closeTo(0.9, 12), 1]);
    expect(b4[18001]! - b4[18000]!).toBeCloseTo(2.5e-6, 12);
    expect(() => aisBetas({ salakhutdinovMurray: 1.5 })).toThrow(/positive integer, got 1.5/);
  });

  it('estimates log Z within its interval and within 0.05 nats of the exact value', async () => {
    const p = randomParameters(14, 8, 1.2, 5);
    const model = RBM.fromParameters(backend, p);
    const exact = (await exactLogPartition(model)).logZ;
    const est = await annealedImportanceSampling(model, { runs: 200, schedule: { linear: 2000 }, seed: 1 });
    expect(Math.abs(est.logZ - exact)).toBeLessThan(0.05);
    expect(est.logZLow).toBeLessThanOrEqual(exact);
    expect(est.logZHigh).toBeGreaterThanOrEqual(exact);
    expect(est.steps).toBe(2000);
    // The log-likelihood carries log Z's interval, reversed.
    const data = await exactSamples(model, 50, { seed: 2 });
    const ll = await estimatedLogLikelihood(model, data, est);
    const exactLL = await exactLogLikelihood(model, data, { logZ: exact });
    expect(Math.abs(ll.mean - exactLL.mean)).toBeLessThan(0.05);
    expect(ll.low).toBeCloseTo(ll.mean - (est.logZHigh - est.logZ), 12);
    expect(ll.high).toBeCloseTo(ll.mean + (est.logZ - est.logZLow), 12);
  }, 60_000);

  it('a data-based base model (smoothed means) works too', async () => {
    const { model, data, logZ: exact } = await sampledModel(backend, randomParameters(10, 6, 1, 8), 300, 4);
    const est = await annealedImportanceSampling(model, {
      runs: 100,
      schedule: { linear: 1000 },
      baseData: data,
      seed: 2,
    });
    expect(Math.abs(est.logZ - exact)).toBeLessThan(0.05);
    // `data`, the older name, is the same option.
    const older = await annealedImportanceSampling(model, { runs: 100, schedule: { linear: 1000 }, data, seed: 2 });
    expect(older.logZ).toBe(est.logZ);
    const uniform = await annealedImportanceSampling(model, { runs: 100, schedule: { linear: 1000 }, seed: 2 });
    expect(uniform.logZBase).not.toBe(est.logZBase);
  }, 60_000);

  it('forward and reverse AIS from exact samples bracket the exact log Z', async () => {
    // Forward AIS is a stochastic lower bound (E[log Z-hat] <= log Z), reverse AIS from exact samples an
    // upper one. A short schedule makes both biases larger than the noise of an average over 6 repeats.
    const p = randomParameters(12, 10, 3, 13);
    const model = RBM.fromParameters(backend, p);
    const exact = (await exactLogPartition(model)).logZ;
    let forward = 0;
    let reverse = 0;
    const repeats = 6;
    for (let seed = 0; seed < repeats; seed++) {
      const start = await exactSamples(model, 200, { seed: 100 + seed });
      const schedule = { linear: 5 };
      forward += (await annealedImportanceSampling(model, { runs: 200, schedule, seed })).logZ / repeats;
      reverse +=
        (await annealedImportanceSampling(model, { runs: 200, schedule, seed, direction: 'reverse', start })).logZ /
        repeats;
    }
    expect(forward).toBeLessThan(exact - 0.05);
    expect(reverse).toBeGreaterThan(exact + 0.05);
    // With a long schedule both agree with the exact value.
    const start = await exactSamples(model, 100, { seed: 7 });
    const f2 = await annealedImportanceSampling(model, { runs: 100, schedule: { linear: 3000 }, seed: 5 });
    const r2 = await annealedImportanceSampling(model, {
      runs: 100,
      schedule: { linear: 3000 },
      seed: 5,
      direction: 'reverse',
      start,
    });
    expect(Math.abs(f2.logZ - exact)).toBeLessThan(0.1);
    expect(Math.abs(r2.logZ - exact)).toBeLessThan(0.1);
  }, 120_000);

  it('exact samples follow the model distribution', async () => {
    const p = randomParameters(3, 5, 1.5, 2);
    const model = RBM.fromParameters(backend, p);
    const n = 20000;
    const samples = await exactSamples(model, n, { seed: 1 });
    const counts = new Float64Array(8);
    for (let r = 0; r < n; r++)
      counts[samples.data[r * 3]! + 2 * samples.data[r * 3 + 1]! + 4 * samples.data[r * 3 + 2]!]! += 1;
    const all = createDataset(
      Float32Array.from({ length: 24 }, (_, i) => (Math.floor(i / 3) >> (i % 3)) & 1),
      8,
      3,
    );
    const F = await model.freeEnergy(all);
    const { logZ } = await exactLogPartition(model);
    for (let s = 0; s < 8; s++) {
      const prob = Math.exp(-F[s]! - logZ);
      expect(Math.abs(counts[s]! / n - prob)).toBeLessThan(4 * Math.sqrt((prob * (1 - prob)) / n) + 1e-4);
    }
  });

  it("reports Kish's effective sample size of the weights", () => {
    const n = 50;
    expect(logMeanExp(new Float64Array(n).fill(-3)).effectiveSampleSize).toBeCloseTo(n, 10);
    // One run carries the weight: ESS 1 (plus the rest's e^-50 share).
    const one = Float64Array.from({ length: n }, (_, i) => (i === 0 ? 10 : -40));
    expect(logMeanExp(one).effectiveSampleSize).toBeCloseTo(1, 10);
    // Two equal runs and the rest negligible: 2. Weights 1 and 3: (1 + 3)^2 / (1 + 9) = 1.6.
    expect(logMeanExp(Float64Array.of(700, 700, 0, 0)).effectiveSampleSize).toBeCloseTo(2, 10);
    expect(logMeanExp(Float64Array.of(0, Math.log(3))).effectiveSampleSize).toBeCloseTo(1.6, 12);
  });

  it('warns about few effective runs, open intervals, and forward above reverse', () => {
    const estimate = (direction: 'forward' | 'reverse', logZ: number, half: number, ess: number): AisEstimate => ({
      logZ,
      logZLow: logZ - half,
      logZHigh: logZ + half,
      direction,
      runs: 100,
      steps: 14500,
      logWeights: new Float64Array(100),
      logZBase: 0,
      effectiveSampleSize: ess,
    });
    const good = estimate('forward', 500, 0.2, 80);
    expect(aisWarnings(good)).toEqual([]);
    expect(aisWarnings(good, estimate('reverse', 500.3, 0.2, 70), { reverseStart: 'exact' })).toEqual([]);
    // ESS below 10% of the runs.
    expect(aisWarnings(estimate('forward', 500, 0.2, 9.5))).toEqual([
      expect.stringMatching(/^forward AIS: the weights' effective sample size is 9\.5 of 100 runs/),
    ]);
    // No lower end.
    const open = { ...good, logZLow: Number.NEGATIVE_INFINITY };
    expect(aisWarnings(open)).toEqual([expect.stringMatching(/interval has no lower end/)]);
    // SMC names itself, and its spread's source: the ancestors left.
    const smc: AisEstimate = Object.assign({ ...open }, { ancestors: 3, resamplings: 9 });
    expect(aisWarnings(smc)).toEqual([
      expect.stringMatching(/^SMC: the estimated spread .*\(3 of 100 runs' ancestors left after 9 resamplings\)/),
    ]);
    expect(aisWarnings(Object.assign({ ...good, effectiveSampleSize: 4 }, { ancestors: 50, resamplings: 2 }))).toEqual([
      expect.stringMatching(/^SMC: the last segment's effective sample size is 4\.0 of 100 runs/),
    ]);
    // Forward 3.6 nats above a reverse run from approximate samples, intervals apart (the 784-500 case).
    const crossed = aisWarnings(good, estimate('reverse', 496.4, 0.5, 60), { reverseStart: 'approximate' });
    expect(crossed).toEqual([
      expect.stringMatching(/^forward AIS \(a stochastic lower bound of log Z\) is 3\.600 nats above reverse AIS/),
    ]);
    expect(crossed[0]).toMatch(/starting samples most likely cover only part/);
    // Open intervals overlap everything: forward 2.8 nats above reverse is still said (the 784-500 seed-2 case).
    const wide = aisWarnings({ ...good, logZLow: Number.NEGATIVE_INFINITY }, estimate('reverse', 497.2, 0.5, 3));
    expect(wide).toContainEqual(
      expect.stringMatching(/^forward AIS \(a stochastic lower bound of log Z\) is 2\.800 nats above/),
    );
    // Overlapping intervals: noise, not a warning; far apart the other way: a bracket too wide.
    expect(aisWarnings(good, estimate('reverse', 499.9, 0.2, 60))).toEqual([]);
    expect(aisWarnings(good, estimate('reverse', 502, 0.2, 60), { reverseStart: 'exact' })).toEqual([
      'forward and reverse AIS differ by 2.000 nats: log Z is known only to within that bracket',
    ]);
  });
});

describe('replayForwardRun: one AIS run again, in float64, from its own uniforms', () => {
  // 9 visible and 6 hidden units: rows of 9 and 6 uniforms start inside Philox's blocks of 4 for most runs.
  const params = randomParameters(9, 6, 2, 7);
  const baseVisibleBias = Float32Array.from({ length: 9 }, (_, i) => (i % 3) - 1);

  it('gives every run of a batched forward AIS its log-weight (the float64 reference backend)', async () => {
    const model = RBM.fromParameters(backend, params);
    const schedule = { linear: 300 } as const;
    const rows = 7;
    const batched = await annealedImportanceSampling(model, { runs: rows, schedule, seed: 5, baseVisibleBias });
    const base = await annealingBase(model, { baseVisibleBias });
    const betas = aisBetas(schedule);
    for (let run = 0; run < rows; run++) {
      const replayed = replayForwardRun(params, { base, betas, rows, run, seed: 5 });
      expect(replayed.logWeight).toBeCloseTo(batched.logWeights[run]!, 9);
      expect(replayed.closestDraw).toBeGreaterThan(0);
      expect(replayed.visible.every((x) => x === 0 || x === 1)).toBe(true);
    }
    // The runs differ from each other and from another seed's: the replay follows the run's own draws.
    const other = replayForwardRun(params, { base, betas, rows, run: 3, seed: 6 });
    expect(new Set(Array.from(batched.logWeights, (w) => w.toFixed(6))).size).toBe(rows);
    expect(Math.abs(other.logWeight - batched.logWeights[3]!)).toBeGreaterThan(1e-6);
  });

  it('refuses what it cannot replay, by name', async () => {
    const base = await annealingBase(RBM.fromParameters(backend, params), {});
    const betas = aisBetas({ linear: 10 });
    expect(() => replayForwardRun(params, { base, betas, rows: 4, run: 4 })).toThrow(
      /run must be a whole number in 0\.\.3, got 4/,
    );
    expect(() => replayForwardRun({ ...params, hiddenUnits: 'nrelu' }, { base, betas, rows: 4, run: 0 })).toThrow(
      /Bernoulli visible and hidden units only/,
    );
  });
});
