import {
  type Backend,
  exactLogLikelihood,
  exactLogPartition,
  exactSamples,
  RBM,
  type RbmParameters,
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
