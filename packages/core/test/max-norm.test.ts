import { describe, expect, it } from 'vitest';
import { ArgumentError, barsAndStripes, createReferenceBackend, RBM, type TrainOptions, train } from '../src/index.js';
import { expectExactResume } from './resume.js';

const backend = createReferenceBackend();
const data = barsAndStripes(3);

async function trained(options: TrainOptions): Promise<Float32Array> {
  const model = RBM.create(backend, { numVisible: 9, numHidden: 4, seed: 1, weightScale: 0.5 });
  await train(model, data, options);
  const p = await model.parameters();
  model.dispose();
  return p.weights;
}

/** Column j of W [nv, nh] (hidden unit j's incoming weights), in float64. */
function columnNorms(W: Float32Array, nv: number, nh: number): number[] {
  return Array.from({ length: nh }, (_, j) => {
    let s = 0;
    for (let i = 0; i < nv; i++) s += W[i * nh + j]! ** 2;
    return Math.sqrt(s);
  });
}

describe('max-norm (Srivastava et al. 2014)', () => {
  it("one step: W is the unconstrained step's W with each column scaled back onto the bound", async () => {
    const step: TrainOptions = { epochs: 1, batchSize: data.rows, shuffle: false, learningRate: 2, seed: 3 };
    const free = await trained(step);
    const norms = columnNorms(free, 9, 4);
    // A bound between the columns' norms: some columns are scaled, some are not.
    const c = [...norms].sort((x, y) => x - y)[2]! * 0.999;
    const bounded = await trained({ ...step, maxNorm: c });
    for (let j = 0; j < 4; j++) {
      const factor = Math.min(1, c / norms[j]!);
      for (let i = 0; i < 9; i++) {
        const want = free[i * 4 + j]! * factor;
        if (factor === 1)
          expect(bounded[i * 4 + j]).toBe(free[i * 4 + j]); // bit for bit
        else expect(Math.abs(bounded[i * 4 + j]! - want)).toBeLessThan(1e-6 * Math.max(1, Math.abs(want)));
      }
    }
    expect(norms.filter((n) => n > c).length).toBeGreaterThan(0);
  });

  it('holds every column within the bound through training, and resumes exactly', async () => {
    const options: TrainOptions = { epochs: 4, batchSize: 4, learningRate: 1, momentum: 0.5, maxNorm: 0.3 };
    for (const n of columnNorms(await trained(options), 9, 4)) expect(n).toBeLessThanOrEqual(0.3 * (1 + 1e-6));
    expect(Math.max(...columnNorms(await trained({ ...options, maxNorm: undefined }), 9, 4))).toBeGreaterThan(0.3);
    await expectExactResume(data, { ...options, epochs: 2, method: 'pcd' });
  });

  it('refuses a bound that is not a finite number > 0', async () => {
    for (const maxNorm of [0, -1, Number.POSITIVE_INFINITY, Number.NaN]) {
      await expect(trained({ epochs: 1, maxNorm })).rejects.toThrow(ArgumentError);
    }
    await expect(trained({ epochs: 1, maxNorm: 0 })).rejects.toThrow(/maxNorm must be a finite number > 0, got 0/);
  });
});
