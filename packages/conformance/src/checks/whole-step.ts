import { annealedImportanceSampling, chunkSteps, RBM, raise } from '@rbmjs/core';
import type { Backend, FuseOptions, HostArray, Tensor } from '@rbmjs/core/backend';

import { type CheckContext, type ConformanceCheck, randomArray } from './context.js';
import { indexColumn } from './sparse.js';
import { TRAINING_RUNS, trainSideBySide } from './training.js';

/** The same backend with whole-step execution hidden: every op runs one by one. */
export function opByOp(backend: Backend): Backend {
  return new Proxy(backend, { get: (t, p, r) => (p === 'fuse' ? undefined : Reflect.get(t, p, r)) });
}

/** The same backend counting the fused units it is asked to run. */
export function countingFuse(backend: Backend): { backend: Backend; units: () => number } {
  let units = 0;
  const fuse = backend.fuse?.bind(backend);
  const wrapped = new Proxy(backend, {
    get: (t, p, r) =>
      p === 'fuse' && fuse
        ? (label: string, body: () => void, options?: FuseOptions) => {
            units++;
            // The options pass on: a unit's scratch (no outputs) is part of what is compared.
            fuse(label, body, options);
          }
        : Reflect.get(t, p, r),
  });
  return { backend: wrapped, units: () => units };
}

/** Skips unless the backend offers whole-step execution. */
function needsFuse(c: CheckContext): void {
  if (!c.backend.fuse) c.skip(`${c.backend.name} runs op by op (no fuse): nothing compiled to compare`);
}

export const wholeStepGroup = 'whole-step execution agrees with op-by-op execution on the same randomness';

