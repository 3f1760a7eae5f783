import { extname } from 'node:path';
import {
  checkMemory,
  type DataSource,
  type Dataset,
  DBN,
  DbmEstimator,
  DEFAULT_MEAN_FIELD_ITERATIONS,
  encodeSafetensors,
  float32Bytes,
  npyBytes,
  npyHeader,
  RbmEstimator,
  type SafeTensor,
  ShapeError,
} from '@rbmjs/core';
import { readAnyModelFile } from '@rbmjs/core/node';
import { type Command, Option } from 'commander';
import { addCommonOptions, backendFor, type DataCommandFlags, dataSpec, modelCommand } from '../common.js';
import { openData } from '../data.js';
import { UsageError } from '../errors.js';
import { checkOutputs, cleanTemporaries, sidePath, writeOutput } from '../files.js';
import { readLabels } from '../labels.js';
import { positiveInt } from '../options.js';
import { Output } from '../output.js';

/**
 * `rbm transform`: the hidden features p(h = 1 | v) of every row of a data set (a deep belief network's: the
 * top layer's, through every layer), for a classifier, as CSV, NumPy .npy or safetensors; with the data's labels passed through. Rows are read and transformed batch by batch, and
 * CSV and .npy files are written as they come, so the data need not fit in memory.
 */

type Format = 'csv' | 'npy' | 'safetensors';

interface TransformFlags extends DataCommandFlags {
  out: string;
  format?: Format;
  labels?: string | boolean;
  batch: number;
}

export function registerTransform(program: Command): void {
  const what = 'hidden features p(h = 1 | v) of every row, for a classifier: CSV, NumPy .npy or safetensors';
  const cmd = modelCommand(program, 'transform', what, { data: 'mnist' })
    .requiredOption('--out <file>', 'features file (.csv, .npy or .safetensors)')
    .addOption(
      new Option('--format <f>', 'csv, npy or safetensors (default: from the --out extension)').choices([
        'csv',
        'npy',
        'safetensors',
      ]),
    )
    .option(
      '--labels [file]',
      "pass the labels through: MNIST's own (no file), or an IDX or one-column CSV file; a last CSV column, a `labels` tensor, or OUT.labels.npy",
    )
    .option('--batch <n>', 'rows per batch', positiveInt, 1000);
  addCommonOptions(cmd, { backend: true, force: true, json: 'print a JSON summary' }).action(
    async (modelPath: string, flags: TransformFlags) => transform(modelPath, flags),
  );
}

function formatOf(flags: TransformFlags): Format {
  if (flags.format) return flags.format;
  const ext = extname(flags.out).toLowerCase();
  if (ext === '.csv') return 'csv';
  if (ext === '.npy') return 'npy';
  if (ext === '.safetensors') return 'safetensors';
  throw new UsageError(
    `--out ${flags.out}: cannot tell the format from the extension; give --format csv, npy or safetensors`,
  );
}

