import { type CollaborativeFile, CollaborativeRBM, type PredictionMethod } from '@rbmjs/core';
import { readCollaborativeFile, readModelMetadata, readRatingsFile } from '@rbmjs/core/node';
import { type Command, Option } from 'commander';
import { addCommonOptions, type BackendFlags, backendFor, modelCommand } from '../common.js';
import { UsageError } from '../errors.js';
import { positiveInt } from '../options.js';
import { Output } from '../output.js';

/**
 * The collaborative-filtering RBM's commands: `rbm recommend` (a user's unrated items by expected rating),
 * and what `rbm eval --ratings` and `rbm info` do with its model files.
 */

/** Whether a model file is a collaborative-filtering RBM (read from its header alone). */
export async function isCollaborative(path: string): Promise<boolean> {
  return (await readModelMetadata(path)).model === 'collaborative';
}

/** Reads a collaborative model file, refusing any other kind with what the command takes. */
async function readCollaborative(path: string, command: string): Promise<CollaborativeFile> {
  if (!(await isCollaborative(path)))
    throw new UsageError(
      `${path} is not a collaborative-filtering model; rbm ${command} takes one (rbm train --ratings FILE)`,
    );
  return readCollaborativeFile(path);
}

export const predictionOption = () =>
  new Option(
    '--prediction <method>',
    'collaborative models: mean-field (one up-down pass, as the paper predicts) or exact (the hidden units summed out, float64)',
  )
    .choices(['mean-field', 'exact'])
    .default('mean-field');

interface RecommendFlags extends BackendFlags {
  user: string;
  top: number;
  ratings?: string;
  prediction: PredictionMethod;
}

export function registerRecommend(program: Command): void {
  const cmd = modelCommand(
    program,
    'recommend',
    "a user's unrated items with the highest expected rating, from a collaborative-filtering model (rbm train --ratings)",
    { model: 'collaborative model file (safetensors)' },
  )
    .requiredOption('--user <id>', 'the user, as the ratings file spells the id')
    .option('--top <n>', 'how many items', positiveInt, 10)
    .option(
      '--ratings <file>',
      "ratings to add to the model's own (the user's newer ratings; a new user of a per-user model): rated items are never recommended",
    )
    .addOption(predictionOption());
  addCommonOptions(cmd, {
    backend: true,
    json: 'print one JSON object: the user and the items with their expected ratings',
  }).action(async (modelPath: string, flags: RecommendFlags) => {
    const out = new Output(Boolean(flags.json));
    const file = await readCollaborative(modelPath, 'recommend');
    const backend = await backendFor(flags.backend, out, Boolean(flags.verbose));
    const owner = CollaborativeRBM.fromFile(backend, file);
    let cf = owner;
    try {
      if (flags.ratings !== undefined) {
        const extra = await readRatingsFile(flags.ratings, { levels: file.parameters.levels });
        const { view, leftOut } = owner.withRatings(extra);
        if (leftOut > 0)
          out.warn(
            `${flags.ratings}: ${leftOut} ratings of items (or, for a per-item model, users) the model does not have are left out`,
          );
        cf = view;
      }
      if (!cf.users.includes(flags.user))
        throw new UsageError(
          `user ${JSON.stringify(flags.user)} is not in ${modelPath}${flags.ratings ? ` nor in ${flags.ratings}` : ''} (${cf.users.length} users${cf.orientation === 'item' ? '; a per-item model recommends only to the users it was trained with' : '; give their ratings with --ratings FILE'})`,
        );
      const recs = await cf.recommend(flags.user, flags.top, { method: flags.prediction });
      out.emit({ user: flags.user, items: recs.map((r) => ({ item: r.item, rating: r.score })) });
      if (!out.json) {
        out.info(`top ${recs.length} for user ${flags.user} (expected rating, ${flags.prediction}):`);
        out.lines(recs.map((r, k) => `${String(k + 1).padStart(3)}. ${r.item}  ${r.score.toFixed(3)}`));
      }
    } finally {
      if (cf !== owner) cf.dispose();
      owner.dispose();
      backend.destroy();
    }
  });
}

/** `rbm eval MODEL --ratings FILE`: RMSE and MAE of a collaborative model's predictions of held-out ratings. */
export async function evaluateRatings(
  modelPath: string,
  flags: BackendFlags & { ratings?: string; prediction: PredictionMethod },
): Promise<void> {
  const out = new Output(Boolean(flags.json));
  if (flags.ratings === undefined)
    throw new UsageError(
      `${modelPath} is a collaborative-filtering model: give the ratings to score with --ratings FILE`,
    );
  const file = await readCollaborative(modelPath, 'eval');
  const test = await readRatingsFile(flags.ratings, { levels: file.parameters.levels });
  const backend = await backendFor(flags.backend, out, Boolean(flags.verbose));
  const cf = CollaborativeRBM.fromFile(backend, file);
  try {
    const r = await cf.evaluate(test, { method: flags.prediction });
    out.emit({ model: modelPath, ratings: flags.ratings, prediction: flags.prediction, ...r });
    if (!out.json) {
      out.info(
        `${r.count} ratings of ${flags.ratings} (${flags.prediction}): RMSE ${r.rmse.toFixed(4)}, MAE ${r.mae.toFixed(4)}`,
      );
      if (r.droppedUnknownItems > 0)
        out.info(
          `${r.droppedUnknownItems} ratings left out: ${cf.orientation === 'item' ? 'users' : 'items'} the model has no weights for`,
        );
    }
  } finally {
    cf.dispose();
    backend.destroy();
  }
}

/** `rbm info` of a collaborative model file. */
export async function describeCollaborative(out: Output, path: string): Promise<void> {
  const file = await readCollaborativeFile(path);
  const p = file.parameters;
  const parse = (s: string | undefined) => {
    if (s === undefined) return undefined;
    try {
      return JSON.parse(s);
    } catch {
      return s;
    }
  };
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
    hyperparameters: parse(file.metadata.hyperparameters),
    provenance: parse(file.metadata.provenance),
    ...(file.metadata.validation ? { validation: parse(file.metadata.validation) } : {}),
    ...(file.metadata.rbmjs_checkpoint ? { checkpointEpoch: parse(file.metadata.rbmjs_checkpoint)?.epoch } : {}),
  };
  out.emit(info);
  if (out.json) return;
  out.lines([
    `${path}: collaborative-filtering RBM (Salakhutdinov, Mnih & Hinton 2007), ${info.conditional ? 'conditional, ' : ''}one RBM per ${file.orientation}`,
    `  ${info.users} users, ${info.items} items, levels ${p.levels.join(', ')}; ${info.ratings} training ratings kept`,
    `  ${p.numItems} ${file.orientation === 'item' ? 'users' : 'items'} x ${p.levels.length} softmax units, ${p.numHidden} hidden units, ${info.parameters} parameters`,
    ...(info.validation
      ? [`  held-out RMSE ${info.validation.rmse?.toFixed?.(4)} (epoch ${info.validation.epoch})`]
      : []),
    ...(info.checkpointEpoch !== undefined ? [`  a checkpoint after epoch ${info.checkpointEpoch}`] : []),
  ]);
}
