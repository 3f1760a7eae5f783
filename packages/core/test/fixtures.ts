import { type Backend, exactLogPartition, exactSamples, RBM, type RbmParameters } from '../src/index.js';

/**
 * The fixture of the annealing tests: a model on `backend`, `rows` exact samples of it (seeded by
 * `sampleSeed`) and its exact log Z.
 */
export async function sampledModel(backend: Backend, p: RbmParameters, rows: number, sampleSeed: number) {
  const model = RBM.fromParameters(backend, p);
  const data = await exactSamples(model, rows, { seed: sampleSeed });
  const logZ = (await exactLogPartition(model)).logZ;
  return { model, data, logZ };
}
