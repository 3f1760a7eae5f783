import {
  type AisEstimate,
  type AisSchedule,
  annealedImportanceSampling,
  type Dataset,
  likelihoodBounds,
  modelSamplesForBase,
  type RBM,
  type SmcEstimate,
  sequentialMonteCarlo,
} from '@rbmjs/core';
import { parseSchedule, scheduleWithinBudget } from '../common.js';
import { UsageError } from '../errors.js';
import type { Output } from '../output.js';

/** The flags of the annealing estimates (`--ais`, `--bounds`). */
export interface AnnealingFlags {
  aisSchedule: string;
  aisSweeps: number;
  aisResample: number;
  width: number;
  budget: number;
  raiseChains: number;
  raiseSweeps: number;
  raiseStuckChains?: number;
  raiseStuckGap: number;
  aisBase: 'data' | 'model' | 'uniform';
  seed: number;
}

/** The base model of the annealing path: `baseData` for its base rates, or its biases; and how it is named. */
export interface BaseChoice {
  readonly baseData?: Dataset;
  readonly baseVisibleBias?: Float32Array;
  readonly description: string;
}

/** The base as core's annealing options take it: `baseData`, or `baseVisibleBias`. */
export function baseOptions(base: BaseChoice): { baseData: Dataset } | { baseVisibleBias: Float32Array } {
  return base.baseData ? { baseData: base.baseData } : { baseVisibleBias: base.baseVisibleBias! };
}

/** Gibbs chains and sweeps of `--ais-base model`. */
const MODEL_BASE = { chains: 1000, sweeps: 1000 };

/**
 * `--ais-base`: base rates of the evaluated data (S&M's choice), of the model's own samples (core's
 * `modelSamplesForBase`; the chains draw with the seed), or the uniform distribution.
 */
export async function baseFor(model: RBM, data: Dataset, flags: AnnealingFlags, out: Output): Promise<BaseChoice> {
  if (flags.aisBase === 'uniform')
    return { baseVisibleBias: new Float32Array(model.numVisible), description: 'the uniform distribution' };
  if (flags.aisBase === 'data') return { baseData: data, description: "the data's base rates" };
  const samples = await modelSamplesForBase(model, {
    ...MODEL_BASE,
    seed: flags.seed + 3,
    onProgress: out.work('samples of the model for the base rates', 'sweeps'),
  });
  return {
    baseData: samples,
    description: `the base rates of the model's samples (${MODEL_BASE.chains} Gibbs chains, ${MODEL_BASE.sweeps} sweeps from p(v) = 1/2)`,
  };
}

/** `--ais-schedule`: a fixed schedule, or `adaptive[:C]`, sequential Monte Carlo at a conditional ESS of C. */
export interface Annealing {
  readonly schedule?: AisSchedule;
  readonly smc?: { readonly cess: number; readonly resample: number };
}

/** `--ais-schedule` and `--ais-resample`, parsed; a fixed schedule's size is checked against the memory budget. */
export function annealingOf(flags: Pick<AnnealingFlags, 'aisSchedule' | 'aisResample'>): Annealing {
  const m = /^adaptive(?::(.*))?$/.exec(flags.aisSchedule);
  if (!m) return { schedule: scheduleWithinBudget(flags.aisSchedule) };
  const cess = m[1] === undefined ? 0.99 : /^\d*\.?\d+$/.test(m[1]) ? Number(m[1]) : Number.NaN;
  if (!(cess > 0 && cess < 1))
    throw new UsageError(
      `--ais-schedule ${flags.aisSchedule}: the conditional ESS C of adaptive:C must be in (0, 1), e.g. adaptive:0.999`,
    );
  return { smc: { cess, resample: flags.aisResample } };
}

/** How a schedule is named in the figures' descriptions. */
function scheduleName(a: Annealing, flags: AnnealingFlags, sweeps = flags.aisSweeps): string {
  const each = sweeps > 1 ? `, ${sweeps} Gibbs sweeps at each` : '';
  return a.smc
    ? `adaptive: conditional ESS ${a.smc.cess} a step, resampled at ESS < ${a.smc.resample} of the runs${each}`
    : `${flags.aisSchedule}${each}`;
}

