import { describe, expect, it } from 'vitest';
import {
  type AisEstimate,
  aisBetas,
  createDataset,
  createReferenceBackend,
  DBM,
  type DbmParameters,
  dbmRaise,
  dbmVariationalBound,
  exactDbmLogLikelihood,
  exactDbmLogPartition,
} from '../src/index.js';
import { allStates, bits, randomDbm } from './brute.js';

const backend = createReferenceBackend();
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/**
 * q(v) of the annealing model that forward AIS defines on a 3-layer DBM (v, h1, h2) with a uniform base, by
 * enumeration of the even layers e = (v, h2): e_0 ~ p_0, then T_k(e' | e) = sum_{h1} p_k(h1 | e) p_k(e' | h1)
 * at each beta_k, then `extraSweeps` more at beta = 1, and q(v) = sum_{h2} q(v, h2). Plain loops, no code
 * shared with the library.
 */
function dbmAnnealingMarginal(p: DbmParameters, betas: Float64Array, extraSweeps = 0): Float64Array {
  const [nv, n1, n2] = p.sizes as [number, number, number];
  const [W0, W1] = p.weights as [Float32Array, Float32Array];
  const [b0, b1, b2] = p.biases as [Float32Array, Float32Array, Float32Array];
  const E = 2 ** (nv + n2);
  const split = (e: number) => {
    const all = bits(e, nv + n2);
    return { v: all.slice(0, nv), h2: all.slice(nv) };
  };
  let q = new Float64Array(E).fill(1 / E);
  const path = [...betas.subarray(1), ...Array<number>(extraSweeps).fill(1)];
  for (const beta of path) {
    const next = new Float64Array(E);
    for (let e = 0; e < E; e++) {
      const { v, h2 } = split(e);
      for (let o = 0; o < 2 ** n1; o++) {
        const h1 = bits(o, n1);
        let ph1 = 1;
        for (let j = 0; j < n1; j++) {
          let x = b1[j]!;
          for (let i = 0; i < nv; i++) x += v[i]! * W0[i * n1 + j]!;
          for (let k = 0; k < n2; k++) x += h2[k]! * W1[j * n2 + k]!;
          ph1 *= h1[j] ? sigmoid(beta * x) : 1 - sigmoid(beta * x);
        }
        for (let e2 = 0; e2 < E; e2++) {
          const t = split(e2);
          let pe = 1;
          for (let i = 0; i < nv; i++) {
            let x = b0[i]!;
            for (let j = 0; j < n1; j++) x += W0[i * n1 + j]! * h1[j]!;
            pe *= t.v[i] ? sigmoid(beta * x) : 1 - sigmoid(beta * x);
          }
          for (let k = 0; k < n2; k++) {
            let x = b2[k]!;
            for (let j = 0; j < n1; j++) x += h1[j]! * W1[j * n2 + k]!;
            pe *= t.h2[k] ? sigmoid(beta * x) : 1 - sigmoid(beta * x);
          }
          next[e2]! += q[e]! * ph1 * pe;
        }
      }
    }
    q = next;
  }
  const qv = new Float64Array(2 ** nv);
  for (let e = 0; e < E; e++) qv[e % 2 ** nv]! += q[e]!;
  return qv;
}

