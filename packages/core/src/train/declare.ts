import { ArgumentError } from '../errors.js';
import type { VisibleUnits } from '../model/units.js';
import type { GradientTerm, NegativePhase, PartContext } from './parts.js';
import { checkSchedule, type Schedule } from './schedule.js';

/**
 * How a trainer part declares its options, once: their names and types, defaults, help, validation (with the
 * conflicts the part has with other options) and canonical JSON form. The table of parts (config.ts) folds
 * these into option resolution, the JSON config, the trainer's parts and the CLI's flags.
 */

/** What values an option takes: enough to check one, and to write its flag and its help. */
export type ValueKind =
  | { readonly kind: 'integer'; readonly min: number }
  | {
      readonly kind: 'number';
      readonly min: number;
      readonly max: number;
      /** Whether the bounds themselves are allowed (default true). */
      readonly minIncluded?: boolean;
      readonly maxIncluded?: boolean;
    }
  | { readonly kind: 'boolean' }
  | { readonly kind: 'choice'; readonly choices: readonly string[] }
  /** A {@link Schedule}: a number, a schedule object or a function; its values within [min, max]. */
  | { readonly kind: 'schedule'; readonly min: number; readonly max: number }
  /** A list of numbers, checked by the part. */
  | { readonly kind: 'numbers' };

export interface OptionDeclaration {
  /** Where the option lives in the options: `l2`, `sparsity.target`. */
  readonly path: string;
  readonly help: string;
  readonly value: ValueKind;
  /** The default, as help shows it (the part applies it). */
  readonly default?: number | string | boolean;
  /**
   * The CLI's flag: `--name <arg>` (default: the path in kebab case with `<x>`, `<n>` or no argument), or
   * `false` where the CLI spells the option otherwise (schedules, ladders).
   */
  readonly flag?: string | false;
}

/** Options as given: a plain object, values not yet checked. */
export type RawOptions = Readonly<Record<string, unknown>>;

export interface ResolveContext {
  /** How an option's path is written in messages: the path itself, or the caller's words (the CLI's flags). */
  readonly spell: (path: string) => string;
  /** The model's visible units, when known: some parts need Bernoulli units, some Gaussian. */
  readonly units?: VisibleUnits;
}

/**
 * A part of the trainer as the options see it. `S` is its slice of the options, as a user writes it; the
 * options are the intersection of every part's slice.
 */
export interface PartDeclaration<S = object, R = unknown> {
  readonly name: string;
  readonly options: readonly OptionDeclaration[];
  /**
   * Checks the part's slice of `raw` (and its conflicts with other options, read from `raw`) and returns
   * its canonical slice (defaults applied, options of a part that is off left out). `done` holds the
   * canonical slices of the parts before it in the table.
   */
  resolve(raw: RawOptions, done: RawOptions, ctx: ResolveContext): Partial<S>;
  /** Builds the trainer part its resolved options ask for (undefined when it is off). */
  build?(ctx: PartContext, options: R): GradientTerm | NegativePhase | undefined;
}

/** Declares a part: an identity that fixes its slice's type (`S`) and the resolved options it builds from. */
export function declarePart<S, R = Required<S>>(part: PartDeclaration<S, R>): PartDeclaration<S, R> {
  return part;
}

/** The value at `path` (`a.b`) of a plain object, or undefined. */
export function valueAt(raw: object, path: string): unknown {
  let x: unknown = raw;
  for (const key of path.split('.')) {
    if (x === null || typeof x !== 'object') return undefined;
    x = (x as Record<string, unknown>)[key];
  }
  return x;
}

/** A value as a message shows it. */
function shown(x: unknown): string {
  return typeof x === 'string' ? JSON.stringify(x) : typeof x === 'function' ? 'a function' : String(x);
}

/**
 * Checks a value `x` of a declared option and returns it; a value of the wrong type or out of range is an
 * {@link ArgumentError} naming the option as `ctx.spell` writes it. Schedules are checked by
 * {@link readSchedule}, which knows the epochs.
 */
