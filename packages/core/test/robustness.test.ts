import { mkdtemp, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ArgumentError,
  type Backend,
  createReferenceBackend,
  DataError,
  encodeModel,
  FileError,
  initialParameters,
  ModelFormatError,
  RBM,
  RbmError,
  TooLargeError,
  Trainer,
  type TrainerState,
  TrainingAbortedError,
} from '../src/index.js';
import { loadModelFile, readModelFile, removeStaleTemporaries, writeFileAtomic } from '../src/node/index.js';

/** Bad input to the library: a typed error naming the problem, never a raw TypeError or a silent NaN. */

// The js backend runs the same checks in packages/backend-js/test/robustness.test.ts.
const backends: Array<[string, () => Backend]> = [['reference', createReferenceBackend]];

describe.each(backends)('the model on %s refuses bad values', (_name, make) => {
  const model = () => RBM.create(make(), { numVisible: 4, numHidden: 3, seed: 1 });

  it.each([
    ['NaN', Float32Array.of(0, 1, Number.NaN, 0), /non-finite value NaN at row 0, column 2/],
    ['Infinity', Float32Array.of(0, 1, 1, Number.POSITIVE_INFINITY), /non-finite value Infinity at row 0, column 3/],
    ['out of [0, 1]', Float32Array.of(0, 1.5, 1, 0), /value 1.5 at row 0, column 1 is outside \[0, 1\]/],
  ])('%s in hiddenGivenVisible, reconstruct, freeEnergy and sample({ init })', async (_what, v, message) => {
    const m = model();
    await expect(m.hiddenGivenVisible(v)).rejects.toThrow(DataError);
    await expect(m.hiddenGivenVisible(v)).rejects.toThrow(message);
    await expect(m.reconstruct(v)).rejects.toThrow(message);
    await expect(m.freeEnergy(v)).rejects.toThrow(message);
    await expect(m.sample({ steps: 1, init: { data: v, rows: 1, cols: 4 } })).rejects.toThrow(message);
  });

  it('hidden states outside [0, 1] in visibleGivenHidden', async () => {
    await expect(model().visibleGivenHidden(Float32Array.of(0, 2, 1))).rejects.toThrow(DataError);
  });

  it.each([
    [
      'a plain array',
      [0, 1, 0, 1],
      /expected a Float32Array, a Float64Array or a Dataset \{ data, rows, cols \}, got a plain array/,
    ],
    ['null', null, /got null/],
    ['a number', 3, /got number/],
    [
      'a Dataset of the wrong shape',
      { data: new Float32Array(8), rows: 3, cols: 4 },
      /a Dataset of 3 x 4 cannot hold 8 values/,
    ],
  ])('%s instead of data', async (_what, v, message) => {
    const m = model();
    const error = await m.hiddenGivenVisible(v as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RbmError);
    expect((error as Error).message).toMatch(message);
  });

  it('parameters that do not fit float32 (1e300 in a Float64Array) or are not arrays', () => {
    const p = initialParameters({ numVisible: 4, numHidden: 3, seed: 1 });
    const weights = Float64Array.from(p.weights);
    weights[5] = 1e300;
    expect(() => RBM.fromParameters(make(), { ...p, weights: weights as never })).toThrow(ArgumentError);
    expect(() => RBM.fromParameters(make(), { ...p, weights: weights as never })).toThrow(
      /weights\[5\] is 1e\+300, parameters must be finite in float32/,
    );
    expect(() => RBM.fromParameters(make(), { ...p, hiddenBias: null as never })).toThrow(
      /hiddenBias: expected a Float32Array, got null/,
    );
    expect(() => RBM.fromParameters(make(), null as never)).toThrow(/parameters: expected an object, got null/);
  });

  it('a model too large to allocate is refused with its size', () => {
    expect(() => RBM.create(make(), { numVisible: 784, numHidden: 10_000_000 })).toThrow(TooLargeError);
  });

  it('destroy() ends the backend: its models and new models throw DISPOSED', async () => {
    const be = make();
    const m = RBM.create(be, { numVisible: 4, numHidden: 3, seed: 1 });
    be.destroy();
    const error = await m.parameters().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RbmError);
    expect((error as RbmError).code).toBe('DISPOSED');
    expect(() => RBM.create(be, { numVisible: 4, numHidden: 3 })).toThrow(/used after destroy\(\)/);
  });
});

