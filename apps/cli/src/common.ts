import { type AisSchedule, aisScheduleSteps, type Backend, checkAisScheduleMemory, RbmError } from '@rbmjs/core';
import type { Command } from 'commander';
import { type BackendSettings, CLI_BACKENDS, startBackend } from './backends.js';
import type { Binarize, DataSpec } from './data.js';
import { UsageError } from './errors.js';
import { nonNegativeInt, number, oneOf, positiveInt } from './options.js';
import type { Output } from './output.js';

export interface DataOptions {
  data: string;
  split: 'train' | 'test';
  limit?: number;
  binarize?: Binarize;
  threshold: number;
  dataSeed: number;
}

export function addDataOptions(cmd: Command, defaultData?: string): Command {
  const data = cmd.option('--data <name|file>', 'mnist, or an IDX or CSV file', defaultData);
  // A data flag that would have no effect is refused, not ignored: it shows a misunderstanding.
  cmd.hook('preAction', (c) =>
    refuseIdleDataFlags(c.opts() as DataOptions, (f) => c.getOptionValueSource(f) === 'cli'),
  );
  return data
    .option('--split <split>', 'MNIST split: train or test', oneOf('train', 'test'), 'train')
    .option('--limit <n>', 'use only the first N examples', positiveInt)
    .option(
      '--binarize <how>',
      'threshold, stochastic or none (default: threshold for MNIST and byte IDX files)',
      oneOf('threshold', 'stochastic', 'none'),
    )
    .option('--threshold <t>', 'binarisation threshold on values scaled to [0, 1]', number(0, 1), 0.5)
    .option('--data-seed <n>', 'seed of stochastic binarisation', nonNegativeInt, 0);
}

/** Refuses --split, --threshold and --data-seed where they change nothing. */
export function refuseIdleDataFlags(o: DataOptions, given: (flag: string) => boolean): void {
  const mnist = o.data === 'mnist';
  const csv = /\.csv$/i.test(o.data ?? '');
  if (given('split') && !mnist && o.data)
    throw new UsageError(`--split chooses MNIST's split; it has no effect on ${o.data}`);
  const binarize = o.binarize ?? (csv ? 'none' : 'threshold');
  if (given('threshold') && binarize !== 'threshold')
    throw new UsageError(
      `--threshold has no effect without threshold binarisation (${o.binarize ? `--binarize ${o.binarize}` : `${o.data} is not binarised by default`}; add --binarize threshold)`,
    );
  if (given('dataSeed') && binarize !== 'stochastic')
    throw new UsageError('--data-seed seeds stochastic binarisation only: add --binarize stochastic, or drop it');
}

export function dataSpec(o: DataOptions): DataSpec {
  if (!o.data) throw new RbmError('INVALID_ARGUMENT', 'no data: give --data mnist or --data FILE');
  return {
    name: o.data,
    split: o.split,
    ...(o.limit !== undefined ? { limit: o.limit } : {}),
    ...(o.binarize !== undefined ? { binarize: o.binarize } : {}),
    threshold: o.threshold,
    seed: o.dataSeed,
  };
}

/**
 * `--backend`, with the choices the CLI's backend table has (a backend added to the table appears here without
 * editing any command).
 */
export function addBackendOption(cmd: Command): Command {
  const names = CLI_BACKENDS.map((e) => e.name).join(', ');
  return cmd.option(
    '--backend <name>',
    `auto, or one of ${names}; NAME:MODE picks a mode (rbm backends lists them)`,
    'auto',
  );
}

/**
 * A command over a model file, `rbm NAME <model>`: its description, what the model must be, and with `data`
 * the data flags (`--data`, default `data`; `true` for no default).
 */
export function modelCommand(
  program: Command,
  name: string,
  description: string,
  o: { readonly model?: string; readonly data?: string | true } = {},
): Command {
  const cmd = program
    .command(name)
    .description(description)
    .argument('<model>', o.model ?? 'model file (safetensors)');
  return o.data === undefined ? cmd : addDataOptions(cmd, o.data === true ? undefined : o.data);
}

/** What the shared flags say, beside a command's own. */
export interface CommonFlags {
  force?: boolean;
  json?: boolean;
  verbose?: boolean;
}

/** The shared flags of a command that runs a backend. */
export interface BackendFlags extends CommonFlags {
  backend: string;
}

/** The shared flags of a command that reads data and runs a backend. */
export interface DataCommandFlags extends DataOptions, BackendFlags {}

/**
 * The flags every command shares, declared once: --backend (when the command runs one), --force (when it
 * writes files; its help says which, or `true` for any output file), --json and --verbose.
 */
export function addCommonOptions(
  cmd: Command,
  o: { readonly backend?: boolean; readonly force?: string | true; readonly json?: string } = {},
): Command {
  if (o.backend) addBackendOption(cmd);
  if (o.force) cmd.option('--force', o.force === true ? 'replace existing output files (regular files only)' : o.force);
  return cmd.option('--json', o.json ?? 'print one JSON object').option('--verbose', 'stack traces on errors');
}

export async function backendFor(
  spec: string,
  out: Output,
  verbose: boolean,
  settings?: BackendSettings,
): Promise<Backend> {
  const backend = await startBackend(
    spec,
    (name, reason) => {
      if (verbose || spec !== 'auto') out.info(`backend ${name} unavailable: ${reason}`);
    },
    settings,
  );
  return backend;
}

/**
 * An AIS schedule flag: `sm`, `sm:F` (F times S&M's steps) or `linear:N`; `flag` names it in the error, and
 * `adaptive` says whether the flag also takes SMC's `adaptive[:C]` (parsed elsewhere).
 */
export function parseSchedule(s: string, flag = '--ais-schedule', adaptive = true): AisSchedule {
  if (s === 'sm') return 'salakhutdinov-murray';
  const sm = /^sm:([1-9]\d{0,2})$/.exec(s);
  if (sm) return { salakhutdinovMurray: Number(sm[1]) };
  const m = /^linear:(\d+)$/.exec(s);
  if (m) return { linear: Number(m[1]) };
  throw new RbmError(
    'INVALID_ARGUMENT',
    `${flag} ${JSON.stringify(s)}: use sm, sm:F (F from 1 to 999 times its steps) or linear:N` +
      (adaptive ? ' (or adaptive[:C])' : ''),
  );
}

/**
 * An AIS schedule flag, parsed, with its size checked against the memory budget under the flag's own name
 * before any work (`linear:400000000` would hold 3.2 GB of inverse temperatures).
 */
export function scheduleWithinBudget(s: string, flag = '--ais-schedule', adaptive = true): AisSchedule {
  const schedule = parseSchedule(s, flag, adaptive);
  const steps = aisScheduleSteps(schedule);
  checkAisScheduleMemory(steps, `${flag} ${s} (${steps} steps)`);
  return schedule;
}
