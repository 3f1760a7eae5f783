import { describe, expect, it } from 'vitest';
import {
  aisBetas,
  annealedImportanceSampling,
  createDataset,
  createReferenceBackend,
  estimatedLogLikelihood,
  exactLogLikelihood,
  exactLogPartition,
  exactSamples,
  RBM,
} from '../src/index.js';
import { randomParameters } from './brute.js';

const backend = createReferenceBackend();

describe('AIS', () => {
  it("uses Salakhutdinov & Murray's default schedule", () => {
    const b = aisBetas();
    expect(b.length).toBe(500 + 4000 + 10000 + 1);
    expect([b[0], b[500], b[4500], b.at(-1)]).toEqual([0, 0.5, expect.closeTo(0.9, 12), 1]);
    expect(b[501]! - b[500]!).toBeCloseTo(1e-4, 12);
    expect(b[4501]! - b[4500]!).toBeCloseTo(1e-5, 12);
    expect(() => aisBetas(Float64Array.of(0, 0.5, 0.4, 1))).toThrow(/not increasing at index 2/);
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
    const p = randomParameters(10, 6, 1, 8);
    const model = RBM.fromParameters(backend, p);
    const data = await exactSamples(model, 300, { seed: 4 });
    const exact = (await exactLogPartition(model)).logZ;
    const est = await annealedImportanceSampling(model, { runs: 100, schedule: { linear: 1000 }, data, seed: 2 });
    expect(Math.abs(est.logZ - exact)).toBeLessThan(0.05);
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
});