describe('the trainer', () => {
  const data = { data: Float32Array.from({ length: 40 * 4 }, (_, i) => (i % 3 === 0 ? 1 : 0)), rows: 40, cols: 4 };

  it('stops at its AbortSignal between batches, and a resumed trainer ends where an uninterrupted one does', async () => {
    const be = createReferenceBackend();
    const options = { epochs: 2, batchSize: 10, learningRate: 0.1, momentum: 0.5, method: 'pcd' as const, seed: 4 };
    const straight = RBM.create(be, { numVisible: 4, numHidden: 3, seed: 1 });
    await new Trainer(straight, data, options).run();

    const controller = new AbortController();
    const first = RBM.create(be, { numVisible: 4, numHidden: 3, seed: 1 });
    const trainer = new Trainer(first, data, {
      ...options,
      signal: controller.signal,
      onBatch: (e) => {
        if (e.epoch === 1 && e.batch === 1) controller.abort();
      },
    });
    const error = await trainer.run().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrainingAbortedError);
    expect(trainer.position()).toEqual({ epoch: 1, batch: 2, step: 6 });
    const state = await trainer.exportState();
    expect([state.epoch, state.batch]).toEqual([1, 2]);

    // A new trainer on the same model. The state is float32 (as in checkpoints), so on this float64
    // backend the momentum carries a rounding of ~1e-8 relative; on float32 backends the match is exact
    // (the CLI's tests check that bit for bit).
    const resumed = new Trainer(first, data, options);
    resumed.importState(state);
    const history = await resumed.run();
    expect(history).toHaveLength(1);
    const a = await be.read(first.W);
    const b = await be.read(straight.W);
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(1e-8);
  });

  it('importState refuses chains that are not binary, NaN momentum and a batch past the epoch, changing nothing', async () => {
    const be = createReferenceBackend();
    const m = RBM.create(be, { numVisible: 4, numHidden: 3, seed: 1 });
    const trainer = new Trainer(m, data, { epochs: 1, batchSize: 10, method: 'pcd', momentum: 0.5, seed: 1 });
    const state = await trainer.exportState();
    const replaced = (name: string, i: number, x: number): TrainerState => {
      const entry = state.tensors[name]!;
      const data = Float32Array.from(entry.data);
      data[i] = x;
      return { ...state, tensors: { ...state.tensors, [name]: { ...entry, data } } };
    };
    expect(() => trainer.importState(replaced('chains', 2, 7))).toThrow(/chains\[2\] is 7, expected 0 or 1/);
    expect(() => trainer.importState(replaced('velocity.weights', 0, Number.NaN))).toThrow(
      /velocity\.weights\[0\] is NaN, expected finite/,
    );
    expect(() => trainer.importState({ ...state, counters: { swapRounds: 1 } })).toThrow(
      /counter swapRounds is not part of this run/,
    );
    expect(() => trainer.importState({ ...state, batch: 4 })).toThrow(/batch must be an integer in \[0, 4\)/);
    expect(await trainer.exportState()).toEqual(state);
  });

  it('keeps no velocity without momentum, and resumes a state that carries one (an earlier version) to the bit', async () => {
    const be = createReferenceBackend();
    const options = { epochs: 2, batchSize: 10, learningRate: 0.1, method: 'pcd' as const, seed: 4 };
    const straight = RBM.create(be, { numVisible: 4, numHidden: 3, seed: 1 });
    await new Trainer(straight, data, options).run();

    const first = RBM.create(be, { numVisible: 4, numHidden: 3, seed: 1 });
    const trainer = new Trainer(first, data, { ...options, epochs: 1 });
    await trainer.run();
    const state = await trainer.exportState();
    expect(Object.keys(state.tensors)).toEqual(['chains']);
    // A velocity (with momentum 0 it held lr g of the last step), as earlier versions wrote it: dropped.
    const velocity = { rows: 4, cols: 3, data: new Float32Array(12).fill(0.25) };
    const resumed = new Trainer(first, data, options);
    resumed.importState({ ...state, tensors: { ...state.tensors, 'velocity.weights': velocity } });
    await resumed.run();
    expect(await be.read(first.W)).toEqual(await be.read(straight.W));
    expect(() => resumed.importState({ ...state, tensors: { ...state.tensors, velocity: velocity } })).toThrow(
      /velocity is not part of this run/,
    );
  });
});

describe('model files on disk', () => {
  async function folder() {
    return mkdtemp(join(tmpdir(), 'rbmjs-robust-'));
  }
  const bytes = () => encodeModel(initialParameters({ numVisible: 4, numHidden: 3, seed: 1 }));

  it('refuses what is not a regular file, and names it', async () => {
    await expect(readModelFile('/dev/zero')).rejects.toThrow(
      /\/dev\/zero: a character device, not a regular model file/,
    );
    const d = await folder();
    await expect(readModelFile(d)).rejects.toThrow(FileError);
    await expect(readModelFile(join(d, 'missing'))).rejects.toThrow(/missing: cannot read: no such file or directory/);
  });

  it('decides from the header alone that a 1 GiB file is not the model it describes', async () => {
    const d = await folder();
    const path = join(d, 'padded.safetensors');
    await writeFile(path, bytes());
    await truncate(path, 2 ** 30);
    const before = process.memoryUsage().arrayBuffers;
    await expect(readModelFile(path)).rejects.toThrow(ModelFormatError);
    await expect(readModelFile(path)).rejects.toThrow(/unexpected bytes after the last tensor/);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * 2 ** 20);
  });

  it('loads a good file, and a file larger than maxBytes only when allowed', async () => {
    const d = await folder();
    const path = join(d, 'm.safetensors');
    await writeFile(path, bytes());
    const { model, bytes: size } = await loadModelFile(createReferenceBackend(), path);
    expect(model.numHidden).toBe(3);
    await expect(readModelFile(path, { maxBytes: size - 1 })).rejects.toThrow(/more than the limit/);
  });

  it('writeFileAtomic replaces regular files only, and names the file when it cannot write', async () => {
    const d = await folder();
    await expect(writeFileAtomic('/dev/null', new Uint8Array(1))).rejects.toThrow(
      /\/dev\/null exists and is not a regular file; refusing to replace it/,
    );
    await expect(writeFileAtomic(join(d, 'no', 'such', 'dir', 'x'), new Uint8Array(1))).rejects.toThrow(
      /x: cannot write: no such file or directory/,
    );
  });

  it('removeStaleTemporaries removes what dead writers left, not what live ones write', async () => {
    const d = await folder();
    const target = join(d, 'm.safetensors');
    await writeFile(join(d, '.m.safetensors.999999999.0123456789ab.tmp'), 'torn');
    await writeFile(join(d, `.m.safetensors.${process.pid}.0123456789ab.tmp`), 'mine');
    await writeFile(join(d, '.other.999999999.0123456789ab.tmp'), 'not ours');
    const removed = await removeStaleTemporaries(target);
    expect(removed).toEqual([join(d, '.m.safetensors.999999999.0123456789ab.tmp')]);
  });
});
