import { memo, type Scope } from '../backend/scope.js';
import { fused } from '../backend/trace.js';
import type { Backend, Tensor } from '../backend/types.js';
import type { RBM } from '../model/rbm.js';
import type { DeviceRandom } from '../random/device.js';
import { buildParts } from './config.js';
import { Momentum } from './optimizer.js';
import type { GradientStep, GradientTerm, NegativePhase, PartContext, PositivePhase } from './parts.js';
import type { Schedule } from './schedule.js';
import type { TrainingObjective } from './terms.js';

/**
 * One step of gradient ascent on a mini-batch, all on the device: the positive phase, the sampler's negative
 * phase, the likelihood's gradient, the terms in table order, the optimiser's update. The loop around it
 * (epochs, batches, divergence checks, state) is the {@link Trainer}'s.
 */

/** Device buffers of the positive phase for one batch size. */
export interface BatchWorkspace extends PositivePhase {
  readonly uh: Tensor;
  readonly diff: Tensor;
  readonly rowErr: Tensor;
}

/** What the step reads of the resolved options. */
export interface StepOptions {
  readonly k: number;
  readonly positivePhase: 'probabilities' | 'samples';
  readonly objective: TrainingObjective;
  readonly hybridWeight?: number;
  readonly momentum: Schedule;
}

export class AscentStep {
  readonly negativePhase: NegativePhase;
  readonly terms: readonly GradientTerm[];
  /** The epoch's running sum of the batches' summed squared reconstruction errors [1, 1]. */
  readonly epochErr: Tensor;
  /** Each batch's summed squared reconstruction error [1, 1], one per step of a run of several. */
  private readonly batchErrs: Tensor[] = [];
  private readonly o: StepOptions;
  private readonly model: RBM;
  private readonly backend: Backend;
  private readonly scope: Scope;
  private readonly random: DeviceRandom;
  private readonly optimizer: Momentum;
  private readonly workspaces = new Map<number, BatchWorkspace>();
  // Gradient buffers, ascent direction.
  private readonly gW: Tensor;
  private readonly ga: Tensor;
  private readonly gb: Tensor;
  private readonly sumV0: Tensor;
  private readonly sumVk: Tensor;
  private readonly sumPos: Tensor;
  private readonly sumNeg: Tensor;
  private readonly checksum: [Tensor, Tensor, Tensor, Tensor];

  /** Builds the optimiser (first: its velocities are the first state), then the parts the options ask for. */
  constructor(ctx: PartContext, options: StepOptions) {
    this.o = options;
    this.model = ctx.model;
    this.backend = ctx.backend;
    this.scope = ctx.scope;
    this.random = ctx.random;
    this.optimizer = new Momentum(ctx, options.momentum);
    const parts = buildParts(ctx, options as unknown as Record<string, unknown>);
    this.negativePhase = parts.negative;
    this.terms = parts.terms;
    const { numVisible: nv, numHidden: nh } = ctx.model;
    const s = ctx.scope;
    this.gW = s.tensor(nv, nh);
    this.ga = s.tensor(1, nv);
    this.gb = s.tensor(1, nh);
    this.sumV0 = s.tensor(1, nv);
    this.sumVk = s.tensor(1, nv);
    this.sumPos = s.tensor(1, nh);
    this.sumNeg = s.tensor(1, nh);
    this.epochErr = s.tensor(1, 1);
    this.checksum = [s.tensor(1, nh), s.tensor(1, 1), s.tensor(1, 1), s.tensor(1, 1)];
  }

  /** The buffers of a batch of `size` rows (the last batch of an epoch may be smaller). */
  workspace(size: number): BatchWorkspace {
    const { scope: s, model } = this;
    const [nv, nh] = [model.numVisible, model.numHidden];
    return memo(this.workspaces, size, () => ({
      size,
      v: s.tensor(size, nv),
      ph: s.tensor(size, nh),
      h: s.tensor(size, nh),
      uh: s.tensor(size, nh),
      pv: s.tensor(size, nv),
      diff: s.tensor(size, nv),
      rowErr: s.tensor(size, 1),
    }));
  }

  /** The summed squared reconstruction error of the `i`-th batch of the last {@link run} [1, 1]. */
  batchError(i: number): Tensor {
    while (this.batchErrs.length <= i) this.batchErrs.push(this.scope.tensor(1, 1));
    return this.batchErrs[i]!;
  }

  /**
   * One gradient step per batch in `batches` (each ws.size rows, uploaded to ws.v in turn): all on the
   * device, no readback, and one unit where the backend fuses, so that a compiling backend runs several
   * small steps per call (its per-call cost, and the copy of the parameters out of the unit, paid once).
   */
  run(ws: BatchWorkspace, batches: readonly Float32Array[], learningRate: number, momentum: number): void {
    // The discriminative objective's step has a label of its own: a backend may treat it apart.
    const label = this.o.objective === 'generative' ? 'train-step' : 'train-step:discriminative';
    const be = this.backend;
    const body = () => {
      batches.forEach((rows, i) => {
        be.write(ws.v, rows);
        this.ops(ws, learningRate, momentum, this.batchError(i));
      });
    };
    fused(be, label, body, { scratch: this.stepScratch(ws) });
  }

  /**
   * The step's workspace, which no later step reads before writing: the batch's buffers, the gradient and
   * its sums, the sampler's buffers. Not the batch errors (onBatch reads them) nor anything in the state
   * registry.
   */
  private stepScratch(ws: BatchWorkspace): Tensor[] {
    return [
      ws.v,
      ws.ph,
      ws.h,
      ws.uh,
      ws.pv,
      ws.diff,
      ws.rowErr,
      this.gW,
      this.ga,
      this.gb,
      this.sumV0,
      this.sumVk,
      this.sumPos,
      this.sumNeg,
      ...(this.negativePhase.scratch?.() ?? []),
      ...this.terms.flatMap((t) => t.scratch?.() ?? []),
    ];
  }

