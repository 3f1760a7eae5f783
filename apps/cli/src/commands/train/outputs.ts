import { existsSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import {
  type EpochMetrics,
  encodeModel,
  type RbmParameters,
  trainingError,
  VALIDATION_FIGURES,
  type ValidationFigure,
  type ValidationFigures,
} from '@rbmjs/core';
import { curvesSvg, type Panel } from '../../curves.js';
import { writeOutput } from '../../files.js';
import { filtersOf, tileImages } from '../../pictures.js';
import { VERSION } from '../../version.js';
import type { TrainJob } from './job.js';

/** What `rbm train` writes besides checkpoints: the model with its job and provenance, filters and curves. */

/** How far above its starting value an epoch's reconstruction error may rise before the run counts as diverged. */
export const RISE_FACTOR = 1.5;

const FIGURE_UNITS: Record<ValidationFigure, string> = {
  reconstruction: 'squared error per example',
  'pseudo-likelihood': 'nats per example',
  'free-energy-gap': 'F(held out) - F(training), nats',
  'log-likelihood': 'exact log p(v), nats per example',
  ais: 'AIS log p(v), nats per example',
  'classification-error': 'held-out error rate',
};

function curvePanels(
  history: EpochMetrics[],
  validation: boolean,
  figures: ReadonlyArray<ValidationFigures | undefined> = [],
): Panel[] {
  const monitored = VALIDATION_FIGURES.filter((f) => figures.some((x) => x?.[f] !== undefined));
  return [
    {
      ...(history[0]?.crossEntropy !== undefined
        ? { title: 'cross-entropy', unit: '-log p(y | x), nats per example' }
        : { title: 'reconstruction error', unit: 'squared error per example' }),
      series: [{ label: 'training', values: history.map((m) => trainingError(m).value), color: '#1f77b4' }],
    },
    ...(validation
      ? [
          {
            title: 'mean free energy',
            unit: 'F(v), nats',
            series: [
              { label: 'training', values: history.map((m) => m.freeEnergyTrain), color: '#1f77b4' },
              { label: 'held out', values: history.map((m) => m.freeEnergyValidation), color: '#d62728' },
            ],
          },
        ]
      : []),
    ...monitored.map((f) => ({
      title: `held-out ${f}`,
      unit: FIGURE_UNITS[f],
      series: [{ label: 'held out', values: figures.map((x) => x?.[f]), color: '#d62728' }],
    })),
  ];
}

/** Where a state stands, in the 1-based words people use. */
export function where(st: { epoch: number; batch?: number }): string {
  return st.batch ? `in epoch ${st.epoch + 1} after batch ${st.batch}` : `after epoch ${st.epoch}`;
}

/** `path` with .1, .2, ... before its extension: the first that does not exist. */
export function freshPath(path: string): string {
  const ext = extname(path);
  for (let i = 1; ; i++) {
    const candidate = join(dirname(path), `${basename(path, ext)}.${i}${ext}`);
    if (!existsSync(candidate)) return candidate;
  }
}

/**
 * Writes parameters (the model's, or the last good ones of a diverged run) with the job and provenance;
 * `overwrite: false` refuses a file that appeared since the run's start, atomically (see writeFileAtomic).
 */
export async function writeModel(
  path: string,
  parameters: RbmParameters,
  job: TrainJob,
  backend: string,
  extra: Record<string, string> = {},
  options: { overwrite?: boolean } = {},
): Promise<void> {
  const bytes = encodeModel(parameters, { hyperparameters: JSON.stringify(job), ...provenance(backend), ...extra });
  await writeOutput(path, bytes, options);
}

export function provenance(backend: string): Record<string, string> {
  return {
    provenance: JSON.stringify({
      tool: `@rbmjs/cli ${VERSION}`,
      backend,
      node: process.version,
      date: new Date().toISOString(),
    }),
  };
}

/** The first filters (rows of W for the inputs; a classifier's label rows come after them) as a PNG. */
export async function writeFilters(path: string, p: RbmParameters, inputs: number, side: number): Promise<void> {
  const shown = Math.min(p.numHidden, 100);
  const png = tileImages(
    filtersOf(p.weights.subarray(0, inputs * p.numHidden), inputs, p.numHidden, shown),
    shown,
    side,
    {
      scale: 2,
    },
  );
  await writeOutput(path, png);
}

/** The learning curves as an SVG: reconstruction error, free energies, and each held-out figure. */
export async function writeCurves(
  path: string,
  history: EpochMetrics[],
  validation: boolean,
  figures: ReadonlyArray<ValidationFigures | undefined>,
): Promise<void> {
  await writeOutput(path, new TextEncoder().encode(curvesSvg(curvePanels(history, validation, figures))));
}
