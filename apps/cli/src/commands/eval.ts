import type { PredictionMethod } from '@rbmjs/core';
import {
  type AisEstimate,
  aisWarnings,
  annealedImportanceSampling,
  checkMemory,
  type Dataset,
  DEFAULT_RAISE_ROWS_PER_PASS,
  DEFAULT_RAISE_SWEEPS,
  exactLogLikelihood,
  exactLogPartition,
  exactSamples,
  type ModelFile,
  modelMemory,
  pseudoLogLikelihood,
  RBM,
  RbmError,
  TooLargeError,
  temperedSample,
} from '@rbmjs/core';
import { readAnyModelFile } from '@rbmjs/core/node';
import type { Command } from 'commander';
import { addCommonOptions, backendFor, type DataCommandFlags, dataSpec, modelCommand } from '../common.js';
import { loadAll, type OpenedData, openData } from '../data.js';
import { UsageError } from '../errors.js';
import { rbmOnly } from '../files.js';
import { integerAtLeast, nonNegativeInt, number, oneOf, positiveInt, seconds } from '../options.js';
import { Output } from '../output.js';
import {
  type AnnealingFlags,
  annealingOf,
  baseFor,
  baseOptions,
  bothBounds,
  forwardEstimate,
  reverseSchedule,
} from './eval-bounds.js';
import { evaluateDbm } from './eval-dbm.js';
import { figuresOf, labelHint, meanFreeEnergy, refuseIdleEvalFlags } from './eval-figures.js';
import { evaluateRatings, isCollaborative, predictionOption } from './recommend.js';

interface EvalFlags extends DataCommandFlags, AnnealingFlags {
  ratings?: string;
  prediction: PredictionMethod;
  exact?: boolean;
  ais?: boolean;
  bounds?: boolean;
  raiseChains: number;
  raiseSweeps: number;
  raiseStuckChains?: number;
  raiseStuckGap: number;
  aisRuns?: number;
  aisSchedule: string;
  aisReverse?: boolean;
  aisReverseStart: ReverseStart;
  aisReverseSweeps: number;
  aisTemperatures: number;
  maxStates: number;
  pl: 'full' | 'random-bit' | 'none';
  compare?: string;
  compareSplit: 'train' | 'test';
  compareLimit: number;
  seed: number;
}

