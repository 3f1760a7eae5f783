import { describe, expect, it } from 'vitest';
import {
  type Backend,
  type BatchEvent,
  barsAndStripes,
  chunkSteps,
  createReferenceBackend,
  DataError,
  type DataSource,
  datasetSource,
  RBM,
  Trainer,
  type TrainOptions,
} from '../src/index.js';

/** The reference backend with a `fuse` that runs the body and counts units: core then runs several steps per unit. */
function fusing(be: Backend): { backend: Backend; units: string[] } {
  const units: string[] = [];
  let depth = 0;
  const backend: Backend = Object.assign(Object.create(be) as Backend, {
    fuse(label: string, body: () => void) {
      if (depth === 0) units.push(label);
      depth++;
      try {
        body();
      } finally {
        depth--;
      }
    },
  });
  return { backend, units };
}

async function trained(backend: Backend, data: DataSource | ReturnType<typeof barsAndStripes>, options: TrainOptions) {
  const model = RBM.create(backend, { numVisible: 9, numHidden: 5, seed: 2 });
  const errors: number[] = [];
  const batches: number[] = [];
  const trainer = new Trainer(model, data, {
    ...options,
    onBatch: async (e: BatchEvent) => {
      batches.push(e.step);
      errors.push(await e.readReconstructionError());
    },
  });
  const history = await trainer.run();
  return { W: await backend.read(model.W), errors, batches, history };
}

describe('several steps per unit', () => {
  const data = barsAndStripes(3); // 14 rows
  const options: TrainOptions = { epochs: 3, batchSize: 2, method: 'pcd', k: 2, momentum: 0.5, seed: 7 };

  it('run as units of up to chunkSteps steps, and give the model, the batch events and errors of one step at a time', async () => {
    const reference = createReferenceBackend();
    const { backend, units } = fusing(reference);
    expect(chunkSteps(reference, 2)).toBe(1);
    const chunk = chunkSteps(backend, 2);
    expect(chunk).toBe(16);
    const one = await trained(reference, data, options);
    const many = await trained(backend, data, options);
    // 7 batches an epoch, all full: one unit an epoch.
    expect(units.filter((u) => u === 'train-step')).toHaveLength(3);
    expect(many.W).toEqual(one.W);
    expect(many.batches).toEqual(one.batches);
    expect(many.batches).toEqual(Array.from({ length: 21 }, (_, i) => i + 1));
    expect(many.errors).toEqual(one.errors);
    expect(many.history.map((h) => h.reconstructionError)).toEqual(one.history.map((h) => h.reconstructionError));
  });

  it('do not cross a divergence check, and leave the epoch short last batch alone', async () => {
    const { backend, units } = fusing(createReferenceBackend());
    const one = await trained(createReferenceBackend(), data, { ...options, batchSize: 4, divergenceCheckInterval: 2 });
    const many = await trained(backend, data, { ...options, batchSize: 4, divergenceCheckInterval: 2 });
    // 14 rows in batches of 4: [0, 1] [2] (interval of 2, then the short batch alone) per epoch.
    expect(units.filter((u) => u === 'train-step')).toHaveLength(3 * 2 + 3);
    expect(many.W).toEqual(one.W);
  });
});

describe('read-ahead', () => {
  const data = barsAndStripes(3);
  const options: TrainOptions = { epochs: 2, batchSize: 3, seed: 3, shuffle: true };

  /** A source whose reads finish later (as a file read on another thread does), logging them. */
  function slowSource(failAt?: number): { source: DataSource; reads: number[][] } {
    const inner = datasetSource(data);
    const reads: number[][] = [];
    const source: DataSource = {
      rows: data.rows,
      cols: data.cols,
      source: 'slow.csv',
      async readRows(indices, out) {
        reads.push(Array.from(indices));
        await new Promise((resolve) => setTimeout(resolve, 1));
        await inner.readRows(indices, out);
        if (failAt !== undefined && reads.length === failAt) out[1] = 7;
      },
    };
    return { source, reads };
  }

  it('reads the next run while the current one trains, with the same model as reading in turn', async () => {
    const { backend } = fusing(createReferenceBackend());
    const slow = slowSource();
    const inMemory = await trained(backend, data, options);
    const ahead = await trained(backend, slow.source, options);
    expect(ahead.W).toEqual(inMemory.W);
    // Each read is one run of batches (the reads cover every row once an epoch).
    const epoch = slow.reads.slice(0, slow.reads.length / 2).flat();
    expect([...epoch].sort((a, b) => a - b)).toEqual(Array.from({ length: 14 }, (_, i) => i));
  });

  it('throws a bad value found by a read ahead at the run that needed it, naming its place', async () => {
    const slow = slowSource(2);
    const error = await trained(createReferenceBackend(), slow.source, options).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DataError);
    expect((error as DataError).message).toMatch(/value 7 in slow\.csv at row \d+, column 1 is outside \[0, 1\]/);
  });
});
