import { COLLABORATIVE_DEFAULTS, COLLABORATIVE_OPTIONS, DBM_DEFAULTS, DBM_MODEL_TYPE, DBM_OPTIONS } from '@rbmjs/core';
import { readModelMetadata } from '@rbmjs/core/node';
import { type Command, Option } from 'commander';
import { addCommonOptions, addDataOptions } from '../../common.js';
import { UsageError } from '../../errors.js';
import { sidePath } from '../../files.js';
import { layerSizes, nonNegativeInt, number, positiveInt } from '../../options.js';
import { Output } from '../../output.js';
import { type DbmFlags, trainDbm } from './dbm.js';
import { type Family, FlagTable } from './families.js';
import { addTrainingFlags } from './flags.js';
import type { TrainFlags } from './job.js';
import { type RatingsFlags, trainRatings } from './ratings.js';
import { train } from './run.js';

/**
 * `rbm train`. Its parts: the flags of the training options, generated from core's table (flags.ts); the
 * job a checkpoint stores and --resume checks (job.ts); the run loop with checkpoints, interrupts and
 * held-out figures (run.ts); the greedy stack (stack.ts); the files it writes (outputs.ts).
 */
export function registerTrain(program: Command): void {
  const cmd = program
    .command('train')
    .description('train an RBM and write the model (safetensors), its filters and learning curves');
  const table = new FlagTable(cmd)
    .group(['rbm', 'dbm'], (c) => addDataOptions(c, 'mnist'))
    .group(['rbm', 'ratings'], (c) =>
      c.option(
        '--hidden <n>',
        'hidden units; a comma list (500,500) trains a deep belief network, greedily, layer by layer',
        layerSizes,
        [100],
      ),
    )
    .group(['dbm'], (c) =>
      c.option(
        '--dbm <sizes>',
        'a deep Boltzmann machine with these hidden layers (500,1000; Salakhutdinov & Hinton 2009): greedy pretraining ' +
          `with doubled inputs, then PCD with mean field; its defaults: --epochs ${DBM_DEFAULTS.epochs}, --batch ${DBM_DEFAULTS.batchSize}, --lr ${DBM_DEFAULTS.learningRate}, ` +
          `--momentum ${DBM_DEFAULTS.momentum}, --l2 ${DBM_DEFAULTS.weightDecay}, --chains ${DBM_DEFAULTS.chains}, --k ${DBM_DEFAULTS.gibbsSteps}`,
        layerSizes,
      ),
    )
    .group(['rbm'], (c) =>
      c
        .addOption(
          new Option(
            '--visible <units>',
            'visible units: bernoulli (binary) or gaussian (real-valued, standardised data)',
          )
            .choices(['bernoulli', 'gaussian'])
            .default('bernoulli'),
        )
        .addOption(
          new Option(
            '--hidden-units <units>',
            'hidden units: bernoulli (binary), nrelu (noisy rectified linear, Nair & Hinton 2010: max(0, x + N(0, sigmoid(x))), ' +
              'features max(0, x)) or gaussian (linear with unit-variance noise, Bernoulli visible units only); ' +
              'nrelu and gaussian train with CD or PCD and have no AIS or exact figures',
          )
            .choices(['bernoulli', 'nrelu', 'gaussian'])
            .default('bernoulli'),
        )
        .option(
          '--labels [file]',
          "train a classification RBM on the data and their labels: MNIST's own (no file), or an IDX or one-column CSV file; " +
            'without --objective its defaults are the hybrid objective (--alpha 0.01; Larochelle & Bengio 2008), ' +
            '--batch 10, --lr 0.5, --momentum 0',
        )
        .option('--classes <n>', 'classes of --labels (default: the largest label + 1)', positiveInt),
    )
    .group(['ratings'], (c) =>
      c
        .option(
          '--ratings <file>',
          'collaborative filtering: train on a ratings file (MovieLens u.data, ratings.csv, ratings.dat, or user,item,rating CSV); ' +
            `its defaults: 100 hidden, ${COLLABORATIVE_DEFAULTS.epochs} epochs, batches of ${COLLABORATIVE_DEFAULTS.batchSize} users (fewer below 2,000 users: 20 batches an epoch), --lr ${COLLABORATIVE_DEFAULTS.learningRate}, momentum 0.5 then 0.9, --l2 ${COLLABORATIVE_DEFAULTS.weightDecay}, CD-T with T 1, 3, 5 (--k sets one T)`,
        )
        .option('--test <file>', 'with --ratings: held-out ratings (RMSE each epoch, --early-stop)')
        .option(
          '--holdout <fraction>',
          'with --ratings: hold out this fraction of the ratings (seeded by --seed)',
          number(0, 1, { inclusiveMin: false, inclusiveMax: false }),
        )
        .option(
          '--levels <scale>',
          'with --ratings: the rating scale, 1,2,3,4,5 or FROM:TO[:STEP] (0.5:5:0.5, 1:10); default: from the data',
        )
        .addOption(
          new Option(
            '--orientation <side>',
            'with --ratings: one RBM per user (the paper), per item (I-RBM), or auto: the more numerous side',
          )
            .choices(['auto', 'user', 'item'])
            .default('auto'),
        )
        .option(
          '--conditional',
          'with --ratings: the conditional RBM, whose hidden units also see which items were rated',
        )
        .option(
          '--no-evidence',
          "with --ratings: save the model without its training ratings (5 bytes a rating less); rbm recommend then knows no user's ratings and needs them with --ratings FILE",
        ),
    )
    .group(['rbm'], (c) =>
      addTrainingFlags(c)
        .option('--validation <n>', 'hold out the last N examples for the free-energy gap', nonNegativeInt, 0)
        .option(
          '--monitor <figures>',
          'held-out figures after each epoch, comma-separated: reconstruction, pseudo-likelihood, free-energy-gap, log-likelihood (exact, small models), ais',
        )
        .option(
          '--early-stop <patience>',
          'stop after this many epochs without improvement of --stop-on (with --ratings: of the held-out RMSE)',
          positiveInt,
        )
        .option('--stop-on <figure>', 'the figure early stopping watches (default: the first of --monitor)')
        .option('--ais-every <n>', 'with --monitor ais: estimate every N epochs', positiveInt, 1)
        .option('--ais-runs <n>', 'with --monitor ais: annealing runs', positiveInt, 100)
        .option('--ais-schedule <s>', 'with --monitor ais: sm, sm:F or linear:N', 'linear:1000'),
    )
    // What each family declares in core: the flags the others did not register already are its own.
    .declared('dbm', DBM_OPTIONS, 'with --dbm: ')
    .declared('ratings', COLLABORATIVE_OPTIONS, 'with --ratings: ')
    .group(['rbm', 'dbm', 'ratings'], (c) =>
      addCommonOptions(
        c
          .option('--out <file>', 'model file to write', 'model.safetensors')
          .option('--checkpoint <file>', 'checkpoint file (default: OUT with .ckpt.safetensors)')
          .option('--checkpoint-every <n>', 'write a checkpoint every N epochs', positiveInt)
          .option('--resume [file]', 'continue from a checkpoint (default: the --checkpoint file)')
          .option('--no-pictures', 'do not write the filters PNG and the learning-curves SVG'),
        {
          backend: true,
          force: 'overwrite an existing model file',
          json: 'one JSON object per epoch, and a summary, on stdout',
        },
      ),
    );
  cmd.action(async (flags: TrainFlags & RatingsFlags & DbmFlags, command: Command) => {
    const out = new Output(Boolean(flags.json));
    const family: Family =
      flags.dbm !== undefined ? 'dbm' : flags.ratings !== undefined ? 'ratings' : await resumedFamily(flags);
    if (flags.dbm !== undefined && flags.ratings !== undefined)
      throw new UsageError('give --dbm or --ratings, not both: they are different models');
    table.refuseUndeclared(command, family);
    if (family === 'dbm') return trainDbm(flags, command, out);
    return family === 'ratings' ? trainRatings(flags, command, out) : train(flags, command);
  });
}

/**
 * The family of the checkpoint a bare `--resume` continues: a DBM's checkpoint resumes without --dbm (its
 * layers are in it). One RBM otherwise, whose own reading of the checkpoint says what is wrong with it.
 */
async function resumedFamily(flags: TrainFlags): Promise<Family> {
  if (!flags.resume) return 'rbm';
  const path =
    typeof flags.resume === 'string' ? flags.resume : (flags.checkpoint ?? sidePath(flags.out, '.ckpt.safetensors'));
  const model = await readModelMetadata(path).then(
    (m) => m.model,
    () => undefined,
  );
  return model === DBM_MODEL_TYPE ? 'dbm' : 'rbm';
}
