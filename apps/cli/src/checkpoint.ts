import {
  decodeModel,
  encodeSafetensors,
  GAUSSIAN_MODEL_TYPE,
  MODEL_FORMAT,
  MODEL_FORMAT_VERSION,
  MODEL_TYPE,
  ModelFormatError,
  type RbmParameters,
  type TrainerState,
} from '@rbmjs/core';

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

export function decodeCheckpoint<Job>(bytes: Uint8Array, source: string): Checkpoint<Job> {
  const { parameters, metadata, tensors } = decodeModel(bytes, { source });
  const raw = metadata[KEY];
  if (!raw) throw new ModelFormatError(`${source}: a model file, not a checkpoint (no ${KEY} metadata)`);
  let info: {
    epoch: number;
    step: number;
    gibbsOffset: number;
    shuffleOffset: number;
    temperingParity?: number;
    swapRounds?: number;
    offsetsInitialised?: boolean;
    job: Job;
  };
  try {
    info = JSON.parse(raw);
  } catch {
    throw new ModelFormatError(`${source}: the ${KEY} metadata is not valid JSON`);
  }
  const get = (name: string, required: boolean) => {
    const t = tensors.get(name);
    if (!t && required) throw new ModelFormatError(`${source}: checkpoint tensor ${name} is missing`);
    return t ? Float32Array.from(t.data) : undefined;
  };
  const sparsityEstimate = get('trainer.sparsity_estimate', false);
  const chains = get('trainer.chains', false);
  const varianceVelocity = get('trainer.velocity.log_variance', false);
  const tempering = get('trainer.tempering', false);
  const offsetsVisible = get('trainer.offsets.visible', false);
  const offsetsHidden = get('trainer.offsets.hidden', false);
  const state: TrainerState = {
    epoch: info.epoch,
    step: info.step,
    gibbsOffset: info.gibbsOffset,
    shuffleOffset: info.shuffleOffset,
    velocity: {
      weights: get('trainer.velocity.weights', true)!,
      visibleBias: get('trainer.velocity.visible_bias', true)!,
      hiddenBias: get('trainer.velocity.hidden_bias', true)!,
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
