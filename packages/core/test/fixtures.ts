import { expect } from 'vitest';
import {
  type Backend,
  exactLogLikelihood,
  exactLogPartition,
  exactSamples,
  RBM,
  type RbmParameters,
  type SmcEstimate,
} from '../src/index.js';

/**
 * The fixture of the annealing tests: a model on `backend`, `rows` exact samples of it (seeded by
 * `sampleSeed`), its exact log Z and the samples' exact mean log-likelihood (`exact`).
 */
export async function sampledModel(backend: Backend, p: RbmParameters, rows: number, sampleSeed: number) {
  const model = RBM.fromParameters(backend, p);
  const data = await exactSamples(model, rows, { seed: sampleSeed });
  const logZ = (await exactLogPartition(model)).logZ;
  const exact = (await exactLogLikelihood(model, data, { logZ })).mean;
  return { model, data, logZ, exact };
}

/**
 * An SMC estimate that went from beta = 0 to 1 in increasing steps, with the exact log Z inside its interval
 * and within `tolerance` nats of it.
 */
export function expectSmcFinds(est: SmcEstimate, exact: number, tolerance: number): void {
  expect(est.betas[0]).toBe(0);
  expect(est.betas.at(-1)).toBe(1);
  for (let k = 1; k < est.betas.length; k++) expect(est.betas[k]).toBeGreaterThan(est.betas[k - 1]!);
  expect(est.logZLow).toBeLessThanOrEqual(exact);
  expect(est.logZHigh).toBeGreaterThanOrEqual(exact);
  expect(Math.abs(est.logZ - exact)).toBeLessThan(tolerance);
}
