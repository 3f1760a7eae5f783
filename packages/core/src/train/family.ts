import type { Scope } from '../backend/scope.js';
import type { Backend, Tensor } from '../backend/types.js';
import type { DeviceRandom } from '../random/device.js';
import type { RandomStream } from '../random/stream.js';
import type { StateRegistry } from './state.js';

/**
 * The contract between a model family (the RBM, the DBM, the collaborative-filtering RBM, ...) and the one
 * {@link Trainer} that runs them all. A family says what it trains (named parameter tensors), in which stages
 * (the DBM's greedy pretraining, then joint training), how an epoch's examples are read in batches, and what
 * one update does on the device; the trainer owns everything around it: epochs and stages, the shuffle and
 * Gibbs streams, the read-ahead, pacing of a queueing backend, divergence checks with replay to the bad step,
 * rollback, early stopping on a monitored figure with the best epoch kept, checkpoints (export and import of
 * the state registry) and signals. The shape follows PyTorch Lightning (the module gives the step, the
 * Trainer the loop) and paysage (one SGD loop over named parameters).
 */

/** A trained tensor and its name (checkpoints, best-epoch copies, rollback). */
export interface NamedParameter {
  readonly name: string;
  readonly tensor: Tensor;
}

/** A stage of training: its name (`train`, `pretrain.0`, `joint`) and its epochs. */
export interface Stage {
  readonly name: string;
  readonly epochs: number;
}

/** An epoch's settings, as the family computes them from its schedules for (stage, epoch). */
export interface EpochSettings {
  readonly learningRate: number;
  readonly momentum: number;
  /** Further per-epoch values a family reports (the recommender's CD-T: `gibbsSteps`). */
  readonly [figure: string]: number;
}

/** What the trainer gives a family when it binds it: the device, the run's state and its Gibbs stream. */
export interface LoopContext {
  readonly backend: Backend;
  /** Scratch and workspace tensors, freed with the trainer. */
  readonly scope: Scope;
  /** Named, checkpointed state: register chains, velocities and buffers here, and they roll back for free. */
  readonly state: StateRegistry;
  /** The run's Gibbs stream: every random draw of a step comes from it, in order, so that runs replay exactly. */
  readonly random: DeviceRandom;
}

/**
 * An epoch's batches in the trainer's order: a seeded permutation of the examples, runs of several batches
 * for one fused unit, the read-ahead of the next run. `EpochBatches` (train/batches.ts: rows of a data
 * source) and the recommender's batches of users implement it.
 */
export interface FamilyBatches<B> {
  /** Batches in an epoch (the last may be short). */
  readonly count: number;
  /** The epoch's order: the identity, shuffled by `rng` when given. */
  order(rng: RandomStream | undefined): void;
  /** Whether the divergence-check interval that began at `intervalStart` ends before batch `next`. */
  endsInterval(next: number, intervalStart: number): boolean;
  /** How many batches from `batch` run as one unit (1 for a family that does not fuse several). */
  runLength(batch: number, intervalStart: number): number;
  read(batch: number, count: number): Promise<B>;
  /** Begins reading the run after the one that ends before `next`. */
  readAhead(next: number, intervalStart: number): void;
  /** Waits for a read begun ahead, dropping it. */
  settle(): Promise<void>;
}

/** What a run of steps issued: the batch size (for progress) and the bytes it uploaded (for pacing). */
export interface Issued {
  readonly size: number;
  readonly uploadBytes: number;
}

/** A family bound to a trainer's context: its batches, its step and its figures. */
export interface BoundFamily<B> {
  readonly batches: FamilyBatches<B>;
  /** The epoch's running sum of the batches' training errors [1, 1], added to by the steps. */
  readonly epochError?: Tensor;
  /** Issues the steps of a run of batches (one fused unit where the backend fuses). */
  run(batch: B, count: number, stage: number, settings: EpochSettings): Issued;
  /**
   * Whether every parameter is finite and within `maxParameter`, where the family has a cheaper check than
   * the trainer's default (reading each parameter back).
   */
  sound?(maxParameter: number): Promise<boolean>;
  /** Before the first step of a run that did not resume: persistent chains from the data, say. */
  start?(): Promise<void>;
  /** After a rollback or an import wrote the parameters: derived values (a learned variance's). */
  restored?(): void;
  /** Moves from stage `stage` to the next (the DBM averages its middle biases; velocities restart). */
  endStage?(stage: number): void;
  /** The epoch's figures from its summed error: reconstruction error, held-out figures, ... */
  figures(errorSum: number, stage: number, settings: EpochSettings): Promise<Readonly<Record<string, number>>>;
  /** A batch's own error [1, 1] within the run just issued (for `onBatch`), where the family keeps one. */
  batchError?(i: number): Tensor;
  /** Frees what the family allocated outside the trainer's scope. */
  dispose?(): void;
}

/** A model family as the {@link Trainer} runs it. */
export interface ModelFamily<M = unknown, B = unknown> {
  /** `rbm`, `dbm`, `collaborative`: what checkpoints and messages call it. */
  readonly kind: string;
  readonly model: M;
  readonly backend: Backend;
  /** The parameters a rollback restores and a best epoch keeps, by name. */
  readonly parameters: readonly NamedParameter[];
  readonly stages: readonly Stage[];
  /** The settings of an epoch of a stage, from the family's schedules. */
  settings(stage: number, epoch: number): EpochSettings;
  /** The seed of the run's random streams, the Gibbs stream's id ({@link Streams}). */
  readonly seed: number;
  readonly gibbsStream: number;
  /** Builds the family's state and workspace in the trainer's context. */
  bind(ctx: LoopContext): BoundFamily<B>;
  /** Whether chain states must be 0 or 1 when a state is imported (binary units). */
  readonly binaryStates: boolean;
  /** The largest magnitude a parameter may reach before the run counts as diverged. */
  readonly maxParameter: number;
  /** Units issued before a queueing backend is waited for (default {@link MAX_QUEUED_UNITS}). */
  readonly maxQueuedUnits?: number;
  /** Whether the rows are shuffled each epoch (default true). */
  readonly shuffle?: boolean;
  /** The early stopping this family's options ask for, unless the run gives one. */
  readonly monitor?: Monitor;
}

/**
 * Early stopping on a figure an epoch reports (Prechelt 1998): the best epoch's parameters are kept and the
 * model ends with them; with `patience`, the run stops after that many epochs without a new best.
 */
export interface Monitor {
  /** The figure (`rmse`, `freeEnergyGap`, ...): the epoch's metrics must carry it. */
  readonly figure: string;
  /** Whether lower is better (default) or higher. */
  readonly mode?: 'min' | 'max';
  readonly patience?: number;
  /** The least change that counts as an improvement (default 0). */
  readonly minDelta?: number;
  /**
   * The epochs without a new best count only once the best has improved on the first epoch's figure by this
   * fraction (default 0): a plateau at the start (small initial weights) is not convergence.
   */
  readonly settle?: number;
}
