import { afterEach, describe, expect, it } from 'vitest';
import {
  AbortedError,
  ArgumentError,
  annealedImportanceSampling,
  barsAndStripes,
  ClassificationRBM,
  checkMemory,
  createDataset,
  createReferenceBackend,
  DBN,
  DEFAULT_MEMORY_BUDGET,
  decodeDbn,
  decodeModel,
  encodeDbn,
  formatBytes,
  initialParameters,
  jointRows,
  labelledSource,
  ModelFormatError,
  memoryBudget,
  pseudoLogLikelihood,
  RBM,
  RbmError,
  RbmEstimator,
  ShapeError,
  SWEEPS_PER_CHECK,
  setMemoryBudget,
  TooLargeError,
  Trainer,
  TrainingAbortedError,
  temperedSample,
  trainGreedy,
} from '../src/index.js';
import { decodeSafetensors, encodeSafetensors } from '../src/io/safetensors.js';

/**
 * Bounded before it starts: requests are checked against the memory budget before anything is allocated,
 * every long loop obeys its AbortSignal, and bad arguments get typed errors that say what came.
 */

const backend = createReferenceBackend();
const data = barsAndStripes(3);

afterEach(() => {
  setMemoryBudget(DEFAULT_MEMORY_BUDGET);
});

describe('the memory budget', () => {
  it('refuses a label layer of a billion classes before allocating (jointRows)', () => {
    const before = process.memoryUsage().rss;
    const x = createDataset(new Float32Array(16), 2, 8);
    expect(() => jointRows(x, [0, 1e9], 1e9 + 1)).toThrow(TooLargeError);
    expect(() => jointRows(x, [0, 1e9], 1e9 + 1)).toThrow(/1000000001 classes, more than the 65536/);
    expect(() => labelledSource(x, [0, 1e9], 1e9 + 1)).toThrow(TooLargeError);
    expect(process.memoryUsage().rss - before).toBeLessThan(100 * 2 ** 20);
  });

  it('refuses more chains, runs or replicas than the budget holds, naming the request and the limit', async () => {
    const m = RBM.create(backend, { numVisible: 9, numHidden: 4, seed: 1 });
    await expect(m.sample({ chains: 10_000_000, steps: 1 })).rejects.toThrow(
      /chains: 10000000 needs about .* GiB .* more than the 2\.00 GiB memory budget \(setMemoryBudget\(bytes\) raises it\)/,
    );
    await expect(annealedImportanceSampling(m, { runs: 10_000_000 })).rejects.toThrow(TooLargeError);
    await expect(
      temperedSample(m, {
        chains: 100_000,
        steps: 1,
        tempering: { betas: Array.from({ length: 1000 }, (_, i) => 1 - i / 1000) },
      }),
    ).rejects.toThrow(/parallel tempering: 100000 chains x 1000 temperatures/);
    m.dispose();
  });

  it('refuses a model whose training would not fit, in the trainer, before a step', () => {
    setMemoryBudget(2 ** 20, 'raise it with X');
    const m = RBM.create(backend, { numVisible: 9, numHidden: 16, seed: 1 });
    expect(() => new Trainer(m, data, { epochs: 1, method: 'pcd', chains: 100_000 })).toThrow(
      /training a 9-16 model \(batchSize 100, chains 100000\) needs about .* more than the 1\.00 MiB memory budget \(raise it with X\)/,
    );
    m.dispose();
    expect(() => RBM.create(backend, { numVisible: 784, numHidden: 1000, seed: 1 })).toThrow(TooLargeError);
  });

  it('is the same number everywhere and formats sizes for people', () => {
    expect(memoryBudget()).toBe(DEFAULT_MEMORY_BUDGET);
    expect(setMemoryBudget(123)).toBe(DEFAULT_MEMORY_BUDGET);
    expect(memoryBudget()).toBe(123);
    expect(() => checkMemory('x', 124, 'detail')).toThrow(
      /x needs about 124 bytes \(detail\), more than the 123 bytes/,
    );
    expect(() => checkMemory('x', 123, 'detail')).not.toThrow();
    expect(formatBytes(1.5 * 2 ** 30)).toBe('1.50 GiB');
    expect(() => setMemoryBudget(0)).toThrow(TooLargeError);
  });
});

