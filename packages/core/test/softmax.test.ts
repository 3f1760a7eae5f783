import { describe, expect, it } from 'vitest';
import { createJsBackend } from '../../backend-js/src/index.js';
import {
  ArgumentError,
  annealedImportanceSampling,
  ClassificationRBM,
  classLogProbabilities,
  createDataset,
  createReferenceBackend,
  DataError,
  decodeModel,
  encodeModel,
  exactLogPartition,
  gradientEstimate,
  jointRows,
  pseudoLogLikelihood,
  RBM,
  type RbmParameters,
  ShapeError,
  Trainer,
  trainingError,
} from '../src/index.js';
import { randomParameters } from './brute.js';

/**
 * Softmax groups and the classification RBM against an independent float64 brute force: every visible
 * state that is one-hot in each group, every hidden state.
 */

const reference = createReferenceBackend();

/** 3 Bernoulli units, then groups of 3 and 2: 2^3 * 3 * 2 = 48 visible states. */
const GROUPS = [3, 2];
const NV = 8;
const NH = 4;

function softmaxParameters(scale: number, seed: number, groups = GROUPS, nv = NV, nh = NH): RbmParameters {
  return { ...randomParameters(nv, nh, scale, seed), visibleUnits: 'softmax', softmaxGroups: groups };
}

/** Every visible state: Bernoulli bits, then one unit on in each group. */
function visibleStates(nv: number, groups: number[]): number[][] {
  const nb = nv - groups.reduce((a, b) => a + b, 0);
  let states: number[][] = [[]];
  for (let i = 0; i < nb; i++)
    states = states.flatMap((s) => [
      [...s, 0],
      [...s, 1],
    ]);
  for (const K of groups)
    states = states.flatMap((s) =>
      Array.from({ length: K }, (_, k) => [...s, ...Array.from({ length: K }, (_, j) => (j === k ? 1 : 0))]),
    );
  return states;
}

function negEnergy(p: RbmParameters, v: number[], h: number[]): number {
  let e = 0;
  for (let i = 0; i < p.numVisible; i++) e += p.visibleBias[i]! * v[i]!;
  for (let j = 0; j < p.numHidden; j++) e += p.hiddenBias[j]! * h[j]!;
  for (let i = 0; i < p.numVisible; i++)
    for (let j = 0; j < p.numHidden; j++) e += v[i]! * p.weights[i * p.numHidden + j]! * h[j]!;
  return e;
}

function lse(xs: number[]): number {
  const m = Math.max(...xs);
  return m + Math.log(xs.reduce((s, x) => s + Math.exp(x - m), 0));
}

function hiddenStates(nh: number): number[][] {
  return Array.from({ length: 2 ** nh }, (_, s) => Array.from({ length: nh }, (_, j) => (s >> j) & 1));
}

const bruteNegF = (p: RbmParameters, v: number[]) => lse(hiddenStates(p.numHidden).map((h) => negEnergy(p, v, h)));
const bruteLogZ = (p: RbmParameters) =>
  lse(visibleStates(p.numVisible, [...p.softmaxGroups!]).map((v) => bruteNegF(p, v)));

