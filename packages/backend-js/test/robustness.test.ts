import { ArgumentError, createReferenceBackend, DataError, RBM, type RbmError } from '@rbmjs/core';
import { describe, expect, it } from 'vitest';
import { createJsBackend } from '../src/index.js';

describe('js backend: bad values and a destroyed backend give typed errors', () => {
  it('refuses NaN and out-of-range visible values', async () => {
    const m = RBM.create(createJsBackend(), { numVisible: 4, numHidden: 3, seed: 1 });
    await expect(m.hiddenGivenVisible(Float32Array.of(0, Number.NaN, 1, 0))).rejects.toThrow(DataError);
    await expect(m.reconstruct(Float32Array.of(0, 2, 1, 0))).rejects.toThrow(/outside \[0, 1\]/);
  });

  // The storage is core's hostStorage, whose destroy() semantics core's robustness test covers on a model;
  // here, that this backend's tensors and errors are its own.
  it('destroy() ends every tensor and refuses new ones, naming the js backend', async () => {
    const be = createJsBackend();
    const t = be.tensor(1, 2, Float32Array.of(1, 2));
    const other = createReferenceBackend().tensor(1, 2);
    expect(() => be.write(other, Float32Array.of(3, 4))).toThrow(/js backend: tensor belongs to another backend/);
    be.destroy();
    const error = await be.read(t).catch((e: unknown) => e);
    expect((error as RbmError).code).toBe('DISPOSED');
    expect(() => be.tensor(1, 1)).toThrow(/js backend used after destroy\(\)/);
  });
});

describe('js and reference backends: an index out of range names its position and value, and changes nothing', () => {
  for (const [name, make] of [
    ['js', createJsBackend],
    ['reference', createReferenceBackend],
  ] as const) {
    it(name, async () => {
      const be = make();
      const x = be.tensor(3, 2, Float32Array.of(1, 2, 3, 4, 5, 6));
      const out = be.tensor(3, 2, Float32Array.of(0, 0, 0, 0, 0, 0));
      const rows = be.tensor(3, 2, Float32Array.of(1, 1, 1, 1, 1, 1));
      for (const [bad, message] of [
        [3, /index\[2\] is 3, not a row number in \[0, 3\)/],
        [-1, /index\[2\] is -1/],
        [0.5, /index\[2\] is 0.5/],
      ] as const) {
        const index = be.tensor(3, 1, Float32Array.of(0, 2, bad));
        expect(() => be.gather(out, x, index)).toThrow(ArgumentError);
        expect(() => be.gather(out, x, index)).toThrow(message);
        expect(() => be.scatterAdd(out, index, rows)).toThrow(message);
        be.dispose(index);
      }
      // Every index is checked before anything is written: out is as it was.
      expect(Array.from(await be.read(out))).toEqual([0, 0, 0, 0, 0, 0]);
    });
  }
});
