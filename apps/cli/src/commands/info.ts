import { createReferenceBackend } from '@rbmjs/core';
import { loadModelFile } from '@rbmjs/core/node';
import type { Command } from 'commander';
import { escapeInline, Output } from '../output.js';

function stats(x: Float32Array) {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  let sum = 0;
  let sq = 0;
  for (const v of x) {
    min = Math.min(min, v);
    max = Math.max(max, v);
    sum += v;
    sq += v * v;
  }
  const mean = sum / x.length;
  return { min, max, mean, std: Math.sqrt(Math.max(0, sq / x.length - mean * mean)) };
}

function parseJson(s: string | undefined): unknown {
  if (s === undefined) return undefined;
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}

export function registerInfo(program: Command): void {
  program
    .command('info')
    .description('describe a model file: sizes, parameter statistics, hyperparameters and provenance')
    .argument('<model>', 'model file (safetensors)')
    .option('--json', 'print one JSON object')
    .option('--verbose', 'stack traces on errors')
    .action(async (modelPath: string, flags: { json?: boolean }) => {
      const out = new Output(Boolean(flags.json));
      // Parameters only: the float64 reference holds them without needing any engine.
      const { model, metadata, bytes } = await loadModelFile(createReferenceBackend(), modelPath);
      const p = await model.parameters();
      const checkpoint = parseJson(metadata.rbmjs_checkpoint) as { epoch?: number } | undefined;
      const info = {
        file: modelPath,
        bytes,
        format: `${metadata.format} ${metadata.format_version}`,
        model: metadata.model,
        numVisible: p.numVisible,
        numHidden: p.numHidden,
        parameters: p.numVisible * p.numHidden + p.numVisible + p.numHidden,
        weights: stats(p.weights),
        visibleBias: stats(p.visibleBias),
        hiddenBias: stats(p.hiddenBias),
        hyperparameters: parseJson(metadata.hyperparameters),
        provenance: parseJson(metadata.provenance),
        ...(metadata.validation ? { validation: parseJson(metadata.validation) } : {}),
        ...(checkpoint ? { checkpointEpoch: checkpoint.epoch } : {}),
      };
      const f = (s: ReturnType<typeof stats>) =>
        `min ${s.min.toFixed(4)}, max ${s.max.toFixed(4)}, mean ${s.mean.toFixed(4)}, std ${s.std.toFixed(4)}`;
      out.info(
        `${escapeInline(modelPath)}: ${escapeInline(String(info.model))} RBM, ${p.numVisible} visible x ${p.numHidden} hidden (${info.parameters} parameters, ${bytes} bytes)`,
      );
      out.info(`  W: ${f(info.weights)}`);
      out.info(`  a: ${f(info.visibleBias)}`);
      out.info(`  b: ${f(info.hiddenBias)}`);
      if (checkpoint) out.info(`  checkpoint after epoch ${checkpoint.epoch}`);
      if (metadata.hyperparameters) out.info(`  hyperparameters: ${escapeInline(metadata.hyperparameters)}`);
      if (metadata.provenance) out.info(`  provenance: ${escapeInline(metadata.provenance)}`);
      // A best model kept by early stopping says what it was kept for.
      if (metadata.validation) out.info(`  kept as the best by: ${escapeInline(metadata.validation)}`);
      model.dispose();
      out.emit(info);
    });
}
