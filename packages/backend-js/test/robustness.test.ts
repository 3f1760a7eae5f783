import { DataError, RBM, RbmError } from '@rbmjs/core';
import { describe, expect, it } from 'vitest';
import { createJsBackend } from '../src/index.js';

describe('js backend: bad values and a destroyed backend give typed errors', () => {
  it('refuses NaN and out-of-range visible values', async () => {
    const m = RBM.create(createJsBackend(), { numVisible: 4, numHidden: 3, seed: 1 });
    await expect(m.hiddenGivenVisible(Float32Array.of(0, Number.NaN, 1, 0))).rejects.toThrow(DataError);
    await expect(m.reconstruct(Float32Array.of(0, 2, 1, 0))).rejects.toThrow(/outside \[0, 1\]/);
  });

  it('destroy() ends every tensor and refuses new ones', async () => {
    const be = createJsBackend();
    const m = RBM.create(be, { numVisible: 4, numHidden: 3, seed: 1 });
    be.destroy();
    const error = await m.parameters().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RbmError);
    expect((error as RbmError).code).toBe('DISPOSED');
    expect(() => be.tensor(1, 1)).toThrow(/js backend used after destroy\(\)/);
    expect(() => RBM.create(be, { numVisible: 4, numHidden: 3 })).toThrow(/used after destroy\(\)/);
  });
});
