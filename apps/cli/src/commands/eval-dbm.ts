import {
  aisWarnings,
  type Dataset,
  DBM,
  type DbmFile,
  dbmAnnealedImportanceSampling,
  dbmRaise,
  dbmSequentialMonteCarlo,
  dbmVariationalBound,
  exactDbmLogLikelihood,
  exactDbmLogPartition,
  MAX_DBM_ENUMERABLE,
  RbmError,
} from '@rbmjs/core';
import { backendFor, type DataCommandFlags, dataSpec, scheduleWithinBudget } from '../common.js';
import { loadAll, openData } from '../data.js';
import { UsageError } from '../errors.js';
import type { Output } from '../output.js';
import { annealingOf } from './eval-bounds.js';

export interface DbmEvalFlags extends DataCommandFlags {
  exact?: boolean;
  bounds?: boolean;
  raiseChains: number;
  raiseSweeps: number;
  raisePosteriorSteps?: number;
  raiseSchedule?: string;
  aisBase: 'data' | 'model' | 'uniform';
  aisRuns?: number;
  aisSchedule: string;
  aisResample: number;
  aisSweeps: number;
  meanField?: number;
  seed: number;
}

/**
 * The flags of `rbm eval` that are for one RBM only (a DBM takes the data flags, --exact, --ais-runs,
 * --ais-schedule, --ais-sweeps, --ais-resample, --ais-base, --mean-field, --bounds, --raise-chains, --raise-sweeps,
 * --raise-posterior-steps and --raise-schedule).
 */
const RBM_ONLY_FLAGS = [
  'raiseStuckChains',
  'raiseStuckGap',
  'width',
  'budget',
  'aisReverse',
  'aisReverseStart',
  'aisReverseSweeps',
  'aisTemperatures',
  'maxStates',
  'pl',
  'compare',
  'compareSplit',
  'compareLimit',
  'prediction',
];

/** Said with every DBM bound: what it bounds, and on what it rests (`method`: AIS or SMC). */
const boundNote = (method: string) =>
  `the mean-field (variational) lower bound on log p(v) with ${method}'s log Z: a lower bound only where ${method} does not ` +
  `underestimate log Z beyond its interval (forward ${method} is a stochastic lower bound of log Z, so an unconverged run ` +
  "makes this figure too high); 'lower' uses the top of log Z's +-3 sigma interval";

/** Said with RAISE's bound on a DBM. */
const RAISE_NOTE =
  'RAISE (Burda et al. 2015), the even hidden layers annealed from the mean-field posterior to p(h | v): a stochastic lower bound ' +
  "on the annealing model's mean log q(v) that does not rest on log Z; 'lower' is the bottom of its +-3 sigma " +
  'interval. No upper bound: that would need one on a sum over every hidden configuration';

/** Gibbs chains and sweeps of `--ais-base model` for a DBM. */
const MODEL_BASE = { chains: 1000, sweeps: 1000 };

/**
 * `--ais-base` for a DBM: the data whose base rates (v) and mean field (the even hidden layers) set the base
 * model of AIS and RAISE: the evaluated data (S&H's choice), the model's own samples, or none (uniform).
 */
async function baseData(
  model: DBM,
  data: Dataset,
  flags: DbmEvalFlags,
  out: Output,
): Promise<{ data?: Dataset; description: string }> {
  if (flags.aisBase === 'uniform') return { description: 'the uniform distribution' };
  if (flags.aisBase === 'data') return { data, description: "the data's base rates and mean field" };
  const s = await model.sample({
    chains: MODEL_BASE.chains,
    steps: MODEL_BASE.sweeps,
    seed: flags.seed + 3,
    onProgress: out.work('samples of the model for the base rates', 'sweeps'),
  });
  return {
    data: { data: Float32Array.from(s.states), rows: s.rows, cols: model.numVisible },
    description: `the base rates and mean field of the model's samples (${MODEL_BASE.chains} Gibbs chains, ${MODEL_BASE.sweeps} sweeps)`,
  };
}

/** RAISE's chains per example on a DBM when --raise-chains is not given: each also draws the hidden layers. */
const DBM_RAISE_CHAINS = 4;

