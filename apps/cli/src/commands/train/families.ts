import type { OptionDeclaration, Schedule } from '@rbmjs/core';
import { type Command, Option } from 'commander';
import { UsageError } from '../../errors.js';
import { flagOf, givenSchedules, LR_FLAGS, MOMENTUM_FLAGS, parserOf } from './flags.js';

/**
 * Which model family takes which flag of `rbm train`, built as the flags are registered: a family's training
 * options come from what it declares in core (TRAIN_PARTS, DBM_OPTIONS, COLLABORATIVE_OPTIONS); the flags of
 * its data and its outputs from the groups it is registered with. A flag given to a family that does not take
 * it is refused by name (exit 2): no flag is silently ignored, and no family keeps a list of another's flags.
 */

export type Family = 'rbm' | 'dbm' | 'ratings';

const NAMES: Readonly<Record<Family, string>> = {
  rbm: 'one RBM or a stack (without --dbm or --ratings)',
  dbm: 'a deep Boltzmann machine (--dbm)',
  ratings: 'the collaborative-filtering RBM (--ratings)',
};

/** The commander attribute of a flag string: `--pretrain-lr <x>` -> `pretrainLr`. */
function attributeOf(flag: string): string {
  return new Option(flag).attributeName();
}

export class FlagTable {
  private readonly takers = new Map<string, Set<Family>>();
  private readonly cmd: Command;

  constructor(cmd: Command) {
    this.cmd = cmd;
  }

  private take(attribute: string, families: readonly Family[]): void {
    const set = this.takers.get(attribute) ?? new Set<Family>();
    for (const f of families) set.add(f);
    this.takers.set(attribute, set);
  }

  /** Registers flags with `add` and records that `families` take every flag it added. */
  group(families: readonly Family[], add: (cmd: Command) => unknown): this {
    const before = new Set(this.cmd.options);
    add(this.cmd);
    for (const o of this.cmd.options) if (!before.has(o)) this.take(o.attributeName(), families);
    return this;
  }

  /**
   * Records what `family` declares: each option's flag (registered here when no family registered it yet,
   * its help saying which family it is for), and the schedules' flags for declared schedules.
   */
  declared(family: Family, declarations: readonly OptionDeclaration[], helpPrefix = ''): this {
    for (const d of declarations) {
      if (d.flag === false) {
        if (d.path === 'learningRate') for (const f of LR_FLAGS) this.take(f, [family]);
        if (d.path === 'momentum') for (const f of MOMENTUM_FLAGS) this.take(f, [family]);
        continue;
      }
      const flag = flagOf(d);
      const attribute = attributeOf(flag);
      if (!this.cmd.options.some((o) => o.attributeName() === attribute)) {
        const shown = d.default !== undefined && d.value.kind !== 'boolean' ? ` (default: ${d.default})` : '';
        const option = new Option(flag, `${helpPrefix}${d.help}${shown}`);
        const parse = parserOf(d);
        if (parse) option.argParser(parse);
        if (d.value.kind === 'choice') option.choices(d.value.choices);
        this.cmd.addOption(option);
      }
      this.take(attribute, [family]);
    }
    return this;
  }

  /** Refuses, by name, the first flag given on the command line that `family` does not take. */
  refuseUndeclared(command: Command, family: Family): void {
    for (const option of command.options) {
      const attribute = option.attributeName();
      // A flag the table never saw was added for every command (--max-memory, in cli.ts).
      const takers = this.takers.get(attribute);
      if (command.getOptionValueSource(attribute) !== 'cli' || !takers || takers.has(family)) continue;
      const others = [...takers].filter((f) => f !== 'rbm').map((f) => NAMES[f]);
      throw new UsageError(
        `${option.long} is not an option of ${NAMES[family]}${others.length ? `; it is for ${others.join(' and ')}` : ''}`,
      );
    }
  }
}

/**
 * The options a family declares, from the flags given on the command line (the rest keep the family's
 * defaults); schedules from the schedule flags. `names` maps an option path to its flag's attribute.
 */
export function givenOptions(command: Command, declarations: readonly OptionDeclaration[]): Record<string, unknown> {
  const options: Record<string, unknown> = {};
  const schedules = givenSchedules(command) as Record<string, Schedule | undefined>;
  for (const d of declarations) {
    if (d.flag === false) {
      if (schedules[d.path] !== undefined) options[d.path] = schedules[d.path];
      continue;
    }
    const attribute = attributeOf(flagOf(d));
    if (command.getOptionValueSource(attribute) === 'cli') options[d.path] = command.getOptionValue(attribute);
  }
  return options;
}

/** For --resume's comparison: each declared flag's attribute, and how to read its value from a job's options. */
export function resumeFields<J>(
  declarations: readonly OptionDeclaration[],
  options: (job: J) => Readonly<Record<string, unknown>>,
): Record<string, (job: J) => unknown> {
  const fields: Record<string, (job: J) => unknown> = {};
  for (const d of declarations)
    if (d.flag !== false && d.path !== 'epochs') fields[attributeOf(flagOf(d))] = (j) => options(j)[d.path];
  return fields;
}
