import { type Backend, createReferenceBackend } from '@rbmjs/core/backend';
import { describe, expect, it } from 'vitest';
import { CHECKS, runChecks, TRAINING_RUNS } from '../src/checks/index.js';

/** A backend that is the reference except for what `patch` replaces. */
function sloppy(patch: (be: Backend) => Partial<Backend>): Backend {
  const be = createReferenceBackend();
  return Object.assign(Object.create(be) as Backend, patch(be));
}

const only = (...names: RegExp[]) => CHECKS.filter((c) => names.some((n) => n.test(c.name)));

describe('the checks as data (the runner a browser uses)', () => {
  it('pass the reference backend, every check, with its name, group and time', async () => {
    const results = await runChecks(createReferenceBackend());
    expect(results.map((r) => r.name)).toEqual(CHECKS.map((c) => c.name));
    for (const r of results) {
      // The reference runs op by op: the whole-step checks have nothing to compare, and say so.
      if (r.group.startsWith('whole-step')) {
        expect(r.status).toBe('skip');
        expect(r.detail).toMatch(/runs op by op \(no fuse\)/);
        continue;
      }
      expect(r.status, `${r.name}: ${r.detail}`).toBe('pass');
      expect(r.worst).toBeLessThanOrEqual(1);
      expect(r.seconds).toBeGreaterThanOrEqual(0);
    }
  }, 120_000);

  it('catch a sigmoid off by 1e-5 relative, and long products that are wrong', async () => {
    const sigmoid = sloppy((be) => ({
      unary(op, out, x) {
        be.unary(op, out, x);
        if (op === 'sigmoid') be.axpby(out, 1 + 1e-5, out, 0, out);
      },
    }));
    const [unary] = await runChecks(sigmoid, { checks: only(/^unary ops/) });
    expect(unary!.status).toBe('fail');
    expect(unary!.detail).toMatch(/^unary sigmoid on 1x1: element 0 is/);
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
    const [matMul] = await runChecks(capped, { checks: only(/^matMul over shapes/) });
    expect(matMul!.status).toBe('fail');
    expect(matMul!.detail).toMatch(/^matMul 3x1500x2 tA=false tB=false/);
  }, 60_000);

  it('catch a scatterAdd whose repeated indices overwrite, and a gather that reads the next row', async () => {
    const data = (t: unknown) => (t as { data: Float64Array }).data;
    // The last write of each row wins (a GPU scatter without atomics): right wherever no index repeats.
    const overwrite = sloppy(() => ({
      scatterAdd(out, index, x) {
        const [O, I, X] = [data(out), data(index), data(x)];
        const last = new Map<number, number>();
        for (let i = 0; i < I.length; i++) last.set(I[i]!, i);
        for (const [r, i] of last) for (let j = 0; j < out.cols; j++) O[r * out.cols + j]! += X[i * x.cols + j]!;
      },
    }));
    const [scatter] = await runChecks(overwrite, { checks: only(/^scatterAdd: rows added/) });
    expect(scatter!.status).toBe('fail');
    expect(scatter!.detail).toMatch(/^scatterAdd 4 rows into 1x5: element 0 is/);
    const nextRow = sloppy((be) => ({
      gather(out, x, index) {
        const shifted = be.tensor(
          index.rows,
          1,
          data(index).map((r) => Math.min(x.rows - 1, r + 1)),
        );
        be.gather(out, x, shifted);
        be.dispose(shifted);
      },
    }));
    const [gather] = await runChecks(nextRow, { checks: only(/^gather: rows by index/) });
    expect(gather!.status).toBe('fail');
    expect(gather!.detail).toMatch(/^gather 5 of the rows of 7x3: element 0 is/);
  });

  it('report what they cannot run, with the reason, instead of dropping it', async () => {
    const [matMul] = await runChecks(createReferenceBackend(), {
      checks: only(/^matMul over shapes/),
      maxInner: 1000,
    });
    expect(matMul!.status).toBe('pass');
    expect(matMul!.detail).toMatch(/skipped: 3x1500x2: inner dimension 1500 above maxInner 1000; 1x1030x9/);
    const skipping = {
      group: 'test',
      name: 'needs a GPU',
      run: (c: { skip(reason: string): never }) => c.skip('no GPU'),
    };
    const [r] = await runChecks(createReferenceBackend(), { checks: [skipping] });
    expect([r!.status, r!.detail]).toEqual(['skip', 'no GPU']);
  });

  it('compare compiled units with op-by-op execution: pass a faithful fuse, catch a sloppy one', async () => {
    const wholeStep = CHECKS.filter((c) => c.group.startsWith('whole-step'));
    // Per-op, every training run, Gibbs and AIS, the collaborative-filtering runs (dense and sparse) and the DBM's.
    expect(wholeStep.length).toBe(TRAINING_RUNS.length + 5);
    // A fuse that runs the body as it is: every whole-step check passes.
    const faithful = sloppy(() => ({
      fuse(_label: string, body: () => void) {
        body();
      },
    }));
    for (const r of await runChecks(faithful, { checks: wholeStep }))
      expect(r.status, `${r.name}: ${r.detail}`).toBe('pass');
    // A "compiled" unit whose sigmoid is off by 1e-4 relative (a fast approximation, say): caught in
    // training and in sampling.
    let inUnit = false;
    const approximate = sloppy((be) => ({
      fuse(_label: string, body: () => void) {
        inUnit = true;
        try {
          body();
        } finally {
          inUnit = false;
        }
      },
      unary(op, out, x) {
        be.unary(op, out, x);
        if (inUnit && op === 'sigmoid') be.axpby(out, 1 + 1e-4, out, 0, out);
      },
    }));
    const results = await runChecks(approximate, { checks: wholeStep });
    // Every check but the discriminative run, which draws no samples: a 1e-4 error in sigmoid moves its
    // parameters by about lr * 1e-4 per step, inside the training tolerance (1e3 eps); sampling runs flip
    // Bernoulli draws and diverge. The NReLU and Gaussian hidden-unit runs use no sigmoid in their hidden
    // layer: only the visible draws see the error, too few in 12 steps to flip one, so they pass too.
    const caught = wholeStep
      .map((c) => c.name)
      .filter((n) => !n.startsWith('discriminative') && !/NReLU hidden|Gaussian hidden/.test(n));
    expect(results.filter((r) => r.status === 'fail').map((r) => r.name)).toEqual(caught);
  }, 120_000);
});
