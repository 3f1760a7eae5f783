import {
  AbortedError,
  type AisSchedule,
  type Dataset,
  EarlyStopping,
  type EpochMetrics,
  exactlyEnumerable,
  type RBM,
  VALIDATION_FIGURES,
  type ValidationFigure,
  type ValidationFigures,
  validationFigures,
  type Watch,
} from '@rbmjs/core';
import { readModelFile } from '@rbmjs/core/node';
import { UsageError } from './errors.js';

/**
 * `rbm train`'s held-out figures after each epoch (--monitor), and early stopping on one of them
 * (--early-stop PATIENCE --stop-on FIGURE) with the best model written beside the last one.
 */

export interface MonitorSettings {
  readonly figures: readonly ValidationFigure[];
  /** AIS (the `ais` figure) every this many epochs. */
  readonly aisEvery: number;
  readonly aisRuns: number;
  readonly aisSchedule: AisSchedule;
  readonly seed: number;
  readonly earlyStop?: { readonly figure: ValidationFigure; readonly patience: number };
}

/** Parses `--monitor a,b,c` (names or their short forms). */
export function parseFigures(s: string): ValidationFigure[] {
  const short: Record<string, ValidationFigure> = {
    recon: 'reconstruction',
    pl: 'pseudo-likelihood',
    gap: 'free-energy-gap',
    ll: 'log-likelihood',
    error: 'classification-error',
  };
  const out: ValidationFigure[] = [];
  for (const part of s.split(',')) {
    const name = part.trim();
    const figure = short[name] ?? (name as ValidationFigure);
    if (!VALIDATION_FIGURES.includes(figure)) {
      throw new UsageError(
        `--monitor: unknown figure ${JSON.stringify(name)}; use ${VALIDATION_FIGURES.join(', ')} (or recon, pl, gap, ll, error)`,
      );
    }
    if (!out.includes(figure)) out.push(figure);
  }
  return out;
}

/** Refuses figures a model cannot have: exact ones beyond 2^20 states, bit-flip ones on Gaussian units. */
export function checkFigures(settings: MonitorSettings, model: RBM): void {
  for (const f of settings.figures) {
    if (f === 'log-likelihood' && !exactlyEnumerable(model)) {
      throw new UsageError(
        `--monitor log-likelihood needs a layer of at most 20 units to enumerate (the model is ${model.numVisible}-${model.numHidden}); use ais`,
      );
    }
    if ((f === 'pseudo-likelihood' || f === 'log-likelihood' || f === 'ais') && model.gaussian)
      throw new UsageError(`--monitor ${f} is defined for binary visible units only`);
    if (f === 'pseudo-likelihood' && model.softmaxGroups)
      throw new UsageError(
        '--monitor pseudo-likelihood flips single units, which leaves a softmax group without its one-hot state; use classification-error, ais or reconstruction',
      );
    if (f === 'classification-error' && !model.softmaxGroups)
      throw new UsageError('--monitor classification-error needs a classification RBM (rbm train --labels)');
  }
}

export class EpochMonitor {
  readonly settings: MonitorSettings;
  readonly stopper: EarlyStopping | undefined;
  private readonly model: RBM;
  private readonly validation: Dataset;
  /** Training rows: AIS's base data. */
  private readonly aisBase: Dataset | undefined;
  /** Whether a signal stopped the last {@link figures}' annealing (the figures then lack `ais`). */
  aisStopped = false;

  constructor(model: RBM, validation: Dataset, aisBase: Dataset | undefined, settings: MonitorSettings) {
    this.model = model;
    this.validation = validation;
    this.aisBase = aisBase;
    this.settings = settings;
    this.stopper = settings.earlyStop
      ? new EarlyStopping(settings.earlyStop.figure, settings.earlyStop.patience)
      : undefined;
  }

  /**
   * The figures after the epoch of `metrics`; AIS only every `aisEvery` epochs. The free-energy gap is the
   * trainer's (it computes it whenever there are held-out rows), not computed a second time.
   */
  async figures(metrics: EpochMetrics, watch: Watch = {}): Promise<ValidationFigures> {
    const s = this.settings;
    const gap = s.figures.includes('free-energy-gap') ? metrics.freeEnergyGap : undefined;
    const figures = s.figures.filter(
      (f) => (f !== 'ais' || (metrics.epoch + 1) % s.aisEvery === 0) && f !== 'free-energy-gap',
    );
    const ais = { runs: s.aisRuns, schedule: s.aisSchedule, ...(this.aisBase ? { data: this.aisBase } : {}) };
    let computed: ValidationFigures;
    this.aisStopped = false;
    try {
      // The annealing is the long part (a schedule of millions of steps takes hours): it says how long once it
      // has timed itself, and a signal stops it; the run then ends after this epoch, without its AIS figure.
      computed = await validationFigures(this.model, this.validation, {
        figures,
        seed: s.seed,
        ais: { ...ais, ...watch },
      });
    } catch (error) {
      if (!(error instanceof AbortedError)) throw error;
      this.aisStopped = true;
      computed = await validationFigures(this.model, this.validation, {
        figures: figures.filter((f) => f !== 'ais'),
        seed: s.seed,
      });
    }
    return gap !== undefined ? { ...computed, 'free-energy-gap': gap } : computed;
  }

  /**
   * Early stopping after an epoch: whether these figures improved on the best (write the best model) and
   * whether to stop. Epochs without the figure (AIS between its epochs) change nothing.
   */
  judge(figures: ValidationFigures, epoch: number): { improved: boolean; stop: boolean } {
    const st = this.stopper;
    const value = st ? figures[st.figure] : undefined;
    if (!st || value === undefined) return { improved: false, stop: false };
    return st.update(value, epoch);
  }

  /**
   * On --resume: the best so far, from the best-model file's metadata (what it was kept for), so that patience
   * counts from there. A file kept for another figure, or none, starts the count afresh.
   */
  async restore(bestPath: string, epochsDone: number): Promise<string | undefined> {
    const st = this.stopper;
    if (!st) return undefined;
    const file = await readModelFile(bestPath).catch(() => undefined);
    const kept = file?.metadata.validation ? (JSON.parse(file.metadata.validation) as Partial<BestRecord>) : undefined;
    if (!kept || kept.figure !== st.figure || typeof kept.value !== 'number' || typeof kept.epoch !== 'number')
      return undefined;
    st.best = kept.value;
    st.bestEpoch = kept.epoch - 1;
    st.waited = Math.max(0, epochsDone - kept.epoch);
    return `${bestPath} holds the best model so far (${kept.figure} ${kept.value.toFixed(4)} after epoch ${kept.epoch})`;
  }
}

/** What a best-model file was kept for (its `validation` metadata, written by rbm train). */
interface BestRecord {
  readonly figure: ValidationFigure;
  readonly value: number;
  /** Epochs trained (1-based, as printed). */
  readonly epoch: number;
}

/** One line of figures, as people read them. */
export function figuresText(f: ValidationFigures): string {
  const parts: string[] = [];
  for (const name of VALIDATION_FIGURES) {
    const x = f[name];
    if (x === undefined) continue;
    const interval =
      name === 'ais' && f.aisLow !== undefined ? ` [${f.aisLow.toFixed(2)}, ${f.aisHigh!.toFixed(2)}]` : '';
    parts.push(
      name === 'classification-error'
        ? `error ${(100 * x).toFixed(2)}%`
        : `${name} ${x.toFixed(name === 'reconstruction' ? 4 : 3)}${interval}`,
    );
  }
  return parts.join(', ');
}
