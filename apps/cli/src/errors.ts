import { RbmError } from '@rbmjs/core';

/**
 * Ends a command with an exit code of its own after it has said what happened (e.g. 130 after an
 * interrupt that saved a checkpoint); the message, if any, is printed like an error.
 */
export class CliExit extends Error {
  readonly exitCode: number;
  constructor(exitCode: number, message = '') {
    super(message);
    this.exitCode = exitCode;
  }
}

/** Flags that cannot go together, or a flag that has no effect with the others: exit code 2, like Commander's. */
export class UsageError extends RbmError {
  constructor(message: string) {
    super('INVALID_ARGUMENT', message);
  }
}
