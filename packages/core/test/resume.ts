import { expect } from 'vitest';
import {
  createReferenceBackend,
  type Dataset,
  RBM,
  Trainer,
  type TrainerState,
  type TrainOptions,
  train,
} from '../src/index.js';

/**
 * Trains a 9-4 model on `data` straight through, and again interrupted after one epoch and resumed from
 * exported state; the weights must agree (within float32 rounding of the host state, since the reference
 * backend is float64). Returns the exported state for further checks.
 */
export async function expectExactResume(
  data: Dataset,
  options: TrainOptions,
  visibleUnits: 'bernoulli' | 'gaussian' = 'bernoulli',
): Promise<TrainerState> {
  const backend = createReferenceBackend();
  const init = { numVisible: data.cols, numHidden: 4, seed: 1, data, visibleUnits };
  const straight = RBM.create(backend, init);
  await train(straight, data, options);
  const first = RBM.create(backend, init);
  const t1 = new Trainer(first, data, options);
  await t1.trainEpoch();
  const state = await t1.exportState();
  t1.dispose();
  const resumed = RBM.fromParameters(backend, await first.parameters());
  const t2 = new Trainer(resumed, data, options);
  t2.importState(state);
  await t2.run();
  t2.dispose();
  const a = await backend.read(resumed.W);
  const b = await backend.read(straight.W);
  expect(Array.from(a).every((x, i) => Math.abs(x - b[i]!) < 1e-6)).toBe(true);
  if (straight.z) {
    const za = await backend.read(resumed.z!);
    const zb = await backend.read(straight.z);
    expect(Array.from(za).every((x, i) => Math.abs(x - zb[i]!) < 1e-6)).toBe(true);
  }
  return state;
}