  private ops(ws: BatchWorkspace, learningRate: number, momentum: number, batchErr: Tensor): void {
    const be = this.backend;
    const m = this.model;
    const B = ws.size;

    // Negative phase (below): the model's v and p(h = 1 | v) from the sampler's chains; none for the
    // discriminative objective, whose gradient the Discriminative term adds exactly, and which samples
    // nothing: its training error is the cross-entropy that term writes, not a reconstruction.
    const generative = this.o.objective !== 'discriminative';

    // Positive phase: p(h = 1 | v0), and a sample h0 ~ p(h | v0). The discriminative objective reads
    // neither unless a term asks (its gradient is the Discriminative term's): p(h | v0) and the column
    // sums of v0 are computed there on first use, so a backend that runs op by op does not pay for them.
    let hasPh = false;
    const dataHidden = () => {
      if (!hasPh) m.hiddenProbabilities(ws.ph, ws.v);
      hasPh = true;
    };
    if (generative) {
      dataHidden();
      m.sampleHidden(ws.h, ws.ph, this.random, ws.uh);
    }
    const pos = this.o.positivePhase === 'samples' ? ws.h : ws.ph;

    // Reconstruction error, from p(v | h0): CD's first half-step, computed here for every sampler.
    if (generative) {
      m.visibleProbabilities(ws.pv, ws.h);
      be.binary('sub', ws.diff, ws.v, ws.pv);
      be.unary('square', ws.diff, ws.diff);
      be.sum(ws.rowErr, ws.diff, 1);
      be.sum(batchErr, ws.rowErr, 0);
    }
    const neg = generative ? this.negativePhase.sample(ws, this.o.k) : { v: ws.v, ph: ws.ph };

    // Gradient (ascent): data statistics over B examples minus chain statistics over C chains. The visible
    // units' statistic is v as the hidden units see it (Gaussian units: -dE/dW_ij = (v_i / sigma_i^2) h_j,
    // -dE/da_i = (v_i - a_i) / sigma_i^2). The hybrid objective weights it by alpha.
    const C = neg.v.rows;
    const w = this.o.objective === 'hybrid' ? this.o.hybridWeight! : 1;
    let hasSumV = false;
    const sumV = () => {
      if (!hasSumV) be.sum(this.sumV0, ws.v, 0);
      hasSumV = true;
      return this.sumV0;
    };
    if (generative) {
      be.matMul(this.gW, m.scaledVisible(ws.v), pos, { transposeA: true, alpha: w / B });
      be.matMul(this.gW, m.scaledVisible(neg.v), neg.ph, { transposeA: true, alpha: -w / C, beta: 1 });
      be.sum(this.sumVk, neg.v, 0);
      be.axpby(this.ga, w / B, sumV(), -w / C, this.sumVk);
      m.units.scaleBiasGradient(m, this.ga);
      be.sum(this.sumPos, pos, 0);
      be.sum(this.sumNeg, neg.ph, 0);
      be.axpby(this.gb, w / B, this.sumPos, -w / C, this.sumNeg);
    } else {
      be.fill(this.gW, 0);
      be.fill(this.ga, 0);
      be.fill(this.gb, 0);
    }

    // sumPos holds the sum of p(h | v0) once `dataHiddenSum` has been asked for (with sampled h0 it held
    // the sum of h0 until then).
    let hiddenSum = pos === ws.ph && generative;
    const step: GradientStep = {
      gW: this.gW,
      ga: this.ga,
      gb: this.gb,
      batch: ws,
      get negative() {
        dataHidden();
        return neg;
      },
      get positive() {
        dataHidden();
        return pos;
      },
      get sumV() {
        return sumV();
      },
      dataHiddenSum: () => {
        dataHidden();
        if (!hiddenSum) be.sum(this.sumPos, ws.ph, 0);
        hiddenSum = true;
        return this.sumPos;
      },
      batchError: batchErr,
    };
    for (const term of this.terms) term.apply?.(step);
    be.binary('add', this.epochErr, this.epochErr, batchErr);
    this.negativePhase.afterGradient?.(step);

    this.optimizer.update(step, learningRate, momentum);
    for (const term of this.terms) term.update?.(learningRate, momentum);
  }

  /**
   * Whether every parameter is finite and within the blow-up bound, with one readback. s = LSE(W^2) +
   * LSE(a^2) + LSE(b^2) (log-sum-exp over all entries) lies between max x^2 and 3 max x^2 + 3 log(size):
   * it is NaN or infinite when a parameter is (or its square overflows), and above maxParameter^2 only when
   * some |x| exceeds about maxParameter / sqrt(3). The gradient buffers serve as scratch: they are
   * recomputed by the next step.
   */
  async parametersSound(maxParameter: number): Promise<boolean> {
    const be = this.backend;
    const m = this.model;
    const [rowW, total, sa, sb] = this.checksum;
    be.unary('square', this.gW, m.W);
    be.unary('square', this.ga, m.a);
    be.unary('square', this.gb, m.b);
    be.logSumExp(rowW, this.gW, 0);
    be.logSumExp(total, rowW, 1);
    be.logSumExp(sa, this.ga, 1);
    be.logSumExp(sb, this.gb, 1);
    be.binary('add', total, total, sa);
    be.binary('add', total, total, sb);
    const [x] = await be.read(total);
    return Number.isFinite(x!) && x! <= maxParameter ** 2;
  }
}