/**
 * `rbm eval DBM`: log Z by AIS with the odd layers summed out, and the mean-field lower bound on the mean
 * log p(v) of the data (Salakhutdinov & Hinton 2009); with --bounds, RAISE's conservative estimate below it;
 * with --exact, on a DBM whose even layers are few enough to enumerate, the exact values beside them.
 */
export async function evaluateDbm(
  modelPath: string,
  file: DbmFile,
  flags: DbmEvalFlags,
  given: (flag: string) => boolean,
  out: Output,
): Promise<void> {
  for (const name of RBM_ONLY_FLAGS)
    if (given(name))
      throw new UsageError(
        `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} is for one RBM; ${modelPath} is a deep Boltzmann machine (rbm eval gives its AIS log Z and mean-field bound, and with --bounds RAISE's)`,
      );
  for (const name of ['raiseChains', 'raiseSweeps', 'raisePosteriorSteps', 'raiseSchedule'])
    if (given(name) && !flags.bounds)
      throw new UsageError(
        `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} sets RAISE, which runs with --bounds`,
      );
  const p = file.parameters;
  const evenUnits = p.sizes.filter((_, l) => l % 2 === 0).reduce((t, n) => t + n, 0);
  if (flags.exact && evenUnits > MAX_DBM_ENUMERABLE)
    throw new UsageError(
      `--exact: a ${p.sizes.join('-')} DBM has ${evenUnits} units in its even layers, more than the ${MAX_DBM_ENUMERABLE} that can be enumerated`,
    );
  if (given('aisResample') && !flags.aisSchedule.startsWith('adaptive'))
    throw new UsageError('--ais-resample needs --ais-schedule adaptive; without it, it would do nothing');
  const annealing = annealingOf(flags);
  const raiseSchedule =
    flags.raiseSchedule === undefined
      ? undefined
      : scheduleWithinBudget(flags.raiseSchedule, '--raise-schedule', false);
  const opened = openData(dataSpec(flags));
  let data: Awaited<ReturnType<typeof loadAll>>;
  try {
    if (opened.source.cols !== p.sizes[0])
      throw new RbmError(
        'SHAPE_MISMATCH',
        `${opened.source.source}: ${opened.source.cols} values per example, the model ${modelPath} has ${p.sizes[0]} visible units`,
      );
    data = await loadAll(opened.source);
  } finally {
    await opened.source.close?.();
  }
  const backend = await backendFor(flags.backend, out, Boolean(flags.verbose));
  const model = DBM.fromParameters(backend, p);
  const runs = flags.aisRuns ?? 100;
  const each = flags.aisSweeps > 1 ? `, ${flags.aisSweeps} Gibbs sweeps at each temperature` : '';
  const iterations = flags.meanField ?? 30;
  out.info(
    `${opened.description}; deep Boltzmann machine ${p.sizes.join('-')}, backend ${backend.name}: ${annealing.smc ? 'SMC' : 'AIS'} with ${runs} runs (${flags.aisSchedule}${each}), ${iterations} mean-field iterations`,
  );
  const t0 = performance.now();
  try {
    const base = await baseData(model, data, flags, out);
    out.info(`base model: ${base.description}`);
    const from = base.data ? { baseData: base.data } : {};
    const smc = annealing.smc
      ? await dbmSequentialMonteCarlo(model, {
          runs,
          cess: annealing.smc.cess,
          resample: annealing.smc.resample,
          sweeps: flags.aisSweeps,
          seed: flags.seed,
          ...from,
          onProgress: out.work('SMC (thousandths of the way to beta = 1)', 'thousandths', { paced: false }),
        })
      : undefined;
    const ais =
      smc ??
      (await dbmAnnealedImportanceSampling(model, {
        runs,
        schedule: annealing.schedule!,
        stepSweeps: flags.aisSweeps,
        seed: flags.seed,
        ...from,
        onProgress: out.work('AIS', 'steps'),
      }));
    // RAISE anneals on its own schedule where given, else on the temperatures SMC chose or the fixed schedule.
    const schedule = raiseSchedule ?? (smc ? smc.betas : annealing.schedule!);
    const method = smc ? 'SMC' : 'AIS';
    const b = await dbmVariationalBound(model, data, { ais, iterations });
    const seconds = (performance.now() - t0) / 1000;
    const warnings = aisWarnings(ais);
    const result: Record<string, unknown> = {
      model: modelPath,
      kind: 'dbm',
      sizes: p.sizes,
      examples: data.rows,
      logZ: ais.logZ,
      logZInterval: [ais.logZLow, ais.logZHigh],
      effectiveSampleSize: ais.effectiveSampleSize,
      runs,
      steps: ais.steps,
      stepSweeps: flags.aisSweeps,
      ...(smc ? { method: 'smc', resamplings: smc.resamplings, ancestors: smc.ancestors } : { method: 'ais' }),
      meanFieldIterations: iterations,
      base: base.description,
      bounds: {
        lower: b.lower,
        lowerEstimate: b.lowerEstimate,
        upper: null,
        lowerMethod: `mean-field bound with ${method} log Z`,
        note: boundNote(method),
      },
      seconds,
      warnings,
    };
    const low = Number.isFinite(ais.logZLow) ? ais.logZLow.toFixed(3) : 'no lower end';
    out.info(
      `log Z = ${ais.logZ.toFixed(3)} [${low}, ${ais.logZHigh.toFixed(3)}] (${method}, ${ais.steps} steps${smc ? `, ${smc.resamplings} resamplings, ${smc.ancestors} ancestors left` : ''}, ESS ${ais.effectiveSampleSize.toFixed(1)} of ${runs})`,
    );
    out.info(
      `mean log p(v) >= ${b.lower.toFixed(3)} (estimate of the bound ${b.lowerEstimate.toFixed(3)}) over ${data.rows} examples, ${seconds.toFixed(1)} s`,
    );
    out.info(`  ${boundNote(method)}`);
    if (flags.exact) {
      const logZ = exactDbmLogPartition(p);
      const ll = exactDbmLogLikelihood(p, data, logZ);
      const mean = ll.reduce((t, x) => t + x, 0) / ll.length;
      result.exact = { logZ, logLikelihood: mean };
      out.info(`exact: log Z = ${logZ.toFixed(4)}, mean log p(v) = ${mean.toFixed(4)}`);
    }
    if (flags.bounds) {
      const chains = given('raiseChains') ? flags.raiseChains : DBM_RAISE_CHAINS;
      const t1 = performance.now();
      const raise = await dbmRaise(model, data, {
        chains,
        sweeps: flags.raiseSweeps,
        stepSweeps: flags.aisSweeps,
        ...(flags.raisePosteriorSteps !== undefined ? { posteriorSteps: flags.raisePosteriorSteps } : {}),
        schedule,
        seed: flags.seed,
        ...from,
        iterations,
        onProgress: out.work('RAISE', 'steps'),
      });
      const raiseSeconds = (performance.now() - t1) / 1000;
      result.bounds = {
        lower: raise.low,
        lowerEstimate: raise.mean,
        lowerInterval: [raise.low, raise.high],
        upper: null,
        lowerMethod: `RAISE, ${chains} chain(s) per example, ${raise.posteriorSteps} posterior steps, ${raise.sweeps} sweeps at beta = 1, ${raise.steps} steps${each}`,
        raiseEffectiveSampleSize: raise.effectiveSampleSize,
        raiseSeconds,
        meanField: { lower: b.lower, lowerEstimate: b.lowerEstimate },
        note: RAISE_NOTE,
      };
      result.seconds = (performance.now() - t0) / 1000;
      out.info(
        `mean log p(v) >= ${raise.low.toFixed(3)} (RAISE estimate ${raise.mean.toFixed(3)} [${raise.low.toFixed(3)}, ${raise.high.toFixed(3)}], ${chains} chain(s) per example, ESS ${raise.effectiveSampleSize.toFixed(1)}, ${raiseSeconds.toFixed(1)} s)`,
      );
      out.info(`  ${RAISE_NOTE}`);
      const gap = b.lowerEstimate - raise.mean;
      if (gap > 1)
        warnings.push(
          `RAISE's estimate is ${gap.toFixed(2)} nats below the mean-field figure with ${method}'s log Z: one of them has not converged (more --raise-chains or a longer --ais-schedule for RAISE; more --ais-runs for ${method}, whose log Z errs low)`,
        );
    }
    for (const w of warnings) out.warn(w);
    out.emit(result);
  } finally {
    model.dispose();
  }
}
