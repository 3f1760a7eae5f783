import type { Ratings } from '../data/ratings.js';
import { ModelFormatError } from '../errors.js';
import { type CollaborativeParameters, collaborativeNames, splitLevels } from '../model/collaborative.js';
import type { DbmParameters } from '../model/dbm.js';
import type { RbmParameters } from '../model/rbm.js';
import type { MonitorState, StateArray, TrainerState } from '../train/state.js';
import { encodeCollaborative, readCollaborativeTensors } from './collaborative-file.js';
import { encodeDbm } from './dbm-file.js';
import { type AnyModelFile, encodeModel } from './model-file.js';
import type { SafeTensor } from './safetensors.js';

/**
 * One checkpoint format for every model family: the family's model file (it loads anywhere a model does)
 * with the {@link Trainer}'s state added, the same way for each:
 * - each named state tensor as `trainer.<name>` (1-D when it has one row);
 * - the best epoch's parameters, when a figure is monitored, as `monitor.best.<name>`;
 * - the counters, the stage and epoch, the random streams' positions, the monitor's figures and the job that
 *   produced it in the `rbmjs_checkpoint` metadata entry.
 *
 * Read back too: checkpoints of rbmjs 0.x before the trainer was split into parts (three counters at the top of
 * the entry), and the DBM's and the recommender's checkpoints from before their trainers became families
 * (tested with files of each).
 */

export const CHECKPOINT_KEY = 'rbmjs_checkpoint';
const PREFIX = 'trainer.';
const BEST = 'monitor.best.';
/** Counters that checkpoints written before `counters` existed kept at the top level. */
const LEGACY_COUNTERS = ['temperingParity', 'swapRounds', 'offsetsInitialised'] as const;

/** A model as a checkpoint holds it: the kind, its parameters, and what its file needs besides. */
export type CheckpointModel =
  | { readonly kind: 'rbm'; readonly parameters: RbmParameters }
  | { readonly kind: 'dbm'; readonly parameters: DbmParameters }
  | {
      readonly kind: 'collaborative';
      readonly parameters: CollaborativeParameters;
      readonly users: readonly string[];
      readonly items: readonly string[];
      readonly orientation: 'user' | 'item';
      readonly ratings?: Ratings;
    };

export interface Checkpoint<Job> {
  /** The model file it is (every kind's fields, `kind` first). */
  readonly file: AnyModelFile;
  readonly state: TrainerState;
  /** What the application needs to continue the run (the CLI: its flags). */
  readonly job: Job;
  readonly metadata: Readonly<Record<string, string>>;
}

function f32(t: StateArray): SafeTensor {
  return { dtype: 'F32', shape: t.rows === 1 ? [t.cols] : [t.rows, t.cols], data: t.data };
}

/** Encodes a checkpoint of any family: the model's file with the trainer's state in it. */
export function encodeCheckpoint<Job>(
  model: CheckpointModel,
  state: TrainerState,
  job: Job,
  metadata: Readonly<Record<string, string>> = {},
): Uint8Array {
  const extra: Record<string, SafeTensor> = {};
  for (const [name, t] of Object.entries(state.tensors)) extra[PREFIX + name] = f32(t);
  const m = state.monitor;
  if (m) for (const [name, t] of Object.entries(m.parameters)) extra[BEST + name] = f32(t);
  const meta = {
    ...metadata,
    [CHECKPOINT_KEY]: JSON.stringify({
      ...(state.stage ? { stage: state.stage } : {}),
      epoch: state.epoch,
      ...(state.batch ? { batch: state.batch, epochErrorSum: state.epochErrorSum ?? 0 } : {}),
      step: state.step,
      gibbsOffset: state.gibbsOffset,
      shuffleOffset: state.shuffleOffset,
      counters: state.counters,
      ...(m ? { monitor: { epoch: m.epoch, value: m.value, first: m.first, since: m.since } } : {}),
      job,
    }),
  };
  switch (model.kind) {
    case 'rbm':
      return encodeModel(model.parameters, meta, extra);
    case 'dbm':
      return encodeDbm(model.parameters, meta, extra);
    case 'collaborative':
      return encodeCollaborative(
        model.parameters,
        { users: model.users, items: model.items, orientation: model.orientation },
        { ...(model.ratings ? { ratings: model.ratings } : {}), metadata: meta, extra },
      );
  }
}