export function checkValue<T>(decl: OptionDeclaration, x: unknown, ctx: ResolveContext): T {
  const name = ctx.spell(decl.path);
  const v = decl.value;
  const fail = (what: string): never => {
    throw new ArgumentError(`${name} must be ${what}, got ${shown(x)}${typeof x === 'string' ? ' (string)' : ''}`);
  };
  switch (v.kind) {
    case 'integer':
      if (!Number.isSafeInteger(x) || (x as number) < v.min)
        fail(v.min === 1 ? 'a positive integer' : v.min === 0 ? 'a non-negative integer' : `an integer >= ${v.min}`);
      break;
    case 'number': {
      const lo = v.minIncluded === false ? '>' : '>=';
      const hi = v.maxIncluded === false ? '<' : '<=';
      const inside =
        typeof x === 'number' &&
        Number.isFinite(x) &&
        (v.minIncluded === false ? x > v.min : x >= v.min) &&
        (v.maxIncluded === false ? x < v.max : x <= v.max);
      if (!inside)
        fail(
          v.max === Number.POSITIVE_INFINITY
            ? `a finite number ${lo} ${v.min}`
            : `a number ${lo} ${v.min} and ${hi} ${v.max}`,
        );
      break;
    }
    case 'boolean':
      if (typeof x !== 'boolean') fail('true or false');
      break;
    case 'choice':
      if (typeof x !== 'string' || !v.choices.includes(x)) fail(`one of ${v.choices.map((c) => `'${c}'`).join(', ')}`);
      break;
    case 'numbers':
      if (!Array.isArray(x) && !ArrayBuffer.isView(x)) fail('a list of numbers');
      break;
    case 'schedule':
      break;
  }
  return x as T;
}

/** The declared option's value in `raw`, checked, or its default (undefined when it has none). */
export function read<T>(decl: OptionDeclaration, raw: RawOptions, ctx: ResolveContext): T {
  const x = valueAt(raw, decl.path);
  if (x === undefined) return decl.default as T;
  return checkValue<T>(decl, x, ctx);
}

/** A declared schedule's value in `raw` (or its default), its values over `epochs` within the declared [min, max). */
export function readSchedule(decl: OptionDeclaration, raw: RawOptions, epochs: number, ctx: ResolveContext): Schedule {
  if (decl.value.kind !== 'schedule') throw new ArgumentError(`${decl.path} is not declared as a schedule`);
  const schedule = read<Schedule>(decl, raw, ctx);
  checkSchedule(ctx.spell(decl.path), schedule, epochs, decl.value.min, decl.value.max);
  return schedule;
}

/** Refuses an option that has no effect without another: a silent no-op hides a mistake. */
export function needs(ctx: ResolveContext, refused: boolean, path: string, what: string): void {
  if (refused) throw new ArgumentError(`${ctx.spell(path)} needs ${what}`);
}

/** Whether `raw` gives the option at `path` (an explicit undefined counts as not given). */
export function given(raw: RawOptions, path: string): boolean {
  return valueAt(raw, path) !== undefined;
}

/** A declaration in one line: `option('l2', 'L2 weight decay', real(0), { default: 0 })`. */
export function option(
  path: string,
  help: string,
  value: ValueKind,
  more: { readonly default?: number | string | boolean; readonly flag?: string | false } = {},
): OptionDeclaration {
  return { path, help, value, ...more };
}

export const integer = (min: number): ValueKind => ({ kind: 'integer', min });

/** A number in an interval: `real(0, 1, '(]')` is (0, 1]; the default bounds are [min, max]. */
export function real(min: number, max = Number.POSITIVE_INFINITY, bounds: '[]' | '(]' | '[)' | '()' = '[]'): ValueKind {
  return { kind: 'number', min, max, minIncluded: bounds[0] === '[', maxIncluded: bounds[1] === ']' };
}

export const choice = (choices: readonly string[]): ValueKind => ({ kind: 'choice', choices });
export const boolean: ValueKind = { kind: 'boolean' };
