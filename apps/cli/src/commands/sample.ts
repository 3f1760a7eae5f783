import {
  checkMask,
  checkMemory,
  conditionalSample,
  type Dataset,
  DBM,
  DBN,
  modelMemory,
  RBM,
  RbmError,
  type Samples,
  temperedSample,
} from '@rbmjs/core';
import { readAnyModelFile } from '@rbmjs/core/node';
import type { Command } from 'commander';
import { addCommonOptions, type BackendFlags, backendFor } from '../common.js';
import { loadAll, openData } from '../data.js';
import { UsageError } from '../errors.js';
import { checkOutputs, cleanTemporaries, writeOutput } from '../files.js';
import { integerAtLeast, nonNegativeInt, number, oneOf, positiveInt } from '../options.js';
import { Output } from '../output.js';
import { tileImages } from '../pictures.js';

interface SampleFlags extends BackendFlags {
  chains: number;
  tempering?: number;
  betaMin: number;
  steps: number;
  seed: number;
  init?: string;
  initSplit: 'train' | 'test';
  clampTop?: number;
  mask?: string;
  meanField?: boolean;
  png?: string;
  csv?: string;
  side?: number;
}

export function registerSample(program: Command): void {
  const cmd = program.command('sample');
  cmd
    .description(
      'draw samples by block Gibbs sampling (a deep belief network: in its top RBM, then a down pass); write them as a PNG grid and/or a CSV file',
    )
    .argument('<model>', 'model file (safetensors): an RBM or a deep belief network')
    .option('--chains <n>', 'number of samples (parallel chains)', positiveInt, 64)
    .option('--steps <n>', 'Gibbs sweeps', positiveInt, 1000)
    .option('--seed <n>', 'seed', nonNegativeInt, 1)
    .option(
      '--tempering <n>',
      'parallel tempering with N replicas (inverse temperatures linear from 1 to --beta-min)',
      integerAtLeast(2),
    )
    .option(
      '--beta-min <b>',
      'lowest inverse temperature with --tempering',
      number(0, 1, { inclusiveMin: false, inclusiveMax: false }),
      0.1,
    )
    .option('--init <name|file>', 'start the chains at the first examples of this data (default: random)')
    .option('--init-split <split>', 'MNIST split of --init', oneOf('train', 'test'), 'test')
    .option(
      '--clamp-top <rows>',
      'inpainting: keep the top N pixel rows of each --init image and sample the rest from p(v_free | v_clamped)',
      positiveInt,
    )
    .option(
      '--mask <file>',
      'inpainting: a CSV or IDX file of 0/1, 1 where a unit is clamped to its --init value: one row for all, or one per chain',
    )
    .option('--mean-field', 'with --clamp-top or --mask: the mean-field completion instead of Gibbs samples')
    .option('--png <file>', 'PNG grid of p(v = 1 | h) at the last step (square images)')
    .option(
      '--csv <file>',
      "CSV of the samples, one per line: the chains' states (clamped units keep their input values)",
    )
    .option('--side <n>', 'image side for the PNG (default: the square root of the visible units)', positiveInt);
  addCommonOptions(cmd, {
    backend: true,
    force: 'replace existing --png/--csv files (regular files only)',
    json: 'print a JSON summary',
  }).action(async (modelPath: string, flags: SampleFlags, command: Command) => sample(modelPath, flags, command));
}

