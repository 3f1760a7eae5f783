import { describe, expect, it } from 'vitest';
import {
  createDataset,
  createReferenceBackend,
  empiricalDistribution,
  energy,
  exactGradient,
  exactKL,
  exactLogLikelihood,
  exactLogPartition,
  initialParameters,
  pseudoLogLikelihood,
  RBM,
  TooLargeError,
} from '../src/index.js';
import { bits, bruteEnergy, bruteFreeEnergy, bruteLogZ, randomParameters } from './brute.js';

const backend = createReferenceBackend();

function allVisible(n: number) {
  const rows = 2 ** n;
  const data = new Float32Array(rows * n);
  for (let s = 0; s < rows; s++) data.set(bits(s, n), s * n);
  return createDataset(data, rows, n);
}

describe('free energy', () => {
  it('equals -log sum_h exp(-E(v, h)) for every v of a tiny model', async () => {
    const p = randomParameters(5, 4, 1.5, 3);
    const model = RBM.fromParameters(backend, p);
    const all = allVisible(5);
    const F = await model.freeEnergy(all);
    for (let s = 0; s < all.rows; s++) {
      expect(F[s]).toBeCloseTo(bruteFreeEnergy(p, bits(s, 5)), 10);
    }
  });

  it('stays finite and exact for large |x|', async () => {
    // Hidden inputs of +-1000: softplus(1000) = 1000, softplus(-1000) = e^-1000 ~ 0.
    const p = {
      numVisible: 2,
      numHidden: 2,
      weights: Float32Array.of(1000, -1000, 1000, -1000),
      visibleBias: Float32Array.of(0, 0),
      hiddenBias: Float32Array.of(0, 0),
    };
    const model = RBM.fromParameters(backend, p);
    const F = await model.freeEnergy(createDataset(Float32Array.of(1, 1, 1, 0), 2, 2));
    expect(F[0]).toBeCloseTo(-2000, 9);
    expect(F[1]).toBeCloseTo(-1000, 9);
  });

  it('energy() matches the definition', () => {
    const p = randomParameters(3, 2, 1, 9);
    expect(energy(p, [1, 0, 1], [0, 1])).toBeCloseTo(bruteEnergy(p, [1, 0, 1], [0, 1]), 12);
  });
});

describe('exact log Z', () => {
  it.each([
    [6, 4, 'hidden'],
    [4, 6, 'visible'],
  ] as const)(
    'equals the double sum over (v, h) for a %ix%i model (enumerating the %s layer)',
    async (nv, nh, layer) => {
      const p = randomParameters(nv, nh, 2, nv * 10 + nh);
      const model = RBM.fromParameters(backend, p);
      const result = await exactLogPartition(model);
      expect(result.enumerated).toBe(layer);
      expect(result.states).toBe(2 ** Math.min(nv, nh));
      expect(result.logZ).toBeCloseTo(bruteLogZ(p), 10);
    },
  );

  it('does not depend on the chunk size', async () => {
    const model = RBM.fromParameters(backend, randomParameters(8, 7, 1, 5));
    const whole = await exactLogPartition(model);
    const chunked = await exactLogPartition(model, { chunkSize: 4 });
    expect(chunked.logZ).toBeCloseTo(whole.logZ, 11);
  });

  it('refuses a model too large to enumerate, naming the limit', async () => {
    const model = RBM.create(backend, { numVisible: 30, numHidden: 26 });
    await expect(exactLogPartition(model)).rejects.toThrow(TooLargeError);
    await expect(exactLogPartition(model)).rejects.toThrow(/2\^26 states/);
  });

  it('is n log 2 for a model with all parameters zero', async () => {
    const model = RBM.fromParameters(backend, initialParameters({ numVisible: 7, numHidden: 3, weightScale: 0 }));
    expect((await exactLogPartition(model)).logZ).toBeCloseTo(10 * Math.log(2), 12);
  });
});