/**
 * Reads the trainer state and job from a decoded model file of any kind. The structure is checked here
 * (counts, shapes, a job); the values, against the run's parts, by {@link Trainer.importState}.
 */
export function decodeCheckpoint<Job>(file: AnyModelFile, source: string): Checkpoint<Job> {
  const fail = (msg: string): never => {
    throw new ModelFormatError(`${source}: ${msg}`);
  };
  if (file.kind === 'dbn') fail('a deep belief network file, not a checkpoint (rbm train --stack writes none)');
  const { metadata, tensors } = file as Exclude<AnyModelFile, { kind: 'dbn' }>;
  if (file.kind === 'dbm' && metadata.dbm_state !== undefined && !metadata[CHECKPOINT_KEY])
    return { file, metadata, ...legacyDbm(file, fail) } as Checkpoint<Job>;
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
  const job = info.job;
  if (typeof job !== 'object' || job === null || Array.isArray(job))
    fail(`${CHECKPOINT_KEY} has no job (the settings of the run that wrote it)`);
  const count = (key: string, x: unknown): number => {
    if (!Number.isSafeInteger(x) || (x as number) < 0)
      fail(`${CHECKPOINT_KEY}.${key} is ${JSON.stringify(x)}, expected a count`);
    return x as number;
  };
  // The recommender's checkpoints before it became a family kept its random streams' states whole.
  const stream = (key: string) =>
    info[`${key}Offset`] ?? (info[key] as { offset?: unknown } | undefined)?.offset ?? fail(`no ${key} position`);
  const epoch = count('epoch', info.epoch);
  const stage = info.stage === undefined ? 0 : count('stage', info.stage);
  const step = info.step === undefined && file.kind === 'collaborative' ? 0 : count('step', info.step);
  const gibbsOffset = count('gibbsOffset', stream('gibbs'));
  const shuffleOffset = count('shuffleOffset', stream('shuffle'));
  const batch = info.batch === undefined ? 0 : count('batch', info.batch);
  const epochErrorSum = info.epochErrorSum ?? 0;
  if (!(typeof epochErrorSum === 'number' && Number.isFinite(epochErrorSum) && epochErrorSum >= 0))
    fail(`${CHECKPOINT_KEY}.epochErrorSum is ${JSON.stringify(epochErrorSum)}, expected a finite number >= 0`);

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
  const best: Record<string, StateArray> = {};
  for (const [name, t] of tensors) {
    const into = name.startsWith(PREFIX) ? state : name.startsWith(BEST) ? best : undefined;
    if (!into) continue;
    if (t.shape.length < 1 || t.shape.length > 2 || t.shape.some((d) => d < 1))
      fail(`checkpoint tensor ${name} has shape [${t.shape.join(', ')}], expected one or two positive dimensions`);
    const [rows, cols] = t.shape.length === 1 ? [1, t.shape[0]!] : [t.shape[0]!, t.shape[1]!];
    into[name.slice(into === state ? PREFIX.length : BEST.length)] = { rows, cols, data: Float32Array.from(t.data) };
  }
  if (file.kind === 'collaborative' && typeof info.gibbs === 'object') legacyVelocities(state, file.parameters);
  const monitor = readMonitor(info, best, file, source, fail);
  return {
    file,
    metadata,
    job: job as Job,
    state: {
      ...(stage ? { stage } : {}),
      epoch,
      ...(batch ? { batch, epochErrorSum: epochErrorSum as number } : {}),
      step,
      gibbsOffset,
      shuffleOffset,
      tensors: state,
      counters,
      ...(monitor ? { monitor } : {}),
    },
  };
}

