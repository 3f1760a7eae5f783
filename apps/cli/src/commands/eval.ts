import { exactLogLikelihood, exactLogPartition, pseudoLogLikelihood, RbmError } from '@rbmjs/core';
import type { Command } from 'commander';
import { addDataOptions, backendFor, type DataOptions, dataSpec, readModel } from '../common.js';
import { loadAll, openData } from '../data.js';
import { nonNegativeInt, oneOf, positiveInt } from '../options.js';
import { Output } from '../output.js';

interface EvalFlags extends DataOptions {
  exact?: boolean;
  maxStates: number;
  pl: 'full' | 'random-bit' | 'none';
  compare?: string;
  compareSplit: 'train' | 'test';
  compareLimit: number;
  seed: number;
  backend: string;
  json?: boolean;
  verbose?: boolean;
}

export function registerEval(program: Command): void {
  const cmd = program
    .command('eval')
    .description(
      'evaluate a model on data: reconstruction error, pseudo-likelihood, free energy; exact log Z and log-likelihood',
    )
    .argument('<model>', 'model file (safetensors)');
  addDataOptions(cmd)
    .option('--exact', 'log Z and the mean log-likelihood by enumerating the smaller layer')
    .option('--max-states <n>', 'refuse --exact above this many states', positiveInt, 2 ** 24)
    .option(
      '--pl <method>',
      'pseudo-likelihood: full (every bit), random-bit (scikit-learn), none',
      oneOf('full', 'random-bit', 'none'),
      'full',
    )
    .option(
      '--compare <name|file>',
      'data for the free-energy gap (e.g. the training data): gap = F(data) - F(compare)',
    )
    .option('--compare-split <split>', 'MNIST split of --compare', oneOf('train', 'test'), 'train')
    .option('--compare-limit <n>', 'examples of --compare to use', positiveInt, 1000)
    .option('--seed <n>', 'seed of sampled hidden states and random bits', nonNegativeInt, 1)
    .option('--backend <name>', 'auto, js, reference, gpujs[:mode], tfjs[:engine]', 'auto')
    .option('--json', 'print one JSON object')
    .option('--verbose', 'stack traces on errors')
    .action(async (modelPath: string, flags: EvalFlags) => evaluate(modelPath, flags));
}

async function evaluate(modelPath: string, flags: EvalFlags): Promise<void> {
  const out = new Output(Boolean(flags.json));
  const backend = await backendFor(flags.backend, out, Boolean(flags.verbose));
  const { model } = await readModel(modelPath, backend);
  const opened = openData(dataSpec(flags));
  if (opened.source.cols !== model.numVisible) {
    throw new RbmError(
      'SHAPE_MISMATCH',
      `${opened.source.source}: ${opened.source.cols} values per example, the model ${modelPath} has ${model.numVisible} visible units`,
    );
  }
  const data = await loadAll(opened.source);
  await opened.source.close?.();
  const result: Record<string, unknown> = {
    model: modelPath,
    data: opened.description,
    examples: data.rows,
    backend: backend.name,
  };
  out.info(`${modelPath} (${model.numVisible}-${model.numHidden}) on ${opened.description}, backend ${backend.name}`);

  // Exact first: a model too large is refused before any other work.
  if (flags.exact) {
    const z = await exactLogPartition(model, { maxStates: flags.maxStates });
    const ll = await exactLogLikelihood(model, data, { logZ: z.logZ });
    result.logZ = z.logZ;
    result.meanLogLikelihood = ll.mean;
    result.enumerated = z.enumerated;
    out.info(`log Z = ${z.logZ.toFixed(6)} (exact, ${z.states} ${z.enumerated} states)`);
    out.info(`mean log-likelihood = ${ll.mean.toFixed(6)} nats per example (exact)`);
  }

  const recon = await model.reconstruct(data, { seed: flags.seed });
  let err = 0;
  for (let i = 0; i < recon.length; i++) err += (data.data[i]! - recon[i]!) ** 2;
  result.reconstructionError = err / data.rows;
  out.info(`reconstruction error = ${(err / data.rows).toFixed(4)} (mean squared, summed over units)`);

  const F = await model.freeEnergy(data);
  const meanF = F.reduce((s, x) => s + x, 0) / F.length;
  result.meanFreeEnergy = meanF;
  out.info(`mean free energy = ${meanF.toFixed(4)}`);
  if (flags.compare) {
    const other = openData({
      ...dataSpec(flags),
      name: flags.compare,
      split: flags.compareSplit,
      limit: flags.compareLimit,
    });
    const ref = await loadAll(other.source);
    await other.source.close?.();
    const Fr = await model.freeEnergy(ref);
    const meanR = Fr.reduce((s, x) => s + x, 0) / Fr.length;
    result.freeEnergyGap = meanF - meanR;
    out.info(`free-energy gap = ${(meanF - meanR).toFixed(4)} (this data minus ${other.description})`);
  }

  if (flags.pl !== 'none') {
    const pl = await pseudoLogLikelihood(model, data, { method: flags.pl, seed: flags.seed });
    result.pseudoLogLikelihood = pl.mean;
    result.pseudoLikelihoodMethod = pl.method;
    out.info(`pseudo-log-likelihood = ${pl.mean.toFixed(4)} nats per example (${pl.method})`);
  }
  model.dispose();
  out.emit(result);
}