async function sample(modelPath: string, flags: SampleFlags, command: Command): Promise<void> {
  const out = new Output(Boolean(flags.json));
  if (!flags.png && !flags.csv) throw new UsageError('nothing to write: give --png FILE and/or --csv FILE');
  const given = (name: string) => command.getOptionValueSource(name) === 'cli';
  if (given('betaMin') && flags.tempering === undefined) throw new UsageError('--beta-min needs --tempering');
  if (given('initSplit') && !flags.init) throw new UsageError('--init-split needs --init');
  if (given('side') && !flags.png) throw new UsageError('--side needs --png');
  const clamping = flags.clampTop !== undefined || flags.mask !== undefined;
  if (flags.clampTop !== undefined && flags.mask !== undefined)
    throw new UsageError('give --clamp-top or --mask, not both');
  if (clamping && !flags.init) throw new UsageError('--clamp-top and --mask need --init (the examples to complete)');
  if (clamping && flags.tempering !== undefined)
    throw new UsageError('--clamp-top and --mask do not combine with --tempering');
  if (flags.meanField && !clamping) throw new UsageError('--mean-field needs --clamp-top or --mask');
  if (flags.tempering !== undefined && flags.tempering < 2)
    throw new UsageError(`--tempering needs at least 2 replicas, got ${flags.tempering}`);
  // The chains (times the replicas) are bounded before anything is allocated.
  const file = await readAnyModelFile(modelPath);
  if (!clamping) {
    // A DBM's sampler checks its chains itself.
    const layers = file.kind === 'dbn' ? file.layers : file.kind === 'rbm' ? [file.parameters] : [];
    const replicas = flags.tempering ?? 1;
    for (const l of layers) {
      const need = modelMemory(l.numVisible, l.numHidden, flags.chains * replicas);
      checkMemory(
        `--chains ${flags.chains}${flags.tempering !== undefined ? ` x --tempering ${flags.tempering}` : ''}`,
        need.bytes,
        need.detail,
      );
    }
  }
  // Outputs are checked before anything runs: never over an input, never an existing file without --force.
  const outputs = [
    ...(flags.png ? [{ path: flags.png, what: '--png file' }] : []),
    ...(flags.csv ? [{ path: flags.csv, what: '--csv file' }] : []),
  ];
  await checkOutputs(outputs, {
    force: Boolean(flags.force),
    inputs: [
      modelPath,
      ...(flags.init && flags.init !== 'mnist' ? [flags.init] : []),
      ...(flags.mask ? [flags.mask] : []),
    ],
  });
  await cleanTemporaries(outputs.map((o) => o.path));
  const backend = await backendFor(flags.backend, out, Boolean(flags.verbose));
  if (file.kind === 'dbm') {
    if (clamping || flags.tempering !== undefined || flags.init)
      throw new UsageError(
        `${modelPath} is a deep Boltzmann machine: it samples by block Gibbs sampling over every layer from random states; --init, --clamp-top, --mask and --tempering are for one RBM`,
      );
    const dbm = DBM.fromParameters(backend, file.parameters);
    const nv = dbm.numVisible;
    const side = flags.side ?? Math.round(Math.sqrt(nv));
    if (flags.png && side * side !== nv)
      throw new UsageError(`${nv} visible units are not a square image; give --side or use --csv`);
    const t0 = performance.now();
    const s = await dbm.sample({
      chains: flags.chains,
      steps: flags.steps,
      seed: flags.seed,
      onProgress: out.work('sampling', 'sweeps'),
    });
    dbm.dispose();
    const written = await writeSamples(flags, s, nv, side);
    const seconds = (performance.now() - t0) / 1000;
    out.info(
      `${s.rows} samples after ${flags.steps} Gibbs sweeps of the ${file.parameters.sizes.join('-')} deep Boltzmann machine in ${seconds.toFixed(2)} s: wrote ${written.join(', ')}`,
    );
    out.emit({ samples: s.rows, steps: flags.steps, seconds, files: written });
    return;
  }
  // One RBM, or a deep belief network: Gibbs sampling in its top RBM, then a down pass to the data.
  if (file.kind === 'dbn' && (clamping || flags.tempering !== undefined))
    throw new UsageError(
      `${modelPath} is a deep belief network: it samples by Gibbs sampling in its top RBM and a down pass; --clamp-top, --mask and --tempering are for one RBM`,
    );
  const dbn = file.kind === 'dbn' ? DBN.fromParameters(backend, file.layers) : undefined;
  const model = file.kind === 'rbm' ? RBM.fromParameters(backend, file.parameters) : dbn!.layers[0]!;
  // The PNG's image side, checked before sampling.
  const side = flags.side ?? Math.round(Math.sqrt(model.numVisible));
  if (flags.png && side * side !== model.numVisible) {
    throw new UsageError(
      flags.side !== undefined
        ? `--side ${flags.side} makes ${side * side} pixels, the model has ${model.numVisible} visible units`
        : `${model.numVisible} visible units are not a square image; give --side or use --csv`,
    );
  }
  let init: Dataset | undefined;
  if (flags.init) {
    const opened = openData({
      name: flags.init,
      split: flags.initSplit,
      limit: flags.chains,
      threshold: 0.5,
      seed: flags.seed,
    });
    init = await loadAll(opened.source);
    await opened.source.close?.();
    if (init.cols !== model.numVisible) {
      throw new RbmError(
        'SHAPE_MISMATCH',
        `${flags.init}: ${init.cols} values per example, the model has ${model.numVisible} visible units`,
      );
    }
    // --chains chains: fewer rows than chains start several chains each (row r starts chains r, r + n, ...).
    if (init.rows < flags.chains && !clamping) {
      out.info(`${flags.chains} chains from the ${init.rows} rows of ${flags.init}: each row starts several chains`);
      const data = new Float32Array(flags.chains * init.cols);
      for (let r = 0; r < flags.chains; r++)
        data.set(init.data.subarray((r % init.rows) * init.cols, ((r % init.rows) + 1) * init.cols), r * init.cols);
      init = { data, rows: flags.chains, cols: init.cols, ...(init.source ? { source: init.source } : {}) };
    }
  }
  const t0 = performance.now();
  const tempering =
    flags.tempering !== undefined ? { temperatures: flags.tempering, betaMin: flags.betaMin } : undefined;
  const options = {
    chains: flags.chains,
    steps: flags.steps,
    seed: flags.seed,
    ...(init ? { init } : {}),
    onProgress: out.work('sampling', 'sweeps'),
  };
  let mask: Float32Array | undefined;
  if (clamping && init)
    mask = flags.mask
      ? await readMask(flags.mask, init.rows, model.numVisible)
      : topRows(flags.clampTop!, side, model.numVisible, flags.png !== undefined);
  const s: Samples =
    mask && init
      ? await conditionalSample(model, {
          data: init,
          mask,
          steps: flags.steps,
          seed: flags.seed,
          method: flags.meanField ? 'mean-field' : 'gibbs',
        })
      : dbn
        ? await dbn.sample(options)
        : tempering
          ? await temperedSample(model, { ...options, tempering })
          : await model.sample(options);
  const seconds = (performance.now() - t0) / 1000;
  // Inpainting: each completion beside its input, whose free units show grey.
  const written = await writeSamples(flags, s, model.numVisible, side, mask && init ? { init, mask } : undefined);
  if (dbn) dbn.dispose();
  else model.dispose();
  out.info(
    `${s.rows} samples after ${flags.steps} Gibbs sweeps${dbn ? ` in the top RBM of the ${dbn.sizes.join('-')} network and a down pass` : ''} in ${seconds.toFixed(2)} s: wrote ${written.join(', ')}`,
  );
  out.emit({
    samples: s.rows,
    steps: flags.steps,
    seconds,
    files: written,
    ...(mask
      ? {
          clamped: mask.reduce((a, x) => a + x, 0) / (mask.length / model.numVisible),
          method: flags.meanField ? 'mean-field' : 'gibbs',
        }
      : {}),
  });
}