export const wholeStepChecks: ConformanceCheck[] = [
  ...TRAINING_RUNS.map(([label, extra, hidden]) => ({
    group: wholeStepGroup,
    name: `${label}: compiled training steps`,
    async run(c: CheckContext) {
      needsFuse(c);
      const fused = countingFuse(c.backend);
      // 14 rows in batches of 4, 3 epochs: the 3 full batches of an epoch run as one unit where the trainer
      // puts several steps in one (chunkSteps), the short last batch alone.
      const chunk = chunkSteps(c.backend, 4);
      const units = 3 * (Math.ceil(3 / chunk) + 1);
      await trainSideBySide(
        c,
        label,
        extra,
        [fused.backend, opByOp(c.backend)],
        ', compiled vs op by op',
        () => c.that(fused.units() >= units, `${label}: ${fused.units()} fused units for 12 steps, expected ${units}`),
        hidden,
      );
    },
  })),
  {
    group: wholeStepGroup,
    name: 'every op alone as a compiled unit, with infinities, NaN, broadcasts, in-place writes',
    async run(c: CheckContext) {
      needsFuse(c);
      const be = c.backend;
      const plain = opByOp(be);
      const special = Float32Array.of(-100, -20, -1, -1e-8, 0, 1e-8, 1, 20, 100, Infinity, -Infinity, Number.NaN);
      const made: Tensor[] = [];
      const t = (rows: number, cols: number, data?: HostArray) => {
        const x = be.tensor(rows, cols, data);
        made.push(x);
        return x;
      };
      // Runs `op` (which writes `out`) once in a unit and once op by op, from the same inputs, and compares.
      const same = async (what: string, out: Tensor, op: (b: Backend) => void, inputs: Tensor[] = []) => {
        const saved = await Promise.all([out, ...inputs].map((x) => be.read(x)));
        be.fuse!(what, () => op(be));
        const compiled = await be.read(out);
        [out, ...inputs].forEach((x, i) => {
          be.write(x, saved[i]!);
        });
        op(plain);
        const expected = await be.read(out);
        // float32 kernels of two engines: transcendental functions and sums may differ in the last bits.
        c.close(`${what}, compiled vs op by op`, compiled, expected, (i) => 64 * c.eps * Math.abs(expected[i]!) + 1e-6);
      };
      try {
        const x = t(1, 12, special);
        const y = t(1, 12);
        for (const op of ['sigmoid', 'softplus', 'exp', 'log', 'square', 'sign', 'neg'] as const) {
          await same(`unary ${op}`, y, (b) => b.unary(op, y, x));
        }
        const a = t(3, 4, randomArray(12, 31));
        const out = t(3, 4);
        const bs: Array<[string, Tensor]> = [
          ['full', t(3, 4, randomArray(12, 32))],
          ['row', t(1, 4, randomArray(4, 33))],
          ['column', t(3, 1, randomArray(3, 34))],
          ['scalar', t(1, 1, Float32Array.of(0.7))],
        ];
        for (const op of ['add', 'sub', 'mul'] as const) {
          for (const [kind, b] of bs) await same(`binary ${op} (${kind})`, out, (k) => k.binary(op, out, a, b));
          // In place: out is a.
          await same(`binary ${op} in place`, out, (k) => {
            k.copy(out, a);
            k.binary(op, out, out, bs[1]![1]);
          });
        }
        const nan = t(
          3,
          4,
          Float32Array.from(randomArray(12, 35), (v, i) => (i === 5 ? Number.NaN : v)),
        );
        for (const [alpha, beta] of [
          [0.5, -2],
          [1, 1],
          [0, 1],
          [1, 0],
        ] as const) {
          await same(`axpby ${alpha}, ${beta} with a NaN`, out, (k) => k.axpby(out, alpha, a, beta, nan));
        }
        // y = x with a zero coefficient (AIS scales its inputs so): 0 * infinity is NaN, as op by op.
        const inf = t(
          3,
          4,
          Float32Array.from(randomArray(12, 39), (v, i) => [Infinity, -Infinity, Number.NaN][i] ?? v),
        );
        for (const [alpha, beta] of [
          [0.7, 0],
          [1, 0],
          [0, 1],
        ] as const) {
          await same(`axpby ${alpha}, ${beta} with y = x, infinities and a NaN`, out, (k) =>
            k.axpby(out, alpha, inf, beta, inf),
          );
        }
        const p = t(3, 4, randomArray(12, 36, 0, 1));
        const u = t(3, 4, randomArray(12, 37, 0, 1));
        await same('bernoulli', out, (k) => k.bernoulli(out, p, u));
        await same('fill', out, (k) => k.fill(out, 3.5));
        await same('copy', out, (k) => k.copy(out, p));
        const m = t(4, 5, randomArray(20, 38));
        const wide = t(3, 5);
        const tall = t(5, 3);
        for (const alpha of [1, 0.5]) {
          for (const beta of [0, 1, 0.25]) {
            await same(`matMul a b, alpha ${alpha}, beta ${beta}`, wide, (k) => k.matMul(wide, a, m, { alpha, beta }), [
              wide,
            ]);
            await same(`matMul a^T b^T, alpha ${alpha}, beta ${beta}`, tall, (k) =>
              k.matMul(tall, m, a, { transposeA: true, transposeB: true, alpha, beta }),
            );
          }
        }
        // Sums with a row of -Infinity, one with +Infinity and one with NaN.
        const rows = Float32Array.from(randomArray(20, 39));
        rows.fill(-Infinity, 0, 5);
        rows[7] = Infinity;
        rows[13] = Number.NaN;
        const r = t(4, 5, rows);
        for (const axis of [0, 1] as const) {
          const o = axis === 0 ? t(1, 5) : t(4, 1);
          await same(`sum over axis ${axis}`, o, (k) => k.sum(o, r, axis));
          await same(`logSumExp over axis ${axis}`, o, (k) => k.logSumExp(o, r, axis));
        }
        // Rows by index (with repeats) and added back by index: alone, and as a sparse batch's chain (rows
        // gathered, scaled, their products added back into a gradient cleared in the unit).
        const table = t(6, 4, randomArray(24, 40));
        const index = t(9, 1, indexColumn(6, 9, 41));
        const picked = t(9, 4, randomArray(36, 42));
        await same('gather', picked, (k) => k.gather(picked, table, index));
        await same('scatterAdd', table, (k) => k.scatterAdd(table, index, picked));
        const grad = t(6, 4);
        await same('gather, scale, scatterAdd into a cleared gradient', grad, (k) => {
          const g = k.tensor(9, 4);
          k.gather(g, table, index);
          k.binary('mul', g, g, picked);
          k.fill(grad, 0);
          k.scatterAdd(grad, index, g);
          k.axpby(grad, 0.25, grad, 1, table);
          k.dispose(g);
        });
        // A chain with a tensor allocated and freed inside the unit, and numbers that change between calls.
        for (const lr of [0.1, 0.3]) {
          await same(`a chain, lr ${lr}`, wide, (k) => {
            const h = k.tensor(3, 5);
            k.matMul(h, a, m, { alpha: lr });
            k.unary('sigmoid', h, h);
            k.axpby(wide, 0.9, wide, lr, h);
            k.dispose(h);
          });
        }
      } finally {
        for (const x of made) be.dispose(x);
      }
    },
  },
  {
    group: wholeStepGroup,
    name: 'Gibbs sweeps (RBM.sample), AIS and RAISE transitions',
    async run(c: CheckContext) {
      needsFuse(c);
      const init = { numVisible: 10, numHidden: 8, seed: 5, weightScale: 0.8 };
      const fused = countingFuse(c.backend);
      const m1 = RBM.create(fused.backend, init);
      const m2 = RBM.create(opByOp(c.backend), init);
      try {
        const options = { chains: 16, steps: 25, seed: 4 };
        const [s1, s2] = [await m1.sample(options), await m2.sample(options)];
        c.that(fused.units() >= 25, `${fused.units()} fused units for 25 sweeps`);
        c.close('sample probabilities, compiled vs op by op', s1.probabilities, s2.probabilities, () => 1e3 * c.eps);
        // A state flips only where a probability and its uniform agree to the last bits: allow 1 in 100.
        let flips = 0;
        for (let i = 0; i < s1.states.length; i++) if (s1.states[i] !== s2.states[i]) flips++;
        c.that(flips <= s1.states.length / 100, `${flips} of ${s1.states.length} sampled states differ`);
        const schedule = Float64Array.from({ length: 201 }, (_, i) => i / 200);
        const ais = { runs: 32, schedule, seed: 8 };
        const before = fused.units();
        const [a1, a2] = [await annealedImportanceSampling(m1, ais), await annealedImportanceSampling(m2, ais)];
        c.that(fused.units() - before >= 200, `${fused.units() - before} fused units for 200 AIS steps`);
        c.close('AIS log Z, compiled vs op by op', [a1.logZ], [a2.logZ], () => 1e3 * c.eps * Math.abs(a2.logZ) + 1e-5);
        // RAISE: reverse chains from data rows (its start sweep and steps are fused units too).
        const rows = { data: Float32Array.from(s1.states.subarray(0, 6 * 10)), rows: 6, cols: 10 };
        const raising = { chains: 3, schedule, seed: 9, sweeps: 2 };
        const beforeRaise = fused.units();
        const [r1, r2] = [await raise(m1, rows, raising), await raise(m2, rows, raising)];
        c.that(
          fused.units() - beforeRaise >= 202,
          `${fused.units() - beforeRaise} fused units for 2 sweeps and 200 RAISE steps`,
        );
        c.close(
          'RAISE log p(v) per example, compiled vs op by op',
          r1.perExample,
          r2.perExample,
          (i) => 1e3 * c.eps * Math.abs(r2.perExample[i]!) + 1e-5,
        );
      } finally {
        m1.dispose();
        m2.dispose();
      }
    },
  },
];
