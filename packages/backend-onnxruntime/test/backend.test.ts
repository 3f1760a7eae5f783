import { createJsBackend } from '@rbmjs/backend-js';
import { BackendUnavailableError, UnknownBackendError } from '@rbmjs/core/backend';
import { describe, expect, it } from 'vitest';
import { createOnnxruntimeBackend, type OrtBackend } from '../src/index.js';

const values = (n: number, seed: number) =>
  Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 97 + i * 13.7) * 2);

/** One small unit: p = sigmoid(x W + b), s = sum over rows of p^2, y = 0.9 y + lr x^T p. */
function unit(be: OrtBackend | ReturnType<typeof createJsBackend>, t: ReturnType<typeof tensors>, lr: number) {
  be.matMul(t.p, t.x, t.W);
  be.binary('add', t.p, t.p, t.b);
  be.unary('sigmoid', t.p, t.p);
  be.unary('square', t.q, t.p);
  be.sum(t.s, t.q, 1);
  be.matMul(t.g, t.x, t.p, { transposeA: true, alpha: lr });
  be.axpby(t.y, 0.9, t.y, 1, t.g);
}

function tensors(be: OrtBackend | ReturnType<typeof createJsBackend>) {
  return {
    x: be.tensor(5, 4, values(20, 1)),
    W: be.tensor(4, 3, values(12, 2)),
    b: be.tensor(1, 3, values(3, 3)),
    p: be.tensor(5, 3),
    q: be.tensor(5, 3),
    s: be.tensor(5, 1),
    g: be.tensor(4, 3),
    y: be.tensor(4, 3),
  };
}

describe('onnxruntime backend', () => {
  it('refuses modes it cannot run, saying what to install; unknown modes are a usage error', async () => {
    const cuda = await createOnnxruntimeBackend({ mode: 'cuda' }).catch((e: unknown) => e);
    // On a machine with the CUDA provider installed this would start; this one has none.
    if (cuda instanceof Error) {
      expect(cuda).toBeInstanceOf(BackendUnavailableError);
      expect((cuda as BackendUnavailableError).reasons[0]).toMatchObject({
        name: 'onnxruntime:cuda',
        reason: expect.stringMatching(/CUDA execution provider is not installed/),
        install: expect.stringMatching(/CUDA 12/),
      });
    } else (cuda as OrtBackend).destroy();
    const webgpu = await createOnnxruntimeBackend({ mode: 'webgpu' }).catch((e: unknown) => e);
    expect((webgpu as BackendUnavailableError).reasons[0]!.reason).toMatch(/runs in browsers/);
    await expect(createOnnxruntimeBackend({ mode: 'tpu' as 'cpu' })).rejects.toBeInstanceOf(UnknownBackendError);
  });

  it('compiles a unit once, replays it with new numbers, and matches op-by-op execution', async () => {
    const be = await createOnnxruntimeBackend({ mode: 'cpu' });
    const js = createJsBackend();
    try {
      const a = tensors(be);
      const r = tensors(js);
      const compiledBefore = be.stats.compiled;
      for (const lr of [0.1, 0.05, 0.025]) {
        be.fuse('unit', () => unit(be, a, lr));
        unit(js, r, lr);
      }
      // One structure: the learning rate is an input of the unit, not part of its key.
      expect(be.stats.compiled - compiledBefore).toBe(1);
      for (const k of ['p', 's', 'y'] as const) {
        const [got, want] = [await be.read(a[k]), await js.read(r[k])];
        for (let i = 0; i < want.length; i++) expect(got[i]).toBeCloseTo(want[i]!, 5);
      }
      // lr = 1 is structural (the multiply is dropped): a second unit.
      be.fuse('unit', () => unit(be, a, 1));
      expect(be.stats.compiled - compiledBefore).toBe(2);
    } finally {
      be.destroy();
      js.destroy();
    }
  });

  it('leaves scratch tensors unspecified and updates the rest', async () => {
    const be = await createOnnxruntimeBackend({ mode: 'cpu' });
    try {
      const a = tensors(be);
      be.fill(a.q, 7);
      be.fuse('unit', () => unit(be, a, 0.1), { scratch: [a.q, a.g] });
      // q was scratch: not written back (it still holds what it held); y, which depends on g, was.
      expect([...(await be.read(a.q))].every((x) => x === 7)).toBe(true);
      expect([...(await be.read(a.y))].some((x) => x !== 0)).toBe(true);
    } finally {
      be.destroy();
    }
  });

  it('keeps op order across the queue: ops issued while a unit is in flight wait for it', async () => {
    const be = await createOnnxruntimeBackend({ mode: 'cpu' });
    try {
      const x = be.tensor(2, 2, Float32Array.of(1, 2, 3, 4));
      const y = be.tensor(2, 2);
      const host = Float32Array.of(10, 20, 30, 40);
      for (let i = 0; i < 5; i++) {
        be.fuse('step', () => be.axpby(y, 1, y, 1, x)); // y += x, compiled
        be.binary('mul', y, y, x); // y *= x, op by op, behind the unit
        be.write(x, host); // the upload is copied: changing host afterwards changes nothing
        host[0] = -1;
        be.write(x, Float32Array.of(1, 2, 3, 4));
      }
      let want = [0, 0, 0, 0];
      for (let i = 0; i < 5; i++) want = want.map((v, j) => (v + (j + 1)) * (j + 1));
      expect([...(await be.read(y))]).toEqual(want);
      // A shape error is thrown at the call, even inside a unit, and the ops before it have run.
      expect(() =>
        be.fuse('bad', () => {
          be.fill(y, 1);
          be.matMul(y, x, be.tensor(3, 2));
        }),
      ).toThrow(/inner dimensions/);
      expect([...(await be.read(y))]).toEqual([1, 1, 1, 1]);
    } finally {
      be.destroy();
    }
  });

  it('runs a unit too large to compile op by op, and a label whose structure keeps changing, saying so once', async () => {
    const notices: string[] = [];
    const be = await createOnnxruntimeBackend({ mode: 'cpu', maxUnitValues: 10, notice: (m) => notices.push(m) });
    try {
      const a = tensors(be);
      const js = createJsBackend();
      const r = tensors(js);
      for (let i = 0; i < 3; i++) {
        be.fuse('big', () => unit(be, a, 0.1));
        unit(js, r, 0.1);
      }
      expect([...(await be.read(a.y))]).toEqual([...(await js.read(r.y))]);
      expect(be.stats.opByOp).toBe(3);
      // A new tensor outside the unit every call: a new structure every call.
      for (let i = 0; i < 20; i++) {
        const t = be.tensor(1, 1, Float32Array.of(i));
        be.fuse('churn', () => be.unary('neg', t, t));
        expect((await be.read(t))[0]).toBe(-i);
        be.dispose(t);
      }
      expect(notices.filter((m) => m.includes('big runs op by op'))).toHaveLength(1);
      expect(
        notices.filter((m) => m.includes('churn runs op by op: its structure changes on every call')),
      ).toHaveLength(1);
      js.destroy();
    } finally {
      be.destroy();
    }
  });
});