export function registerEval(program: Command): void {
  const what =
    'evaluate a model on data: reconstruction error, pseudo-likelihood, free energy; exact log Z and log-likelihood';
  const cmd = modelCommand(program, 'eval', what, { data: true })
    .option('--exact', 'log Z and the mean log-likelihood by enumerating the smaller layer')
    .option('--max-states <n>', 'refuse --exact above this many states', positiveInt, 2 ** 24)
    .option('--ais', 'estimate log Z and the mean log-likelihood by annealed importance sampling (S&M 2008)')
    .option(
      '--bounds',
      'both bounds on the mean log-likelihood: RAISE (Burda et al. 2015) below, forward AIS above, same schedule',
    )
    .option('--raise-chains <n>', 'RAISE: reverse chains per example (--bounds)', positiveInt, 1)
    .option(
      '--raise-sweeps <n>',
      'RAISE: Gibbs sweeps at beta = 1 from each example before annealing down (--bounds)',
      positiveInt,
      DEFAULT_RAISE_SWEEPS,
    )
    .option(
      '--raise-stuck-chains <n>',
      'RAISE: chains for the examples whose estimate lags --raise-stuck-gap nats below the median in a one-chain ' +
        'pilot (later rounds: in the last round); default --raise-chains, no pilot (--bounds)',
      positiveInt,
    )
    .option(
      '--raise-stuck-gap <nats>',
      'RAISE: how far below the median an example must lag to get --raise-stuck-chains',
      number(0, Number.POSITIVE_INFINITY, { inclusiveMin: false }),
      3,
    )
    .option('--ais-runs <n>', 'parallel AIS runs (default 100; 1,000 with --bounds)', positiveInt)
    .option(
      '--ais-schedule <s>',
      'sm (0-0.5 by 1e-3, 0.5-0.9 by 1e-4, 0.9-1 by 1e-5: 14,500 steps), sm:F (F times as many steps in each piece), ' +
        'linear:N, or adaptive[:C] (sequential Monte Carlo: each step at a conditional ESS of C, default 0.99, ' +
        'runs resampled when their ESS falls below --ais-resample)',
      'sm',
    )
    .option(
      '--ais-base <from>',
      "the annealing's base model: base rates of the data evaluated (S&M 2008), of the model's own samples " +
        '(1,000 Gibbs chains of 1,000 sweeps), or uniform',
      oneOf('data', 'model', 'uniform'),
      'data',
    )
    .option('--ais-sweeps <n>', 'Gibbs sweeps at each inverse temperature (AIS, SMC and RAISE)', positiveInt, 1)
    .option(
      '--ais-resample <f>',
      'adaptive schedule: resample the runs when their ESS falls below this fraction of them',
      number(0, 1, { inclusiveMax: false }),
      0.5,
    )
    .option(
      '--width <nats>',
      '--bounds: keep going, in rounds of twice the sweeps, until the bracket is this narrow or --budget is spent',
      number(0, Number.POSITIVE_INFINITY, { inclusiveMin: false }),
      1,
    )
    .option(
      '--budget <time>',
      '--bounds: the time the rounds may take (90s, 30m, 2h); a round starts only if it fits (taken to cost twice the last), the first always runs to its end',
      seconds,
      1800,
    )
    .option('--ais-reverse', 'also run reverse AIS, from samples of the model: an estimate from the other side')
    .option(
      '--ais-reverse-start <how>',
      'where reverse AIS starts: exact (samples by enumeration, 2^20 states at most), pt (parallel tempering ' +
        'chains from the data), gibbs (Gibbs chains from the data), auto (exact where possible, else pt)',
      oneOf('auto', 'exact', 'pt', 'gibbs'),
      'auto',
    )
    .option('--ais-reverse-sweeps <n>', 'sweeps of the pt or gibbs chains that start reverse AIS', positiveInt, 1000)
    .option(
      '--ais-temperatures <n>',
      'replicas of the pt chains, inverse temperatures linear from 1 down to 0.1',
      integerAtLeast(2),
      20,
    )
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
    .option(
      '--mean-field <n>',
      'a deep Boltzmann machine: mean-field iterations of its bound (default 30)',
      nonNegativeInt,
    )
    .option(
      '--raise-posterior-steps <n>',
      'a deep Boltzmann machine with --bounds: RAISE steps from the mean-field posterior to p(h | v), v held (default 500)',
      positiveInt,
    )
    .option(
      '--raise-schedule <s>',
      "a deep Boltzmann machine with --bounds: RAISE's own schedule (sm, sm:F, linear:N), where it needs more steps " +
        "than --ais-schedule's (default: the same, or SMC's temperatures with adaptive)",
    )
    .option('--ratings <file>', 'a collaborative-filtering model: the ratings to predict (RMSE, MAE)')
    .addOption(predictionOption());
  addCommonOptions(cmd, { backend: true }).action(async (modelPath: string, flags: EvalFlags, command: Command) => {
    if (await isCollaborative(modelPath)) {
      const given = command.options.filter(
        (o) =>
          command.getOptionValueSource(o.attributeName()) === 'cli' &&
          !['ratings', 'prediction', 'backend', 'json', 'verbose', 'maxMemory'].includes(o.attributeName()),
      );
      if (given.length > 0)
        throw new UsageError(
          `${given[0]!.long} does not apply to a collaborative-filtering model (rbm eval MODEL --ratings FILE)`,
        );
      return evaluateRatings(modelPath, flags);
    }
    if (flags.ratings !== undefined)
      throw new UsageError(`--ratings scores a collaborative-filtering model; ${modelPath} is not one`);
    const given = (name: string) => command.getOptionValueSource(name) === 'cli';
    const file = await readAnyModelFile(modelPath);
    if (file.kind === 'dbm') return evaluateDbm(modelPath, file, flags, given, new Output(Boolean(flags.json)));
    for (const [name, flag] of [
      ['meanField', '--mean-field'],
      ['raisePosteriorSteps', '--raise-posterior-steps'],
      ['raiseSchedule', '--raise-schedule'],
    ])
      if (given(name)) throw new UsageError(`${flag} is for a deep Boltzmann machine; ${modelPath} is not one`);
    refuseIdleEvalFlags(flags, given);
    if (flags.raiseStuckChains !== undefined && flags.raiseStuckChains < flags.raiseChains)
      throw new UsageError(
        `--raise-stuck-chains ${flags.raiseStuckChains} is below --raise-chains ${flags.raiseChains}: the stuck examples get at least as many chains as the rest`,
      );
    return evaluate(modelPath, rbmOnly(file, modelPath, 'eval'), flags, given('pl'));
  });
}

