import type { Dataset } from '../data/dataset.js';
import { ArgumentError } from '../errors.js';
import { argmaxRows, classLogProbabilities, labelLayout, labelsOfRows } from '../model/labels.js';
import type { RBM } from '../model/rbm.js';
import { type AisOptions, annealedImportanceSampling, estimatedLogLikelihood } from './ais.js';
import { exactLogLikelihood, exactLogPartition } from './exact.js';
import { pseudoLogLikelihood } from './pseudo-likelihood.js';

/**
 * Figures of a model on held-out data, for monitoring training (Hinton 2010, "A practical guide to training
 * RBMs", sections 5-6) and for early stopping. Every figure is a mean per example, in the units named:
 * - `reconstruction`: sum_i (v_i - p(v_i = 1 | h))^2, h ~ p(h | v) (seeded): cheap, but not the objective;
 * - `pseudo-likelihood`: sum_i log p(v_i | v_-i) (Besag 1975), exact, no log Z needed (nats);
 * - `free-energy-gap`: mean F(held out) - mean F(training sample): growing means overfitting (nats);
 * - `log-likelihood`: exact log p(v) by enumerating the smaller layer (at most 2^20 states) (nats);
 * - `ais`: log p(v) with log Z estimated by annealed importance sampling (nats), with its interval;
 * - `classification-error`: a classification RBM's held-out error rate, its rows [x, e_y] classified exactly
 *   by argmax_k p(y = k | x) (a fraction, 0 to 1).
 */

export type ValidationFigure =
  | 'reconstruction'
  | 'pseudo-likelihood'
  | 'free-energy-gap'
  | 'log-likelihood'
  | 'ais'
  | 'classification-error';

export const VALIDATION_FIGURES: readonly ValidationFigure[] = [
  'reconstruction',
  'pseudo-likelihood',
  'free-energy-gap',
  'log-likelihood',
  'ais',
  'classification-error',
];

/** Whether larger is better: likelihoods are maximised, errors and the gap minimised. */
export function figureIncreases(figure: ValidationFigure): boolean {
  return figure === 'pseudo-likelihood' || figure === 'log-likelihood' || figure === 'ais';
}

export interface ValidationFigures {
  readonly reconstruction?: number;
  readonly 'pseudo-likelihood'?: number;
  readonly 'free-energy-gap'?: number;
  readonly 'log-likelihood'?: number;
  readonly ais?: number;
  readonly 'classification-error'?: number;
  /** The AIS figure's interval (from log Z +- 3 standard errors of the mean weight). */
  readonly aisLow?: number;
  readonly aisHigh?: number;
}

export interface ValidationOptions {
  readonly figures: readonly ValidationFigure[];
  /** Training examples, for the free-energy gap (the same number as the held-out ones is enough). */
  readonly train?: Dataset;
  /** Seed of the reconstruction's hidden samples and of AIS (default 0). */
  readonly seed?: number;
  /** Options of the AIS figure (runs, schedule, base data). */
  readonly ais?: AisOptions;
  /** Most states the exact figure enumerates (default 2^20). */
  readonly maxStates?: number;
}

const EXACT_MAX_STATES = 2 ** 20;

/** Whether the exact log-likelihood of `model` is within `maxStates` enumerated states. */
export function exactlyEnumerable(model: RBM, maxStates = EXACT_MAX_STATES): boolean {
  if (model.gaussian) return false;
  // Softmax groups: the hidden layer is the one enumerated.
  const bits = model.softmaxGroups ? model.numHidden : Math.min(model.numVisible, model.numHidden);
  return 2 ** bits <= maxStates;
}

