import { ModelFormatError } from '../errors.js';
import type { RbmParameters } from '../model/rbm.js';
import type { StateArray, TrainerState } from '../train/state.js';
import { encodeModel, type ModelFile } from './model-file.js';

/**
 * A checkpoint is a model file (it loads anywhere a model does) with the trainer's state added: each named
 * state tensor of the run's parts as a tensor `trainer.<name>` (1-D when it has one row), and the counters,
 * random-stream positions and the job that produced it in the `rbmjs_checkpoint` metadata entry.
 *
 * Checkpoints of rbmjs 0.x before the trainer was split into parts had the same tensors, and kept three
 * counters (`temperingParity`, `swapRounds`, `offsetsInitialised`) at the top of that entry: they are read
 * into `counters` (tested with checkpoint files of that version).
 */

export interface Checkpoint<Job> {
  readonly parameters: RbmParameters;
  readonly state: TrainerState;
  /** What the application needs to continue the run (the CLI: its flags). */
  readonly job: Job;
  readonly metadata: Readonly<Record<string, string>>;
}

export const CHECKPOINT_KEY = 'rbmjs_checkpoint';
const PREFIX = 'trainer.';
/** Counters that checkpoints written before `counters` existed kept at the top level. */
const LEGACY_COUNTERS = ['temperingParity', 'swapRounds', 'offsetsInitialised'] as const;

export function encodeCheckpoint<Job>(
  parameters: RbmParameters,
  state: TrainerState,
  job: Job,
  metadata: Readonly<Record<string, string>> = {},
): Uint8Array {
  const extra = Object.fromEntries(
    Object.entries(state.tensors).map(([name, t]) => [
      PREFIX + name,
      { dtype: 'F32' as const, shape: t.rows === 1 ? [t.cols] : [t.rows, t.cols], data: t.data },
    ]),
  );
  return encodeModel(
    parameters,
    {
      ...metadata,
      [CHECKPOINT_KEY]: JSON.stringify({
        epoch: state.epoch,
        ...(state.batch ? { batch: state.batch, epochErrorSum: state.epochErrorSum ?? 0 } : {}),
        step: state.step,
        gibbsOffset: state.gibbsOffset,
        shuffleOffset: state.shuffleOffset,
        counters: state.counters,
        job,
      }),
    },
    extra,
  );
}

/**
 * Reads the trainer state and job from a decoded model file. The structure is checked here (counts,
 * shapes, a job); the values, against the run's parts, by {@link Trainer.importState}.
 */
export function decodeCheckpoint<Job>(file: ModelFile, source: string): Checkpoint<Job> {
  const { parameters, metadata, tensors } = file;
  const fail = (msg: string): never => {
    throw new ModelFormatError(`${source}: ${msg}`);
  };
  const raw = metadata[CHECKPOINT_KEY];
  if (!raw) fail(`a model file, not a checkpoint (no ${CHECKPOINT_KEY} metadata)`);
  let info: Record<string, unknown>;
  try {
    info = JSON.parse(raw!);
  } catch {
    return fail(`the ${CHECKPOINT_KEY} metadata is not valid JSON`);
  }
  if (typeof info !== 'object' || info === null || Array.isArray(info))
    fail(`the ${CHECKPOINT_KEY} metadata is not an object`);
  const count = (key: string, x: unknown): number => {
    if (!Number.isSafeInteger(x) || (x as number) < 0)
      fail(`${CHECKPOINT_KEY}.${key} is ${JSON.stringify(x)}, expected a count`);
    return x as number;
  };
  const epoch = count('epoch', info.epoch);
  const step = count('step', info.step);
  const gibbsOffset = count('gibbsOffset', info.gibbsOffset);
  const shuffleOffset = count('shuffleOffset', info.shuffleOffset);
  const batch = info.batch === undefined ? 0 : count('batch', info.batch);
  const epochErrorSum = info.epochErrorSum ?? 0;
  if (!(typeof epochErrorSum === 'number' && Number.isFinite(epochErrorSum) && epochErrorSum >= 0))
    fail(`${CHECKPOINT_KEY}.epochErrorSum is ${JSON.stringify(epochErrorSum)}, expected a finite number >= 0`);
  const job = info.job;
  if (typeof job !== 'object' || job === null || Array.isArray(job))
    fail(`${CHECKPOINT_KEY} has no job (the settings of the run that wrote it)`);

  const counters: Record<string, number> = {};
  const given = info.counters ?? {};
  if (typeof given !== 'object' || given === null || Array.isArray(given))
    fail(`${CHECKPOINT_KEY}.counters is not an object`);
  for (const [name, x] of Object.entries(given as Record<string, unknown>)) {
    if (typeof x !== 'number') fail(`${CHECKPOINT_KEY}.counters.${name} is ${JSON.stringify(x)}, expected a number`);
    counters[name] = x as number;
  }
  for (const name of LEGACY_COUNTERS) {
    const x = info[name];
    if (x !== undefined && !(name in counters)) counters[name] = typeof x === 'boolean' ? Number(x) : (x as number);
  }

  const state: Record<string, StateArray> = {};
  for (const [name, t] of tensors) {
    if (!name.startsWith(PREFIX)) continue;
    if (t.shape.length < 1 || t.shape.length > 2 || t.shape.some((d) => d < 1))
      fail(`checkpoint tensor ${name} has shape [${t.shape.join(', ')}], expected one or two positive dimensions`);
    const [rows, cols] = t.shape.length === 1 ? [1, t.shape[0]!] : [t.shape[0]!, t.shape[1]!];
    state[name.slice(PREFIX.length)] = { rows, cols, data: Float32Array.from(t.data) };
  }
  return {
    parameters,
    state: {
      epoch,
      ...(batch ? { batch, epochErrorSum: epochErrorSum as number } : {}),
      step,
      gibbsOffset,
      shuffleOffset,
      tensors: state,
      counters,
    },
    job: job as Job,
    metadata,
  };
}
