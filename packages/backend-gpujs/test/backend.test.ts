import { describe, expect, it } from 'vitest';
import { autoModes, createGpujsBackend, MAX_KERNELS } from '../src/index.js';
import { logSumExpSource, matMulSource, sumSource } from '../src/kernels.js';

describe('mode selection', () => {
  it('refuses an unknown mode, naming the modes', async () => {
    await expect(createGpujsBackend({ mode: 'cuda' as never })).rejects.toThrow(/unknown gpu.js mode "cuda".*webasm/);
  });

  it('says why webgl cannot run in Node, and how to get a GL mode', async () => {
    await expect(createGpujsBackend({ mode: 'webgl2' })).rejects.toThrow(/browsers only; in Node use headlessgl/);
  });

  it('auto tries WebGPU first and ends on the cpu mode, which always starts', async () => {
    expect(autoModes()).toEqual(['webgpu', 'headlessgl', 'webasm', 'cpu']);
    const be = await createGpujsBackend();
    expect(be.name).toMatch(/^gpujs:(webgpu|headlessgl|webasm|cpu)$/);
    expect(be.details?.mode).toBe(be.name.slice('gpujs:'.length));
    be.destroy();
  });

  it('reports the mode it verified, and webasm threads', async () => {
    const be = await createGpujsBackend({ mode: 'webasm', threads: false });
    expect(be.name).toBe('gpujs:webasm');
    expect(be.details).toMatchObject({ mode: 'webasm', threads: false });
    be.destroy();
  });
});

describe('kernel sources', () => {
  it('write loop bounds as literals: gpu.js caps argument-bound loops at 1000 iterations', () => {
    expect(matMulSource(1500, false, false, false)).toContain('k < 1500;');
    expect(sumSource(1, 1234)).toContain('k < 1234;');
    expect(logSumExpSource(0, 1001)).toMatch(/k < 1001;[\s\S]*k < 1001;/);
  });

  it('a 1500-term product is exact on the threaded webasm mode (above the 1000 cap)', async () => {
    const be = await createGpujsBackend({ mode: 'webasm' });
    const a = be.tensor(2, 1500, new Float32Array(3000).fill(1));
    const b = be.tensor(1500, 1, new Float32Array(1500).fill(2));
    const out = be.tensor(2, 1);
    be.matMul(out, a, b);
    expect(Array.from(await be.read(out))).toEqual([3000, 3000]);
    be.destroy();
  });
});

describe('the kernel cache', () => {
  it('keeps at most MAX_KERNELS kernels, evicting the least recently used, and stays correct', async () => {
    const be = await createGpujsBackend({ mode: 'cpu' });
    const count = () => (be as unknown as { compiledKernels: number }).compiledKernels;
    const x = be.tensor(1, 4, Float32Array.of(1, 2, 3, 4));
    const keep = be.tensor(1, 4);
    be.unary('square', keep, x); // compiled first, used again below
    for (let n = 1; n <= MAX_KERNELS + 20; n++) {
      const t = be.tensor(n, 1, new Float32Array(n).fill(2));
      const s = be.tensor(1, 1);
      be.sum(s, t, 0); // a new shape: a new kernel
      expect(Array.from(await be.read(s))).toEqual([2 * n]);
      be.dispose(t);
      be.dispose(s);
      if (n % 50 === 0) be.unary('square', keep, x); // recently used: survives
    }
    expect(count()).toBeLessThanOrEqual(MAX_KERNELS);
    be.unary('square', keep, keep);
    expect(Array.from(await be.read(keep))).toEqual([1, 16, 81, 256]);
    be.destroy();
  });
});
