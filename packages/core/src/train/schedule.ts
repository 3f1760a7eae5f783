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

/**
 * Checks that a schedule is well-formed and its values lie in [min, max). With `epochs` infinite (a run that
 * its AbortSignal ends), a linear schedule has no end to reach, and the others are checked as far as they
 * change: a piecewise schedule past its last boundary, an exponential one at its start (its decay must be
 * at most 1), a function over its first 100 epochs.
 */
export function checkSchedule(name: string, schedule: Schedule, epochs: number, min: number, max: number): void {
  // A number, a function, or a schedule object: "0.1" (a string) is named as what it is.
  const kinds = ['constant', 'linear', 'exponential', 'piecewise'];
  if (
    typeof schedule !== 'number' &&
    typeof schedule !== 'function' &&
    (schedule === null || typeof schedule !== 'object' || !kinds.includes((schedule as { kind?: string }).kind ?? ''))
  )
    throw new ArgumentError(
      `${name} must be a number or a schedule { kind: ${kinds.join(' | ')}, ... }, got ${JSON.stringify(schedule)} (${schedule === null ? 'null' : typeof schedule})`,
    );
  if (typeof schedule === 'object' && schedule.kind === 'piecewise') {
    if (schedule.values.length !== schedule.boundaries.length + 1) {
      throw new ArgumentError(`${name}: a piecewise schedule needs one more value than boundaries`);
    }
  }
  let horizon = epochs;
  if (epochs === Number.POSITIVE_INFINITY) {
    if (typeof schedule === 'function') horizon = 100;
    else if (typeof schedule === 'number' || schedule.kind === 'constant') horizon = 1;
    else if (schedule.kind === 'piecewise') horizon = Math.max(0, ...schedule.boundaries) + 1;
    else if (schedule.kind === 'exponential' && schedule.decay >= 0 && schedule.decay <= 1) horizon = 1;
    else
      throw new ArgumentError(
        `${name}: a ${schedule.kind} schedule ${schedule.kind === 'linear' ? 'needs a finite number of epochs' : 'with decay above 1 grows without bound'}`,
      );
  }
  for (let e = 0; e < horizon; e++) {
    const x = scheduleValue(schedule, e, epochs);
    if (!Number.isFinite(x) || x < min || x >= max) {
      throw new ArgumentError(`${name} at epoch ${e} is ${x}, expected a number in [${min}, ${max})`);
    }
  }
}
