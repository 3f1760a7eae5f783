import { basename } from 'node:path';
import {
  ArgumentError,
  checkOnnxOutputs,
  EXPORT_OPSET,
  type ExportableModel,
  encodeSklearnRbm,
  exportOnnx,
  type OnnxOutput,
  onnxOutputs,
  SKLEARN_ARRAYS,
} from '@rbmjs/core';
import { readAnyModelFile, readCollaborativeFile } from '@rbmjs/core/node';
import type { Command } from 'commander';
import { addCommonOptions, modelCommand } from '../common.js';
import { UsageError } from '../errors.js';
import { checkOutputs, cleanTemporaries, writeOutput } from '../files.js';
import { nonNegativeInt } from '../options.js';
import { Output } from '../output.js';
import { VERSION } from '../version.js';
import { isCollaborative } from './recommend.js';

/**
 * `rbm export`: a trained model for another runtime. `--onnx` writes a self-contained ONNX model (opset 17,
 * weights as initializers, a dynamic batch dimension) of any family: an RBM's features, free energy and
 * reconstruction, a classifier's p(y | x), a DBN's or DBM's features, a recommender's predicted ratings.
 * `--sklearn` writes the .npz of a scikit-learn BernoulliRBM's attributes. See docs/using.md.
 */

interface ExportFlags {
  onnx?: string;
  sklearn?: string;
  what?: string;
  meanFieldIterations?: number;
  force?: boolean;
  json?: boolean;
}

const ALL_OUTPUTS: readonly OnnxOutput[] = [
  'features',
  'free_energy',
  'reconstruction',
  'p_y_given_x',
  'predicted_class',
  'predicted_ratings',
  'rating_distribution',
];

export function registerExport(program: Command): void {
  const what = 'write a model for another runtime: ONNX (every family) or scikit-learn (a BernoulliRBM .npz)';
  const cmd = modelCommand(program, 'export', what, { model: 'model file (safetensors) of any kind' })
    .option('--onnx <file>', "an ONNX model (opset 17) of the model's inference outputs")
    .option(
      '--sklearn <file>',
      "an .npz of scikit-learn BernoulliRBM's components_, intercept_hidden_, intercept_visible_",
    )
    .option(
      '--what <outputs>',
      `ONNX outputs, comma-separated, of ${ALL_OUTPUTS.join(', ')} (default: all the model has; a classifier: p_y_given_x,predicted_class)`,
    )
    .option(
      '--mean-field-iterations <n>',
      'DBM: mean-field sweeps fixed in the graph (default 30, as rbm transform)',
      nonNegativeInt,
    );
  addCommonOptions(cmd, { force: true, json: 'print a JSON summary' }).action(
    async (modelPath: string, flags: ExportFlags) => exportModel(modelPath, flags),
  );
}

function parseWhat(s: string | undefined): OnnxOutput[] | undefined {
  if (s === undefined) return undefined;
  const list = s.split(',').map((w) => w.trim());
  for (const w of list)
    if (!(ALL_OUTPUTS as readonly string[]).includes(w))
      throw new UsageError(`--what ${s}: ${JSON.stringify(w)} is not an output; choose from ${ALL_OUTPUTS.join(', ')}`);
  return list as OnnxOutput[];
}

/** `f()`, with what the model cannot export (an ArgumentError) refused as a usage error naming the file (exit 2). */
function refused<T>(modelPath: string, f: () => T): T {
  try {
    return f();
  } catch (error) {
    throw error instanceof ArgumentError ? new UsageError(`${modelPath}: ${error.message}`) : error;
  }
}

/** The model file as the exporter takes it (a collaborative file is read by its own decoder). */
async function readExportable(path: string): Promise<ExportableModel & { bytes: number }> {
  if (await isCollaborative(path)) {
    const f = await readCollaborativeFile(path);
    return {
      kind: 'collaborative',
      parameters: f.parameters,
      orientation: f.orientation,
      users: f.users,
      items: f.items,
      metadata: f.metadata,
      bytes: f.bytes,
    };
  }
  return readAnyModelFile(path);
}

async function exportModel(modelPath: string, flags: ExportFlags): Promise<void> {
  const out = new Output(Boolean(flags.json));
  if (!flags.onnx === !flags.sklearn) throw new UsageError('give one of --onnx FILE and --sklearn FILE');
  const target = (flags.onnx ?? flags.sklearn)!;
  if (flags.sklearn && (flags.what !== undefined || flags.meanFieldIterations !== undefined))
    throw new UsageError(`${flags.what !== undefined ? '--what' : '--mean-field-iterations'} is for --onnx`);
  const what = parseWhat(flags.what);
  const outputs = [{ path: target, what: flags.onnx ? 'ONNX model' : 'scikit-learn archive' }];
  await checkOutputs(outputs, { force: Boolean(flags.force), inputs: [modelPath] });
  await cleanTemporaries([target]);
  const model = await readExportable(modelPath);
  if (flags.meanFieldIterations !== undefined && model.kind !== 'dbm')
    throw new UsageError(`--mean-field-iterations is for a DBM; ${modelPath} is a ${model.kind} file`);
  let bytes: Uint8Array;
  let written: readonly string[];
  if (flags.onnx) {
    written = refused(modelPath, () => checkOnnxOutputs(model, what));
    bytes = refused(modelPath, () =>
      exportOnnx(model, {
        what: written as OnnxOutput[],
        ...(flags.meanFieldIterations !== undefined ? { meanFieldIterations: flags.meanFieldIterations } : {}),
        producerVersion: VERSION,
        metadata: { rbmjs_version: VERSION, rbmjs_source: basename(modelPath) },
      }),
    );
  } else {
    if (model.kind !== 'rbm')
      throw new UsageError(`${modelPath} is a ${model.kind} file; scikit-learn's BernoulliRBM is one RBM`);
    const p = model.parameters;
    bytes = refused(modelPath, () => encodeSklearnRbm(p));
    written = SKLEARN_ARRAYS;
  }
  await writeOutput(target, bytes, { overwrite: Boolean(flags.force) });
  const summary = {
    model: modelPath,
    kind: model.kind,
    out: target,
    format: flags.onnx ? `onnx (opset ${EXPORT_OPSET})` : 'npz (scikit-learn BernoulliRBM)',
    outputs: written,
    ...(flags.onnx ? { available: onnxOutputs(model).available } : {}),
    bytes: bytes.length,
  };
  out.info(`wrote ${target}: ${summary.format}, ${written.join(', ')} (${bytes.length} bytes)`);
  out.emit(summary);
}
