import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Backend } from '../src/backend/types.js';
import {
  AbortedError,
  ArgumentError,
  annealedImportanceSampling,
  CollaborativeModel,
  CollaborativeRBM,
  checkMemory,
  collaborativeFamily,
  createReferenceBackend,
  DBM,
  DbmEstimator,
  dbmAnnealedImportanceSampling,
  dbmVariationalBound,
  initialCollaborativeParameters,
  initialDbmParameters,
  initialParameters,
  MAX_QUEUED_UNITS,
  MAX_QUEUED_UPLOAD_BYTES,
  parseLevels,
  parseRatings,
  parseTrainConfig,
  RBM,
  RbmEstimator,
  ShapeError,
  syntheticRatings,
  Trainer,
} from '../src/index.js';
import { readRatingsFile } from '../src/node/index.js';

/**
 * The library's estimators refuse data whose values do not fill rows x cols before any work, with a ShapeError
 * naming the sizes (a DBM used to train on 10 values given as 5 x 9; an RBM failed later as a NaN bias).
 */

const backend = createReferenceBackend();

describe('estimators check a Dataset fills its rows', () => {
  for (const n of [10, 100]) {
    it(`DbmEstimator.fit: ${n} values given as 5 x 9`, async () => {
      const est = new DbmEstimator(backend, { hidden: [4, 3], epochs: 1, pretrainEpochs: 1 });
      const data = { data: new Float32Array(n), rows: 5, cols: 9 };
      await expect(est.fit(data)).rejects.toThrow(ShapeError);
      await expect(est.fit(data)).rejects.toThrow(`train: data: ${n} values do not fill 5 x 9 (45)`);
    });
    it(`RbmEstimator.fit and partialFit: ${n} values given as 5 x 9`, async () => {
      const est = new RbmEstimator(backend, { numHidden: 3, epochs: 1 });
      const data = { data: new Float32Array(n), rows: 5, cols: 9 };
      await expect(est.fit(data)).rejects.toThrow(`train: data: ${n} values do not fill 5 x 9 (45)`);
      await expect(est.partialFit(data)).rejects.toThrow(ShapeError);
    });
  }
});

describe('library options and sizes refused by name', () => {
  it('CollaborativeRBM: an orientation that is not one, and a prediction method that is not one', async () => {
    expect(() => new CollaborativeRBM(backend, { orientation: 'diagonal' as 'user' })).toThrow(
      `orientation must be 'user', 'item' or 'auto', got "diagonal"`,
    );
    const syn = syntheticRatings({ users: 30, items: 8, density: 0.5, seed: 1 });
    const cf = new CollaborativeRBM(backend, { numHidden: 3, epochs: 1 });
    await cf.fit(syn.ratings);
    await expect(cf.recommend(syn.ratings.users[0]!, 3, { method: 'bogus' as 'exact' })).rejects.toThrow(
      `method must be 'mean-field' or 'exact', got "bogus"`,
    );
    cf.dispose();
  });

  it('DbmEstimator: an unknown option is refused, naming it and what it takes', () => {
    expect(() => new DbmEstimator(backend, { hidden: [4, 3], learningrate: 0.1 } as never)).toThrow(
      /DbmEstimator: unknown option learningrate; it takes numHidden, weightScale, l2, k, epochs/,
    );
  });

  it('checkMemory of NaN bytes is an argument error, not "needs about NaN"', () => {
    expect(() => checkMemory('x', Number.NaN, 'detail')).toThrow(ArgumentError);
    expect(() => checkMemory('x', Number.NaN, 'detail')).toThrow(/x: its memory came out NaN bytes/);
  });

  it('dbmVariationalBound of no rows is refused, not NaN', async () => {
    const dbm = DBM.fromParameters(backend, initialDbmParameters({ sizes: [4, 3, 2], seed: 1 }));
    await expect(dbmVariationalBound(dbm, { data: new Float32Array(0), rows: 0, cols: 4 })).rejects.toThrow(/no rows/);
    dbm.dispose();
  });
});

