import { COLLABORATIVE_MODEL_TYPE, type CollaborativeFile, CollaborativeRBM, type PredictionMethod } from '@rbmjs/core';
import { readCollaborativeFile, readModelMetadata, readRatingsFile } from '@rbmjs/core/node';
import { type Command, Option } from 'commander';
import { addCommonOptions, type BackendFlags, backendFor, modelCommand } from '../common.js';
import { UsageError } from '../errors.js';
import { checkOutputs, writeOutput } from '../files.js';
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
  user?: string;
  all?: boolean;
  out?: string;
  top: number;
  ratings?: string;
  prediction: PredictionMethod;
  batch: number;
}

export function registerRecommend(program: Command): void {
  const cmd = modelCommand(
    program,
    'recommend',
    "a user's unrated items with the highest expected rating, from a collaborative-filtering model (rbm train --ratings); or every user's (--all --out FILE)",
    { model: 'collaborative model file (safetensors)' },
  )
    .option('--user <id>', 'the user, as the ratings file spells the id')
    .option('--all', "every user's top items (each user with a rating), written to --out as CSV: user,rank,item,rating")
    .option('--out <file>', 'with --all: the CSV file')
    .option('--top <n>', 'how many items', positiveInt, 10)
    .option(
      '--ratings <file>',
      "ratings to add to the model's own (the user's newer ratings; a new user of a per-user model; every user's, for a model saved with --no-evidence): rated items are never recommended",
    )
    .option('--batch <n>', 'with --all: users a device batch', positiveInt, 256)
    .addOption(predictionOption());
  addCommonOptions(cmd, {
    backend: true,
    force: true,
    json: 'print one JSON object: the user and the items with their expected ratings (--all: a summary)',
  }).action(async (modelPath: string, flags: RecommendFlags) => {
    const out = new Output(Boolean(flags.json));
    if ((flags.user === undefined) === !flags.all) throw new UsageError('give --user ID, or --all with --out FILE');
    if (flags.all && flags.out === undefined) throw new UsageError('--all writes a CSV file: give --out FILE');
    if (!flags.all && flags.out !== undefined)
      throw new UsageError('--out goes with --all (one user prints to stdout)');
    if (flags.out !== undefined)
      await checkOutputs([{ path: flags.out, what: 'recommendations file' }], {
        force: Boolean(flags.force),
        inputs: [modelPath, ...(flags.ratings !== undefined ? [flags.ratings] : [])],
      });
    const t0 = performance.now();
    const file = await readCollaborative(modelPath, 'recommend');
    if (!file.ratings && flags.ratings === undefined)
      throw new UsageError(
        `${modelPath} holds no ratings (it was saved with --no-evidence), so it knows nothing of any user: give their ratings with --ratings FILE`,
      );
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
      const loaded = (performance.now() - t0) / 1000;
      if (flags.verbose) out.info(`loaded ${modelPath} in ${loaded.toFixed(2)} s`);
      if (flags.all) await recommendAll(cf, flags, out, loaded);
      else await recommendOne(cf, modelPath, flags, out);
    } finally {
      if (cf !== owner) cf.dispose();
      owner.dispose();
      backend.destroy();
    }
  });
}

async function recommendOne(cf: CollaborativeRBM, modelPath: string, flags: RecommendFlags, out: Output) {
  const user = flags.user!;
  if (!cf.users.includes(user))
    throw new UsageError(
      `user ${JSON.stringify(user)} is not in ${modelPath}${flags.ratings ? ` nor in ${flags.ratings}` : ''} (${cf.users.length} users${cf.orientation === 'item' ? '; a per-item model recommends only to the users it was trained with' : '; give their ratings with --ratings FILE'})`,
    );
  const t0 = performance.now();
  const recs = await cf.recommend(user, flags.top, { method: flags.prediction });
  if (flags.verbose) out.info(`answered in ${(performance.now() - t0).toFixed(1)} ms`);
  out.emit({ user, items: recs.map((r) => ({ item: r.item, rating: r.score })) });
  if (!out.json) {
    out.info(`top ${recs.length} for user ${user} (expected rating, ${flags.prediction}):`);
    out.lines(recs.map((r, k) => `${String(k + 1).padStart(3)}. ${r.item}  ${r.score.toFixed(3)}`));
  }
}

/** A CSV cell: quoted when it holds a comma, a quote or a line break (RFC 4180). */
function csvCell(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** `--all`: every user's top items as CSV lines (user,rank,item,rating), streamed to --out in chunks. */
async function recommendAll(cf: CollaborativeRBM, flags: RecommendFlags, out: Output, loaded: number) {
  const t0 = performance.now();
  const progress = out.work('recommend --all', 'users');
  let users = 0;
  const encoder = new TextEncoder();
  const chunks = async function* () {
    yield encoder.encode('user,rank,item,rating\n');
    let text = '';
    const all = cf.recommendAll(flags.top, { method: flags.prediction, batchSize: flags.batch, onProgress: progress });
    for await (const { user, items } of all) {
      users++;
      const id = csvCell(user);
      items.forEach((r, k) => {
        text += `${id},${k + 1},${csvCell(r.item)},${r.score.toFixed(4)}\n`;
      });
      if (text.length >= 1 << 20) {
        yield encoder.encode(text);
        text = '';
      }
    }
    if (text !== '') yield encoder.encode(text);
  };
  await writeOutput(flags.out!, chunks(), { overwrite: Boolean(flags.force) });
  const seconds = (performance.now() - t0) / 1000;
  out.emit({ out: flags.out, users, top: flags.top, prediction: flags.prediction, loadSeconds: loaded, seconds });
  if (!out.json)
    out.info(
      `wrote ${flags.out}: the top ${flags.top} of ${users} users (${flags.prediction}) in ${seconds.toFixed(1)} s (${((1000 * seconds) / Math.max(1, users)).toFixed(2)} ms a user; load ${loaded.toFixed(1)} s)`,
    );
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
  if (!file.ratings)
    out.warn(
      `${modelPath} holds no ratings (saved with --no-evidence): every test rating is predicted from no evidence of its user`,
    );
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
