import {
  encodeSafetensors,
  GAUSSIAN_MODEL_TYPE,
  MODEL_FORMAT,
  MODEL_FORMAT_VERSION,
  MODEL_TYPE,
  type ModelFile,
  ModelFormatError,
  type RbmParameters,
  type TrainerState,
} from '@rbmjs/core';
import { readModelFile } from '@rbmjs/core/node';

/**
 * A checkpoint is a model file (it loads anywhere a model does) with the trainer's state added: momentum,
 * persistent chains and the sparsity estimate as extra tensors, and counters, random-stream positions and
 * the job that produced it in the `rbmjs_checkpoint` metadata entry.
 */

export interface Checkpoint<Job> {
  readonly parameters: RbmParameters;
  readonly state: TrainerState;
  readonly job: Job;
  readonly metadata: Readonly<Record<string, string>>;
}

const KEY = 'rbmjs_checkpoint';

export function encodeCheckpoint<Job>(
  parameters: RbmParameters,
  state: TrainerState,
  job: Job,
  metadata: Record<string, string> = {},
): Uint8Array {
  const { numVisible: nv, numHidden: nh } = parameters;
  const f32 = (shape: number[], data: Float32Array) => ({ dtype: 'F32' as const, shape, data });
  return encodeSafetensors(
    {
      weights: f32([nv, nh], parameters.weights),
      visible_bias: f32([nv], parameters.visibleBias),
      hidden_bias: f32([nh], parameters.hiddenBias),
      'trainer.velocity.weights': f32([nv, nh], state.velocity.weights),
      'trainer.velocity.visible_bias': f32([nv], state.velocity.visibleBias),
      'trainer.velocity.hidden_bias': f32([nh], state.velocity.hiddenBias),
      ...(state.sparsityEstimate ? { 'trainer.sparsity_estimate': f32([nh], state.sparsityEstimate) } : {}),
      ...(state.chains ? { 'trainer.chains': f32([state.chains.length / nv, nv], state.chains) } : {}),
      ...(parameters.logVariance ? { log_variance: f32([nv], parameters.logVariance) } : {}),
      ...(state.varianceVelocity ? { 'trainer.velocity.log_variance': f32([nv], state.varianceVelocity) } : {}),
      ...(state.tempering
        ? { 'trainer.tempering': f32([state.tempering.states.length / nv, nv], state.tempering.states) }
        : {}),
      ...(state.offsets
        ? {
            'trainer.offsets.visible': f32([nv], state.offsets.visible),
            'trainer.offsets.hidden': f32([nh], state.offsets.hidden),
          }
        : {}),
    },
    {
      ...metadata,
      format: MODEL_FORMAT,
      format_version: MODEL_FORMAT_VERSION,
      model: parameters.visibleUnits === 'gaussian' ? GAUSSIAN_MODEL_TYPE : MODEL_TYPE,
      [KEY]: JSON.stringify({
        epoch: state.epoch,
        ...(state.batch ? { batch: state.batch, epochErrorSum: state.epochErrorSum ?? 0 } : {}),
        step: state.step,
        gibbsOffset: state.gibbsOffset,
        shuffleOffset: state.shuffleOffset,
        ...(state.tempering ? { temperingParity: state.tempering.parity, swapRounds: state.tempering.swapRounds } : {}),
        ...(state.offsets ? { offsetsInitialised: state.offsets.initialised } : {}),
        job,
      }),
    },
  );
}

/** Reads a checkpoint file: bounded like a model file (regular files only, header first), then validated. */
export async function readCheckpoint<Job>(path: string): Promise<Checkpoint<Job>> {
  return decodeCheckpoint<Job>(await readModelFile(path), path);
}

