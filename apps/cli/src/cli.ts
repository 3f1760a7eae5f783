import { DEFAULT_MEMORY_BUDGET, formatBytes, RbmError, setMemoryBudget } from '@rbmjs/core';
import { Command, CommanderError } from 'commander';
import { registerBackends } from './commands/backends.js';
import { registerBench } from './commands/bench.js';
import { registerEval } from './commands/eval.js';
import { registerExport } from './commands/export.js';
import { registerImport } from './commands/import.js';
import { registerInfo } from './commands/info.js';
import { registerPredict } from './commands/predict.js';
import { registerRecommend } from './commands/recommend.js';
import { registerSample } from './commands/sample.js';
import { registerTrain } from './commands/train/index.js';
import { registerTransform } from './commands/transform.js';
import { CliExit, UsageError } from './errors.js';
import { byteSize } from './options.js';
import { escapeControls } from './output.js';
import { VERSION } from './version.js';

export function buildProgram(): Command {
  const program = new Command('rbm')
    .description('Train, sample and evaluate Restricted Boltzmann Machines')
    .version(VERSION)
    .showSuggestionAfterError()
    .exitOverride();
  registerTrain(program);
  registerEval(program);
  registerSample(program);
  registerTransform(program);
  registerPredict(program);
  registerRecommend(program);
  registerExport(program);
  registerImport(program);
  registerInfo(program);
  registerBackends(program);
  registerBench(program);
  for (const cmd of program.commands) {
    cmd.exitOverride();
    // The up-front budget every command's request is checked against (classes, chains, runs, units).
    cmd.option(
      '--max-memory <size>',
      `refuse requests estimated above this much memory, before allocating (default ${formatBytes(DEFAULT_MEMORY_BUDGET).replace(' ', '')})`,
      byteSize,
    );
  }
  program.hook('preAction', (_program, action) => {
    const size = action.opts().maxMemory as number | undefined;
    setMemoryBudget(size ?? DEFAULT_MEMORY_BUDGET, '--max-memory SIZE raises it');
  });
  return program;
}

/**
 * Runs the command line and returns the exit code: 0 on success, 1 when the work failed (bad data, a
 * corrupt model), 2 for a usage error. Errors are one line, `rbm: ...`; --verbose adds the stack.
 */
export async function main(argv: string[]): Promise<number> {
  const verbose = argv.includes('--verbose');
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander has printed its message (help and version exit 0).
      return error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof CliExit) {
      if (error.message) process.stderr.write(`rbm: ${escapeControls(error.message)}\n`);
      return error.exitCode;
    }
    if (error instanceof UsageError) {
      process.stderr.write(`rbm: ${escapeControls(error.message)}\n`);
      return 2;
    }
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`rbm: ${escapeControls(message).split('\n').join('\n     ')}\n`);
    if (verbose && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
    else if (!(error instanceof RbmError) && !isFileError(error))
      process.stderr.write('(run with --verbose for details)\n');
    return 1;
  }
}

function isFileError(error: unknown): boolean {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).code === 'string' && 'path' in error;
}