describe('readRatingsFile holds every line to 64 KiB', () => {
  it('refuses a long line that a single read holds whole, naming the file and the line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rbmjs-hardened-'));
    const path = join(dir, 'long.csv');
    // Line 2 is 70,000 bytes, then a line break: inside the first 1 MiB read, so never the carried tail.
    await writeFile(path, `1,2,3\n1,${'9'.repeat(70_000)},4\n2,3,5\n`);
    await expect(readRatingsFile(path)).rejects.toThrow(`${path}: line 2 is longer than 65536 bytes`);
  });

  it("an oversized file's message names a way to read it that exists", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rbmjs-hardened-'));
    const path = join(dir, 'r.csv');
    await writeFile(path, '1,2,3\n1,3,4\n');
    await expect(readRatingsFile(path, { maxBytes: 4 })).rejects.toThrow(
      /more than the limit of 4 for a ratings file \(the library's readRatingsFile\(path, \{ maxBytes \}\) reads larger ones\)/,
    );
  });
});

describe('ratings: headers, underflow, hex', () => {
  it('a first row with numeric ids and a bad rating is a bad row, not a header; a named header is one', () => {
    expect(() => parseRatings('1,101,x\n1,102,4\n', { source: 'r.csv' })).toThrow(
      'r.csv: line 1, column 3: rating "x" is not a number',
    );
    expect(parseRatings('userId,movieId,rating\n1,102,4\n2,102,3\n').user.length).toBe(2);
  });

  it('a rating that underflows to 0 is refused, not read as a level 0', () => {
    expect(() => parseRatings('1,2,1e-400\n1,3,4\n', { source: 'r.csv' })).toThrow(
      'r.csv: line 1, column 3: rating "1e-400" underflows to 0 in floating point',
    );
  });

  it('--levels takes decimal numbers only, as the files do', () => {
    expect(() => parseLevels('0x1:0x5')).toThrow(/FROM:TO\[:STEP\] needs FROM < TO/);
    expect(() => parseLevels('0x1,2,3')).toThrow(/expected numbers separated by commas/);
    expect(parseLevels('1:5')).toEqual([1, 2, 3, 4, 5]);
    expect(parseLevels('0.5:2:0.5')).toEqual([0.5, 1, 1.5, 2]);
  });
});

describe("a collaborative trainer's state is checked before it is used", () => {
  it('refuses a negative epoch, a negative stream offset and a best epoch after the state, naming each', async () => {
    const syn = syntheticRatings({ users: 20, items: 6, density: 0.6, seed: 2 });
    const model = CollaborativeModel.fromParameters(
      backend,
      initialCollaborativeParameters({ numItems: 6, numHidden: 3, levels: syn.ratings.levels, seed: 1 }),
    );
    const trainer = new Trainer(collaborativeFamily(model, syn.ratings, undefined, { epochs: 6, batchSize: 10 }));
    await trainer.run();
    const good = await trainer.exportState();
    trainer.importState(good); // its own state imports
    const bad: Array<[Partial<typeof good>, RegExp]> = [
      [{ epoch: -5 }, /trainer state: epoch must be a non-negative integer, got -5/],
      [{ gibbsOffset: -7 }, /gibbsOffset must be a non-negative integer/],
      [{ shuffleOffset: 1.5 }, /shuffleOffset must be a non-negative integer/],
      [{ stage: 1 }, /stage 1 is not one of 0\.\.0/],
    ];
    for (const [change, message] of bad) expect(() => trainer.importState({ ...good, ...change })).toThrow(message);
    trainer.dispose();
    model.dispose();
  });
});

describe('an already-aborted signal stops annealing before its first step', () => {
  it('AIS and DBM AIS, at step 0', async () => {
    const model = RBM.fromParameters(backend, randomRbm(9, 4));
    const signal = AbortSignal.abort();
    await expect(annealedImportanceSampling(model, { runs: 10, signal })).rejects.toThrow(/aborted after 0 of 14500/);
    const dbm = DBM.fromParameters(backend, initialDbmParameters({ sizes: [4, 3, 2], seed: 1 }));
    await expect(dbmAnnealedImportanceSampling(dbm, { runs: 10, signal })).rejects.toThrow(AbortedError);
    dbm.dispose();
    model.dispose();
  });
});

