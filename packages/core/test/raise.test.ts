import { describe, expect, it } from 'vitest';
import {
  aisBetas,
  aisWarnings,
  annealedImportanceSampling,
  annealingBase,
  createReferenceBackend,
  exactLogLikelihood,
  exactLogPartition,
  exactSamples,
  likelihoodBounds,
  logMeanExp,
  RBM,
  type RbmParameters,
  raise,
  reverseAnnealedImportanceSampling,
} from '../src/index.js';
import { bits, bruteFreeEnergy, randomParameters } from './brute.js';
import { sampledModel } from './fixtures.js';

const backend = createReferenceBackend();
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/**
 * q(v) of the model that forward annealing defines, by enumeration: x_0 ~ p_0, then the Gibbs transitions
 * T_1..T_K, T_k(v' | v) = sum_h p_k(h | v) p_k(v' | h) at beta_k, then `extraSweeps` more of T_K; RAISE's
 * weights with `sweeps: 1 + extraSweeps` average to exactly this.
 */
function annealingMarginal(
  p: RbmParameters,
  aA: ArrayLike<number>,
  betas: Float64Array,
  extraSweeps = 0,
): Float64Array {
  const { numVisible: nv, numHidden: nh, weights: W, visibleBias: a, hiddenBias: b } = p;
  const S = 2 ** nv;
  let q = new Float64Array(S);
  for (let s = 0; s < S; s++) {
    const v = bits(s, nv);
    q[s] = v.reduce((acc, x, i) => acc * (x ? sigmoid(aA[i]!) : 1 - sigmoid(aA[i]!)), 1);
  }
  const path = [...betas.subarray(1), ...Array<number>(extraSweeps).fill(betas.at(-1)!)];
  for (const beta of path) {
    const next = new Float64Array(S);
    for (let s = 0; s < S; s++) {
      const v = bits(s, nv);
      for (let t = 0; t < 2 ** nh; t++) {
        const h = bits(t, nh);
        let ph = 1;
        for (let j = 0; j < nh; j++) {
          let x = b[j]!;
          for (let i = 0; i < nv; i++) x += v[i]! * W[i * nh + j]!;
          const pj = sigmoid(beta * x);
          ph *= h[j] ? pj : 1 - pj;
        }
        for (let s2 = 0; s2 < S; s2++) {
          const v2 = bits(s2, nv);
          let pv = 1;
          for (let i = 0; i < nv; i++) {
            let x = a[i]!;
            for (let j = 0; j < nh; j++) x += W[i * nh + j]! * h[j]!;
            const pi = sigmoid(beta * x + (1 - beta) * aA[i]!);
            pv *= v2[i] ? pi : 1 - pi;
          }
          next[s2]! += q[s]! * ph * pv;
        }
      }
    }
    q = next;
  }
  return q;
}

/** A 6-2 model on a two-step schedule (q far from the RBM's p), and q with `extraSweeps` sweeps at beta = 1. */
async function coarseAnnealing(extraSweeps = 0) {
  const p = randomParameters(6, 2, 3, 11);
  const model = RBM.fromParameters(backend, p);
  const betas = aisBetas({ linear: 2 });
  const base = await annealingBase(model, {});
  return { p, model, betas, base, q: annealingMarginal(p, base.visibleBias, betas, extraSweeps) };
}

