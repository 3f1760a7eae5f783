import type { Dataset, RBM, RbmParameters } from '@rbmjs/core';
import { UsageError } from '../errors.js';

/**
 * Which of `rbm eval`'s figures a model has. Hidden units other than Bernoulli lack the ones that sum or
 * anneal over binary h (exact values, AIS, bounds, pseudo-likelihood), and NReLU units lack a free energy:
 * asked for by flag, such a figure is refused before any work; a default one is skipped with a note, and the
 * rest are reported.
 */
export function figuresOf<P extends string>(
  p: RbmParameters,
  flags: { exact?: boolean; ais?: boolean; bounds?: boolean; compare?: string },
  modelPath: string,
  pl: P | 'none',
  plGiven: boolean,
): { skipped: string[]; pl: P | 'none'; hasFreeEnergy: boolean } {
  const skipped: string[] = [];
  const hidden = p.hiddenUnits ?? 'bernoulli';
  const hasFreeEnergy = hidden !== 'nrelu';
  if (hidden === 'bernoulli') return { skipped, pl, hasFreeEnergy };
  const needBinary = (['exact', 'ais', 'bounds'] as const).filter((f) => flags[f]);
  if (needBinary.length > 0)
    throw new UsageError(
      `--${needBinary[0]} needs Bernoulli hidden units (binary h is summed or annealed over); ${modelPath} has ${hidden} hidden units`,
    );
  if (pl !== 'none') {
    const why = `pseudo-likelihood is for Bernoulli hidden units; ${modelPath} has ${hidden} hidden units`;
    if (plGiven) throw new UsageError(`--pl ${pl}: ${why}; use --pl none`);
    skipped.push(`no pseudo-likelihood: ${why}`);
  }
  if (!hasFreeEnergy) {
    if (flags.compare)
      throw new UsageError(`--compare: the free-energy gap needs a free energy, which ${hidden} hidden units lack`);
    skipped.push(`no free energy: ${hidden} hidden units have none in closed form`);
  }
  return { skipped, pl: 'none', hasFreeEnergy };
}

/** The mean free energy of the rows, checked finite. */
export async function meanFreeEnergy(
  model: RBM,
  data: Dataset,
  finite: (x: number, what: string) => Promise<number>,
): Promise<number> {
  const F = await model.freeEnergy(data);
  return finite(F.reduce((s, x) => s + x, 0) / F.length, 'the mean free energy');
}

/** For a classifier: its visible layer ends with the labels, one-hot (what a shape error should say). */
export function labelHint(p: RbmParameters): string {
  const classes = p.softmaxGroups?.at(-1);
  if (!classes) return '';
  return ` (${p.numVisible - classes} inputs, then the label as ${classes} one-hot columns: rbm eval takes rows with the label appended; rbm predict classifies rows of the inputs alone)`;
}

/** A flag of an evaluation mode given without its mode is refused by name, never ignored. */
export function refuseIdleEvalFlags(
  flags: { bounds?: boolean; ais?: boolean; aisSchedule?: string },
  given: (name: string) => boolean,
): void {
  const rules: Array<[string[], boolean, string]> = [
    [
      ['raiseChains', 'raiseSweeps', 'raiseStuckChains', 'raiseStuckGap', 'width', 'budget'],
      Boolean(flags.bounds),
      '--bounds',
    ],
    [['aisRuns', 'aisSchedule', 'aisSweeps', 'aisBase'], Boolean(flags.ais || flags.bounds), '--ais or --bounds'],
    [['aisResample'], flags.aisSchedule?.startsWith('adaptive') ?? false, '--ais-schedule adaptive'],
    [['aisReverse', 'aisReverseStart', 'aisReverseSweeps', 'aisTemperatures'], Boolean(flags.ais), '--ais'],
  ];
  for (const [names, on, mode] of rules) {
    const idle = names.find((n) => given(n));
    if (idle && !on)
      throw new UsageError(
        `--${idle.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} needs ${mode}; without it, it would do nothing`,
      );
  }
}
