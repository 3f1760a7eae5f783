import { describe, expect, it } from 'vitest';
import {
  ArgumentError,
  type BatchEvent,
  barsAndStripes,
  createDataset,
  createReferenceBackend,
  DataError,
  type DataSource,
  DivergenceError,
  exactGradient,
  exactKL,
  exactLogLikelihood,
  RBM,
  type RbmParameters,
  ShapeError,
  TrainingAbortedError,
  type TrainOptions,
  train,
} from '../src/index.js';
import { bits, randomParameters } from './brute.js';
import { expectExactResume } from './resume.js';

const backend = createReferenceBackend();
const VELOCITIES = ['velocity.weights', 'velocity.visible_bias', 'velocity.hidden_bias'];

/** The parameter change of one full-batch step with learning rate 1: the trainer's gradient estimate. */
async function oneStepGradient(
  p: RbmParameters,
  data: ReturnType<typeof createDataset>,
  options: Partial<TrainOptions>,
) {
  const model = RBM.fromParameters(backend, p);
  const epochs = options.epochs ?? 1;
  // Learning rate 0 until the last epoch: PCD chains mix without moving the parameters.
  await train(model, data, {
    batchSize: data.rows,
    shuffle: false,
    seed: 5,
    ...options,
    epochs,
    learningRate: (e) => (e === epochs - 1 ? 1 : 0),
  });
  const q = await model.parameters();
  const diff = (x: Float32Array, y: Float32Array) => Float64Array.from(x, (v, i) => v - y[i]!);
  return {
    weights: diff(q.weights, p.weights),
    visibleBias: diff(q.visibleBias, p.visibleBias),
    hiddenBias: diff(q.hiddenBias, p.hiddenBias),
  };
}

function maxError(a: Record<'weights' | 'visibleBias' | 'hiddenBias', Float64Array>, b: typeof a): number {
  let m = 0;
  for (const key of ['weights', 'visibleBias', 'hiddenBias'] as const) {
    for (let i = 0; i < a[key].length; i++) m = Math.max(m, Math.abs(a[key][i]! - b[key][i]!));
  }
  return m;
}

describe('stochastic gradients approach the exact gradient', () => {
  // Six distinct 6-bit patterns, each repeated 2000 times: a 12,000-example batch whose data term is exact.
  const patterns = [0b000111, 0b111000, 0b101010, 0b010101, 0b110011, 0b001100];
  const reps = 2000;
  const rows = patterns.length * reps;
  const data = createDataset(
    Float32Array.from({ length: rows * 6 }, (_, i) => bits(patterns[Math.floor(i / 6) % patterns.length]!, 6)[i % 6]!),
    rows,
    6,
  );
  const p = randomParameters(6, 4, 1.5, 21);
  // Monte Carlo error of a mean of 12,000 terms of size <= 1: about 0.5 / sqrt(12000) = 0.005 per entry.
  const tolerance = 0.03;

  it('CD-k: the bias shrinks as k grows; k = 100 is within Monte Carlo error', async () => {
    const exact = await exactGradient(RBM.fromParameters(backend, p), data);
    const cd1 = maxError(await oneStepGradient(p, data, { method: 'cd', k: 1 }), exact);
    const cd100 = maxError(await oneStepGradient(p, data, { method: 'cd', k: 100 }), exact);
    expect(cd100).toBeLessThan(tolerance);
    expect(cd1).toBeGreaterThan(2 * cd100);
  }, 120_000);

  it('PCD with mixed persistent chains is within Monte Carlo error', async () => {
    const exact = await exactGradient(RBM.fromParameters(backend, p), data);
    const pcd = await oneStepGradient(p, data, { method: 'pcd', k: 1, chains: rows, epochs: 60 });
    expect(maxError(pcd, exact)).toBeLessThan(tolerance);
  }, 120_000);

  // Its variance against the Rao-Blackwellised default is measured in rao-blackwell.test.ts.
  it('a sampled positive phase is within Monte Carlo error of the exact gradient too', async () => {
    const exact = await exactGradient(RBM.fromParameters(backend, p), data);
    const analytic = maxError(await oneStepGradient(p, data, { method: 'cd', k: 100 }), exact);
    const sampled = maxError(await oneStepGradient(p, data, { method: 'cd', k: 100, positivePhase: 'samples' }), exact);
    expect(sampled).toBeLessThan(tolerance);
    expect(analytic).toBeLessThan(tolerance);
  }, 120_000);
});