async function evaluate(modelPath: string, file: ModelFile, flags: EvalFlags, plGiven = false): Promise<void> {
  const out = new Output(Boolean(flags.json));
  // Everything that can be checked is checked before any work: the model's kind, the data's and --compare's
  // widths, the figures the model has, the memory the runs ask for.
  const p = file.parameters;
  let pl = flags.pl;
  if (pl !== 'none' && (p.softmaxGroups || p.visibleUnits === 'gaussian')) {
    const why = p.softmaxGroups
      ? 'pseudo-likelihood by bit flips is undefined for softmax units (a classifier: rbm predict gives its accuracy)'
      : 'pseudo-likelihood by bit flips is for binary units';
    if (plGiven) throw new UsageError(`--pl ${pl}: ${why}; use --pl none`);
    if (p.softmaxGroups) out.info(`no pseudo-likelihood: ${why}`);
    pl = 'none';
  }
  // Hidden units other than Bernoulli lack some figures: asked for by flag, refused now; else skipped.
  const { skipped, pl: plLeft, hasFreeEnergy } = figuresOf(p, flags, modelPath, pl, plGiven);
  pl = plLeft;
  const opened = openData(dataSpec(flags));
  if (opened.source.cols !== p.numVisible) {
    await opened.source.close?.();
    throw new RbmError(
      'SHAPE_MISMATCH',
      `${opened.source.source}: ${opened.source.cols} values per example, the model ${modelPath} has ${p.numVisible} visible units${labelHint(p)}`,
    );
  }
  let compare: OpenedData | undefined;
  if (flags.compare) {
    compare = openData({
      ...dataSpec(flags),
      name: flags.compare,
      split: flags.compareSplit,
      limit: flags.compareLimit,
    });
    if (compare.source.cols !== p.numVisible) {
      await Promise.all([compare.source.close?.(), opened.source.close?.()]);
      throw new RbmError(
        'SHAPE_MISMATCH',
        `--compare ${compare.source.source}: ${compare.source.cols} values per example, the model ${modelPath} has ${p.numVisible} visible units`,
      );
    }
  }
  // Enumeration runs over the states of the smaller layer: 2^bits of them.
  const bits = Math.min(p.numVisible, p.numHidden);
  let reverseHow: ReverseHow | undefined;
  const aisRuns = flags.aisRuns ?? (flags.bounds ? 1000 : 100);
  if (flags.bounds && p.visibleUnits === 'gaussian')
    throw new UsageError('--bounds: RAISE is checked for binary and softmax visible units only (use --ais here)');
  if (flags.ais || flags.bounds) {
    // RAISE anneals up to DEFAULT_RAISE_ROWS_PER_PASS rows at once: the rows AIS's runs take, or more.
    const rows = Math.max(aisRuns, flags.bounds ? DEFAULT_RAISE_ROWS_PER_PASS : 0);
    const runs = modelMemory(p.numVisible, p.numHidden, 2 * rows);
    checkMemory(`--ais-runs ${aisRuns}`, runs.bytes, runs.detail);
    annealingOf(flags);
  }
  if (flags.ais) {
    if (flags.aisReverse) {
      const enumerable = 2 ** bits <= MAX_EXACT_START_STATES;
      reverseHow = flags.aisReverseStart === 'auto' ? (enumerable ? 'exact' : 'pt') : flags.aisReverseStart;
      if (reverseHow === 'exact' && !enumerable)
        throw new UsageError(
          `--ais-reverse-start exact: ${p.numVisible}-${p.numHidden} has 2^${bits} states to enumerate, more than 2^20; use pt`,
        );
      if (reverseHow === 'pt') {
        const pt = modelMemory(p.numVisible, p.numHidden, aisRuns * flags.aisTemperatures);
        checkMemory(`--ais-runs ${aisRuns} x --ais-temperatures ${flags.aisTemperatures}`, pt.bytes, pt.detail);
      }
    }
  }
  if (flags.exact && 2 ** bits > flags.maxStates)
    throw new TooLargeError(
      `--exact: a ${p.numVisible}-${p.numHidden} model needs 2^${bits} states, more than --max-states ${flags.maxStates}; use --ais`,
    );
  if (flags.exact && 2 ** bits > 2 ** 24)
    out.info(`--exact: enumerating 2^${bits} states; this can take long (Ctrl-C stops it)`);
  const units = p.visibleUnits === 'gaussian' ? 'gaussian' : 'bernoulli';
  const backend = await backendFor(flags.backend, out, Boolean(flags.verbose));
  const model = RBM.fromParameters(backend, p);
  const data = await loadAll(opened.source, units);
  await opened.source.close?.();
  // A result that is NaN or infinite is an error, never a figure printed with exit 0.
  let largest: number | undefined;
  const finite = async (x: number, what: string): Promise<number> => {
    if (Number.isFinite(x)) return x;
    if (largest === undefined) {
      const p = await model.parameters();
      largest = 0;
      for (const arr of [p.weights, p.visibleBias, p.hiddenBias])
        for (const v of arr) largest = Math.max(largest, Math.abs(v));
    }
    throw new RbmError(
      'DIVERGED',
      `${what} came out ${x}: ${modelPath} cannot be evaluated in ${backend.precision} ` +
        `(its largest |parameter| is ${largest.toPrecision(3)}; a diverged model?)`,
    );
  };
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
    await finite(z.logZ, 'log Z');
    const ll = await exactLogLikelihood(model, data, { logZ: z.logZ });
    await finite(ll.mean, 'the mean log-likelihood');
    result.logZ = z.logZ;
    result.meanLogLikelihood = ll.mean;
    result.enumerated = z.enumerated;
    out.info(`log Z = ${z.logZ.toFixed(6)} (exact, ${z.states} ${z.enumerated} states)`);
    out.info(`mean log-likelihood = ${ll.mean.toFixed(6)} nats per example (exact)`);
  }

  if (flags.ais) {
    const t0 = performance.now();
    const base = await baseFor(model, data, flags, out);
    const { estimate: est, method, json } = await forwardEstimate(model, base, flags, aisRuns, out);
    await finite(est.logZ, 'the AIS log Z');
    const F = await model.freeEnergy(data);
    const meanNegF = -(await finite(F.reduce((s, x) => s + x, 0) / F.length, 'the mean free energy'));
    const ais: Record<string, unknown> = {
      ...json,
      logZ: est.logZ,
      logZLow: est.logZLow,
      logZHigh: est.logZHigh,
      effectiveSampleSize: est.effectiveSampleSize,
      runs: est.runs,
      steps: est.steps,
      seconds: (performance.now() - t0) / 1000,
    };
    result.ais = ais;
    if (result.logZ === undefined) {
      result.logZ = est.logZ;
      result.meanLogLikelihood = meanNegF - est.logZ;
      result.meanLogLikelihoodInterval = [meanNegF - est.logZHigh, meanNegF - est.logZLow];
    }
    out.info(
      `log Z = ${est.logZ.toFixed(4)} (${method}; +-3 sigma: [${est.logZLow.toFixed(4)}, ${est.logZHigh.toFixed(4)}]; effective sample size ${est.effectiveSampleSize.toFixed(1)})`,
    );
    out.info(
      `mean log-likelihood = ${(meanNegF - est.logZ).toFixed(4)} nats per example (${json.method === 'smc' ? 'SMC' : 'AIS'}; [${(meanNegF - est.logZHigh).toFixed(4)}, ${(meanNegF - est.logZLow).toFixed(4)}])`,
    );
    let rev: AisEstimate | undefined;
    let start: ReverseHow | undefined;
    if (reverseHow) {
      const t1 = performance.now();
      const chosen = await reverseStart(model, data, flags, reverseHow, aisRuns);
      start = chosen.how;
      rev = await annealedImportanceSampling(model, {
        runs: aisRuns,
        schedule: reverseSchedule(flags, est),
        stepSweeps: flags.aisSweeps,
        ...baseOptions(base),
        seed: flags.seed + 1,
        direction: 'reverse',
        start: chosen.samples,
        onProgress: out.work('reverse AIS', 'steps'),
      });
      await finite(rev.logZ, 'the reverse AIS log Z');
      ais.reverse = {
        logZ: rev.logZ,
        logZLow: rev.logZLow,
        logZHigh: rev.logZHigh,
        effectiveSampleSize: rev.effectiveSampleSize,
        start: chosen.how,
        ...(chosen.how === 'exact' ? {} : { sweeps: flags.aisReverseSweeps }),
        seconds: (performance.now() - t1) / 1000,
      };
      ais.reverseLogZ = rev.logZ;
      out.info(
        `log Z = ${rev.logZ.toFixed(4)} (reverse AIS from ${chosen.description}; +-3 sigma: [${rev.logZLow.toFixed(4)}, ${rev.logZHigh.toFixed(4)}]; effective sample size ${rev.effectiveSampleSize.toFixed(1)})`,
      );
      out.info(
        `forward and reverse differ by ${(rev.logZ - est.logZ).toFixed(4)} nats` +
          (start === 'exact'
            ? ': log Z lies between them, up to their noise'
            : ' (reverse is an upper bound only from exact samples)'),
      );
    }
    const warnings = aisWarnings(est, rev, { reverseStart: start === 'exact' ? 'exact' : 'approximate' });
    ais.warnings = warnings;
    for (const w of warnings) out.warn(w);
    if (warnings.length > 0) out.warn('do not trust this AIS estimate to better than the figures above show');
  }

  if (flags.bounds) result.bounds = await bothBounds(model, data, flags, aisRuns, out, finite);

  const recon = await model.reconstruct(data, { seed: flags.seed });
  let err = 0;
  for (let i = 0; i < recon.length; i++) err += (data.data[i]! - recon[i]!) ** 2;
  result.reconstructionError = await finite(err / data.rows, 'the reconstruction error');
  out.info(`reconstruction error = ${(err / data.rows).toFixed(4)} (mean squared, summed over units)`);

  const meanF = hasFreeEnergy ? await meanFreeEnergy(model, data, finite) : undefined;
  if (meanF !== undefined) {
    result.meanFreeEnergy = meanF;
    out.info(`mean free energy = ${meanF.toFixed(4)}`);
  }
  if (compare && meanF !== undefined) {
    const other = compare;
    const ref = await loadAll(other.source, units);
    await other.source.close?.();
    const Fr = await model.freeEnergy(ref);
    const meanR = await finite(Fr.reduce((s, x) => s + x, 0) / Fr.length, 'the mean free energy of --compare');
    result.freeEnergyGap = meanF - meanR;
    out.info(`free-energy gap = ${(meanF - meanR).toFixed(4)} (this data minus ${other.description})`);
  }

  if (pl !== 'none') {
    const figure = await pseudoLogLikelihood(model, data, { method: pl, seed: flags.seed });
    result.pseudoLogLikelihood = await finite(figure.mean, 'the pseudo-log-likelihood');
    result.pseudoLikelihoodMethod = figure.method;
    out.info(`pseudo-log-likelihood = ${figure.mean.toFixed(4)} nats per example (${figure.method})`);
  }
  for (const note of skipped) out.info(note);
  if (skipped.length > 0) result.skipped = skipped;
  model.dispose();
  out.emit(result);
}