describe('softmax visible units', () => {
  const backends = [
    ['reference', reference],
    ['js', createJsBackend()],
  ] as const;

  for (const [name, be] of backends) {
    it(`exact log Z and free energies match the brute force over one-hot states (${name})`, async () => {
      const p = softmaxParameters(1.5, 3);
      const model = RBM.fromParameters(be, p);
      const { logZ, enumerated } = await exactLogPartition(model);
      expect(enumerated).toBe('hidden');
      const tol = be.precision === 'float64' ? 1e-9 : 1e-4;
      expect(Math.abs(logZ - bruteLogZ(p))).toBeLessThan(tol * Math.abs(bruteLogZ(p)) + tol);
      const states = visibleStates(NV, GROUPS);
      const F = await model.freeEnergy(createDataset(Float32Array.from(states.flat()), states.length, NV));
      states.forEach((v, r) => {
        expect(Math.abs(-F[r]! - bruteNegF(p, v))).toBeLessThan(tol * 10);
      });
      model.dispose();
    });
  }

  it('p(v | h): sigmoid on the Bernoulli units, a softmax over each group', async () => {
    const p = softmaxParameters(2, 5);
    const model = RBM.fromParameters(reference, p);
    const hs = hiddenStates(NH);
    const pv = await model.visibleGivenHidden(Float32Array.from(hs.flat()));
    hs.forEach((h, r) => {
      const x = Array.from({ length: NV }, (_, i) => {
        let s = p.visibleBias[i]!;
        for (let j = 0; j < NH; j++) s += p.weights[i * NH + j]! * h[j]!;
        return s;
      });
      for (let i = 0; i < 3; i++) expect(pv[r * NV + i]).toBeCloseTo(1 / (1 + Math.exp(-x[i]!)), 12);
      for (const [start, K] of [
        [3, 3],
        [6, 2],
      ] as const) {
        const z = lse(x.slice(start, start + K));
        for (let k = 0; k < K; k++) expect(pv[r * NV + start + k]).toBeCloseTo(Math.exp(x[start + k]! - z), 12);
      }
    });
    model.dispose();
  });

  it('stays finite and exact for logits far apart (the log-sum-exp is per group)', async () => {
    const p = softmaxParameters(0, 1, [2], 2, 1);
    const model = RBM.fromParameters(reference, { ...p, visibleBias: Float32Array.of(300, -300) });
    const pv = await model.visibleGivenHidden(Float32Array.of(0));
    expect(pv[0]).toBe(1);
    expect(pv[1]).toBeLessThan(1e-250);
    expect(Number.isFinite(pv[1]!)).toBe(true);
    model.dispose();
  });

  it('Gibbs samples are one-hot per group, with the frequencies of p(v)', async () => {
    const p = softmaxParameters(1, 7);
    const model = RBM.fromParameters(reference, p);
    const chains = 4000;
    const { states } = await model.sample({ chains, steps: 20, seed: 3 });
    const logZ = bruteLogZ(p);
    const all = visibleStates(NV, GROUPS);
    // Marginal of the first group under the exact p(v).
    const exact = [0, 0, 0];
    for (const v of all) {
      const k = v.slice(3, 6).indexOf(1);
      exact[k]! += Math.exp(bruteNegF(p, v) - logZ);
    }
    const seen = [0, 0, 0];
    for (let r = 0; r < chains; r++) {
      const row = states.subarray(r * NV, (r + 1) * NV);
      expect(row[3]! + row[4]! + row[5]!).toBe(1);
      expect(row[6]! + row[7]!).toBe(1);
      seen[[row[3], row[4], row[5]].indexOf(1)]! += 1;
    }
    // 4 standard errors of a proportion from 4000 draws.
    seen.forEach((c, k) => {
      expect(Math.abs(c / chains - exact[k]!)).toBeLessThan(4 * Math.sqrt(0.25 / chains));
    });
    model.dispose();
  });

  it('AIS agrees with the exact log Z', async () => {
    const p = softmaxParameters(1, 11);
    const model = RBM.fromParameters(reference, p);
    const data = createDataset(Float32Array.from(visibleStates(NV, GROUPS).flat()), 48, NV);
    const est = await annealedImportanceSampling(model, { runs: 200, schedule: { linear: 500 }, data, seed: 2 });
    expect(Math.abs(est.logZ - bruteLogZ(p))).toBeLessThan(0.05);
    model.dispose();
  });

  it('model files keep the groups; bad groups and data are refused by name', async () => {
    const p = softmaxParameters(1, 2);
    const back = decodeModel(encodeModel(p)).parameters;
    expect(back.visibleUnits).toBe('softmax');
    expect(back.softmaxGroups).toEqual(GROUPS);
    expect(() => RBM.fromParameters(reference, { ...p, softmaxGroups: [1] })).toThrow(ArgumentError);
    expect(() => RBM.fromParameters(reference, { ...p, softmaxGroups: [5, 5] })).toThrow(ShapeError);
    const model = RBM.fromParameters(reference, p);
    const bad = createDataset(Float32Array.of(1, 0, 1, 1, 1, 0, 1, 0), 1, NV);
    expect(() => new Trainer(model, bad, { epochs: 1 })).toThrow(/row 0: softmax group 0 \(columns 3-5\) sums to 2/);
    await expect(
      pseudoLogLikelihood(model, createDataset(Float32Array.of(1, 0, 1, 1, 0, 0, 1, 0), 1, NV)),
    ).rejects.toThrow(/softmax group/);
    model.dispose();
  });

  it('trains (CD-1) on one-hot data: the groups stay one-hot and the model learns the category frequencies', async () => {
    const rows = 200;
    const data = new Float32Array(rows * NV);
    for (let r = 0; r < rows; r++) {
      const k = r % 5 === 0 ? 1 : 0; // category 1 in 20% of rows, else 0
      data[r * NV + 3 + k] = 1;
      data[r * NV + 6 + (r % 2)] = 1;
      data[r * NV] = r % 2;
    }
    const ds = createDataset(data, rows, NV);
    const model = RBM.create(reference, {
      numVisible: NV,
      numHidden: NH,
      visibleUnits: 'softmax',
      softmaxGroups: GROUPS,
      data: ds,
      seed: 1,
    });
    await new Trainer(model, ds, { epochs: 20, batchSize: 20, learningRate: 0.1, seed: 2 }).run();
    const p = await model.parameters();
    const logZ = bruteLogZ(p);
    const freq = [0, 0, 0];
    for (const v of visibleStates(NV, GROUPS)) freq[v.slice(3, 6).indexOf(1)]! += Math.exp(bruteNegF(p, v) - logZ);
    expect(freq[0]).toBeGreaterThan(0.7);
    expect(freq[2]).toBeLessThan(0.05);
    model.dispose();
  });
});

