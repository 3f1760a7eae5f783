import { annealedImportanceSampling, RBM } from '@rbmjs/core';
import { expect, it } from 'vitest';
import { createJsBackend } from '../src/index.js';

// With W = 0 and the base model's visible biases equal to the model's, every AIS log-weight is the same
// number, known exactly: sum_j softplus(b_j) - n_h log 2 (log Z - log Z_0). With 500 hidden biases of 10-46
// that is 13,482 nats, summed over Salakhutdinov & Murray's 14,500 steps. A float32 running sum rounds each
// addition near 13,000 (ulp 1e-3); before the sum moved to the host in float64 this model came out 7.3 nats
// high on this backend. Now it is within 2e-2: each step's per-unit increment, -log(1 - s (1 - exp(-d x))),
// rounds exp and log in float32 (about 3e-8 each), and with W = 0 every step repeats the same rounding
// (x never changes), so the 7.25 million terms add up to about 0.01 nats here; in a real run x changes
// every step and the roundings do not line up.
it('sums AIS log-weights in float64 on a float32 backend', async () => {
  const be = createJsBackend();
  expect(be.precision).toBe('float32');
  const nv = 20;
  const nh = 500;
  const a = Float32Array.from({ length: nv }, (_, i) => (i % 5) - 2);
  const b = Float32Array.from({ length: nh }, (_, j) => 10 + (j % 37));
  const model = RBM.fromParameters(be, {
    numVisible: nv,
    numHidden: nh,
    weights: new Float32Array(nv * nh),
    visibleBias: a,
    hiddenBias: b,
  });
  let exact = 0;
  for (const x of b) exact += x + Math.log1p(Math.exp(-x)) - Math.LN2;
  const est = await annealedImportanceSampling(model, { runs: 2, baseVisibleBias: a, seed: 1 });
  expect(est.steps).toBe(14500);
  for (const w of est.logWeights) expect(Math.abs(w - exact)).toBeLessThan(2e-2);
  expect(est.effectiveSampleSize).toBeCloseTo(2, 6);
  model.dispose();
}, 120_000);