export function decodeCheckpoint<Job>(file: ModelFile, source: string): Checkpoint<Job> {
  const { parameters, metadata, tensors } = file;
  const fail = (msg: string): never => {
    throw new ModelFormatError(`${source}: ${msg}`);
  };
  const raw = metadata[KEY];
  if (!raw) fail(`a model file, not a checkpoint (no ${KEY} metadata)`);
  let info: {
    epoch: number;
    batch?: number;
    epochErrorSum?: number;
    step: number;
    gibbsOffset: number;
    shuffleOffset: number;
    temperingParity?: number;
    swapRounds?: number;
    offsetsInitialised?: boolean;
    job: Job;
  };
  try {
    info = JSON.parse(raw!);
  } catch {
    return fail(`the ${KEY} metadata is not valid JSON`);
  }
  if (typeof info !== 'object' || info === null || Array.isArray(info)) fail(`the ${KEY} metadata is not an object`);
  for (const key of ['epoch', 'step', 'gibbsOffset', 'shuffleOffset'] as const) {
    const x = info[key];
    if (!Number.isSafeInteger(x) || x < 0) fail(`${KEY}.${key} is ${JSON.stringify(x)}, expected a count`);
  }
  if (info.batch !== undefined && (!Number.isSafeInteger(info.batch) || info.batch < 0))
    fail(`${KEY}.batch is ${JSON.stringify(info.batch)}, expected a count`);
  if (info.epochErrorSum !== undefined && !(Number.isFinite(info.epochErrorSum) && info.epochErrorSum >= 0))
    fail(`${KEY}.epochErrorSum is ${JSON.stringify(info.epochErrorSum)}, expected a finite number >= 0`);
  if (typeof info.job !== 'object' || info.job === null || Array.isArray(info.job))
    fail(`${KEY} has no job (the settings of the run that wrote it)`);
  const { numVisible: nv, numHidden: nh } = parameters;
  // Trainer tensors: [rows, nv] or [n] shapes, checked here; their values are checked by importState.
  const get = (name: string, required: boolean, shape?: (rows: number) => number[]) => {
    const t = tensors.get(name);
    if (!t) {
      if (required) fail(`checkpoint tensor ${name} is missing`);
      return undefined;
    }
    if (shape) {
      const want = shape(t.shape[0] ?? 0);
      if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i]) || (want[0] ?? 0) < 1)
        fail(`checkpoint tensor ${name} has shape [${t.shape.join(', ')}], expected [${want.join(', ')}]`);
    }
    return Float32Array.from(t.data);
  };
  const vector = (n: number) => () => [n];
  const rowsOf = (n: number) => (rows: number) => [rows, n];
  const sparsityEstimate = get('trainer.sparsity_estimate', false, vector(nh));
  const chains = get('trainer.chains', false, rowsOf(nv));
  const varianceVelocity = get('trainer.velocity.log_variance', false, vector(nv));
  const tempering = get('trainer.tempering', false, rowsOf(nv));
  const offsetsVisible = get('trainer.offsets.visible', false, vector(nv));
  const offsetsHidden = get('trainer.offsets.hidden', false, vector(nh));
  const state: TrainerState = {
    epoch: info.epoch,
    ...(info.batch ? { batch: info.batch, epochErrorSum: info.epochErrorSum ?? 0 } : {}),
    step: info.step,
    gibbsOffset: info.gibbsOffset,
    shuffleOffset: info.shuffleOffset,
    velocity: {
      weights: get('trainer.velocity.weights', true, () => [nv, nh])!,
      visibleBias: get('trainer.velocity.visible_bias', true, vector(nv))!,
      hiddenBias: get('trainer.velocity.hidden_bias', true, vector(nh))!,
    },
    ...(sparsityEstimate ? { sparsityEstimate } : {}),
    ...(chains ? { chains } : {}),
    ...(varianceVelocity ? { varianceVelocity } : {}),
    ...(tempering
      ? { tempering: { states: tempering, parity: info.temperingParity ?? 0, swapRounds: info.swapRounds ?? 0 } }
      : {}),
    ...(offsetsVisible && offsetsHidden
      ? { offsets: { visible: offsetsVisible, hidden: offsetsHidden, initialised: info.offsetsInitialised ?? false } }
      : {}),
  };
  return { parameters, state, job: info.job, metadata };
}
