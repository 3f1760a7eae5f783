import {
  argmaxRows,
  type ClassificationReport,
  checkMemory,
  classificationReport,
  classLogProbabilities,
  labelLayout,
  RBM,
  ShapeError,
} from '@rbmjs/core';

import type { Command } from 'commander';
import { addCommonOptions, backendFor, type DataCommandFlags, dataSpec, modelCommand } from '../common.js';
import { openData } from '../data.js';
import { UsageError } from '../errors.js';
import { checkOutputs, cleanTemporaries, readRbmFile, writeOutput } from '../files.js';
import { checkClassLabels, readLabels } from '../labels.js';
import { positiveInt } from '../options.js';
import { Output } from '../output.js';

/**
 * `rbm predict`: the classes a classification RBM (`rbm train --labels`) gives each row, computed exactly
 * (free energy per class); with labels, the accuracy, the mean cross-entropy and the confusion matrix.
 */

interface PredictFlags extends DataCommandFlags {
  labels?: string | boolean;
  out?: string;
  batch: number;
}

export function registerPredict(program: Command): void {
  const what = 'classify every row with a classification RBM (rbm train --labels): accuracy and confusion matrix';
  const model = 'model file of a classification RBM (safetensors)';
  const cmd = modelCommand(program, 'predict', what, { model, data: 'mnist' })
    .option(
      '--labels [file]',
      "the true labels, for accuracy and the confusion matrix: MNIST's own (the default with --data mnist), or an IDX or one-column CSV file",
    )
    .option('--no-labels', 'predict only (no accuracy)')
    .option('--out <file>', 'CSV of each row: the predicted class and p(y = k | x) of every class')
    .option('--batch <n>', 'rows per batch', positiveInt, 10000);
  addCommonOptions(cmd, { backend: true, force: true, json: 'print a JSON summary' }).action(
    async (modelPath: string, flags: PredictFlags) => predict(modelPath, flags),
  );
}

async function predict(modelPath: string, flags: PredictFlags): Promise<void> {
  const out = new Output(Boolean(flags.json));
  const spec = dataSpec(flags);
  // MNIST's labels by default; a file's with --labels FILE; none with --no-labels.
  const labelSource =
    flags.labels === false
      ? undefined
      : typeof flags.labels === 'string'
        ? flags.labels
        : spec.name === 'mnist'
          ? 'mnist'
          : undefined;
  if (flags.labels === true && spec.name !== 'mnist')
    throw new UsageError(`--labels without a file means MNIST's labels; for ${spec.name} give --labels FILE`);
  const outputs = flags.out ? [{ path: flags.out, what: 'predictions file' }] : [];
  const inputs = [modelPath, ...(spec.name !== 'mnist' ? [spec.name] : [])];
  if (typeof flags.labels === 'string') inputs.push(flags.labels);
  await checkOutputs(outputs, { force: Boolean(flags.force), inputs });
  await cleanTemporaries(outputs.map((o) => o.path));

  const file = await readRbmFile(modelPath, 'predict');
  if (!file.parameters.softmaxGroups)
    throw new UsageError(
      `${modelPath} is not a classification RBM (it has no softmax label group): train one with rbm train --labels`,
    );
  const { numInputs, numClasses: C } = labelLayout(file.parameters);
  const opened = openData(spec);
  try {
    const src = opened.source;
    if (src.cols !== numInputs)
      throw new ShapeError(
        `${src.source}: ${src.cols} values per row, the classifier (${modelPath}) takes ${numInputs} inputs`,
      );
    // The labels are read and checked before any work: a failing command writes nothing.
    const labels =
      labelSource !== undefined ? readLabels(labelSource, spec.split, src.rows, opened.fileRows) : undefined;
    if (labels) checkClassLabels(labels, C, `the classes of ${modelPath}`);
    checkMemory(
      `p(y | x) of ${src.rows} rows x ${C} classes (--limit N classifies fewer)`,
      8 * src.rows * C,
      'float64',
    );
    const backend = await backendFor(flags.backend, out, Boolean(flags.verbose));
    const model = RBM.fromParameters(backend, file.parameters);
    out.info(`${opened.description}; ${C} classes, backend ${backend.name}`);
    const t0 = performance.now();
    const logp = new Float64Array(src.rows * C);
    const buf = new Float32Array(Math.min(flags.batch, src.rows) * src.cols);
    try {
      for (let start = 0; start < src.rows; start += flags.batch) {
        const n = Math.min(flags.batch, src.rows - start);
        const view = buf.subarray(0, n * src.cols);
        await src.readRows(
          Uint32Array.from({ length: n }, (_, i) => start + i),
          view,
        );
        const data = { data: view, rows: n, cols: src.cols, ...(src.source ? { source: src.source } : {}) };
        logp.set(await classLogProbabilities(model, data), start * C);
      }
    } finally {
      model.dispose();
    }
    const seconds = (performance.now() - t0) / 1000;
    const predicted = argmaxRows(logp, C);
    if (flags.out) {
      const enc = new TextEncoder();
      const chunks = function* () {
        yield enc.encode(`predicted,${Array.from({ length: C }, (_, k) => `p${k}`).join(',')}\n`);
        for (let start = 0; start < predicted.length; start += 1000) {
          const lines: string[] = [];
          for (let r = start; r < Math.min(predicted.length, start + 1000); r++) {
            const p = Array.from({ length: C }, (_, k) => String(Number(Math.exp(logp[r * C + k]!).toPrecision(9))));
            lines.push(`${predicted[r]},${p.join(',')}`);
          }
          yield enc.encode(`${lines.join('\n')}\n`);
        }
      };
      await writeOutput(flags.out, chunks());
    }
    let report: ClassificationReport | undefined;
    if (labels) {
      report = classificationReport(logp, labels.labels, C);
      out.info(
        `${src.rows} rows in ${seconds.toFixed(2)} s: accuracy ${(100 * report.accuracy).toFixed(2)}% (error ${(100 * report.error).toFixed(2)}%), cross-entropy ${report.crossEntropy.toFixed(4)} nats`,
      );
      out.lines(confusionText(report.confusion).split('\n'));
    } else out.info(`${src.rows} rows classified in ${seconds.toFixed(2)} s`);
    if (flags.out) out.info(`wrote ${flags.out}`);
    const counts = new Array<number>(C).fill(0);
    for (const y of predicted) counts[y]!++;
    out.emit({
      rows: src.rows,
      classes: C,
      seconds,
      predictedCounts: counts,
      ...(report
        ? {
            labels: labels!.source,
            accuracy: report.accuracy,
            error: report.error,
            crossEntropy: report.crossEntropy,
            confusion: report.confusion,
          }
        : {}),
      ...(flags.out ? { files: [flags.out] } : {}),
    });
  } finally {
    await opened.source.close?.();
  }
}

/** The confusion matrix as a table: rows the true class, columns the predicted one. */
export function confusionText(confusion: number[][]): string {
  const C = confusion.length;
  const width = Math.max(5, ...confusion.flat().map((x) => String(x).length + 1));
  const cell = (s: string | number) => String(s).padStart(width);
  const lines = [
    `confusion (rows: true class, columns: predicted)`,
    `${cell('')}${confusion.map((_, k) => cell(k)).join('')}`,
  ];
  for (let t = 0; t < C; t++) lines.push(`${cell(t)}${confusion[t]!.map(cell).join('')}`);
  return lines.join('\n');
}