/** The --png and --csv files of samples (with --clamp-top or --mask, each completion beside its input). */
async function writeSamples(
  flags: { png?: string; csv?: string },
  s: Samples,
  nv: number,
  side: number,
  inpainting?: { init: Dataset; mask: Float32Array },
): Promise<string[]> {
  const written: string[] = [];
  if (flags.png) {
    const shown = inpainting ? withInputs(inpainting.init, inpainting.mask, s.probabilities) : s.probabilities;
    const count = inpainting ? 2 * s.rows : s.rows;
    await writeOutput(flags.png, tileImages(shown, count, side, { range: [0, 1], scale: 2 }));
    written.push(flags.png);
  }
  if (flags.csv) {
    const lines: string[] = [];
    for (let r = 0; r < s.rows; r++)
      lines.push(Array.from(s.states.subarray(r * nv, (r + 1) * nv), float32Text).join(','));
    await writeOutput(flags.csv, new TextEncoder().encode(`${lines.join('\n')}\n`));
    written.push(flags.csv);
  }
  return written;
}

/** A mask clamping the top `rows` pixel rows of square images of side `side`. */
function topRows(rows: number, side: number, nv: number, png: boolean): Float32Array {
  if (side * side !== nv)
    throw new UsageError(
      `--clamp-top needs square images: ${nv} visible units are not ${side} x ${side}${png ? '' : ' (give --mask FILE instead)'}`,
    );
  if (rows >= side) throw new UsageError(`--clamp-top ${rows} leaves nothing to sample in images of ${side} rows`);
  const mask = new Float32Array(nv);
  mask.fill(1, 0, rows * side);
  return mask;
}

/** Reads a mask file (CSV or IDX of 0s and 1s, values not rescaled) and checks it against the chains. */
async function readMask(path: string, rows: number, nv: number): Promise<Float32Array> {
  const opened = openData({ name: path, split: 'train', binarize: 'none', threshold: 0.5, seed: 0 });
  try {
    const ds = await loadAll(opened.source);
    // Unsigned-byte IDX values arrive scaled to [0, 1]: 255 is 1, as it should be.
    return checkMask(ds.data, rows, nv).values;
  } catch (error) {
    // The error keeps its type and names the file.
    if (error instanceof RbmError && !error.message.startsWith(path)) error.message = `${path}: ${error.message}`;
    throw error;
  } finally {
    await opened.source.close?.();
  }
}

/** Interleaves each input (free units at 1/2) with its completion, for the PNG. */
function withInputs(init: Dataset, mask: Float32Array, completed: ArrayLike<number>): Float32Array {
  const nv = init.cols;
  const out = new Float32Array(2 * init.rows * nv);
  for (let r = 0; r < init.rows; r++) {
    const m = mask.length === nv ? 0 : r * nv;
    for (let i = 0; i < nv; i++) {
      out[2 * r * nv + i] = mask[m + i] === 1 ? init.data[r * nv + i]! : 0.5;
      out[(2 * r + 1) * nv + i] = completed[r * nv + i]!;
    }
  }
  return out;
}

/** The shortest decimal that reads back as the same float32 (0.65316, not 0.6531599760055542). */
export function float32Text(x: number): string {
  if (Number.isInteger(x) || !Number.isFinite(x)) return String(x);
  for (let p = 1; p < 9; p++) {
    const t = Number(x.toPrecision(p));
    if (Math.fround(t) === x) return String(t);
  }
  return String(Number(x.toPrecision(9)));
}