/**
 * `--ais`'s forward estimate of log Z: AIS on a fixed schedule, or SMC on the adaptive one; the words that
 * say which go with it.
 */
export async function forwardEstimate(
  model: RBM,
  base: BaseChoice,
  flags: AnnealingFlags,
  runs: number,
  out: Output,
): Promise<{ estimate: AisEstimate | SmcEstimate; method: string; json: Record<string, unknown> }> {
  const a = annealingOf(flags);
  const from = baseOptions(base);
  if (a.smc) {
    const e = await sequentialMonteCarlo(model, {
      runs,
      ...from,
      cess: a.smc.cess,
      resample: a.smc.resample,
      sweeps: flags.aisSweeps,
      seed: flags.seed,
      onProgress: out.work('SMC (thousandths of the way to beta = 1)', 'thousandths', { paced: false }),
    });
    return {
      estimate: e,
      method: `SMC, ${e.runs} runs, ${e.steps} adaptive steps, ${e.resamplings} resamplings, ${e.ancestors} ancestors left`,
      json: {
        method: 'smc',
        schedule: scheduleName(a, flags),
        base: base.description,
        resamplings: e.resamplings,
        ancestors: e.ancestors,
      },
    };
  }
  const e = await annealedImportanceSampling(model, {
    runs,
    ...from,
    schedule: a.schedule!,
    stepSweeps: flags.aisSweeps,
    seed: flags.seed,
    onProgress: out.work('forward AIS', 'steps'),
  });
  return {
    estimate: e,
    method: `AIS, ${e.runs} runs, ${e.steps} steps`,
    json: { method: 'ais', base: base.description },
  };
}

/** The schedule reverse AIS takes: the fixed one, or the temperatures SMC went through. */
export function reverseSchedule(flags: AnnealingFlags, forward: AisEstimate | SmcEstimate): AisSchedule {
  return 'betas' in forward ? forward.betas : parseSchedule(flags.aisSchedule);
}

/**
 * `--bounds`: RAISE below and forward AIS (or SMC) above, on the same examples, schedule and base model (the
 * data's base rates), in rounds of doubled sweeps until the bracket is `--width` wide or `--budget` is spent;
 * what each side bounds, how it was obtained and how the rounds went go with the figures.
 */
