import {
  ArgumentError,
  type OptionDeclaration,
  parseTrainConfig,
  type Schedule,
  type TrainConfig,
  trainOptionDeclarations,
  type VisibleUnits,
} from '@rbmjs/core';
import { type Command, Option } from 'commander';
import { UsageError } from '../../errors.js';
import { integerAtLeast, number, positiveInt } from '../../options.js';

/**
 * The training options' flags, generated from core's table of parts (name, help, default, choices, range):
 * a new part's option gets its flag here without a line of its own. The CLI writes by hand only what it
 * spells otherwise: the schedules (--lr, --lr-schedule, ...; --momentum, --momentum-final, ...).
 */

/** Where the CLI's defaults differ from core's (a run of a few epochs on MNIST should learn something). */
const CLI_DEFAULTS: Readonly<Record<string, number>> = { epochs: 10, seed: 1 };
/**
 * A classifier's defaults, which `--labels` without `--objective` sets, each unless its flag is given: the
 * hybrid objective (alpha 0.01) of Larochelle & Bengio (2008) with their per-example rate 0.05 (0.5 for the
 * mean over a batch of 10), no momentum. `rbm train --data mnist --limit 10000 --labels --hidden 200
 * --epochs 5` then reaches 92.8-93.2% test accuracy over 3 seeds (the general defaults: 76.6%).
 */
export const CLASSIFIER_DEFAULTS = { objective: 'hybrid', batchSize: 10, learningRate: 0.5, momentum: 0 } as const;
/** The flags that set each classifier default (any of them given: the default is not applied). */
const CLASSIFIER_FLAGS: Readonly<Record<keyof typeof CLASSIFIER_DEFAULTS, readonly string[]>> = {
  objective: ['objective'],
  batchSize: ['batch'],
  learningRate: ['lr', 'lrSchedule', 'lrFinal', 'lrDecay'],
  momentum: ['momentum', 'momentumFinal', 'momentumSwitch'],
};

/** The classifier defaults that apply to a `--labels` run: none with --objective, else those not given. */
export function classifierDefaults(command: Command): Record<string, unknown> {
  const given = (name: string) => command.getOptionValueSource(name) === 'cli';
  if (given('objective')) return {};
  return Object.fromEntries(
    Object.entries(CLASSIFIER_DEFAULTS).filter(
      ([k]) => !CLASSIFIER_FLAGS[k as keyof typeof CLASSIFIER_DEFAULTS].some(given),
    ),
  );
}

/** Defaults as help shows them (the objective matters to classifiers only: theirs). */
const SHOWN_DEFAULTS: Readonly<Record<string, number | string>> = { ...CLI_DEFAULTS, objective: 'hybrid' };
/** A classifier's own default, as help adds it. */
const SHOWN_CLASSIFIER: Readonly<Record<string, number | string>> = { batchSize: CLASSIFIER_DEFAULTS.batchSize };

/** A generated flag: the commander option and the option path its value goes to. */
interface PartFlag {
  readonly option: Option;
  readonly decl: OptionDeclaration;
}

