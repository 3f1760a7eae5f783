import { describe, expect, it } from 'vitest';
import { autoModes, createGpujsBackend, SerialQueue } from '../src/index.js';
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

describe('SerialQueue', () => {
  it('runs synchronous steps at once and asynchronous ones in order', async () => {
    const q = new SerialQueue();
    const log: string[] = [];
    q.push(() => log.push('a'));
    expect(log).toEqual(['a']);
    q.push(() => new Promise<void>((r) => setTimeout(() => r(void log.push('b')), 5)));
    q.push(() => log.push('c'));
    expect(log).toEqual(['a']);
    await q.settled();
    expect(log).toEqual(['a', 'b', 'c']);
    q.push(() => log.push('d'));
    expect(log).toEqual(['a', 'b', 'c', 'd']);
  });

  it('an asynchronous failure is reported by settled and by later pushes', async () => {
    const q = new SerialQueue();
    q.push(() => Promise.reject(new Error('device lost')));
    await expect(q.settled()).rejects.toThrow('device lost');
    expect(() => q.push(() => undefined)).toThrow('device lost');
  });
});