describe('RAISE for a DBM', () => {
  it("its weights average to q(v), the annealing model's probability, by enumeration", async () => {
    // A coarse schedule, so that q is far from the DBM's p and the test tells the two apart.
    const p = randomDbm([3, 2, 2], 6, 1.5);
    const model = DBM.fromParameters(backend, p);
    const betas = aisBetas({ linear: 2 });
    const logZ = exactDbmLogPartition(p);
    const exact = exactDbmLogLikelihood(p, allStates(3), logZ);
    // h drawn from r itself (one posterior step) or annealed towards p(h | v) (three): either way unbiased.
    for (const [extra, posteriorSteps] of [
      [0, 1],
      [0, 3],
      [2, 1],
    ] as const) {
      const q = dbmAnnealingMarginal(p, betas, extra);
      for (const s of [7, 2]) {
        const data = createDataset(Float32Array.from(bits(s, 3)), 1, 3);
        // 200,000 chains: their weights' ESS is about 2% of them on this coarse schedule, so the mean weight's
        // relative standard error is about 1.6%.
        const est = await dbmRaise(model, data, {
          chains: 200000,
          schedule: betas,
          sweeps: 1 + extra,
          posteriorSteps,
          seed: s + extra + posteriorSteps,
          rowsPerPass: 200000,
        });
        // exp of log mean(w / r) is the mean weight itself: unbiased for q(v), to within its noise.
        expect(Math.abs(Math.exp(est.perExample[0]!) - q[s]!) / q[s]!).toBeLessThan(0.05);
        // And q is not p: the two-step annealing model differs from the DBM by far more than the noise.
        if (extra === 0 && s === 7)
          expect(Math.abs(q[s]! - Math.exp(exact[s]!)) / Math.exp(exact[s]!)).toBeGreaterThan(0.5);
      }
    }
    model.dispose();
  }, 120_000);

  it('with a fine schedule, approaches the exact log p(v) from below, above the mean-field bound', async () => {
    const p = randomDbm([6, 4, 3], 11, 1);
    const logZ = exactDbmLogPartition(p);
    const data = allStates(6);
    const exact = exactDbmLogLikelihood(p, data, logZ);
    const exactMean = exact.reduce((t, x) => t + x, 0) / data.rows;
    const model = DBM.fromParameters(backend, p);
    const est = await dbmRaise(model, data, { chains: 20, schedule: { linear: 1000 }, sweeps: 20, seed: 2 });
    expect(est.examples).toBe(64);
    expect(est.steps).toBe(1000);
    expect(Math.abs(est.mean - exactMean)).toBeLessThan(0.05);
    // A stochastic lower bound: at or below the exact mean but for the noise.
    expect(est.mean).toBeLessThanOrEqual(exactMean + 0.01);
    expect(est.low).toBeLessThanOrEqual(exactMean);
    expect(est.effectiveSampleSize).toBeGreaterThan(10);
    // Tighter than the mean-field bound even with the exact log Z: 20 draws of h2 and the odd layer summed out.
    const ais = { logZ, logZLow: logZ, logZHigh: logZ } as AisEstimate;
    const mf = await dbmVariationalBound(model, data, { ais });
    expect(est.mean).toBeGreaterThan(mf.lowerEstimate);
    expect(est.meanVariationalTerms - logZ).toBeCloseTo(mf.lowerEstimate, 6);
    // Base rates from data (v and h2): another path, the same target.
    const based = await dbmRaise(model, data, {
      chains: 20,
      schedule: { linear: 1000 },
      sweeps: 20,
      seed: 3,
      baseData: data,
      rowsPerPass: 300,
    });
    expect(Math.abs(based.mean - exactMean)).toBeLessThan(0.05);
    model.dispose();
  }, 120_000);

  it('refuses bad options with their names', async () => {
    const model = DBM.fromParameters(backend, randomDbm([3, 2, 2], 1));
    const data = allStates(3);
    await expect(dbmRaise(model, data, { chains: 0 })).rejects.toThrow(/chains must be a positive integer, got 0/);
    await expect(dbmRaise(model, data, { sweeps: 1.5 })).rejects.toThrow(/sweeps must be a positive integer, got 1.5/);
    await expect(dbmRaise(model, data, { floor: 0.5 })).rejects.toThrow(/floor must be in \(0, 0.5\), got 0.5/);
    await expect(dbmRaise(model, data, { posteriorSteps: 0 })).rejects.toThrow(
      /posteriorSteps must be a positive integer, got 0/,
    );
    await expect(dbmRaise(model, createDataset(new Float32Array(4), 1, 4))).rejects.toThrow(/4/);
    model.dispose();
  });
});