/** A camelCase name or dotted path in a flag's words: `sparsity.target` -> `sparsity-target`. */
export function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`).replace(/\./g, '-');
}

export function flagOf(d: OptionDeclaration): string {
  if (typeof d.flag === 'string') return d.flag;
  const arg = d.value.kind === 'integer' ? ' <n>' : d.value.kind === 'boolean' ? '' : ' <x>';
  return `--${kebab(d.path)}${arg}`;
}

export function parserOf(d: OptionDeclaration): ((value: string) => unknown) | undefined {
  const v = d.value;
  if (v.kind === 'integer') return integerAtLeast(v.min);
  if (v.kind === 'number')
    return number(v.min, v.max, { inclusiveMin: v.minIncluded !== false, inclusiveMax: v.maxIncluded !== false });
  return undefined;
}

const PART_FLAGS: readonly PartFlag[] = trainOptionDeclarations()
  .filter((d) => d.flag !== false)
  .map((decl) => {
    const fallback = SHOWN_DEFAULTS[decl.path] ?? decl.default;
    const shown = fallback !== undefined && decl.value.kind !== 'boolean';
    const classifier = SHOWN_CLASSIFIER[decl.path];
    const also = classifier !== undefined ? `; with --labels: ${classifier}` : '';
    const option = new Option(flagOf(decl), `${decl.help}${shown ? ` (default: ${fallback}${also})` : ''}`);
    const parse = parserOf(decl);
    if (parse) option.argParser(parse);
    if (decl.value.kind === 'choice') option.choices(decl.value.choices);
    return { option, decl };
  });

/** The flag that sets each option path, as messages name it (`sparsity.target` -> `--sparsity-target`). */
const SPELLING = new Map<string, string>([
  ['learningRate', '--lr'],
  ['momentum', '--momentum'],
]);
for (const f of PART_FLAGS) {
  SPELLING.set(f.decl.path, f.option.long!);
  const top = f.decl.path.split('.')[0]!;
  if (!SPELLING.has(top)) SPELLING.set(top, f.option.long!);
}

/** Core's option paths in the CLI's words. */
export function spellFlag(path: string): string {
  return SPELLING.get(path) ?? SPELLING.get(path.split('.')[0]!) ?? `--${kebab(path)}`;
}

/** Adds the generated flags, then the schedules' flags. */
export function addTrainingFlags(cmd: Command): Command {
  for (const f of PART_FLAGS) cmd.addOption(f.option);
  return cmd
    .option(
      '--lr <x>',
      `learning rate (with --labels: ${CLASSIFIER_DEFAULTS.learningRate})`,
      number(0, Number.POSITIVE_INFINITY, { inclusiveMin: false }),
      0.05,
    )
    .addOption(
      new Option('--lr-schedule <kind>', 'learning-rate schedule')
        .choices(['constant', 'linear', 'exponential'])
        .default('constant'),
    )
    .option('--lr-final <x>', 'final learning rate of the linear schedule', number(0, Number.POSITIVE_INFINITY))
    .option('--lr-decay <x>', 'per-epoch factor of the exponential schedule', number(0, 1))
    .option(
      '--momentum <x>',
      `momentum (with --labels: ${CLASSIFIER_DEFAULTS.momentum})`,
      number(0, 1, { inclusiveMax: false }),
      0.5,
    )
    .option(
      '--momentum-final <x>',
      'momentum after --momentum-switch epochs (Hinton: 0.9)',
      number(0, 1, { inclusiveMax: false }),
    )
    .option('--momentum-switch <n>', 'epoch at which --momentum-final takes over', positiveInt, 5);
}

/** The flags of the schedules, as commander gives them. */
interface ScheduleFlags {
  lr: number;
  lrSchedule: 'constant' | 'linear' | 'exponential';
  lrFinal?: number;
  lrDecay?: number;
  momentum: number;
  momentumFinal?: number;
  momentumSwitch: number;
}

function setPath(raw: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let o = raw;
  for (const k of keys.slice(0, -1)) {
    if (typeof o[k] !== 'object' || o[k] === null) o[k] = {};
    o = o[k] as Record<string, unknown>;
  }
  o[keys.at(-1)!] = value;
}

/**
 * The config the flags ask for, checked by core (its messages name the flags). Only flags given on the command
 * line count, with the CLI's defaults: a flag with no effect is refused by the part it belongs to.
 * `extra` holds options the command sets from flags of its own (the objective of a classifier).
 */
export function configFromFlags(
  command: Command,
  extra: Record<string, unknown> = {},
  units?: VisibleUnits,
): TrainConfig {
  const f = command.opts() as ScheduleFlags & Record<string, unknown>;
  const given = (name: string) => command.getOptionValueSource(name) === 'cli';
  if (given('lrFinal') && f.lrSchedule !== 'linear') throw new UsageError('--lr-final needs --lr-schedule linear');
  if (given('lrDecay') && f.lrSchedule !== 'exponential')
    throw new UsageError('--lr-decay needs --lr-schedule exponential');
  if (given('momentumSwitch') && f.momentumFinal === undefined)
    throw new UsageError('--momentum-switch needs --momentum-final');
  const raw: Record<string, unknown> = {
    ...CLI_DEFAULTS,
    learningRate: learningRate(f),
    momentum: momentum(f),
    ...extra,
  };
  for (const { option, decl } of PART_FLAGS) {
    const key = option.attributeName();
    if (!given(key)) continue;
    const value = f[key];
    // An optional argument left out (`--centering`) switches the part on with its defaults.
    if (value === true && decl.value.kind !== 'boolean') setPath(raw, decl.path.split('.')[0]!, true);
    else setPath(raw, decl.path, value);
  }
  try {
    return parseTrainConfig(raw, { spell: spellFlag, ...(units ? { units } : {}) });
  } catch (error) {
    // Core's checks, in the flags' words: a usage error (exit 2).
    if (error instanceof ArgumentError) throw new UsageError(error.message);
    throw error;
  }
}

/**
 * The learning-rate and momentum schedules the flags set, where any of their flags is given on the command
 * line (a model trained otherwise than `configFromFlags`, such as the collaborative-filtering RBM, keeps its
 * own defaults for the rest).
 */
/** The flags that make the learning-rate schedule and the momentum schedule (attribute names). */
export const LR_FLAGS = ['lr', 'lrSchedule', 'lrFinal', 'lrDecay'] as const;
export const MOMENTUM_FLAGS = ['momentum', 'momentumFinal', 'momentumSwitch'] as const;

export function givenSchedules(command: Command): { learningRate?: Schedule; momentum?: Schedule } {
  const f = command.opts() as ScheduleFlags;
  const given = (name: string) => command.getOptionValueSource(name) === 'cli';
  return {
    ...(LR_FLAGS.some(given) ? { learningRate: learningRate(f) } : {}),
    ...(MOMENTUM_FLAGS.some(given) ? { momentum: momentum(f) } : {}),
  };
}

/** For --resume's comparison (checkGivenFlags): each schedule flag reads the schedule it makes in a job. */
export function scheduleFields<J>(
  options: (j: J) => { readonly learningRate?: Schedule; readonly momentum?: Schedule },
): Record<string, (j: J) => unknown> {
  return {
    ...Object.fromEntries(LR_FLAGS.map((f) => [f, (j: J) => options(j).learningRate])),
    ...Object.fromEntries(MOMENTUM_FLAGS.map((f) => [f, (j: J) => options(j).momentum])),
  };
}

function learningRate(f: ScheduleFlags): Schedule {
  if (f.lrSchedule === 'linear') return { kind: 'linear', from: f.lr, to: f.lrFinal ?? f.lr / 10 };
  if (f.lrSchedule === 'exponential') return { kind: 'exponential', initial: f.lr, decay: f.lrDecay ?? 0.95 };
  return f.lr;
}

function momentum(f: ScheduleFlags): Schedule {
  return f.momentumFinal === undefined
    ? f.momentum
    : { kind: 'piecewise', boundaries: [f.momentumSwitch], values: [f.momentum, f.momentumFinal] };
}

/**
 * The config paths that the flags given on the command line set (the schedules' flags set the schedule), by
 * flag: on --resume each must agree with the checkpoint's.
 */
export function givenConfigPaths(command: Command): Array<{ flag: string; path: string }> {
  const given = (name: string) => command.getOptionValueSource(name) === 'cli';
  const paths: Array<{ flag: string; path: string }> = [];
  for (const [flag, path] of [
    ['lr', 'learningRate'],
    ['lrSchedule', 'learningRate'],
    ['lrFinal', 'learningRate'],
    ['lrDecay', 'learningRate'],
    ['momentum', 'momentum'],
    ['momentumFinal', 'momentum'],
    ['momentumSwitch', 'momentum'],
  ] as const)
    if (given(flag)) paths.push({ flag: `--${kebab(flag)}`, path });
  for (const { option, decl } of PART_FLAGS)
    if (given(option.attributeName()) && decl.path !== 'epochs') paths.push({ flag: option.long!, path: decl.path });
  return paths;
}