describe('RAISE', () => {
  it("its weights average to q(v), the annealing model's probability, computed by enumeration", async () => {
    // A coarse schedule, so that q is far from the RBM's p and the test tells the two apart.
    const { p, model, betas, base, q } = await coarseAnnealing();
    const q3 = annealingMarginal(p, base.visibleBias, betas, 2);
    const logZ = (await exactLogPartition(model)).logZ;
    const chains = 20000;
    for (const s of [40, 3]) {
      const v = bits(s, 6);
      const data = { data: Float32Array.from(v), rows: 1, cols: 6 };
      const options = { chains, schedule: betas, seed: s };
      const est = await reverseAnnealedImportanceSampling(model, data, { ...options, sweeps: 1 });
      const qHat = Math.exp(est.perExample[0]!);
      const pExact = Math.exp(-bruteFreeEnergy(p, v) - logZ);
      // exp of log mean(w) is the mean weight itself: unbiased for q(v), to within its noise.
      expect(Math.abs(qHat - q[s]!) / q[s]!).toBeLessThan(0.05);
      // And q is not p: the two-step annealing model differs from the RBM by far more than the noise.
      expect(Math.abs(q[s]! - pExact) / pExact).toBeGreaterThan(0.3);
      // Two more sweeps at beta = 1 make the model q T_K^2, closer to p, and the weights follow it.
      const est3 = await reverseAnnealedImportanceSampling(model, data, { ...options, sweeps: 3 });
      expect(Math.abs(Math.exp(est3.perExample[0]!) - q3[s]!) / q3[s]!).toBeLessThan(0.05);
      expect(Math.abs(q3[s]! - pExact)).toBeLessThan(Math.abs(q[s]! - pExact));
    }
  }, 120_000);

  it('stays finite where a reverse step times the hidden input overflows exp (a hidden bias of 2,000)', async () => {
    // x = 2,000 for one hidden unit: a reverse step of -0.5 once formed exp(0.5 x) = exp(1000), inf even in
    // float64 (the reference backend; float32 backends overflowed from x = 178).
    const p = randomParameters(6, 2, 1, 11);
    p.hiddenBias[0] = 2000;
    const model = RBM.fromParameters(backend, p);
    const betas = aisBetas({ linear: 2 });
    const base = await annealingBase(model, {});
    const q = annealingMarginal(p, base.visibleBias, betas);
    for (const s of [40, 3]) {
      const data = { data: Float32Array.from(bits(s, 6)), rows: 1, cols: 6 };
      const est = await raise(model, data, { chains: 20000, schedule: betas, sweeps: 1, seed: s });
      expect(Math.abs(Math.exp(est.perExample[0]!) - q[s]!) / q[s]!).toBeLessThan(0.05);
    }
  }, 120_000);

  it('gives the examples a one-chain pilot finds stuck more chains, each estimate drawn after the choice', async () => {
    const { model, betas, q } = await coarseAnnealing();
    const states = [0, 3, 9, 17, 21, 33, 40, 45, 54, 63];
    const data = { data: Float32Array.from(states.flatMap((s) => bits(s, 6))), rows: states.length, cols: 6 };
    const options = { chains: 2, schedule: betas, sweeps: 1, seed: 5 };
    const est = await raise(model, data, { ...options, stuckChains: 8000, stuckGap: 0.05 });
    expect(est.stuckChains).toBe(8000);
    expect(est.stuck.length).toBeGreaterThan(0);
    expect(est.stuck.length).toBeLessThan(states.length / 2 + 1);
    for (const e of est.stuck) {
      // The pilot flagged it for a low weight; its estimate is 8,000 fresh chains', unbiased for q(v) (a
      // pilot's weight kept would bias it).
      const s = states[e]!;
      expect(Math.abs(Math.exp(est.perExample[e]!) - q[s]!) / q[s]!).toBeLessThan(0.06);
    }
    // Without stuckChains above chains there is no pilot: the same random numbers as plain RAISE.
    const plain = await raise(model, data, options);
    const same = await raise(model, data, { ...options, stuckChains: 2 });
    expect(same.stuck.length).toBe(0);
    expect(Array.from(same.perExample)).toEqual(Array.from(plain.perExample));
    await expect(raise(model, data, { ...options, stuckChains: 1 })).rejects.toThrow(
      /stuckChains must be .* at least chains \(2\), got 1/,
    );
    await expect(raise(model, data, { ...options, stuckChains: 4, stuckGap: 0 })).rejects.toThrow(
      /stuckGap must be positive, got 0/,
    );
  }, 120_000);

  it('with a fine schedule, per-example estimates approach the exact log p(v) from below', async () => {
    const { model, data, logZ } = await sampledModel(backend, randomParameters(10, 6, 1.2, 3), 20, 5);
    const exact = await exactLogLikelihood(model, data, { logZ });
    const est = await raise(model, data, { chains: 20, schedule: { linear: 1000 }, seed: 2, baseData: data });
    expect(est.examples).toBe(20);
    expect(est.steps).toBe(1000);
    expect(est.perExample.length).toBe(20);
    expect(Math.abs(est.mean - exact.mean)).toBeLessThan(0.05);
    // A stochastic lower bound: on average at or below the exact value, beyond the noise never.
    expect(est.mean).toBeLessThanOrEqual(exact.mean + 0.01);
    expect(est.low).toBeLessThanOrEqual(exact.mean);
    expect(est.logZ).toBeCloseTo(est.meanNegativeFreeEnergy - est.mean, 12);
    expect(est.effectiveSampleSize).toBeGreaterThan(15);
    // Chains in several passes of whole examples.
    const passes = await raise(model, data, {
      chains: 20,
      schedule: { linear: 1000 },
      seed: 2,
      baseData: data,
      rowsPerPass: 60,
    });
    // (other random numbers: the stream runs pass after pass)
    expect(Math.abs(passes.mean - exact.mean)).toBeLessThan(0.05);
  }, 120_000);

  it('bounds the exact mean log-likelihood on both sides, with AIS', async () => {
    const { model, data, exact } = await sampledModel(backend, randomParameters(12, 8, 1.3, 7), 40, 9);
    let reports = 0;
    const b = await likelihoodBounds(model, data, {
      runs: 200,
      chains: 2,
      schedule: { linear: 500 },
      seed: 4,
      onProgress: (done, total) => {
        reports++;
        expect(done).toBeLessThanOrEqual(total);
        expect(total).toBe(500 + (500 + 5000));
      },
    });
    expect(reports).toBeGreaterThan(5);
    expect(b.lower).toBeLessThanOrEqual(exact);
    expect(b.upper).toBeGreaterThanOrEqual(exact);
    // Stochastic bounds on a model this small are nearly exact: the estimates within 0.01 of the value.
    expect(Math.abs(b.lowerEstimate - exact)).toBeLessThan(0.01);
    expect(Math.abs(b.upperEstimate - exact)).toBeLessThan(0.01);
    expect(b.width).toBeCloseTo(b.upper - b.lower, 12);
    expect(b.width).toBeLessThan(0.3);
    // The bounds are the conservative ends of the estimates' intervals.
    expect(b.lower).toBe(b.lowerInterval[0]);
    expect(b.upper).toBe(b.upperInterval[1]);
    expect(b.lowerEstimate).toBeGreaterThan(b.lower);
    expect(b.upperEstimate).toBeLessThan(b.upper);
    expect(b.raise.sweeps).toBe(5000);
    expect(b.warnings).toEqual([]);
  }, 120_000);

  it('warns when the bounds are wide or cross', async () => {
    const p = randomParameters(12, 8, 6, 8);
    const model = RBM.fromParameters(backend, p);
    const data = await exactSamples(model, 30, { seed: 1 });
    // One step: RAISE below, the bracket wider than a tenth of a nat.
    const b = await likelihoodBounds(model, data, { runs: 50, schedule: { linear: 1 }, seed: 1, maxWidth: 0.1 });
    expect(b.width).toBeGreaterThan(0.1);
    expect(b.warnings.join('\n')).toMatch(/the bounds are \d+\.\d+ nats apart/);
    // Without a pilot, the warning names the remedy for a few lagging examples; with one, it does not.
    expect(b.warnings.join('\n')).toMatch(/more chains for them narrow it: RAISE's stuckChains/);
    const piloted = aisWarnings(b.ais, undefined, { raise: { ...b.raise, stuckChains: 8 }, maxWidth: 0.1 });
    expect(piloted.join('\n')).toMatch(/the bounds are \d+\.\d+ nats apart/);
    expect(piloted.join('\n')).not.toMatch(/stuckChains/);
    // Crossing: a RAISE estimate placed above AIS's upper bound (as a broken run would be).
    const ais = await annealedImportanceSampling(model, { runs: 100, schedule: { linear: 300 }, seed: 2 });
    const crossed = { ...b.raise, mean: b.upperEstimate + 5, low: b.upperEstimate + 4, high: b.upperEstimate + 6 };
    const w = aisWarnings(ais, undefined, { raise: crossed });
    expect(w.join('\n')).toMatch(/the RAISE lower bound .* nats above the forward-AIS upper bound/);
  }, 120_000);

  it('refuses bad options', async () => {
    const model = RBM.fromParameters(backend, randomParameters(4, 3, 1, 1));
    const data = { data: new Float32Array(8), rows: 2, cols: 4 };
    await expect(raise(model, data, { chains: 0 })).rejects.toThrow(/chains must be a positive integer, got 0/);
    await expect(raise(model, data, { rowsPerPass: 1.5 })).rejects.toThrow(/rowsPerPass/);
    await expect(raise(model, data, { sweeps: 0 })).rejects.toThrow(/sweeps must be a positive integer, got 0/);
    await expect(raise(model, { data: new Float32Array(6), rows: 2, cols: 3 })).rejects.toThrow(/3/);
    const w = logMeanExp(Float64Array.of(0, 0));
    expect(w.log).toBe(0);
  });
});
