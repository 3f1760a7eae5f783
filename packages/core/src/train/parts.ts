import type { Scope } from '../backend/scope.js';
import type { Backend, Tensor } from '../backend/types.js';
import type { RBM } from '../model/rbm.js';
import type { DeviceRandom } from '../random/device.js';
import type { StateRegistry } from './state.js';

/**
 * The parts a {@link Trainer} is built from. The loop (trainer.ts) takes a batch, computes the data term
 * and asks a {@link NegativePhase} for the model term; {@link GradientTerm}s then add their terms to the
 * gradient in a fixed order; the optimiser (momentum) updates the parameters. Every part allocates its
 * device state through the {@link StateRegistry} it is given, by name, and so is rolled back on divergence,
 * checkpointed and resumed without the loop knowing about it.
 */

/** What a part is built with. */
export interface PartContext {
  readonly model: RBM;
  readonly backend: Backend;
  /** Scratch and workspace tensors, freed with the trainer. */
  readonly scope: Scope;
  /** Named, checkpointed state. */
  readonly state: StateRegistry;
  /** The trainer's Gibbs stream: parts that sample draw from it, in order, so that runs replay exactly. */
  readonly random: DeviceRandom;
}

/** One mini-batch's data-side tensors, as the loop has them after the positive phase. */
export interface PositivePhase {
  readonly size: number;
  /** The examples v0 [B, nv]. */
  readonly v: Tensor;
  /** p(h = 1 | v0) and a sample h0 of it [B, nh]. */
  readonly ph: Tensor;
  readonly h: Tensor;
  /** p(v | h0) (the mean of the visible units given h0) [B, nv]: CD's first half-step. */
  readonly pv: Tensor;
}

/** The model's statistics: chain states v [C, nv] and p(h = 1 | v) [C, nh]. */
export interface NegativeStatistics {
  readonly v: Tensor;
  readonly ph: Tensor;
}

/** A negative-phase sampler: CD, PCD, parallel tempering, ... */
export interface NegativePhase {
  readonly name: string;
  /**
   * Persistent samplers: the visible states to start from, [chains, nv] (first training examples), when
   * the state did not come from a checkpoint. Called once, before the first step.
   */
  readonly chains?: number;
  start?(v: Tensor): void;
  /** Runs `k` Gibbs sweeps and returns the model's statistics. */
  sample(batch: PositivePhase, k: number): NegativeStatistics;
  /** Its workspace: tensors whose contents no later step reads before writing (see `FuseOptions.scratch`). */
  scratch?(): Tensor[];
  /** Called with the finished gradient (after every term), before the update: fast weights learn from it. */
  afterGradient?(step: GradientStep): void;
}

/** The gradient being assembled (ascent direction) and the batch statistics the terms share. */
export interface GradientStep {
  /** dW [nv, nh], da [1, nv], db [1, nh]: the terms add to them in place. */
  readonly gW: Tensor;
  readonly ga: Tensor;
  readonly gb: Tensor;
  readonly batch: PositivePhase;
  readonly negative: NegativeStatistics;
  /** The data term's hidden statistic: p(h | v0), or the sample h0 with `positivePhase: 'samples'`. */
  readonly positive: Tensor;
  /** Column sums of v0 [1, nv]. */
  readonly sumV: Tensor;
  /** Column sums of p(h = 1 | v0) [1, nh] (computed on first use). */
  dataHiddenSum(): Tensor;
  /**
   * The batch's summed training error [1, 1]: the squared reconstruction error, written before the terms;
   * under the discriminative objective, which reconstructs nothing, the summed -log p(y | x), which the
   * Discriminative term writes.
   */
  readonly batchError: Tensor;
}

/** A term of the gradient besides the likelihood's (decay, sparsity, centring), a parameter of its own, or a
 * constraint on the update (max-norm). */
export interface GradientTerm {
  readonly name: string;
  /** Adds the term to the gradient (ascent direction). */
  apply?(step: GradientStep): void;
  /** After W, a and b are updated: parameters of the term's own (learned variances), constraints (max-norm). */
  update?(learningRate: number, momentum: number): void;
  /** Its workspace: tensors whose contents no later step reads before writing (see `FuseOptions.scratch`). */
  scratch?(): Tensor[];
}
