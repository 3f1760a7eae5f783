import { describe, expect, it } from 'vitest';
import {
  annealedImportanceSampling,
  createDataset,
  createReferenceBackend,
  exactLogPartition,
  likelihoodBounds,
  nextBeta,
  RBM,
  sequentialMonteCarlo,
} from '../src/index.js';
import { randomParameters } from './brute.js';
import { expectSmcFinds, sampledModel } from './fixtures.js';

describe('sequential Monte Carlo', () => {
  const backend = createReferenceBackend();

  it('with no resampling and a fixed schedule it is forward AIS, run for run', async () => {
    const model = RBM.fromParameters(backend, randomParameters(10, 6, 1, 3));
    const schedule = { linear: 300 } as const;
    const ais = await annealedImportanceSampling(model, { runs: 50, schedule, seed: 4, stepSweeps: 2 });
    const smc = await sequentialMonteCarlo(model, { runs: 50, schedule, seed: 4, resample: 0, sweeps: 2 });
    expect(smc.steps).toBe(300);
    expect(smc.resamplings).toBe(0);
    expect(smc.ancestors).toBe(50);
    for (let r = 0; r < 50; r++) expect(smc.logWeights[r]).toBeCloseTo(ais.logWeights[r]!, 9);
    expect(smc.logZ).toBeCloseTo(ais.logZ, 9);
    // With every run its own ancestor, Lee & Whiteley's interval is the mean's usual one.
    expect(smc.logZLow).toBeCloseTo(ais.logZLow, 9);
    expect(smc.logZHigh).toBeCloseTo(ais.logZHigh, 9);
  });

  it('the adaptive schedule holds each step to the conditional ESS asked, and the exact log Z is inside the interval', async () => {
    // Sharp weights (scale 3) make a path that a coarse schedule crosses badly.
    const p = randomParameters(14, 10, 3, 7);
    const model = RBM.fromParameters(backend, p);
    const exact = (await exactLogPartition(model)).logZ;
    const data = createDataset(
      Float32Array.from({ length: 14 * 40 }, (_, i) => ((i * 7919) % 13) % 2),
      40,
      14,
    );
    for (const seed of [1, 2, 3]) {
      const est = await sequentialMonteCarlo(model, { runs: 300, seed, data, cess: 0.995, sweeps: 2 });
      expectSmcFinds(est, exact, 0.1);
    }
  });

  it('resamples when the weights degenerate, and still finds the exact log Z', async () => {
    const p = randomParameters(14, 10, 3, 7);
    const model = RBM.fromParameters(backend, p);
    const exact = (await exactLogPartition(model)).logZ;
    // A coarse fixed schedule degenerates the weights; resampling at ESS < 0.9 runs keeps the estimate.
    const est = await sequentialMonteCarlo(model, {
      runs: 400,
      seed: 5,
      schedule: { linear: 20 },
      resample: 0.9,
      sweeps: 3,
    });
    expect(est.resamplings).toBeGreaterThan(0);
    expect(est.ancestors).toBeLessThan(400);
    expect(est.relativeVariance).toBeGreaterThan(0);
    expect(Math.abs(est.logZ - exact)).toBeLessThan(0.2);
    expect(est.logZLow).toBeLessThanOrEqual(exact);
    expect(est.logZHigh).toBeGreaterThanOrEqual(exact);
  });

  it('nextBeta: the whole way when the slopes agree, a step that keeps the first-order CESS at the target otherwise', () => {
    const logW = new Float64Array(4);
    expect(nextBeta(0.2, logW, [3, 3, 3, 3], 0.99, 1e-6)).toBe(1);
    const g = [0, 1, 2, 3];
    const to = nextBeta(0, logW, g, 0.99, 1e-6);
    const cessAt = (d: number) => {
      const w = g.map((x) => Math.exp(d * x));
      const s1 = w.reduce((a, b) => a + b, 0) / 4;
      const s2 = w.reduce((a, b) => a + b * b, 0) / 4;
      return (s1 * s1) / s2;
    };
    expect(cessAt(to)).toBeCloseTo(0.99, 9);
    // Weights already on one run: the others do not count.
    expect(nextBeta(0, Float64Array.of(0, -Infinity, -Infinity, -Infinity), g, 0.99, 1e-6)).toBe(1);
    expect(nextBeta(0.5, logW, [0, 1e9, 0, 0], 0.99, 0.01)).toBeCloseTo(0.51, 12);
  });

  it('brackets the exact mean log-likelihood with RAISE on the temperatures SMC chose', async () => {
    const { model, data, exact } = await sampledModel(backend, randomParameters(12, 8, 2.5, 11), 40, 3);
    let last = 0;
    const b = await likelihoodBounds(model, data, {
      runs: 300,
      smc: { cess: 0.995 },
      stepSweeps: 3,
      sweeps: 200,
      seed: 2,
      onProgress: (done, total) => {
        expect(total).toBe(2000);
        expect(done).toBeGreaterThanOrEqual(last);
        last = done;
      },
    });
    expect(last).toBe(2000);
    expect('betas' in b.ais && b.ais.betas).toEqual(expect.any(Float64Array));
    // RAISE annealed on SMC's temperatures, with its sweeps at each.
    expect(b.raise.steps).toBe(b.ais.steps);
    expect(b.lower).toBeLessThanOrEqual(exact);
    expect(b.upper).toBeGreaterThanOrEqual(exact);
    expect(b.width).toBeLessThan(0.5);
  }, 120_000);

  it('keeps going in rounds of doubled sweeps until the bracket is narrow enough, the budget is spent or the rounds run out', async () => {
    const { model, data, exact } = await sampledModel(backend, randomParameters(10, 6, 2, 5), 30, 4);
    const base = { runs: 100, smc: { cess: 0.99 }, sweeps: 50, seed: 3 } as const;
    const seen: number[] = [];
    const three = await likelihoodBounds(model, data, {
      ...base,
      width: 1e-9,
      maxRounds: 3,
      onRound: (r) => seen.push(r.stepSweeps),
    });
    expect(three.stopped).toBe('rounds');
    expect(seen).toEqual([1, 2, 4]);
    expect(three.rounds.map((r) => r.round)).toEqual([1, 2, 3]);
    for (const r of three.rounds) {
      expect(r.lower).toBeLessThanOrEqual(exact);
      expect(r.upper).toBeGreaterThanOrEqual(exact);
      expect(r.elapsed).toBeGreaterThanOrEqual(r.seconds);
    }
    // The bracket returned is the last round's.
    expect(three.lower).toBe(three.rounds[2]!.lower);
    expect(three.warnings.join('\n')).toMatch(/the bounds are .* nats apart/);
    const wide = await likelihoodBounds(model, data, { ...base, width: 100 });
    expect([wide.stopped, wide.rounds.length]).toEqual(['width', 1]);
    const broke = await likelihoodBounds(model, data, { ...base, width: 1e-9, budgetSeconds: 0 });
    expect([broke.stopped, broke.rounds.length]).toEqual(['budget', 1]);
    await expect(likelihoodBounds(model, data, { ...base, width: 0 })).rejects.toThrow(/width must be positive, got 0/);
  }, 120_000);

  it('refuses what it cannot run', async () => {
    const model = RBM.fromParameters(backend, randomParameters(4, 3, 1, 1));
    await expect(sequentialMonteCarlo(model, { runs: 1 })).rejects.toThrow(/at least 2 runs, got 1/);
    await expect(sequentialMonteCarlo(model, { cess: 1 })).rejects.toThrow(/cess must be in \(0, 1\), got 1/);
    await expect(sequentialMonteCarlo(model, { resample: -1 })).rejects.toThrow(/resample must be in \[0, 1\)/);
  });
});
