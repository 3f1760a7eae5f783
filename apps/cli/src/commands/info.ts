import {
  CHECKPOINT_KEY,
  type CollaborativeFile,
  type DbmFile,
  decodeCheckpoint,
  type RbmParameters,
} from '@rbmjs/core';
import { readAnyModelFile } from '@rbmjs/core/node';
import type { Command } from 'commander';
import { addCommonOptions, modelCommand } from '../common.js';
import { escapeInline, Output } from '../output.js';

function stats(x: Float32Array) {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  let sum = 0;
  let sq = 0;
  for (const v of x) {
    min = Math.min(min, v);
    max = Math.max(max, v);
    sum += v;
    sq += v * v;
  }
  const mean = sum / x.length;
  return { min, max, mean, std: Math.sqrt(Math.max(0, sq / x.length - mean * mean)) };
}

/** A tensor's statistics in one line. */
function statsText(s: ReturnType<typeof stats>): string {
  return `min ${s.min.toFixed(4)}, max ${s.max.toFixed(4)}, mean ${s.mean.toFixed(4)}, std ${s.std.toFixed(4)}`;
}

/** The lines every model file ends with: how it was made. */
function madeBy(out: Output, metadata: Readonly<Record<string, string>>): void {
  if (metadata.hyperparameters) out.info(`  hyperparameters: ${escapeInline(metadata.hyperparameters)}`);
  if (metadata.provenance) out.info(`  provenance: ${escapeInline(metadata.provenance)}`);
}

function parseJson(s: string | undefined): unknown {
  if (s === undefined) return undefined;
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}