describe('the signal, everywhere the library loops', () => {
  it('RbmEstimator.fit stops between epochs (one batch an epoch), and refuses to start when already aborted', async () => {
    const controller = new AbortController();
    const est = new RbmEstimator(backend, {
      numHidden: 4,
      epochs: Number.POSITIVE_INFINITY,
      batchSize: 100,
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 200);
    const t0 = performance.now();
    // The reference backend is synchronous: only the estimator's own turns of the event loop let the timer
    // that aborts run, and its check between epochs stop it.
    await expect(est.fit(data)).rejects.toThrow(TrainingAbortedError);
    expect(performance.now() - t0).toBeLessThan(5000);

    const aborted = new RbmEstimator(backend, { numHidden: 4, epochs: 3, signal: AbortSignal.abort() });
    let epochs = 0;
    await expect(aborted.fit(data, { onEpoch: () => void epochs++ })).rejects.toThrow(TrainingAbortedError);
    expect(epochs).toBe(0);
  });

  it('sampling, tempering and AIS stop between chunks of steps and say how far they got', async () => {
    const m = RBM.create(backend, { numVisible: 9, numHidden: 4, seed: 1 });
    const controller = new AbortController();
    const seen: number[] = [];
    const run = m.sample({
      chains: 2,
      steps: 1e9,
      signal: controller.signal,
      onProgress: (done) => {
        seen.push(done);
        if (done >= 3 * SWEEPS_PER_CHECK) controller.abort();
      },
    });
    const error = await run.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AbortedError);
    expect((error as AbortedError).done).toBe(3 * SWEEPS_PER_CHECK);
    expect((error as AbortedError).message).toMatch(/sampling aborted after 300 of 1000000000 steps/);
    expect(seen).toEqual([100, 200, 300]);
    await expect(temperedSample(m, { chains: 2, steps: 1e9, signal: AbortSignal.abort() })).rejects.toThrow(
      AbortedError,
    );
    await expect(
      annealedImportanceSampling(m, { runs: 4, schedule: { linear: 10_000 }, signal: AbortSignal.abort() }),
    ).rejects.toThrow(/forward AIS aborted after 0 of 10000 steps/); // aborted already: before the first step
    // Without a signal the result is the one the same seed always gives.
    const a = await m.sample({ chains: 3, steps: 250, seed: 4 });
    const b = await m.sample({ chains: 3, steps: 250, seed: 4, onProgress: () => {} });
    expect(Array.from(b.states)).toEqual(Array.from(a.states));
    m.dispose();
  });

  it('DBN sampling and greedy training obey it too', async () => {
    const dbn = DBN.fromParameters(backend, [
      initialParameters({ numVisible: 9, numHidden: 4, seed: 1 }),
      initialParameters({ numVisible: 4, numHidden: 3, seed: 2 }),
    ]);
    await expect(dbn.sample({ chains: 2, steps: 1e9, signal: AbortSignal.abort() })).rejects.toThrow(AbortedError);
    dbn.dispose();
    await expect(
      trainGreedy(backend, data, [{ numHidden: 4, epochs: 1 }], { signal: AbortSignal.abort() }),
    ).rejects.toThrow(RbmError);
  });

  it("ClassificationRBM.fit obeys the caller's signal beside its own early stopping", async () => {
    const c = ClassificationRBM.create(backend, { numInputs: 9, numClasses: 2, numHidden: 4, seed: 1 });
    const labels = Array.from({ length: data.rows }, (_, r) => r % 2);
    await expect(c.fit(data, labels, { epochs: 3, signal: AbortSignal.abort(), learningRate: 0.1 })).rejects.toThrow(
      TrainingAbortedError,
    );
    c.dispose();
  });

  it('a second concurrent trainer.run() is refused; the first one finishes', async () => {
    const m = RBM.create(backend, { numVisible: 9, numHidden: 4, seed: 1 });
    const t = new Trainer(m, data, { epochs: 2, batchSize: 7 });
    const first = t.run();
    await expect(t.run()).rejects.toThrow(/already running/);
    expect(await first).toHaveLength(2);
    t.dispose();
    m.dispose();
  });
});

