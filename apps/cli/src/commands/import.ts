import { basename } from 'node:path';
import { encodeModel } from '@rbmjs/core';
import { readSklearnFile } from '@rbmjs/core/node';
import type { Command } from 'commander';
import { addCommonOptions } from '../common.js';
import { checkOutputs, cleanTemporaries, writeOutput } from '../files.js';
import { Output } from '../output.js';
import { VERSION } from '../version.js';

/**
 * `rbm import --sklearn FILE.npz --out M.safetensors`: a scikit-learn BernoulliRBM's fitted attributes
 * (components_, intercept_hidden_, intercept_visible_, saved with numpy.savez) as an rbmjs model file, which
 * every other command then takes. See docs/using.md.
 */

interface ImportFlags {
  sklearn: string;
  out: string;
  force?: boolean;
  json?: boolean;
}

export function registerImport(program: Command): void {
  const cmd = program
    .command('import')
    .description("read a model made elsewhere: scikit-learn's BernoulliRBM (.npz of its attributes)")
    .requiredOption(
      '--sklearn <file>',
      '.npz with components_, intercept_hidden_ and intercept_visible_ (numpy.savez(path, components_=rbm.components_, ...))',
    )
    .requiredOption('--out <file>', 'the rbmjs model file to write (safetensors)');
  addCommonOptions(cmd, { force: true, json: 'print a JSON summary' }).action(async (flags: ImportFlags) =>
    importModel(flags),
  );
}

async function importModel(flags: ImportFlags): Promise<void> {
  const out = new Output(Boolean(flags.json));
  await checkOutputs([{ path: flags.out, what: 'model file' }], {
    force: Boolean(flags.force),
    inputs: [flags.sklearn],
  });
  await cleanTemporaries([flags.out]);
  const p = await readSklearnFile(flags.sklearn);
  const bytes = encodeModel(p, {
    provenance: JSON.stringify({
      tool: `@rbmjs/cli ${VERSION}`,
      imported: `scikit-learn BernoulliRBM (${basename(flags.sklearn)})`,
      node: process.version,
      date: new Date().toISOString(),
    }),
  });
  await writeOutput(flags.out, bytes, { overwrite: Boolean(flags.force) });
  out.info(`wrote ${flags.out}: a ${p.numVisible}-${p.numHidden} Bernoulli RBM from ${flags.sklearn}`);
  out.emit({ out: flags.out, from: flags.sklearn, numVisible: p.numVisible, numHidden: p.numHidden });
}
