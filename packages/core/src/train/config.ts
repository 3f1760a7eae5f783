import { ArgumentError } from '../errors.js';
import type { VisibleUnits } from '../model/units.js';
import type { OptionDeclaration, PartDeclaration, RawOptions, ResolveContext } from './declare.js';
import { maxNormPart } from './max-norm.js';
import { samplerPart } from './negative-phase.js';
import { momentumPart } from './optimizer.js';
import { loopPart, type RunOptions } from './options.js';
import type { GradientTerm, NegativePhase, PartContext } from './parts.js';
import { centeringPart, learnVariancePart, objectivePart, sparsityPart, weightDecayPart } from './terms.js';

/**
 * The one table of the trainer's parts. Options are resolved by folding over it (each part checks its
 * slice and its conflicts, and gives its canonical slice), and the gradient terms are built in its order,
 * which is the order they apply. Adding a part is its file and one line here.
 */
export const TRAIN_PARTS = [
  loopPart,
  momentumPart,
  samplerPart,
  objectivePart,
  learnVariancePart,
  centeringPart,
  weightDecayPart,
  sparsityPart,
  maxNormPart,
] as const;

type SliceOf<P> = P extends PartDeclaration<infer S, infer _R> ? S : never;
type Intersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;

/**
 * A training run's settings: every part's slice of the options. Plain data; {@link trainConfig} gives
 * its canonical JSON form and {@link parseTrainConfig} reads one back.
 */
export type TrainConfig = Intersection<SliceOf<(typeof TRAIN_PARTS)[number]>>;

/** What {@link train} and the {@link Trainer} take: the config, and what the run is watched with. */
export type TrainOptions = TrainConfig & RunOptions;

/** Where the options are checked: the model's units, and how option names are written in messages. */
export interface ConfigContext {
  readonly units?: VisibleUnits;
  /** An option's path as the caller's user knows it (the CLI gives its flags); default: the path. */
  readonly spell?: (path: string) => string;
}

const TOP_LEVEL = new Set(TRAIN_PARTS.flatMap((p) => p.options.map((o) => o.path.split('.')[0]!)));
const RUN_OPTIONS = new Set(['validation', 'signal', 'onBatch', 'onEpoch']);
const PATHS = TRAIN_PARTS.flatMap((p) => p.options.map((o) => o.path));

/** Keys inside a part's object (`sparsity: { target, bogus }`) are declared paths too: others are refused. */
function refuseUnknownNested(raw: RawOptions, prefix: string): void {
  for (const [key, value] of Object.entries(raw)) {
    const path = prefix ? `${prefix}.${key}` : key;
    const below = PATHS.filter((p) => p.startsWith(`${path}.`));
    if (below.length === 0 || value === null || typeof value !== 'object' || Array.isArray(value)) continue;
    for (const sub of Object.keys(value)) {
      const full = `${path}.${sub}`;
      if (!below.some((p) => p === full || p.startsWith(`${full}.`)))
        throw new ArgumentError(
          `unknown training option '${full}' (${path} takes ${[...new Set(below.map((p) => p.slice(path.length + 1).split('.')[0]))].join(', ')})`,
        );
    }
    refuseUnknownNested(value as RawOptions, path);
  }
}

/** The fold: every part's canonical slice, in table order. Unknown option names are refused. */
export function resolveConfig(raw: RawOptions, context: ConfigContext = {}): Readonly<Record<string, unknown>> {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new ArgumentError(`training options must be an object, got ${raw === null ? 'null' : typeof raw}`);
  const ctx: ResolveContext = {
    spell: context.spell ?? ((p) => p),
    ...(context.units ? { units: context.units } : {}),
  };
  for (const key of Object.keys(raw)) {
    if (!TOP_LEVEL.has(key) && !RUN_OPTIONS.has(key)) throw new ArgumentError(`unknown training option '${key}'`);
  }
  refuseUnknownNested(raw, '');
  const done: Record<string, unknown> = {};
  for (const part of TRAIN_PARTS as readonly PartDeclaration[]) Object.assign(done, part.resolve(raw, done, ctx));
  return done;
}

/** The trainer's parts as the resolved options ask for them: the sampler and the terms, in table order. */
export function buildParts(
  ctx: PartContext,
  resolved: Readonly<Record<string, unknown>>,
): { negative: NegativePhase; terms: GradientTerm[] } {
  let negative: NegativePhase | undefined;
  const terms: GradientTerm[] = [];
  for (const part of TRAIN_PARTS as readonly PartDeclaration<object, unknown>[]) {
    const built = part.build?.(ctx, resolved);
    if (built === undefined) continue;
    if ('sample' in built) negative = built;
    else terms.push(built);
  }
  return { negative: negative!, terms };
}

/**
 * The canonical JSON form of training options: checked, defaults filled in, options of parts that are off
 * left out, the temperature ladder drawn (cf. tfjs's `getConfig`). Callbacks, the signal and validation data
 * are not part of it; a schedule given as a function has no JSON form and is refused.
 */
export function trainConfig(options: TrainOptions | TrainConfig, context: ConfigContext = {}): TrainConfig {
  const { validation: _v, signal: _s, onBatch: _b, onEpoch: _e, ...config } = options as TrainOptions;
  for (const path of ['learningRate', 'momentum'] as const) {
    if (typeof config[path] === 'function')
      throw new ArgumentError(`${path} is a function: a config holds schedules as numbers or schedule objects`);
  }
  return structuredClone(resolveConfig(config as RawOptions, context)) as unknown as TrainConfig;
}

/** Reads a config back (from JSON, a file, a checkpoint): checked as {@link trainConfig} checks options. */
export function parseTrainConfig(json: unknown, context: ConfigContext = {}): TrainConfig {
  if (typeof json === 'string') {
    try {
      json = JSON.parse(json);
    } catch (error) {
      throw new ArgumentError(`a training config must be JSON: ${(error as Error).message}`);
    }
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json))
    throw new ArgumentError('a training config must be a JSON object');
  for (const key of RUN_OPTIONS) {
    if (key in json) throw new ArgumentError(`'${key}' is not part of a training config`);
  }
  return trainConfig(json as TrainConfig, context);
}

/** Every part's declared options, in table order: for the CLI's flags and the docs. */
export function trainOptionDeclarations(): ReadonlyArray<OptionDeclaration & { readonly part: string }> {
  return TRAIN_PARTS.flatMap((p) => p.options.map((o) => ({ ...o, part: p.name })));
}