describe('learning bars and stripes', () => {
  const data = barsAndStripes(3); // 14 patterns: the best possible mean log-likelihood is log(1/14) = -2.64

  it('CD-1 raises the exact log-likelihood from -6.24 (uniform) above -3.4, and KL falls below 0.75', async () => {
    const model = RBM.create(backend, { numVisible: 9, numHidden: 16, seed: 1, data });
    const before = await exactLogLikelihood(model, data);
    expect(before.mean).toBeCloseTo(-9 * Math.log(2), 2);
    const history = await train(model, data, {
      epochs: 2000,
      batchSize: 14,
      learningRate: 0.1,
      momentum: 0.5,
      seed: 2,
    });
    const after = await exactLogLikelihood(model, data);
    expect(after.mean).toBeGreaterThan(-3.4);
    expect(await exactKL(model, data)).toBeLessThan(0.75);
    // Reconstruction error falls too.
    expect(history.at(-1)!.reconstructionError).toBeLessThan(history[0]!.reconstructionError / 2);
  }, 60_000);

  it('is reproducible from the seed and changes with it', async () => {
    const run = async (seed: number) => {
      const model = RBM.create(backend, { numVisible: 9, numHidden: 4, seed: 1, data });
      await train(model, data, { epochs: 5, batchSize: 5, learningRate: 0.1, seed });
      return (await model.parameters()).weights;
    };
    expect(Array.from(await run(7))).toEqual(Array.from(await run(7)));
    expect(Array.from(await run(7))).not.toEqual(Array.from(await run(8)));
  });
});

