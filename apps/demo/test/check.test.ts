import { createGpujsBackend } from '@rbmjs/backend-gpujs';
import { createJsBackend } from '@rbmjs/backend-js';
import type { Backend } from '@rbmjs/core';
import { describe, expect, it } from 'vitest';
import { checkBackend } from '../src/check.js';

describe('the in-browser backend check (run here in Node)', () => {
  it('passes the js backend and gpu.js in cpu mode, every check', async () => {
    for (const be of [createJsBackend(), await createGpujsBackend({ mode: 'cpu' })]) {
      const results = await checkBackend(be);
      expect(results.map((r) => r.name)).toEqual([
        'matMul',
        'unary',
        'sum, logSumExp',
        'bernoulli',
        'training (CD-1, PCD-1)',
      ]);
      for (const r of results) expect(r.ok, `${be.name} ${r.name}: ${r.worst} ${r.detail}`).toBe(true);
      be.destroy();
    }
  });

  it('catches a backend whose sigmoid is off by 1e-5 relative, and one that gets long products wrong', async () => {
    const sloppy = (patch: (be: Backend) => Partial<Backend>): Backend => {
      const be = createJsBackend();
      return Object.assign(Object.create(be) as Backend, patch(be));
    };
    const sigmoid = sloppy((be) => ({
      unary(op, out, x) {
        be.unary(op, out, x);
        if (op === 'sigmoid') be.axpby(out, 1 + 1e-5, out, 0, out);
      },
    }));
    const [, unary] = await checkBackend(sigmoid);
    expect([unary!.ok, unary!.detail]).toEqual([false, 'sigmoid']);
    // Long products wrong (as with gpu.js's 1000-iteration cap on argument-bound loops): here the plain
    // 1500-term product uses zeros in place of its operands.
    const capped = sloppy((be) => ({
      matMul(out, a, b, options) {
        if (a.cols === 1500 && !options?.transposeA && !options?.transposeB) {
          const A = be.tensor(a.rows, 1500);
          const B = be.tensor(1500, b.cols);
          be.matMul(out, A, B, options);
          be.dispose(A);
          be.dispose(B);
          return;
        }
        be.matMul(out, a, b, options);
      },
    }));
    const [matMul] = await checkBackend(capped);
    expect([matMul!.ok, matMul!.detail]).toEqual([false, '3x1500x2']);
  });
});
