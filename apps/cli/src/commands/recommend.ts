import { COLLABORATIVE_MODEL_TYPE, type CollaborativeFile, CollaborativeRBM, type PredictionMethod } from '@rbmjs/core';
import { readCollaborativeFile, readModelMetadata, readRatingsFile } from '@rbmjs/core/node';
import { type Command, Option } from 'commander';
import { addCommonOptions, type BackendFlags, backendFor, modelCommand } from '../common.js';
import { UsageError } from '../errors.js';
import { positiveInt } from '../options.js';
import { Output } from '../output.js';

/**
 * The collaborative-filtering RBM's commands: `rbm recommend` (a user's unrated items by expected rating),
 * and what `rbm eval --ratings` does with its model files (`rbm info` describes them: info.ts).
 */

/** Whether a model file is a collaborative-filtering RBM (read from its header alone). */
export async function isCollaborative(path: string): Promise<boolean> {
  return (await readModelMetadata(path)).model === COLLABORATIVE_MODEL_TYPE;
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
