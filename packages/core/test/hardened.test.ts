import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ArgumentError,
  CollaborativeRBM,
  checkMemory,
  createReferenceBackend,
  DBM,
  DbmEstimator,
  dbmVariationalBound,
  initialDbmParameters,
  RbmEstimator,
  ShapeError,
  syntheticRatings,
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
      /DbmEstimator: unknown option learningrate; it takes hidden, weightScale, epochs/,
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