async function transform(modelPath: string, flags: TransformFlags): Promise<void> {
  const out = new Output(Boolean(flags.json));
  const format = formatOf(flags);
  const spec = dataSpec(flags);
  const labelSource =
    flags.labels === undefined || flags.labels === false ? undefined : flags.labels === true ? spec.name : flags.labels;
  if (labelSource !== undefined && labelSource !== 'mnist' && flags.labels === true)
    throw new UsageError(`--labels without a file passes MNIST's labels through; for ${spec.name} give --labels FILE`);
  // OUT.labels.npy beside OUT.npy.
  const labelsPath = sidePath(flags.out, '.labels.npy');
  const outputs = [
    { path: flags.out, what: 'features file' },
    ...(labelSource !== undefined && format === 'npy' ? [{ path: labelsPath, what: 'labels file' }] : []),
  ];
  const inputs = [modelPath, ...(spec.name !== 'mnist' ? [spec.name] : [])];
  if (typeof flags.labels === 'string') inputs.push(flags.labels);
  await checkOutputs(outputs, { force: Boolean(flags.force), inputs });
  await cleanTemporaries(outputs.map((o) => o.path));

  // One RBM, a deep belief network (the top layer's features, through every layer), or a deep Boltzmann
  // machine (every hidden layer's mean field, side by side, as Salakhutdinov & Hinton feed their classifier).
  const file = await readAnyModelFile(modelPath);
  const layers = file.kind === 'dbn' ? file.layers : file.kind === 'rbm' ? [file.parameters] : [];
  const dbmSizes = file.kind === 'dbm' ? file.parameters.sizes : undefined;
  const numVisible = dbmSizes ? dbmSizes[0]! : layers[0]!.numVisible;
  const nh = dbmSizes ? dbmSizes.slice(1).reduce((t, n) => t + n, 0) : layers.at(-1)!.numHidden;
  const opened = openData(spec);
  try {
    const src = opened.source;
    if (src.cols !== numVisible) {
      const groups = layers[0]?.softmaxGroups;
      const labelUnits = groups ? groups.reduce((a, k) => a + k, 0) : 0;
      throw new ShapeError(
        `${src.source}: ${src.cols} values per row, the model (${modelPath}) has ${numVisible} visible units` +
          (groups
            ? ` (${numVisible - labelUnits} inputs and ${labelUnits} label units: a classifier takes each row with its one-hot label appended; rbm predict classifies rows of ${numVisible - labelUnits} inputs)`
            : ''),
      );
    }
    const labels =
      labelSource !== undefined ? readLabels(labelSource, spec.split, src.rows, opened.fileRows) : undefined;
    // Within the budget before any work: safetensors is built in memory (npy and CSV stream).
    if (format === 'safetensors') {
      checkMemory(
        `a safetensors file of ${src.rows} rows x ${nh} features, built in memory (--format npy or csv streams them)`,
        float32Bytes(2 * src.rows * nh),
        'float32, and its encoding',
      );
    }
    const backend = await backendFor(flags.backend, out, Boolean(flags.verbose));
    const est = file.kind === 'rbm' ? RbmEstimator.fromParameters(backend, file.parameters) : undefined;
    const dbn = file.kind === 'dbn' ? DBN.fromParameters(backend, file.layers) : undefined;
    const dbm = file.kind === 'dbm' ? DbmEstimator.fromParameters(backend, file.parameters) : undefined;
    out.info(
      `${opened.description}; ${nh} features per row${dbn ? ` (deep belief network ${dbn.sizes.join('-')}, top layer)` : ''}${dbm ? ` (deep Boltzmann machine ${dbmSizes!.join('-')}: mean field of every hidden layer, ${DEFAULT_MEAN_FIELD_ITERATIONS} iterations)` : ''}, backend ${backend.name}`,
    );
    const t0 = performance.now();
    const batchCount = Math.ceil(src.rows / flags.batch);
    const bar = out.progress(batchCount, 'transform');
    const source = est
      ? est.transformBatches(src, { batchSize: flags.batch })
      : dbm
        ? stackBatches((data) => dbm.transform(data), src, flags.batch)
        : stackBatches((data) => dbn!.transform(data, flags.batch), src, flags.batch);
    const batches = async function* () {
      for await (const b of source) {
        const done = Math.ceil((b.start + b.rows) / flags.batch);
        bar?.update(done, { rate: (done / Math.max(1e-3, (performance.now() - t0) / 1000)).toFixed(1) });
        yield b;
      }
    };
    try {
      if (format === 'csv') {
        await writeOutput(flags.out, csvChunks(batches(), nh, labels?.labels));
      } else if (format === 'npy') {
        await writeOutput(flags.out, npyChunks(batches(), src.rows, nh));
        if (labels) {
          const header = npyHeader('<i4', [src.rows]);
          await writeOutput(labelsPath, [header, npyBytes(labels.labels)]);
        }
      } else {
        const features = new Float32Array(src.rows * nh);
        for await (const b of batches()) features.set(b.features, b.start * nh);
        const tensors: Record<string, SafeTensor> = {
          features: { dtype: 'F32', shape: [src.rows, nh], data: features },
        };
        if (labels) tensors.labels = { dtype: 'F32', shape: [src.rows], data: Float32Array.from(labels.labels) };
        await writeOutput(flags.out, encodeSafetensors(tensors, { model: modelPath, data: opened.description }));
      }
    } finally {
      bar?.stop();
      est?.dispose();
      dbn?.dispose();
      dbm?.dispose();
    }
    const seconds = (performance.now() - t0) / 1000;
    const written = outputs.map((o) => o.path);
    out.info(
      `${src.rows} rows -> ${nh} features${labels ? ` (+ labels from ${labels.source})` : ''} in ${seconds.toFixed(2)} s: wrote ${written.join(', ')}`,
    );
    out.emit({ rows: src.rows, features: nh, format, labels: Boolean(labels), seconds, files: written });
  } finally {
    await opened.source.close?.();
  }
}

/** A stack's features of a source (a DBN's top layer, a DBM's mean field), batch by batch. */
async function* stackBatches(
  features: (data: Dataset) => Promise<Float32Array>,
  src: DataSource,
  batchSize: number,
): AsyncGenerator<{ start: number; rows: number; features: Float32Array }> {
  const buf = new Float32Array(Math.min(batchSize, src.rows) * src.cols);
  for (let start = 0; start < src.rows; start += batchSize) {
    const rows = Math.min(batchSize, src.rows - start);
    const view = buf.subarray(0, rows * src.cols);
    await src.readRows(
      Uint32Array.from({ length: rows }, (_, i) => start + i),
      view,
    );
    const data = { data: view, rows, cols: src.cols, ...(src.source ? { source: src.source } : {}) };
    yield { start, rows, features: await features(data) };
  }
}

type Batches = AsyncIterable<{ readonly start: number; readonly rows: number; readonly features: Float32Array }>;

/** CSV: a header (h0..h{n-1}[,label]), then one row per example, at float32's 9 significant digits. */
async function* csvChunks(batches: Batches, nh: number, labels?: Int32Array): AsyncGenerator<Uint8Array> {
  const enc = new TextEncoder();
  const head = Array.from({ length: nh }, (_, j) => `h${j}`);
  if (labels) head.push('label');
  yield enc.encode(`${head.join(',')}\n`);
  for await (const b of batches) {
    const lines: string[] = [];
    for (let r = 0; r < b.rows; r++) {
      const cells: string[] = [];
      for (let j = 0; j < nh; j++) cells.push(String(Number(b.features[r * nh + j]!.toPrecision(9))));
      if (labels) cells.push(String(labels[b.start + r]));
      lines.push(cells.join(','));
    }
    yield enc.encode(`${lines.join('\n')}\n`);
  }
}

async function* npyChunks(batches: Batches, rows: number, nh: number): AsyncGenerator<Uint8Array> {
  yield npyHeader('<f4', [rows, nh]);
  for await (const b of batches) yield npyBytes(b.features);
}
