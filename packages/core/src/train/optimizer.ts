import type { Backend, Tensor } from '../backend/types.js';
import { declarePart, option, readSchedule } from './declare.js';
import type { GradientStep, PartContext } from './parts.js';
import type { Schedule } from './schedule.js';

/** The optimiser's slice of the options. */
export interface MomentumOptions {
  /** Momentum coefficient (default 0): a number or a {@link Schedule}, e.g. 0.5 then 0.9 (Hinton 2010). */
  readonly momentum?: Schedule;
}

/** The velocity's state names (checkpoints of runs with momentum carry them). */
const VELOCITY = ['velocity.weights', 'velocity.visible_bias', 'velocity.hidden_bias'] as const;

/**
 * SGD with momentum and L2 decay on one parameter: velocity <- momentum velocity + lr (g - decay theta);
 * theta <- theta + velocity. `g` holds the ascent direction (and is overwritten when decay is on).
 */
export function momentumUpdate(
  be: Backend,
  param: Tensor,
  velocity: Tensor,
  g: Tensor,
  lr: number,
  momentum: number,
  decay: number,
): void {
  if (decay !== 0) be.axpby(g, 1, g, -decay, param);
  be.axpby(velocity, momentum, velocity, lr, g);
  be.axpby(param, 1, param, 1, velocity);
}

/** Whether a momentum schedule is 0 at every epoch (then no velocity is ever read). */
export function zeroMomentum(schedule: Schedule): boolean {
  if (typeof schedule === 'number') return schedule === 0;
  if (typeof schedule === 'function') return false;
  switch (schedule.kind) {
    case 'constant':
      return schedule.value === 0;
    case 'linear':
      return schedule.from === 0 && schedule.to === 0;
    case 'exponential':
      return schedule.initial === 0;
    case 'piecewise':
      return schedule.values.every((x) => x === 0);
  }
}

/**
 * Stochastic gradient ascent with momentum: velocity <- momentum velocity + lr g; theta <- theta + velocity
 * for W, a and b. The velocity is state (`velocity.*`): rolled back, checkpointed and resumed.
 *
 * With a momentum schedule that is 0 throughout, the update is plain SGD, theta <- theta + lr g, and no
 * velocity is kept: the parameters are the same to the bit (velocity <- 0 velocity + lr g is lr g), and a
 * compiling backend makes the weight update one matrix product accumulated into W, not four passes over
 * [visible, hidden] arrays. A checkpoint written with a velocity (by an earlier version) resumes: the velocity,
 * which such a run never reads, is dropped.
 */
export class Momentum {
  readonly name = 'momentum';
  private readonly ctx: PartContext;
  private readonly velocity: readonly [Tensor, Tensor, Tensor] | undefined;

  constructor(ctx: PartContext, schedule: Schedule) {
    this.ctx = ctx;
    const { numVisible: nv, numHidden: nh } = ctx.model;
    if (zeroMomentum(schedule)) {
      ctx.state.ignore(...VELOCITY);
      return;
    }
    this.velocity = [
      ctx.state.tensor(VELOCITY[0], nv, nh),
      ctx.state.tensor(VELOCITY[1], 1, nv),
      ctx.state.tensor(VELOCITY[2], 1, nh),
    ];
  }

  /** Adds the step's gradient, with momentum, to the model's parameters. */
  update(step: GradientStep, learningRate: number, momentum: number): void {
    const { backend: be, model: m } = this.ctx;
    if (!this.velocity) {
      be.axpby(m.W, 1, m.W, learningRate, step.gW);
      be.axpby(m.a, 1, m.a, learningRate, step.ga);
      be.axpby(m.b, 1, m.b, learningRate, step.gb);
      return;
    }
    const [vW, va, vb] = this.velocity;
    momentumUpdate(be, m.W, vW, step.gW, learningRate, momentum, 0);
    momentumUpdate(be, m.a, va, step.ga, learningRate, momentum, 0);
    momentumUpdate(be, m.b, vb, step.gb, learningRate, momentum, 0);
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