describe('exact likelihood, KL and gradient', () => {
  const p = randomParameters(5, 3, 1, 11);
  const data = createDataset(Float32Array.from([1, 0, 1, 0, 1, 1, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 0, 1, 1]), 4, 5);

  it('log-likelihood is -F(v) - log Z and the model distribution sums to 1', async () => {
    const model = RBM.fromParameters(backend, p);
    const logZ = bruteLogZ(p);
    const ll = await exactLogLikelihood(model, data);
    for (let r = 0; r < data.rows; r++) {
      const v = [...data.data.subarray(r * 5, r * 5 + 5)];
      expect(ll.perExample[r]).toBeCloseTo(-bruteFreeEnergy(p, v) - logZ, 10);
    }
    const all = await exactLogLikelihood(model, allVisible(5));
    expect(all.perExample.reduce((s, x) => s + Math.exp(x), 0)).toBeCloseTo(1, 12);
  });

  it('KL(q || p) matches its definition and is zero for q = p', async () => {
    const model = RBM.fromParameters(backend, p);
    const q = empiricalDistribution(data);
    expect(q.rows.rows).toBe(3);
    const logZ = bruteLogZ(p);
    let expected = 0;
    for (let r = 0; r < q.rows.rows; r++) {
      const v = [...q.rows.data.subarray(r * 5, r * 5 + 5)];
      expected += q.probabilities[r]! * (Math.log(q.probabilities[r]!) + bruteFreeEnergy(p, v) + logZ);
    }
    const kl = await exactKL(model, data);
    expect(kl).toBeCloseTo(expected, 10);
    expect(kl).toBeGreaterThan(0);
    // A model with zero parameters is uniform, as is the empirical distribution of all 2^n states.
    const uniform = RBM.fromParameters(backend, initialParameters({ numVisible: 5, numHidden: 3, weightScale: 0 }));
    expect(await exactKL(uniform, allVisible(5))).toBeCloseTo(0, 12);
  });

  it('the exact gradient agrees with central finite differences of the exact log-likelihood', async () => {
    const model = RBM.fromParameters(backend, p);
    const grad = await exactGradient(model, data);
    const meanLL = async (q: typeof p) => {
      const m = RBM.fromParameters(backend, q);
      const { mean } = await exactLogLikelihood(m, data);
      m.dispose();
      return mean;
    };
    const eps = 1e-3;
    for (const [key, g] of [
      ['weights', grad.weights],
      ['visibleBias', grad.visibleBias],
      ['hiddenBias', grad.hiddenBias],
    ] as const) {
      for (let i = 0; i < g.length; i++) {
        const plus = { ...p, [key]: p[key].slice() };
        const minus = { ...p, [key]: p[key].slice() };
        plus[key][i] = p[key][i]! + eps;
        minus[key][i] = p[key][i]! - eps;
        // Parameters are float32: divide by the step actually taken.
        const step = plus[key][i]! - minus[key][i]!;
        const fd = ((await meanLL(plus)) - (await meanLL(minus))) / step;
        expect(Math.abs(fd - g[i]!)).toBeLessThan(1e-5);
      }
    }
  });
});

describe('pseudo-likelihood', () => {
  const p = randomParameters(6, 4, 1.2, 31);
  const rows = [
    [1, 0, 1, 1, 0, 0],
    [0, 0, 0, 1, 1, 1],
    [1, 1, 1, 1, 1, 1],
  ];
  const data = createDataset(Float32Array.from(rows.flat()), 3, 6);

  /** sum_i log p(v_i | v_-i) from the brute-force joint: p(v_i | v_-i) = p(v) / (p(v) + p(v with bit i flipped)). */
  function brutePL(v: number[]): number {
    let s = 0;
    for (let i = 0; i < v.length; i++) {
      const w = v.slice();
      w[i] = 1 - w[i]!;
      const fv = bruteFreeEnergy(p, v);
      const fw = bruteFreeEnergy(p, w);
      s += -fv - Math.log(Math.exp(-fv) + Math.exp(-fw));
    }
    return s;
  }

  it('the full pseudo-likelihood equals its definition', async () => {
    const model = RBM.fromParameters(backend, p);
    const expected = rows.reduce((s, v) => s + brutePL(v), 0) / rows.length;
    const { mean } = await pseudoLogLikelihood(model, data);
    expect(mean).toBeCloseTo(expected, 10);
  });

  it('the random-bit estimate (nv log p(v_i | v_-i) for one random i) is unbiased for it', async () => {
    const model = RBM.fromParameters(backend, p);
    const full = (await pseudoLogLikelihood(model, data)).mean;
    let sum = 0;
    const runs = 3000;
    const values: number[] = [];
    for (let seed = 0; seed < runs; seed++) {
      const m = (await pseudoLogLikelihood(model, data, { method: 'random-bit', seed })).mean;
      values.push(m);
      sum += m;
    }
    const mean = sum / runs;
    const sd = Math.sqrt(values.reduce((s, x) => s + (x - mean) ** 2, 0) / (runs - 1));
    expect(Math.abs(mean - full)).toBeLessThan((4 * sd) / Math.sqrt(runs));
    expect(sd).toBeGreaterThan(0);
  });
});