describe('mini-batches, events and monitoring', () => {
  const data = barsAndStripes(3);

  it('uses the last partial batch and reports per-batch events without reading back', async () => {
    const model = RBM.create(backend, { numVisible: 9, numHidden: 4, data });
    const events: BatchEvent[] = [];
    let firstError = Number.NaN;
    const history = await train(model, data, {
      epochs: 2,
      batchSize: 5,
      onBatch: async (e) => {
        events.push(e);
        if (e.step === 1) firstError = await e.readReconstructionError();
      },
    });
    // 14 rows in batches of 5: 5, 5, 4.
    expect(events.map((e) => e.batchSize)).toEqual([5, 5, 4, 5, 5, 4]);
    expect(events.map((e) => e.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(history.map((h) => h.step)).toEqual([3, 6]);
    expect(firstError).toBeGreaterThan(0);
    expect(firstError).toBeLessThan(9);
  });

  it('the last partial batch changes the parameters', async () => {
    const run = async (rows: number) => {
      const subset = createDataset(data.data.subarray(0, rows * 9), rows, 9);
      const model = RBM.create(backend, { numVisible: 9, numHidden: 4 });
      await train(model, subset, { epochs: 1, batchSize: 5, shuffle: false });
      return (await model.parameters()).weights;
    };
    expect(Array.from(await run(11))).not.toEqual(Array.from(await run(10)));
  });

  it('reports the free-energy gap between training and held-out data', async () => {
    const model = RBM.create(backend, { numVisible: 9, numHidden: 16, seed: 1, data });
    // Held-out patterns that are neither bars nor stripes.
    const validation = createDataset(
      Float32Array.of(
        1,
        0,
        0,
        0,
        1,
        0,
        0,
        0,
        1,
        0,
        1,
        0,
        1,
        0,
        1,
        0,
        1,
        0,
        1,
        1,
        0,
        0,
        0,
        0,
        0,
        1,
        1,
        0,
        0,
        1,
        0,
        1,
        0,
        1,
        0,
        0,
      ),
      4,
      9,
    );
    const history = await train(model, data, {
      epochs: 1000,
      batchSize: 14,
      learningRate: 0.1,
      momentum: 0.5,
      seed: 2,
      validation,
    });
    const last = history.at(-1)!;
    const F = await model.freeEnergy(data);
    expect(last.freeEnergyTrain).toBeCloseTo(F.reduce((s, x) => s + x, 0) / F.length, 10);
    expect(last.freeEnergyGap).toBeCloseTo(last.freeEnergyValidation! - last.freeEnergyTrain!, 12);
    // The model learns the training patterns: they get a much lower free energy than the held-out ones.
    expect(Math.abs(history[0]!.freeEnergyGap!)).toBeLessThan(0.1);
    expect(last.freeEnergyGap!).toBeGreaterThan(3);
  }, 60_000);

  it('learning-rate schedules and momentum are applied per epoch', async () => {
    const model = RBM.create(backend, { numVisible: 9, numHidden: 4 });
    const seen: Array<[number, number]> = [];
    await train(model, data, {
      epochs: 3,
      batchSize: 14,
      learningRate: { kind: 'linear', from: 0.3, to: 0.1 },
      momentum: { kind: 'piecewise', boundaries: [2], values: [0.5, 0.9] },
      onEpoch: (m) => {
        seen.push([m.learningRate, m.momentum]);
      },
    });
    expect(seen.map(([lr]) => lr)).toEqual([0.3, 0.2, 0.1].map((x) => expect.closeTo(x, 12)));
    expect(seen.map(([, m]) => m)).toEqual([0.5, 0.5, 0.9]);
  });

  it('L1 and L2 weight decay shrink the weights; a sparsity target lowers hidden activity', async () => {
    const norm = async (options: Partial<TrainOptions>) => {
      const model = RBM.create(backend, { numVisible: 9, numHidden: 8, seed: 3, data });
      await train(model, data, { epochs: 500, batchSize: 14, learningRate: 0.1, momentum: 0.5, seed: 1, ...options });
      const p = await model.parameters();
      const ph = await model.hiddenGivenVisible(data);
      return {
        l1: p.weights.reduce((s, w) => s + Math.abs(w), 0),
        activity: Array.from(ph).reduce((s, x) => s + x, 0) / ph.length,
      };
    };
    const plain = await norm({});
    expect((await norm({ l2: 0.05 })).l1).toBeLessThan(plain.l1 * 0.5);
    expect((await norm({ l1: 0.01 })).l1).toBeLessThan(plain.l1 * 0.5);
    const sparse = await norm({ sparsity: { target: 0.05, cost: 0.5 } });
    expect(plain.activity).toBeGreaterThan(0.2);
    expect(sparse.activity).toBeLessThan(0.1);
  }, 60_000);
});

describe('divergence', () => {
  it('stops at the first step past the blow-up bound, finite or not, and keeps the last good parameters', async () => {
    const data = barsAndStripes(3);
    // Finite all along: the parameters grow past maxParameter (1e4) after some 50 steps, long before NaN.
    const options: TrainOptions = { epochs: 50, batchSize: 3, learningRate: 1000, momentum: 0.9, seed: 3 };
    const model = RBM.create(backend, { numVisible: 9, numHidden: 4, seed: 1 });
    const error = await train(model, data, options).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DivergenceError);
    const { step, epoch, batch } = error as DivergenceError;
    expect((error as DivergenceError).message).toMatch(new RegExp(`step ${step} \\(epoch ${epoch}, batch ${batch}\\)`));
    // Read the float64 tensors themselves: parameters() would round values near 1e308 to float32 infinity.
    const kept = await backend.read(model.W);
    for (const x of kept) expect(Number.isFinite(x)).toBe(true);
    for (const x of await backend.read(model.a)) expect(Number.isFinite(x)).toBe(true);

    // Checking after every step finds the first step past the bound, which may come sooner: a check at
    // the end of an interval sees only where the interval ended (momentum makes the growth oscillate).
    const again = RBM.create(backend, { numVisible: 9, numHidden: 4, seed: 1 });
    const error2 = await train(again, data, { ...options, divergenceCheckInterval: 1 }).then(
      () => undefined,
      (e: unknown) => e as DivergenceError,
    );
    expect(error2).toBeInstanceOf(DivergenceError);
    expect(error2!.step).toBeLessThanOrEqual(step);
    for (const x of await backend.read(again.W)) expect(Math.abs(x)).toBeLessThanOrEqual(1e4);
    expect(step).toBeGreaterThan(1);
    expect((error as DivergenceError).message).toMatch(/larger than 10000/);
    for (const x of kept) expect(Math.abs(x)).toBeLessThanOrEqual(1e4);
    // A looser bound lets the same run go on past that step.
    const loose = RBM.create(backend, { numVisible: 9, numHidden: 4, seed: 1 });
    const error3 = await train(loose, data, { ...options, maxParameter: 1e30 }).then(
      () => undefined,
      (e: unknown) => e as DivergenceError,
    );
    expect(error3 === undefined || error3.step > step).toBe(true);
  });

  it('catches a step that overflows to infinity at once, keeping the initial parameters', async () => {
    const data = barsAndStripes(3);
    const model = RBM.create(backend, { numVisible: 9, numHidden: 4, seed: 1 });
    const before = await backend.read(model.W);
    const error = await train(model, data, { epochs: 5, batchSize: 3, learningRate: 1e308, seed: 3 }).then(
      () => undefined,
      (e: unknown) => e as DivergenceError,
    );
    expect(error).toBeInstanceOf(DivergenceError);
    expect(error?.step).toBe(1);
    expect(Array.from(await backend.read(model.W))).toEqual(Array.from(before));
  });
});

describe('bad input', () => {
  const model = RBM.create(backend, { numVisible: 3, numHidden: 2 });

  it('names NaN, Inf and out-of-range values by row and column', async () => {
    const nan = createDataset(Float32Array.of(0, 1, 0, 1, Number.NaN, 0), 2, 3, 'data.csv');
    await expect(train(model, nan, { epochs: 1 })).rejects.toThrow(/NaN in data.csv at row 1, column 1/);
    const big = createDataset(Float32Array.of(0, 1, 0, 1, 0, 2), 2, 3);
    await expect(train(model, big, { epochs: 1 })).rejects.toThrow(DataError);
    await expect(train(model, big, { epochs: 1 })).rejects.toThrow(/value 2 at row 1, column 2 is outside \[0, 1\]/);
    const inf = createDataset(Float32Array.of(0, 1, -Infinity), 1, 3);
    await expect(model.freeEnergy(inf)).rejects.toThrow(/-Infinity/);
  });

  it('names shape mismatches', async () => {
    const wide = createDataset(new Float32Array(8), 2, 4);
    await expect(train(model, wide, { epochs: 1 })).rejects.toThrow(ShapeError);
    await expect(train(model, wide, { epochs: 1 })).rejects.toThrow(/4 columns, the model has 3 visible units/);
    expect(() => createDataset(new Float32Array(7), 2, 4)).toThrow(/7 values do not fill \[2, 4\]/);
    await expect(model.freeEnergy(new Float32Array(4))).rejects.toThrow(ShapeError);
  });

  it('rejects nonsense hyperparameters', async () => {
    const ok = createDataset(new Float32Array(6), 2, 3);
    const bad: Array<[Partial<TrainOptions>, RegExp]> = [
      [{ epochs: 0 }, /epochs must be a positive integer, got 0/],
      [{ batchSize: 2.5 }, /batchSize/],
      [{ k: 0 }, /k must be a positive integer/],
      [{ learningRate: -1 }, /learningRate at epoch 0 is -1/],
      [{ learningRate: Number.NaN }, /learningRate/],
      [{ momentum: 1 }, /momentum at epoch 0 is 1/],
      [{ l2: -0.1 }, /l2 must be/],
      [{ sparsity: { target: 1.5, cost: 1 } }, /sparsity.target must be a number > 0 and < 1/],
      [{ method: 'foo' as 'cd' }, /method must be/],
      [{ seed: -3 }, /seed/],
      [
        { epochs: Number.POSITIVE_INFINITY, learningRate: { kind: 'linear', from: 0.1, to: 0.01 } },
        /finite number of epochs/,
      ],
      [{ epochs: Number.POSITIVE_INFINITY, momentum: { kind: 'exponential', initial: 0.1, decay: 2 } }, /grows/],
    ];
    for (const [options, message] of bad) {
      await expect(train(model, ok, { epochs: 1, ...options } as TrainOptions)).rejects.toThrow(ArgumentError);
      await expect(train(model, ok, { epochs: 1, ...options } as TrainOptions)).rejects.toThrow(message);
    }
    expect(() => RBM.create(backend, { numVisible: 0, numHidden: 2 })).toThrow(/numVisible must be a positive integer/);
  });
});

describe('a run without an end', () => {
  it('trains with epochs: Infinity until its signal stops it, then says where it stopped', async () => {
    const data = barsAndStripes(3);
    const m = RBM.create(backend, { numVisible: 9, numHidden: 4, seed: 1 });
    const controller = new AbortController();
    let batches = 0;
    const run = train(m, data, {
      epochs: Number.POSITIVE_INFINITY,
      batchSize: 4,
      momentum: { kind: 'piecewise', boundaries: [2], values: [0.5, 0.9] },
      signal: controller.signal,
      onBatch: () => {
        if (++batches === 25) controller.abort();
      },
    });
    await expect(run).rejects.toThrow(TrainingAbortedError);
    expect(batches).toBe(25);
  });
});

describe('checkpoints', () => {
  it('an interrupted run resumed from exported state ends exactly like an uninterrupted one', async () => {
    const pcd = { method: 'pcd', k: 2, chains: 6, sparsity: { target: 0.2 } } as const;
    const state = await expectExactResume(barsAndStripes(3), {
      epochs: 6,
      batchSize: 4,
      momentum: 0.5,
      seed: 9,
      ...pcd,
    });
    expect([state.epoch, state.step]).toEqual([1, 4]);
    expect(Object.keys(state.tensors).sort()).toEqual(['chains', 'sparsity_estimate', ...VELOCITIES].sort());
  });

  it('trains from a data source read batch by batch, and names bad values by their row in the source', async () => {
    const data = barsAndStripes(3);
    const reads: number[] = [];
    const source: DataSource = {
      rows: data.rows,
      cols: data.cols,
      source: 'stream.bin',
      readRows(indices, out) {
        reads.push(indices.length);
        for (let r = 0; r < indices.length; r++)
          out.set(data.data.subarray(indices[r]! * 9, indices[r]! * 9 + 9), r * 9);
      },
    };
    const a = RBM.create(backend, { numVisible: 9, numHidden: 4, seed: 1, data });
    const b = RBM.create(backend, { numVisible: 9, numHidden: 4, seed: 1, data });
    await train(a, data, { epochs: 2, batchSize: 5, seed: 3 });
    await train(b, source, { epochs: 2, batchSize: 5, seed: 3 });
    expect(Array.from(await backend.read(b.W))).toEqual(Array.from(await backend.read(a.W)));
    expect(reads).toEqual([5, 5, 4, 5, 5, 4]);

    const sparse: DataSource = {
      ...source,
      readRows(indices, out) {
        source.readRows(indices, out);
        for (let r = 0; r < indices.length; r++) if (indices[r] === 13) out[r * 9 + 4] = 7;
      },
    };
    await expect(
      train(RBM.create(backend, { numVisible: 9, numHidden: 4 }), sparse, { epochs: 1, batchSize: 5 }),
    ).rejects.toThrow(/value 7 in stream.bin at row 13, column 4 is outside \[0, 1\]/);
  });
});

describe('centring (Melchior, Fischer & Wiskott 2016)', () => {
  const data = barsAndStripes(3);

  it('one full-batch step moves the parameters by the centred gradient of the plain statistics', async () => {
    const init = { numVisible: 9, numHidden: 4, seed: 3, data, weightScale: 0.5 };
    const base: TrainOptions = { epochs: 1, batchSize: data.rows, shuffle: false, learningRate: 1, seed: 4 };
    const start = await RBM.create(backend, init).parameters();
    const step = async (options: TrainOptions) => {
      const m = RBM.create(backend, init);
      await train(m, data, options);
      const [w, a, b] = await Promise.all([backend.read(m.W), backend.read(m.a), backend.read(m.b)]);
      return {
        W: Float64Array.from(w, (x, i) => x - start.weights[i]!),
        a: Float64Array.from(a, (x, i) => x - start.visibleBias[i]!),
        b: Float64Array.from(b, (x, i) => x - start.hiddenBias[i]!),
      };
    };
    const plain = await step(base);
    const nu = 0.1;
    const centred = await step({ ...base, centering: { rate: nu } });
    // Offsets after the first step: mu = mean(v), lambda = (1 - nu) 0.5 + nu mean p(h|v).
    const nv = 9;
    const nh = 4;
    const mu = new Float64Array(nv);
    for (let r = 0; r < data.rows; r++) for (let i = 0; i < nv; i++) mu[i]! += data.data[r * nv + i]! / data.rows;
    const ph = await RBM.fromParameters(backend, start).hiddenGivenVisible(data);
    const lambda = new Float64Array(nh).fill(0.5 * (1 - nu));
    for (let r = 0; r < data.rows; r++) for (let j = 0; j < nh; j++) lambda[j]! += (nu * ph[r * nh + j]!) / data.rows;
    for (let i = 0; i < nv; i++) {
      for (let j = 0; j < nh; j++) {
        const expected = plain.W[i * nh + j]! - mu[i]! * plain.b[j]! - plain.a[i]! * lambda[j]!;
        expect(centred.W[i * nh + j]).toBeCloseTo(expected, 9);
      }
    }
    for (let i = 0; i < nv; i++) {
      let s = 0;
      for (let j = 0; j < nh; j++) s += centred.W[i * nh + j]! * lambda[j]!;
      expect(centred.a[i]).toBeCloseTo(plain.a[i]! - s, 9);
    }
    for (let j = 0; j < nh; j++) {
      let s = 0;
      for (let i = 0; i < nv; i++) s += mu[i]! * centred.W[i * nh + j]!;
      expect(centred.b[j]).toBeCloseTo(plain.b[j]! - s, 9);
    }
  });

  it('trains bars and stripes, and resumes exactly (offsets are part of the state)', async () => {
    const options: TrainOptions = {
      epochs: 1500,
      batchSize: 14,
      learningRate: 0.1,
      momentum: 0.5,
      seed: 2,
      centering: true,
    };
    const model = RBM.create(backend, { numVisible: 9, numHidden: 16, seed: 1, data });
    await train(model, data, options);
    expect((await exactLogLikelihood(model, data)).mean).toBeGreaterThan(-3.4);

    const state = await expectExactResume(data, { ...options, epochs: 4, batchSize: 5 });
    expect(state.counters.offsetsInitialised).toBe(1);
    expect(state.tensors['offsets.visible']?.data.length).toBe(9);
  }, 60_000);
});
