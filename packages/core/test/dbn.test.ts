import { describe, expect, it } from 'vitest';
import {
  ArgumentError,
  barsAndStripes,
  createReferenceBackend,
  DBN,
  decodeAnyModel,
  decodeDbn,
  decodeModel,
  encodeDbn,
  encodeModel,
  encodeSafetensors,
  ModelFormatError,
  RBM,
  type RbmParameters,
  ShapeError,
  Trainer,
  trainGreedy,
} from '../src/index.js';
import { randomParameters } from './brute.js';

const backend = createReferenceBackend();

function lse(xs: number[]): number {
  const m = Math.max(...xs);
  return m + Math.log(xs.reduce((s, x) => s + Math.exp(x - m), 0));
}
const states = (n: number) =>
  Array.from({ length: 2 ** n }, (_, s) => Array.from({ length: n }, (_, j) => (s >> j) & 1));
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

describe('deep belief networks', () => {
  const p0 = randomParameters(5, 4, 1.5, 3);
  const p1 = randomParameters(4, 3, 1.5, 4);

  it('features are the layers composed: p(h2 | p(h1 | v))', async () => {
    const dbn = DBN.fromParameters(backend, [p0, p1]);
    const v = Float32Array.from(states(5).flat());
    const got = await dbn.transform(v, 7); // batches of 7 rows: 32 rows in 5 batches
    const [m0, m1] = dbn.layers;
    const h1 = await m0!.hiddenGivenVisible(v);
    const want = await m1!.hiddenGivenVisible(Float32Array.from(h1));
    got.forEach((x, i) => {
      expect(x).toBeCloseTo(want[i]!, 6);
    });
    expect(dbn.sizes).toEqual([5, 4, 3]);
    dbn.dispose();
  });

  it('samples are the top RBM Gibbs chains passed down through p(v | h1)', async () => {
    const dbn = DBN.fromParameters(backend, [p0, p1]);
    const opts = { chains: 6, steps: 4, seed: 9 };
    const got = await dbn.sample(opts);
    const top = RBM.fromParameters(backend, p1);
    const chains = await top.sample(opts);
    const bottom = RBM.fromParameters(backend, p0);
    const want = await bottom.visibleGivenHidden(chains.states);
    expect([...got.probabilities]).toEqual([...want]);
    for (const s of got.states) expect(s === 0 || s === 1).toBe(true);
    for (const m of [top, bottom]) m.dispose();
    dbn.dispose();
  });

  it('generates from the DBN distribution: sum over h1 of p_top(h1) p(v | h1), exactly enumerated', async () => {
    const q0 = randomParameters(3, 3, 2, 5);
    const q1 = randomParameters(3, 2, 2, 6);
    const dbn = DBN.fromParameters(backend, [q0, q1]);
    const chains = 20000;
    const { states: got } = await dbn.sample({ chains, steps: 30, seed: 1 });
    // p_top(h1) ∝ exp(a.h1) prod_j (1 + exp(b_j + (h1 W)_j)) over the top RBM's visible layer h1.
    const negF = states(3).map((h1) => {
      let s = 0;
      for (let i = 0; i < 3; i++) s += q1.visibleBias[i]! * h1[i]!;
      for (let j = 0; j < 2; j++) {
        let x = q1.hiddenBias[j]!;
        for (let i = 0; i < 3; i++) x += h1[i]! * q1.weights[i * 2 + j]!;
        s += Math.log1p(Math.exp(x));
      }
      return s;
    });
    const logZ = lse(negF);
    const exact = new Array(8).fill(0);
    states(3).forEach((h1, s) => {
      const ph1 = Math.exp(negF[s]! - logZ);
      states(3).forEach((v, t) => {
        let pv = 1;
        for (let i = 0; i < 3; i++) {
          let x = q0.visibleBias[i]!;
          for (let j = 0; j < 3; j++) x += q0.weights[i * 3 + j]! * h1[j]!;
          pv *= v[i] ? sigmoid(x) : 1 - sigmoid(x);
        }
        exact[t] += ph1 * pv;
      });
    });
    const seen = new Array(8).fill(0);
    for (let r = 0; r < chains; r++) seen[got[r * 3]! + 2 * got[r * 3 + 1]! + 4 * got[r * 3 + 2]!] += 1;
    seen.forEach((c, t) => {
      expect(Math.abs(c / chains - exact[t])).toBeLessThan(4 * Math.sqrt(0.25 / chains));
    });
    dbn.dispose();
  });

  it('greedy training: layer 2 is the RBM trained on layer 1 features', async () => {
    const data = barsAndStripes(3);
    const spec = { epochs: 3, batchSize: 4, learningRate: 0.1, seed: 2 };
    const { dbn, history } = await trainGreedy(backend, data, [
      { numHidden: 6, ...spec },
      { numHidden: 4, ...spec },
    ]);
    expect(history.map((h) => h.length)).toEqual([3, 3]);
    // By hand: the same first layer, its features, then the second layer.
    const first = RBM.create(backend, { numVisible: 9, numHidden: 6, seed: 2, data });
    await new Trainer(first, data, spec).run();
    const features = { data: Float32Array.from(await first.hiddenGivenVisible(data)), rows: data.rows, cols: 6 };
    const second = RBM.create(backend, { numVisible: 6, numHidden: 4, seed: 2, data: features });
    await new Trainer(second, features, spec).run();
    const [l0, l1] = await dbn.parameters();
    expect(l0!.weights).toEqual((await first.parameters()).weights);
    const w2 = (await second.parameters()).weights;
    l1!.weights.forEach((x, i) => {
      expect(x).toBeCloseTo(w2[i]!, 5);
    });
    for (const m of [first, second]) m.dispose();
    dbn.dispose();
  });

  it('one file holds every layer; a missing layer, a size mismatch and stray tensors are refused', async () => {
    const bytes = encodeDbn([p0, p1], { note: 'x' });
    const back = decodeDbn(bytes, { source: 'dbn.safetensors' });
    expect(back.layers.map((l) => [l.numVisible, l.numHidden])).toEqual([
      [5, 4],
      [4, 3],
    ]);
    expect(back.layers[1]!.weights).toEqual(p1.weights);
    expect(decodeAnyModel(bytes).kind).toBe('dbn');
    expect(decodeAnyModel(encodeModel(p0)).kind).toBe('rbm');
    expect(() => decodeModel(bytes)).toThrow(/decodeDbn/);
    const mismatch: RbmParameters = randomParameters(5, 3, 1, 1);
    expect(() => encodeDbn([p0, mismatch])).toThrow(ShapeError);
    expect(() => encodeDbn([p0, mismatch])).toThrow(/layer 1 has 5 visible units, layer 0 below it 4 hidden units/);
    expect(() => DBN.fromParameters(backend, [p0, mismatch])).toThrow(ShapeError);
    // A file whose metadata lists two layers but holds one.
    const layer = (visible: number, hidden: number) => ({ visible, hidden, model: 'bernoulli-bernoulli' });
    const metadata = {
      format: 'rbmjs',
      format_version: '1',
      model: 'dbn',
      layers: JSON.stringify([layer(5, 4), layer(4, 3)]),
    };
    const oneLayer = encodeSafetensors(
      {
        'layers.0.weights': { dtype: 'F32', shape: [5, 4], data: p0.weights },
        'layers.0.visible_bias': { dtype: 'F32', shape: [5], data: p0.visibleBias },
        'layers.0.hidden_bias': { dtype: 'F32', shape: [4], data: p0.hiddenBias },
      },
      metadata,
    );
    expect(() => decodeDbn(oneLayer, { source: 'f' })).toThrow(ModelFormatError);
    expect(() => decodeDbn(oneLayer, { source: 'f' })).toThrow(/f: layer 1 of 2: missing tensor layers.1.weights/);
    const stray = encodeSafetensors(
      {
        'layers.0.weights': { dtype: 'F32', shape: [5, 4], data: p0.weights },
        'layers.0.visible_bias': { dtype: 'F32', shape: [5], data: p0.visibleBias },
        'layers.0.hidden_bias': { dtype: 'F32', shape: [4], data: p0.hiddenBias },
        'layers.1.weights': { dtype: 'F32', shape: [4, 3], data: p1.weights },
      },
      { ...metadata, layers: JSON.stringify([layer(5, 4)]) },
    );
    expect(() => decodeDbn(stray)).toThrow(/tensor layers.1.weights belongs to no layer of the 1/);
    await expect(trainGreedy(backend, barsAndStripes(2), [])).rejects.toThrow(ArgumentError);
  });
});
