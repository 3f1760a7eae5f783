import { encodeDbn, trainGreedy } from '@rbmjs/core';
import type { Command } from 'commander';
import { backendFor } from '../../common.js';
import { openData } from '../../data.js';
import { UsageError } from '../../errors.js';
import { checkOutputs, cleanTemporaries, sidePath, writeOutput } from '../../files.js';
import type { Output } from '../../output.js';
import { jobFrom, type TrainFlags } from './job.js';
import { provenance, writeFilters } from './outputs.js';

/**
 * `rbm train --hidden 500,500`: a deep belief network trained greedily (Hinton, Osindero & Teh 2006), each
 * layer an RBM with the run's options on the hidden probabilities of the layer below; one file with every
 * layer. Checkpoints, held-out figures and classifiers are for one RBM.
 */
export async function trainStack(flags: TrainFlags, command: Command, out: Output): Promise<void> {
  const given = (name: string) => command.getOptionValueSource(name) === 'cli';
  for (const [flag, name] of [
    ['labels', '--labels'],
    ['resume', '--resume'],
    ['checkpointEvery', '--checkpoint-every'],
    ['checkpoint', '--checkpoint'],
    ['monitor', '--monitor'],
    ['earlyStop', '--early-stop'],
    ['validation', '--validation'],
    ['learnVariance', '--learn-variance'],
  ] as const) {
    if (given(flag))
      throw new UsageError(
        `${name} is for one RBM; --hidden ${flags.hidden.join(',')} trains a deep belief network (train its layers one by one for that)`,
      );
  }
  if (flags.visible === 'gaussian')
    throw new UsageError('a deep belief network here has Bernoulli units in every layer: not with --visible gaussian');
  const job = jobFrom(flags, command);
  const c = job.config;
  const pngPath = sidePath(flags.out, '.filters.png');
  const inputs = job.data.name === 'mnist' ? [] : [job.data.name];
  const opened = openData(job.data);
  try {
    const writesPng = flags.pictures && opened.side !== undefined;
    const outputs = [
      { path: flags.out, what: 'model file' },
      ...(writesPng ? [{ path: pngPath, what: 'filters picture' }] : []),
    ];
    await checkOutputs(outputs, { force: Boolean(flags.force), inputs });
    for (const removed of await cleanTemporaries(outputs.map((o) => o.path)))
      out.info(`removed ${removed}, left by an interrupted write`);
    const backend = await backendFor(flags.backend, out, Boolean(flags.verbose));
    const sizes = [opened.source.cols, ...flags.hidden];
    out.info(`${opened.description}; ${opened.source.rows} for training`);
    out.info(
      `deep belief network ${sizes.join('-')}, greedy: each layer ${c.method!.toUpperCase()}-${c.k}, batch ${c.batchSize}, ${c.epochs} epochs, backend ${backend.name} (${backend.precision})`,
    );
    const t0 = performance.now();
    const layers = flags.hidden.map((numHidden) => ({ numHidden, ...c }));
    const { dbn, history } = await trainGreedy(backend, opened.source, layers, {
      onEpoch: (l, m) => {
        out.info(
          `layer ${l + 1}/${layers.length} (${sizes[l]}-${sizes[l + 1]}) epoch ${m.epoch + 1}/${c.epochs}: reconstruction error ${m.reconstructionError.toFixed(4)}, ${m.seconds.toFixed(2)} s`,
        );
        out.emit({ type: 'epoch', layer: l, ...m });
      },
    });
    const seconds = (performance.now() - t0) / 1000;
    const params = await dbn.parameters();
    dbn.dispose();
    await writeOutput(
      flags.out,
      encodeDbn(params, {
        hyperparameters: JSON.stringify({ ...job, hidden: flags.hidden }),
        ...provenance(backend.name),
      }),
    );
    const written = [flags.out];
    if (writesPng) {
      await writeFilters(pngPath, params[0]!, params[0]!.numVisible, opened.side!);
      written.push(pngPath);
    }
    out.info(`wrote ${written.join(', ')}`);
    out.emit({
      type: 'summary',
      model: flags.out,
      files: written,
      backend: backend.name,
      sizes,
      epochs: c.epochs,
      seconds,
      reconstructionError: history.map((h) => h.at(-1)?.reconstructionError),
    });
  } finally {
    await opened.source.close?.();
  }
}