describe('arguments checked up front, typed errors that say what came', () => {
  it('a Dataset whose values do not fill rows x cols is a ShapeError, not 10 steps of training', () => {
    const m = RBM.create(backend, { numVisible: 6, numHidden: 3, seed: 1 });
    expect(() => new Trainer(m, { data: new Float32Array(120), rows: 100, cols: 6 }, { epochs: 1 })).toThrow(
      /120 values do not fill 100 x 6 \(600\)/,
    );
    expect(() => new Trainer(m, { data: new Float32Array(0), rows: 0, cols: 6 }, { epochs: 1 })).toThrow(
      /has no rows: nothing to train on/,
    );
    m.dispose();
  });

  it('pseudo-likelihood of no rows is an error, not NaN', async () => {
    const m = RBM.create(backend, { numVisible: 6, numHidden: 3, seed: 1 });
    await expect(pseudoLogLikelihood(m, { data: new Float32Array(0), rows: 0, cols: 6 })).rejects.toThrow(ShapeError);
    m.dispose();
  });

  it('options that would be ignored are refused', () => {
    const m = RBM.create(backend, { numVisible: 9, numHidden: 4, seed: 1 });
    expect(() => new Trainer(m, data, { epochs: 1, chains: 10 })).toThrow(/chains needs method pcd, fpcd, pt/);
    expect(() => new Trainer(m, data, { epochs: 1, tempering: { betas: [1, 0.5] } })).toThrow(
      /tempering.betas needs method pt/,
    );
    expect(() => new Trainer(m, data, { epochs: 1, shuffle: 'no' as never })).toThrow(
      /shuffle must be true or false, got "no"/,
    );
    m.dispose();
  });

  it('bare arrays, strings and missing options are named', async () => {
    expect(() => RBM.create(backend, undefined as never)).toThrow(ArgumentError);
    expect(() => RBM.create(backend, { numVisible: 4, numHidden: '3' as never })).toThrow(
      /numHidden must be a positive integer, got "3" \(string\)/,
    );
    const est = new RbmEstimator(backend, { numHidden: 3, epochs: 1 });
    await expect(est.fit(new Float32Array(8) as never)).rejects.toThrow(/got a bare Float32Array/);
    await expect(est.fit([[0, 1]] as never)).rejects.toThrow(/got a plain array/);
    const m = RBM.create(backend, { numVisible: 4, numHidden: 3, seed: 1 });
    await expect(annealedImportanceSampling(m, { data: new Uint8Array(4) as never })).rejects.toThrow(
      /expected a Dataset .* got a bare Uint8Array/,
    );
    await expect(
      annealedImportanceSampling(m, { data: { data: [0, 1, 0, 1], rows: 1, cols: 4 } as never }),
    ).rejects.toThrow(/data must be a Float32Array or a Float64Array, got a plain array/);
    m.dispose();
  });

  it('Gaussian data beyond 1e8 in magnitude is refused as data, not blamed on the learning rate', () => {
    const m = RBM.create(backend, { numVisible: 2, numHidden: 2, seed: 1, visibleUnits: 'gaussian' });
    expect(() => new Trainer(m, createDataset([0, 3e38, 1, 2], 2, 2), { epochs: 1 })).toThrow(
      /value 3\.0000000054977558e\+38 at row 0, column 1 is larger in magnitude than 100000000, which Gaussian units take/,
    );
    m.dispose();
  });
});

describe('DBN files: every tensor belongs to its layer, metadata numbers are numbers', () => {
  const layers = [
    initialParameters({ numVisible: 6, numHidden: 4, seed: 1 }),
    initialParameters({ numVisible: 4, numHidden: 2, seed: 2 }),
  ];
  /** The file with its tensors or metadata changed. */
  function changed(
    edit: (
      t: Record<string, ReturnType<typeof decodeSafetensors>['tensors'] extends Map<string, infer T> ? T : never>,
      m: Record<string, string>,
    ) => void,
  ): Uint8Array {
    const { tensors, metadata } = decodeSafetensors(encodeDbn(layers));
    const t = Object.fromEntries(tensors);
    const m = { ...metadata };
    edit(t, m);
    return encodeSafetensors(t, m);
  }

  it('an extra tensor inside a layer, or a log_variance on a Bernoulli layer, is refused', () => {
    const extra = changed((t) => {
      t['layers.0.foo'] = { dtype: 'F32', shape: [1], data: new Float32Array(1) };
    });
    expect(() => decodeDbn(extra)).toThrow(ModelFormatError);
    expect(() => decodeDbn(extra)).toThrow(/tensor layers\.0\.foo is not one of layer 0's/);
    const variance = changed((t) => {
      t['layers.1.log_variance'] = { dtype: 'F32', shape: [4], data: new Float32Array(4) };
    });
    expect(() => decodeDbn(variance)).toThrow(/tensor layers\.1\.log_variance is not one of layer 1's/);
  });

  it('metadata sizes written as strings are named as such', () => {
    const text = changed((_t, m) => {
      const records = JSON.parse(m.layers!);
      records[0].visible = '6';
      m.layers = JSON.stringify(records);
    });
    expect(() => decodeDbn(text)).toThrow(/layer 0: the metadata's visible is "6" \(string\), not a number/);
  });

  it('a DBN given where one RBM is read says what it is', () => {
    expect(() => decodeModel(encodeDbn(layers))).toThrow(/this file is a deep belief network/);
  });
});