/** Computes the chosen figures of `model` on `data`. */
export async function validationFigures(
  model: RBM,
  data: Dataset,
  options: ValidationOptions,
): Promise<ValidationFigures> {
  const seed = options.seed ?? 0;
  const out: Record<string, number> = {};
  for (const figure of options.figures) {
    switch (figure) {
      case 'reconstruction': {
        const pv = await model.reconstruct(data, { seed });
        let s = 0;
        for (let i = 0; i < pv.length; i++) s += (data.data[i]! - pv[i]!) ** 2;
        out[figure] = s / data.rows;
        break;
      }
      case 'pseudo-likelihood':
        out[figure] = (await pseudoLogLikelihood(model, data)).mean;
        break;
      case 'free-energy-gap': {
        if (!options.train) throw new ArgumentError('the free-energy gap needs training examples (options.train)');
        out[figure] = mean(await model.freeEnergy(data)) - mean(await model.freeEnergy(options.train));
        break;
      }
      case 'log-likelihood': {
        const maxStates = options.maxStates ?? EXACT_MAX_STATES;
        if (!exactlyEnumerable(model, maxStates)) {
          throw new ArgumentError(
            `the exact log-likelihood of a ${model.numVisible}-${model.numHidden} model needs 2^${Math.min(model.numVisible, model.numHidden)} states, more than ${maxStates}; use 'ais'`,
          );
        }
        const { logZ } = await exactLogPartition(model, { maxStates });
        out[figure] = (await exactLogLikelihood(model, data, { logZ })).mean;
        break;
      }
      case 'ais': {
        const estimate = await annealedImportanceSampling(model, { seed, ...options.ais });
        const ll = await estimatedLogLikelihood(model, data, estimate);
        out[figure] = ll.mean;
        out.aisLow = ll.low;
        out.aisHigh = ll.high;
        break;
      }
      case 'classification-error': {
        const { numClasses } = labelLayout(model);
        const predicted = argmaxRows(await classLogProbabilities(model, data), numClasses);
        const truth = labelsOfRows(data, numClasses);
        let wrong = 0;
        for (let r = 0; r < predicted.length; r++) if (predicted[r] !== truth[r]) wrong++;
        out[figure] = wrong / data.rows;
        break;
      }
      default:
        throw new ArgumentError(
          `unknown validation figure ${JSON.stringify(figure)}; one of ${VALIDATION_FIGURES.join(', ')}`,
        );
    }
  }
  return out as ValidationFigures;
}

function mean(x: Float64Array): number {
  let s = 0;
  for (const v of x) s += v;
  return s / x.length;
}

/**
 * Early stopping (Prechelt 1998): stop once the monitored figure has not improved on its best for `patience`
 * checks in a row. `update` says whether the figure just improved (keep this model) and whether to stop.
 */
export class EarlyStopping {
  readonly figure: ValidationFigure;
  readonly patience: number;
  /** Smallest change that counts as an improvement (default 0). */
  readonly minDelta: number;
  best: number | undefined;
  /** The epoch (0-based) of the best figure. */
  bestEpoch: number | undefined;
  /** Checks since the last improvement. */
  waited = 0;

  constructor(figure: ValidationFigure, patience: number, minDelta = 0) {
    if (!VALIDATION_FIGURES.includes(figure))
      throw new ArgumentError(`unknown figure ${JSON.stringify(figure)}; one of ${VALIDATION_FIGURES.join(', ')}`);
    if (!Number.isInteger(patience) || patience < 1)
      throw new ArgumentError(`patience must be a positive integer (checks without improvement), got ${patience}`);
    if (!(minDelta >= 0) || !Number.isFinite(minDelta))
      throw new ArgumentError(`minDelta must be a finite number >= 0, got ${minDelta}`);
    this.figure = figure;
    this.patience = patience;
    this.minDelta = minDelta;
  }

  update(value: number, epoch: number): { improved: boolean; stop: boolean } {
    if (!Number.isFinite(value)) {
      // A non-finite figure is never an improvement.
      this.waited++;
      return { improved: false, stop: this.waited >= this.patience };
    }
    const sign = figureIncreases(this.figure) ? 1 : -1;
    const improved = this.best === undefined || sign * (value - this.best) > this.minDelta;
    if (improved) {
      this.best = value;
      this.bestEpoch = epoch;
      this.waited = 0;
    } else this.waited++;
    return { improved, stop: this.waited >= this.patience };
  }
}