export async function bothBounds(
  model: RBM,
  data: Dataset,
  flags: AnnealingFlags,
  runs: number,
  out: Output,
  finite: (x: number, what: string) => Promise<number>,
): Promise<Record<string, unknown>> {
  const a = annealingOf(flags);
  const t0 = performance.now();
  const base = await baseFor(model, data, flags, out);
  const f = (x: number) => (Number.isFinite(x) ? x.toFixed(4) : 'unbounded');
  const label = (r: number) =>
    a.smc ? `bounds, round ${r} (SMC, then RAISE)` : `bounds, round ${r} (RAISE, then AIS)`;
  const unit = a.smc ? 'thousandths' : 'steps';
  let progress = out.work(label(1), unit, { paced: !a.smc });
  const b = await likelihoodBounds(model, data, {
    runs,
    chains: flags.raiseChains,
    sweeps: flags.raiseSweeps,
    ...(flags.raiseStuckChains !== undefined ? { stuckChains: flags.raiseStuckChains } : {}),
    stuckGap: flags.raiseStuckGap,
    ...(a.schedule ? { schedule: a.schedule } : {}),
    ...(a.smc ? { smc: a.smc } : {}),
    stepSweeps: flags.aisSweeps,
    ...baseOptions(base),
    seed: flags.seed,
    width: flags.width,
    budgetSeconds: flags.budget,
    onProgress: (done, total) => progress(done, total),
    onRound: (r) => {
      out.info(
        `round ${r.round} (${r.stepSweeps} sweep(s) a temperature, ${r.steps} steps): [${f(r.lower)}, ${f(r.upper)}], ` +
          `width ${f(r.width)}${r.stuck ? `, ${r.stuck} stuck example(s)` : ''}, ${r.seconds.toFixed(0)} s (${r.elapsed.toFixed(0)} s in all)`,
      );
      progress = out.work(label(r.round + 1), unit, { paced: !a.smc });
    },
  });
  await finite(b.lowerEstimate, 'the RAISE estimate');
  await finite(b.upperEstimate, 'the AIS estimate');
  const steps = b.ais.steps;
  const sweeps = b.rounds.at(-1)!.stepSweeps;
  const schedule = scheduleName(a, flags, sweeps);
  const upperName = 'betas' in b.ais ? 'SMC' : 'forward AIS';
  const why = {
    width: `the bracket is at most --width ${flags.width} nats`,
    budget: `the next round (twice the last) would not fit in --budget ${flags.budget} s`,
    rounds: 'the rounds ran out',
  }[b.stopped];
  // JSON has no infinities: an upper bound that an open interval leaves out is null.
  const finiteOrNull = (x: number) => (Number.isFinite(x) ? x : null);
  const bounds = {
    lower: b.lower,
    upper: finiteOrNull(b.upper),
    width: finiteOrNull(b.width),
    lowerEstimate: b.lowerEstimate,
    upperEstimate: b.upperEstimate,
    lowerInterval: b.lowerInterval,
    upperInterval: b.upperInterval.map(finiteOrNull),
    lowerMethod:
      `RAISE (Burda, Grosse & Salakhutdinov 2015): ${b.raise.chains} reverse chain(s) per example from the example, ` +
      `${b.raise.sweeps} Gibbs sweeps at beta = 1, then ${steps} steps (${schedule}) down to ${base.description}; ` +
      (b.raise.stuckChains > b.raise.chains
        ? `${b.raise.stuckChains} chains for the ${b.raise.stuck.length} example(s) ${b.rounds.length > 1 ? 'the last round' : 'a one-chain pilot'} found ${flags.raiseStuckGap} nats below the median; `
        : '') +
      "the low end of its +-3 sigma interval: a stochastic lower bound on the annealing model's log-likelihood, " +
      "which approaches the RBM's as the sweeps and steps grow",
    upperMethod:
      (upperName === 'SMC'
        ? `sequential Monte Carlo (Del Moral, Doucet & Jasra 2006): ${b.ais.runs} runs, ${steps} steps (${schedule}); `
        : `forward AIS (Salakhutdinov & Murray 2008): ${b.ais.runs} runs, ${steps} steps (${schedule}); `) +
      `from ${base.description}; ` +
      'mean -F(v) minus log Z-hat, a stochastic lower bound on log Z: the high end of its +-3 sigma interval',
    logZ: b.ais.logZ,
    raiseLogZ: b.raise.logZ,
    effectiveSampleSize: b.ais.effectiveSampleSize,
    raiseEffectiveSampleSize: b.raise.effectiveSampleSize,
    runs: b.ais.runs,
    chains: b.raise.chains,
    stuckChains: b.raise.stuckChains,
    stuck: b.raise.stuck.length,
    sweeps: b.raise.sweeps,
    stepSweeps: sweeps,
    steps,
    examples: b.raise.examples,
    rounds: b.rounds.map((r) => ({ ...r, upper: finiteOrNull(r.upper), width: finiteOrNull(r.width) })),
    stopped: b.stopped,
    seconds: (performance.now() - t0) / 1000,
    warnings: b.warnings,
  };
  out.info(
    `mean log-likelihood in [${f(b.lower)}, ${f(b.upper)}] nats per example, width ${f(b.width)} ` +
      `(lower: RAISE, ${b.raise.chains} chain(s) per example; upper: ${upperName}, ${b.ais.runs} runs; ${steps} steps; ` +
      `each the conservative end of its +-3 sigma interval); stopped after ${b.rounds.length} round(s): ${why}`,
  );
  out.info(
    `  estimates: RAISE ${f(b.lowerEstimate)}, ${upperName} ${f(b.upperEstimate)}; ${upperName} effective sample size ` +
      `${b.ais.effectiveSampleSize.toFixed(1)} of ${b.ais.runs}`,
  );
  for (const w of b.warnings) out.warn(w);
  return bounds;
}