/** The monitor's figures and best parameters (the recommender's earlier checkpoints: `best` and `best.*`). */
function readMonitor(
  info: Record<string, unknown>,
  best: Record<string, StateArray>,
  file: AnyModelFile,
  source: string,
  fail: (msg: string) => never,
): MonitorState | undefined {
  const figure = (key: string, x: unknown): number => {
    if (typeof x !== 'number' || !Number.isFinite(x)) fail(`${CHECKPOINT_KEY}.${key} is ${JSON.stringify(x)}`);
    return x as number;
  };
  const m = info.monitor as Record<string, unknown> | undefined;
  if (m) {
    return {
      epoch: figure('monitor.epoch', m.epoch),
      value: figure('monitor.value', m.value),
      first: figure('monitor.first', m.first),
      since: figure('monitor.since', m.since),
      parameters: best,
    };
  }
  const old = info.best as { epoch?: unknown; rmse?: unknown } | undefined;
  if (!old || file.kind !== 'collaborative') return undefined;
  const p = readCollaborativeTensors(file.tensors, file.parameters.levels, 'best.', `${source}: `);
  const [w, a] = splitLevels(p);
  const arrays = [
    ...w.map((data) => ({ rows: p.numItems, cols: p.numHidden, data })),
    ...(p.ratedWeights ? [{ rows: p.numItems, cols: p.numHidden, data: p.ratedWeights }] : []),
    ...a.map((data) => ({ rows: 1, cols: p.numItems, data })),
    { rows: 1, cols: p.numHidden, data: p.hiddenBias },
  ];
  const names = collaborativeNames({ numLevels: p.levels.length, conditional: p.ratedWeights !== undefined });
  return {
    epoch: figure('best.epoch', old.epoch),
    value: figure('best.rmse', old.rmse),
    first: figure('firstRmse', info.firstRmse ?? old.rmse),
    since: figure('sinceBest', info.sinceBest ?? 0),
    parameters: Object.fromEntries(names.map((name, k) => [name, arrays[k]!])),
  };
}

/** The recommender's earlier checkpoints kept its velocities 1-D: shaped here as its parameters are (W_k, D, a_k, b). */
function legacyVelocities(state: Record<string, StateArray>, p: CollaborativeParameters): void {
  const K = p.levels.length;
  const shapes: Array<[number, number]> = [
    ...Array.from({ length: K + (p.ratedWeights ? 1 : 0) }, (): [number, number] => [p.numItems, p.numHidden]),
    ...Array.from({ length: K }, (): [number, number] => [1, p.numItems]),
    [1, p.numHidden],
  ];
  shapes.forEach(([rows, cols], k) => {
    const v = state[`velocity.${k}`];
    if (v && v.rows === 1 && v.data.length === rows * cols) state[`velocity.${k}`] = { rows, cols, data: v.data };
  });
}

/** A DBM checkpoint from before the DBM became a family: `state.*` tensors and `dbm_state` metadata. */
function legacyDbm(
  file: Extract<AnyModelFile, { kind: 'dbm' }>,
  fail: (msg: string) => never,
): { state: TrainerState; job: unknown } {
  let s: { stage?: unknown; epoch?: unknown; shuffle?: { offset?: unknown }; gibbs?: { offset?: unknown } };
  try {
    s = JSON.parse(file.metadata.dbm_state!);
  } catch {
    return fail('metadata dbm_state is not JSON');
  }
  const sizes = file.parameters.sizes;
  const L = sizes.length - 1;
  const get = (name: string, rows: number, cols: number): StateArray => {
    const t = file.tensors.get(`state.${name}`);
    if (t?.dtype !== 'F32' || t.data.length !== rows * cols)
      fail(`checkpoint tensor state.${name} is missing or not of ${rows * cols} values`);
    return { rows, cols, data: Float32Array.from(t!.data) };
  };
  const chains = file.tensors.get('state.chains.0')?.data.length ?? fail('checkpoint tensor state.chains.0 is missing');
  const C = chains / sizes[0]!;
  const tensors: Record<string, StateArray> = {};
  sizes.forEach((n, l) => {
    tensors[`chains.${l}`] = get(`chains.${l}`, C, n);
    tensors[`velocity.biases.${l}`] = get(`velocity.${L + l}`, 1, n);
    tensors[`pretrain_bias.${l}`] = get(`pretrain_bias.${l}`, 1, n);
    if (l < L) tensors[`velocity.weights.${l}`] = get(`velocity.${l}`, n, sizes[l + 1]!);
  });
  const count = (key: string, x: unknown): number =>
    Number.isSafeInteger(x) && (x as number) >= 0 ? (x as number) : fail(`dbm_state.${key} is ${JSON.stringify(x)}`);
  let job: unknown;
  try {
    job = JSON.parse(file.metadata.hyperparameters ?? 'null');
  } catch {
    job = undefined;
  }
  return {
    job,
    state: {
      stage: count('stage', s.stage),
      epoch: count('epoch', s.epoch),
      step: 0,
      gibbsOffset: count('gibbs.offset', s.gibbs?.offset),
      shuffleOffset: count('shuffle.offset', s.shuffle?.offset),
      tensors,
      counters: {},
    },
  };
}