export function registerInfo(program: Command): void {
  const what = 'describe a model file: sizes, parameter statistics, hyperparameters and provenance';
  const cmd = modelCommand(program, 'info', what);
  addCommonOptions(cmd).action(async (modelPath: string, flags: { json?: boolean }) => {
    const out = new Output(Boolean(flags.json));
    // Parameters only, every kind through one reader: the float64 reference holds them without any engine.
    const file = await readAnyModelFile(modelPath);
    const { metadata, bytes } = file;
    if (file.kind === 'collaborative') return describeCollaborative(out, modelPath, file);
    if (file.kind === 'dbn') {
      describeDbn(out, modelPath, file.layers, metadata, bytes);
      return;
    }
    if (file.kind === 'dbm') {
      describeDbm(out, modelPath, file, bytes);
      return;
    }
    const p = file.parameters;
    const checkpoint = parseJson(metadata[CHECKPOINT_KEY]) as { epoch?: number } | undefined;
    const info = {
      file: modelPath,
      bytes,
      format: `${metadata.format} ${metadata.format_version}`,
      model: metadata.model,
      ...(p.softmaxGroups ? { softmaxGroups: p.softmaxGroups } : {}),
      ...(p.hiddenUnits ? { hiddenUnits: p.hiddenUnits } : {}),
      numVisible: p.numVisible,
      numHidden: p.numHidden,
      parameters: p.numVisible * p.numHidden + p.numVisible + p.numHidden,
      weights: stats(p.weights),
      visibleBias: stats(p.visibleBias),
      hiddenBias: stats(p.hiddenBias),
      hyperparameters: parseJson(metadata.hyperparameters),
      provenance: parseJson(metadata.provenance),
      ...(metadata.validation ? { validation: parseJson(metadata.validation) } : {}),
      ...(checkpoint ? { checkpointEpoch: checkpoint.epoch } : {}),
    };
    const f = statsText;
    out.info(
      `${escapeInline(modelPath)}: ${escapeInline(String(info.model))} RBM, ${p.numVisible} visible x ${p.numHidden} hidden (${info.parameters} parameters, ${bytes} bytes)`,
    );
    if (p.softmaxGroups)
      out.info(
        `  softmax groups (the last ${p.softmaxGroups.reduce((a, k) => a + k, 0)} visible units): ${p.softmaxGroups.join(', ')}${p.softmaxGroups.length === 1 ? ` (a classifier's label layer: ${p.softmaxGroups[0]} classes)` : ''}`,
      );
    out.info(`  W: ${f(info.weights)}`);
    out.info(`  a: ${f(info.visibleBias)}`);
    out.info(`  b: ${f(info.hiddenBias)}`);
    if (checkpoint) out.info(`  checkpoint after epoch ${checkpoint.epoch}`);
    madeBy(out, metadata);
    // A best model kept by early stopping says what it was kept for.
    if (metadata.validation) out.info(`  kept as the best by: ${escapeInline(metadata.validation)}`);
    out.emit(info);
  });
}

/** A deep belief network: its layers, bottom first, with each layer's statistics. */
function describeDbn(
  out: Output,
  path: string,
  layers: readonly RbmParameters[],
  metadata: Readonly<Record<string, string>>,
  bytes: number,
): void {
  const sizes = [layers[0]!.numVisible, ...layers.map((l) => l.numHidden)];
  const count = layers.reduce((s, l) => s + l.numVisible * l.numHidden + l.numVisible + l.numHidden, 0);
  out.info(
    `${escapeInline(path)}: deep belief network ${sizes.join('-')}, ${layers.length} layers (${count} parameters, ${bytes} bytes)`,
  );
  const f = statsText;
  const described = layers.map((l, i) => {
    const layer = {
      layer: i,
      units: l.visibleUnits ?? 'bernoulli',
      numVisible: l.numVisible,
      numHidden: l.numHidden,
      weights: stats(l.weights),
      visibleBias: stats(l.visibleBias),
      hiddenBias: stats(l.hiddenBias),
    };
    out.info(`  layer ${i}: ${l.numVisible} ${layer.units} visible x ${l.numHidden} hidden`);
    out.info(`    W: ${f(layer.weights)}`);
    out.info(`    a: ${f(layer.visibleBias)}`);
    out.info(`    b: ${f(layer.hiddenBias)}`);
    return layer;
  });
  madeBy(out, metadata);
  out.emit({
    file: path,
    bytes,
    format: `${metadata.format} ${metadata.format_version}`,
    model: metadata.model,
    sizes,
    parameters: count,
    layers: described,
    hyperparameters: parseJson(metadata.hyperparameters),
    provenance: parseJson(metadata.provenance),
  });
}

/** The held-out figure a file states, or what is wrong with it (never "RMSE undefined"). */
function validationLine(v: { rmse?: unknown; epoch?: unknown }): string {
  if (typeof v.rmse === 'number' && Number.isFinite(v.rmse) && Number.isSafeInteger(v.epoch))
    return `  held-out RMSE ${v.rmse.toFixed(4)} (epoch ${v.epoch})`;
  return `  a held-out figure that is not one: ${escapeInline(JSON.stringify(v))}`;
}

/** `rbm info` of a collaborative model file. */
async function describeCollaborative(
  out: Output,
  path: string,
  file: CollaborativeFile & { readonly bytes: number },
): Promise<void> {
  const p = file.parameters;
  const info = {
    file: path,
    bytes: file.bytes,
    format: `${file.metadata.format} ${file.metadata.format_version}`,
    model: 'collaborative',
    orientation: file.orientation,
    conditional: p.ratedWeights !== undefined,
    users: file.users.length,
    items: file.items.length,
    levels: p.levels,
    numHidden: p.numHidden,
    visibleUnits: p.numItems * p.levels.length,
    parameters: p.weights.length + p.visibleBias.length + p.hiddenBias.length + (p.ratedWeights?.length ?? 0),
    ratings: file.ratings?.user.length ?? 0,
    hyperparameters: parseJson(file.metadata.hyperparameters),
    provenance: parseJson(file.metadata.provenance),
    ...(file.metadata.validation
      ? { validation: parseJson(file.metadata.validation) as { rmse?: number; epoch?: number } }
      : {}),
    ...(file.metadata[CHECKPOINT_KEY]
      ? { checkpointEpoch: (parseJson(file.metadata[CHECKPOINT_KEY]) as { epoch?: number }).epoch }
      : {}),
  };
  out.emit(info);
  if (out.json) return;
  out.lines([
    `${path}: collaborative-filtering RBM (Salakhutdinov, Mnih & Hinton 2007), ${info.conditional ? 'conditional, ' : ''}one RBM per ${file.orientation}`,
    `  ${info.users} users, ${info.items} items, levels ${p.levels.join(', ')}; ${file.ratings ? `${info.ratings} training ratings kept` : 'no training ratings kept (--no-evidence: rbm recommend needs --ratings FILE)'}`,
    `  ${p.numItems} ${file.orientation === 'item' ? 'users' : 'items'} x ${p.levels.length} softmax units, ${p.numHidden} hidden units, ${info.parameters} parameters`,
    ...(info.validation ? [validationLine(info.validation)] : []),
    ...(info.checkpointEpoch !== undefined
      ? [
          Number.isSafeInteger(info.checkpointEpoch) && info.checkpointEpoch >= 0
            ? `  a checkpoint after epoch ${info.checkpointEpoch}`
            : `  a checkpoint whose epoch is ${escapeInline(JSON.stringify(info.checkpointEpoch))}, not a whole number (corrupt: --resume refuses it)`,
        ]
      : []),
  ]);
}

/** A deep Boltzmann machine: its layers, each weight matrix and bias, and where a checkpoint stands. */
function describeDbm(out: Output, path: string, file: DbmFile, bytes: number): void {
  const { sizes, weights, biases } = file.parameters;
  const { metadata } = file;
  const checkpointed = metadata[CHECKPOINT_KEY] !== undefined || metadata.dbm_state !== undefined;
  const read = checkpointed ? decodeCheckpoint({ kind: 'dbm', ...file }, path).state : undefined;
  const state = read ? { stage: read.stage ?? 0, epoch: read.epoch } : undefined;
  const count = weights.reduce((s, w) => s + w.length, 0) + biases.reduce((s, b) => s + b.length, 0);
  out.info(
    `${escapeInline(path)}: deep Boltzmann machine ${sizes.join('-')}, ${sizes.length - 1} hidden layers of binary units (${count} parameters, ${bytes} bytes)`,
  );
  const f = statsText;
  const layers = sizes.map((n, l) => {
    const layer = {
      layer: l,
      units: n,
      bias: stats(biases[l]!),
      ...(l + 1 < sizes.length ? { weights: stats(weights[l]!) } : {}),
    };
    out.info(`  layer ${l} (${l === 0 ? 'visible' : `hidden ${l}`}): ${n} units; b_${l}: ${f(layer.bias)}`);
    if (layer.weights) out.info(`    W_${l} (${n} x ${sizes[l + 1]}): ${f(layer.weights)}`);
    return layer;
  });
  const L = sizes.length - 1;
  const stage = state
    ? state.stage < L
      ? `pretraining RBM ${state.stage + 1} of ${L}, after epoch ${state.epoch}`
      : `joint training, after epoch ${state.epoch}`
    : undefined;
  if (stage) out.info(`  checkpoint: ${stage}`);
  madeBy(out, metadata);
  out.emit({
    file: path,
    bytes,
    format: `${metadata.format} ${metadata.format_version}`,
    model: 'dbm',
    sizes,
    parameters: count,
    layers,
    ...(stage ? { checkpoint: { stage: state!.stage, epoch: state!.epoch, description: stage } } : {}),
    hyperparameters: parseJson(metadata.hyperparameters),
    provenance: parseJson(metadata.provenance),
  });
}
