import { ArgumentError } from '../errors.js';

/**
 * A hyperparameter that may change over epochs (learning rate, momentum). Plain objects rather than
 * closures where possible, so that a schedule can be written to a checkpoint and read back.
 */
export type Schedule =
  | number
  | { readonly kind: 'constant'; readonly value: number }
  /** Linear from `from` at the first epoch to `to` at the last. */
  | { readonly kind: 'linear'; readonly from: number; readonly to: number }
  /** initial * decay^epoch. */
  | { readonly kind: 'exponential'; readonly initial: number; readonly decay: number }
  /** values[i] while epoch < boundaries[i]; the last value after. E.g. momentum 0.5 then 0.9 (Hinton 2010). */
  | { readonly kind: 'piecewise'; readonly boundaries: readonly number[]; readonly values: readonly number[] }
  | ((epoch: number, epochs: number) => number);

/** The value of a schedule at a 0-based epoch of `epochs`. */
export function scheduleValue(schedule: Schedule, epoch: number, epochs: number): number {
  if (typeof schedule === 'number') return schedule;
  if (typeof schedule === 'function') return schedule(epoch, epochs);
  switch (schedule.kind) {
    case 'constant':
      return schedule.value;
    case 'linear':
      return epochs <= 1 ? schedule.from : schedule.from + ((schedule.to - schedule.from) * epoch) / (epochs - 1);
    case 'exponential':
      return schedule.initial * schedule.decay ** epoch;
    case 'piecewise': {
      const i = schedule.boundaries.findIndex((b) => epoch < b);
      return schedule.values[i === -1 ? schedule.values.length - 1 : i]!;
    }
  }
}

/** Checks that a schedule is well-formed and its values lie in [min, max). */
export function checkSchedule(name: string, schedule: Schedule, epochs: number, min: number, max: number): void {
  if (typeof schedule === 'object' && schedule.kind === 'piecewise') {
    if (schedule.values.length !== schedule.boundaries.length + 1) {
      throw new ArgumentError(`${name}: a piecewise schedule needs one more value than boundaries`);
    }
  }
  for (let e = 0; e < epochs; e++) {
    const x = scheduleValue(schedule, e, epochs);
    if (!Number.isFinite(x) || x < min || x >= max) {
      throw new ArgumentError(`${name} at epoch ${e} is ${x}, expected a number in [${min}, ${max})`);
    }
  }
}