type ReverseStart = 'auto' | 'exact' | 'pt' | 'gibbs';
/** How reverse AIS starts, `auto` resolved (checked before any work). */
type ReverseHow = Exclude<ReverseStart, 'auto'>;

/** Exact samples beyond this many states of the smaller layer take too long for a start of reverse AIS. */
const MAX_EXACT_START_STATES = 2 ** 20;

/** Starting samples of reverse AIS, one per run: exact samples, or chains from the data (`how`, chosen up front). */
async function reverseStart(
  model: RBM,
  data: Dataset,
  flags: EvalFlags,
  how: ReverseHow,
  runs: number,
): Promise<{ how: ReverseHow; samples: Dataset; description: string }> {
  if (how === 'exact') {
    return { how, samples: await exactSamples(model, runs, { seed: flags.seed + 2 }), description: 'exact samples' };
  }
  const chains = Math.min(runs, data.rows);
  const init = { data: data.data.subarray(0, chains * data.cols), rows: chains, cols: data.cols };
  const sweeps = flags.aisReverseSweeps;
  if (how === 'gibbs') {
    const s = await model.sample({ steps: sweeps, seed: flags.seed + 2, init });
    return {
      how,
      samples: { data: Float32Array.from(s.states), rows: chains, cols: data.cols },
      description: `${sweeps}-sweep Gibbs chains from the data`,
    };
  }
  const tempering = { temperatures: flags.aisTemperatures };
  const s = await temperedSample(model, { steps: sweeps, seed: flags.seed + 2, init, tempering });
  return {
    how,
    samples: { data: Float32Array.from(s.states), rows: chains, cols: data.cols },
    description: `${sweeps}-sweep parallel tempering chains (${flags.aisTemperatures} replicas) from the data`,
  };
}