function randomRbm(nv: number, nh: number) {
  return initialParameters({ numVisible: nv, numHidden: nh, seed: 4, weightScale: 0.5 });
}

describe('parseTrainConfig: nothing dropped, nothing guessed', () => {
  it('refuses an unknown key inside a part, a centering that is not a switch or { rate }, a learning rate as a string', () => {
    expect(() => parseTrainConfig({ epochs: 1, sparsity: { target: 0.1, bogus: 1 } })).toThrow(
      /unknown training option 'sparsity\.bogus' \(sparsity takes /,
    );
    expect(() => parseTrainConfig({ epochs: 1, centering: 5 })).toThrow(
      /centering must be true, false or \{ rate \}, got 5/,
    );
    expect(parseTrainConfig({ epochs: 1, centering: { rate: 0.05 } }).centering).toEqual({ rate: 0.05 });
    expect(() => parseTrainConfig({ epochs: 1, learningRate: '0.1' })).toThrow(
      /learningRate must be a number or a schedule \{ kind: constant \| linear \| exponential \| piecewise, \.\.\. \}, got "0\.1" \(string\)/,
    );
  });
});

/**
 * A backend whose runs are asynchronous holds a copy of each upload until its unit runs: an unpaced
 * collaborative epoch queued every batch's ratings at once (2.6 GB on onnxruntime:cpu for a 160 KB file of
 * 10,000 x 10,000 ids, past a 1 GiB budget whose estimate said 0.55 GiB). The trainer now drains the queue.
 */
describe('a collaborative epoch keeps the backend queue bounded', () => {
  /** The reference backend, counting the units and upload bytes issued since the last drain. */
  function counting() {
    const be = createReferenceBackend();
    const most = { units: 0, bytes: 0, drains: 0 };
    let units = 0;
    let bytes = 0;
    const proxy: Backend = {
      ...be,
      write: (t, data) => {
        bytes += 4 * data.length;
        be.write(t, data);
      },
      fuse: (_label, body) => {
        units++;
        body();
        most.units = Math.max(most.units, units);
        most.bytes = Math.max(most.bytes, bytes);
      },
      drain: async () => {
        most.drains++;
        units = 0;
        bytes = 0;
      },
    };
    return { proxy, most };
  }

  // Dense batches: the sparse ones (which auto picks at this density) upload only the ratings.
  async function epoch(proxy: Backend, users: number, items: number, batchSize: number) {
    const syn = syntheticRatings({ users, items, density: 2 / items, seed: 3 });
    const model = CollaborativeModel.fromParameters(
      proxy,
      initialCollaborativeParameters({ numItems: items, numHidden: 2, levels: syn.ratings.levels, seed: 1 }),
    );
    const trainer = new Trainer(
      collaborativeFamily(model, syn.ratings, undefined, { epochs: 1, batchSize, batchLayout: 'dense' }),
    );
    await trainer.run();
    trainer.dispose();
    model.dispose();
  }

  it('by bytes: at most the bound plus one batch of uploads between drains', async () => {
    const { proxy, most } = counting();
    // A batch uploads (5 levels + mask + r) x 100 x 3000 float32 = 8.4 MB; 20 batches, 168 MB unpaced.
    await epoch(proxy, 2000, 3000, 100);
    const batch = 4 * 7 * 100 * 3000;
    expect(most.drains).toBeGreaterThanOrEqual(2);
    expect(most.bytes).toBeLessThan(MAX_QUEUED_UPLOAD_BYTES + batch);
  });

  it('by units: at most the bound between drains', async () => {
    const { proxy, most } = counting();
    await epoch(proxy, 240, 10, 2); // 120 steps
    expect(most.drains).toBeGreaterThanOrEqual(2);
    expect(most.units).toBeLessThanOrEqual(MAX_QUEUED_UNITS);
  });
});
