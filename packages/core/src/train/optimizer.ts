import type { Tensor } from '../backend/types.js';
import { declarePart, option, readSchedule } from './declare.js';
import type { GradientStep, PartContext } from './parts.js';
import type { Schedule } from './schedule.js';

/** The optimiser's slice of the options. */
export interface MomentumOptions {
  /** Momentum coefficient (default 0): a number or a {@link Schedule}, e.g. 0.5 then 0.9 (Hinton 2010). */
  readonly momentum?: Schedule;
}

/**
 * Stochastic gradient ascent with momentum: velocity <- momentum velocity + lr g; theta <- theta + velocity
 * for W, a and b. The velocity is state (`velocity.*`): rolled back, checkpointed and resumed.
 */
export class Momentum {
  readonly name = 'momentum';
  private readonly ctx: PartContext;
  private readonly velocity: readonly [Tensor, Tensor, Tensor];

  constructor(ctx: PartContext) {
    this.ctx = ctx;
    const { numVisible: nv, numHidden: nh } = ctx.model;
    this.velocity = [
      ctx.state.tensor('velocity.weights', nv, nh),
      ctx.state.tensor('velocity.visible_bias', 1, nv),
      ctx.state.tensor('velocity.hidden_bias', 1, nh),
    ];
  }

  /** Adds the step's gradient, with momentum, to the model's parameters. */
  update(step: GradientStep, learningRate: number, momentum: number): void {
    const { backend: be, model: m } = this.ctx;
    const [vW, va, vb] = this.velocity;
    be.axpby(vW, momentum, vW, learningRate, step.gW);
    be.axpby(va, momentum, va, learningRate, step.ga);
    be.axpby(vb, momentum, vb, learningRate, step.gb);
    be.axpby(m.W, 1, m.W, 1, vW);
    be.axpby(m.a, 1, m.a, 1, va);
    be.axpby(m.b, 1, m.b, 1, vb);
  }
}

const MOMENTUM = option('momentum', 'momentum', { kind: 'schedule', min: 0, max: 1 }, { default: 0, flag: false });

export const momentumPart = declarePart<MomentumOptions>({
  name: 'momentum',
  options: [MOMENTUM],
  resolve(raw, done, ctx) {
    return { momentum: readSchedule(MOMENTUM, raw, done.epochs as number, ctx) };
  },
});