/** The classification RBM: 4 inputs, 3 classes. */
describe('classification RBM', () => {
  const NX = 4;
  const C = 3;
  const p = softmaxParameters(1.5, 13, [C], NX + C, 3);

  /** log p(y | x) from free energies, brute force. */
  const bruteLogP = (x: number[]) => {
    const negF = Array.from({ length: C }, (_, k) =>
      bruteNegF(p, [...x, ...Array.from({ length: C }, (_, j) => (j === k ? 1 : 0))]),
    );
    const z = lse(negF);
    return negF.map((f) => f - z);
  };
  const inputs = Array.from({ length: 16 }, (_, s) => Array.from({ length: NX }, (_, i) => (s >> i) & 1));

  it('log p(y | x) is exact (free energy per class)', async () => {
    const model = RBM.fromParameters(reference, p);
    const lp = await classLogProbabilities(model, Float32Array.from(inputs.flat()));
    inputs.forEach((x, r) => {
      bruteLogP(x).forEach((v, k) => {
        expect(lp[r * C + k]).toBeCloseTo(v, 10);
      });
    });
    const clf = ClassificationRBM.fromModel(model);
    const pred = await clf.predict(Float32Array.from(inputs.flat()));
    inputs.forEach((x, r) => {
      const l = bruteLogP(x);
      expect(pred[r]).toBe(l.indexOf(Math.max(...l)));
    });
    model.dispose();
  });

  it('the discriminative gradient is the derivative of mean log p(y | x) (central differences)', async () => {
    const labels = inputs.map((_, r) => r % C);
    const joint = jointRows(createDataset(Float32Array.from(inputs.flat()), 16, NX), labels, C);
    const model = RBM.fromParameters(reference, p);
    const g = await gradientEstimate(model, joint, { objective: 'discriminative', batchSize: 16, shuffle: false });
    const objective = (q: RbmParameters) => {
      let s = 0;
      inputs.forEach((x, r) => {
        const saved = p;
        void saved;
        const negF = Array.from({ length: C }, (_, k) =>
          bruteNegF(q, [...x, ...Array.from({ length: C }, (_, j) => (j === k ? 1 : 0))]),
        );
        s += negF[labels[r]!]! - lse(negF);
      });
      return s / inputs.length;
    };
    const eps = 1e-3;
    const check = (key: 'weights' | 'visibleBias' | 'hiddenBias', got: Float64Array) => {
      for (let i = 0; i < got.length; i++) {
        const plus = { ...p, [key]: Float32Array.from(p[key]) };
        const minus = { ...p, [key]: Float32Array.from(p[key]) };
        (plus[key] as Float32Array)[i]! += eps;
        (minus[key] as Float32Array)[i]! -= eps;
        const fd = (objective(plus) - objective(minus)) / (2 * eps);
        expect(Math.abs(got[i]! - fd)).toBeLessThan(1e-4);
      }
    };
    check('weights', g.weights);
    check('visibleBias', g.visibleBias);
    check('hiddenBias', g.hiddenBias);
    model.dispose();
  });

  // The scorer takes one example as its C joint rows, a small batch as C x B stacked (class, example) rows,
  // and a large one class by class (LabelScorer's modes): 40 inputs and 2 classes give each mode a batch size.
  describe('each way of scoring a batch gives the exact gradient and cross-entropy', () => {
    const nx = 40;
    const q = softmaxParameters(1.2, 29, [2], nx + 2, 3);
    const rows = Array.from({ length: 16 }, (_, r) =>
      Array.from({ length: nx }, (_, i) => ((r * 7 + i * 3) % 5 < 2 ? 1 : 0)),
    );
    const labels = rows.map((_, r) => ((r * 5) % 3 === 0 ? 1 : 0));
    const logP = (params: RbmParameters, x: number[], y: number) => {
      const negF = [0, 1].map((k) => bruteNegF(params, [...x, k === 0 ? 1 : 0, k === 1 ? 1 : 0]));
      return negF[y]! - lse(negF);
    };
    const joint = jointRows(createDataset(Float32Array.from(rows.flat()), 16, nx), labels, 2);
    for (const [mode, B] of [
      ['joint rows', 1],
      ['stacked pairs', 4],
      ['class by class', 16],
    ] as const) {
      it(`${mode} (batch ${B}): the gradient by central differences, the epoch's cross-entropy by brute force`, async () => {
        const model = RBM.fromParameters(reference, q);
        const g = await gradientEstimate(model, joint, { objective: 'discriminative', batchSize: B, shuffle: false });
        const mean = (params: RbmParameters) => {
          let s = 0;
          for (let r = 0; r < B; r++) s += logP(params, rows[r]!, labels[r]!);
          return s / B;
        };
        const eps = 1e-3;
        for (const key of ['weights', 'visibleBias', 'hiddenBias'] as const) {
          const got = g[key];
          for (let i = 0; i < got.length; i++) {
            const plus = { ...q, [key]: Float32Array.from(q[key]) };
            const minus = { ...q, [key]: Float32Array.from(q[key]) };
            (plus[key] as Float32Array)[i]! += eps;
            (minus[key] as Float32Array)[i]! -= eps;
            expect(Math.abs(got[i]! - (mean(plus) - mean(minus)) / (2 * eps))).toBeLessThan(1e-4);
          }
        }
        // At learning rate 0 every step sees the same model: the epoch's figure is the mean -log p(y | x).
        const [m] = await new Trainer(model, joint, {
          objective: 'discriminative',
          batchSize: B,
          epochs: 1,
          learningRate: 0,
          shuffle: false,
        }).run();
        const exact = -rows.reduce((s, x, r) => s + logP(q, x, labels[r]!), 0) / rows.length;
        expect(m!.crossEntropy).toBeCloseTo(exact, 8);
        expect(m!.reconstructionError).toBeNaN();
        expect(trainingError(m!)).toEqual({ name: 'cross-entropy', value: m!.crossEntropy });
        model.dispose();
      });
    }
  });

  it('the hybrid gradient is the discriminative one plus alpha times the generative one', async () => {
    const labels = inputs.map((_, r) => (r * 7) % C);
    const joint = jointRows(createDataset(Float32Array.from(inputs.flat()), 16, NX), labels, C);
    const model = RBM.fromParameters(reference, p);
    const base = { batchSize: 8, seed: 5 } as const;
    const d = await gradientEstimate(model, joint, { ...base, objective: 'discriminative' });
    const gen = await gradientEstimate(model, joint, { ...base });
    const h = await gradientEstimate(model, joint, { ...base, objective: 'hybrid', hybridWeight: 0.25 });
    expect([...h.rows]).toEqual([...gen.rows]);
    for (const key of ['weights', 'visibleBias', 'hiddenBias'] as const)
      h[key].forEach((x, i) => {
        expect(x).toBeCloseTo(d[key][i]! + 0.25 * gen[key][i]!, 6);
      });
    model.dispose();
  });

  it('learns a labelled toy problem: discriminative training to full accuracy, kept at its best epoch', async () => {
    // Class = number of inputs on, capped at 2 (0, 1, 2+): not linearly separable in a single unit.
    const x = createDataset(Float32Array.from(inputs.flat()), 16, NX);
    const y = inputs.map((v) =>
      Math.min(
        2,
        v.reduce((a, b) => a + b, 0),
      ),
    );
    const clf = ClassificationRBM.create(reference, {
      numInputs: NX,
      numClasses: C,
      numHidden: 8,
      seed: 1,
      inputs: x,
      labels: y,
    });
    const history = await clf.fit(x, y, {
      objective: 'discriminative',
      epochs: 150,
      batchSize: 4,
      learningRate: 0.5,
      seed: 3,
      heldOut: { inputs: x, labels: y },
    });
    const report = await clf.evaluate(x, y);
    expect(report.accuracy).toBe(1);
    expect(history.bestError).toBe(0);
    expect(report.confusion.flat().reduce((a, b) => a + b, 0)).toBe(16);
    clf.dispose();
  });

  it('refuses labels out of range and models without a label group', async () => {
    const x = createDataset(new Float32Array(2 * NX), 2, NX);
    expect(() => jointRows(x, [0, 3], C)).toThrow(DataError);
    expect(() => jointRows(x, [0, 3], C)).toThrow(/label 3 at row 1 is not a class in 0..2/);
    expect(() => jointRows(x, [0.5, 1], C)).toThrow(/label 0.5 at row 0/);
    expect(() => jointRows(x, [0], C)).toThrow(/1 labels for 2 examples/);
    const plain = RBM.create(reference, { numVisible: 4, numHidden: 2 });
    expect(() => ClassificationRBM.fromModel(plain)).toThrow(/softmax label group/);
    plain.dispose();
  });
});
