/**
 * Typed errors. Every error rbmjs throws on bad input is an {@link RbmError} with a stable `code`,
 * and a message that names the problem: the file, the row and column, the shape, the value.
 */

export type RbmErrorCode =
  | 'SHAPE_MISMATCH'
  | 'INVALID_ARGUMENT'
  | 'INVALID_DATA'
  | 'MODEL_FORMAT'
  | 'BACKEND_UNAVAILABLE'
  | 'BACKEND_API'
  | 'DIVERGED'
  | 'TOO_LARGE'
  | 'DISPOSED'
  | 'FILE'
  | 'ABORTED'
  | 'NOT_FITTED';

export class RbmError extends Error {
  readonly code: RbmErrorCode;
  constructor(code: RbmErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Two shapes that had to agree did not. */
export class ShapeError extends RbmError {
  constructor(message: string) {
    super('SHAPE_MISMATCH', message);
  }
}

/** A hyperparameter or option outside its domain. */
export class ArgumentError extends RbmError {
  constructor(message: string) {
    super('INVALID_ARGUMENT', message);
  }
}

/** Data that the model cannot take: NaN/Inf, or values outside [0, 1] for Bernoulli units. */
export class DataError extends RbmError {
  readonly row: number | undefined;
  readonly column: number | undefined;
  readonly value: number | undefined;
  constructor(message: string, where: { row?: number; column?: number; value?: number } = {}) {
    super('INVALID_DATA', message);
    this.row = where.row;
    this.column = where.column;
    this.value = where.value;
  }
}

/** A model file that is corrupt, truncated, oversized or not an rbmjs model. */
export class ModelFormatError extends RbmError {
  constructor(message: string) {
    super('MODEL_FORMAT', message);
  }
}

/**
 * A file that cannot be read or written as asked: missing, not a regular file (a FIFO, a device, a
 * directory), too large, or refused (it exists and would be replaced). `path` names it; `reason` is the
 * errno code when the system gave one ('ENOENT', 'ELOOP', 'ENOSPC'), or 'ENOTREG', 'EFBIG', 'EEXIST'.
 */
export class FileError extends RbmError {
  readonly path: string;
  readonly reason: string | undefined;
  constructor(message: string, path: string, reason?: string, options?: { cause?: unknown }) {
    super('FILE', message, options);
    this.path = path;
    this.reason = reason;
  }
}

/** A model too large for an exact computation. */
export class TooLargeError extends RbmError {
  constructor(message: string) {
    super('TOO_LARGE', message);
  }
}

/**
 * A long computation (sampling, AIS, greedy training) stopped by its AbortSignal between two of its steps.
 * `done` of `total` steps had run.
 */
export class AbortedError extends RbmError {
  readonly done: number;
  readonly total: number;
  constructor(what: string, done: number, total: number) {
    super('ABORTED', `${what} aborted after ${done} of ${total} steps`);
    this.done = done;
    this.total = total;
  }
}

/** The first line of an error's message (native libraries append stack-like detail below it). */
export function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!;
}

/** Why one backend (or one of its modes) cannot run here, and how to get it where that is known. */
export interface BackendFailure {
  /** `family` or `family:mode`. */
  readonly name: string;
  readonly reason: string;
  /** What to install or provide (a command, a requirement). */
  readonly install?: string;
}

/** A failure in one line: the reason, and how to get the backend when that is known. */
export function describeFailure(failure: BackendFailure): string {
  return failure.install ? `${failure.reason}; to get it: ${failure.install}` : failure.reason;
}

/**
 * A backend cannot start here; `reasons` says why for each one (or each mode) that was tried. Backend
 * packages throw it from their factories; the resolver gathers them.
 */
export class BackendUnavailableError extends RbmError {
  readonly reasons: ReadonlyArray<BackendFailure>;
  constructor(message: string, reasons: ReadonlyArray<BackendFailure> = []) {
    super('BACKEND_UNAVAILABLE', message);
    this.reasons = reasons;
  }
}

/** A backend name or mode that no backend in the table has (a usage error, not an unavailable backend). */
export class UnknownBackendError extends ArgumentError {
  readonly choices: readonly string[];
  constructor(message: string, choices: readonly string[]) {
    super(message);
    this.choices = choices;
  }
}

/**
 * Training produced non-finite parameters. `step` is the first optimiser step (1-based, counted over
 * the whole run) whose update made a parameter NaN or infinite; the model holds the parameters from
 * just before it.
 */
export class DivergenceError extends RbmError {
  readonly step: number;
  readonly epoch: number;
  readonly batch: number;
  constructor(step: number, epoch: number, batch: number, detail: string) {
    super(
      'DIVERGED',
      `training diverged at step ${step} (epoch ${epoch}, batch ${batch}): ${detail}; ` +
        'the model keeps the parameters from before that step',
    );
    this.step = step;
    this.epoch = epoch;
    this.batch = batch;
  }
}

/**
 * A training run stopped by its AbortSignal, between two batches. The trainer's state (exportState) then
 * holds the position inside the epoch; a resumed run continues with batch `batch` of epoch `epoch`.
 */
export class TrainingAbortedError extends RbmError {
  readonly epoch: number;
  readonly batch: number;
  readonly batches: number;
  constructor(epoch: number, batch: number, batches: number) {
    super('ABORTED', `training stopped by its signal after batch ${batch} of ${batches} of epoch ${epoch + 1}`);
    this.epoch = epoch;
    this.batch = batch;
    this.batches = batches;
  }
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
