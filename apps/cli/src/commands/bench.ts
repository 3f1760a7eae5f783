import { RBM, RbmError, sourceColumnMeans, Trainer } from '@rbmjs/core';
import type { Command } from 'commander';
import { startBackend } from '../backends.js';
import { addDataOptions, type DataOptions, dataSpec } from '../common.js';
import { openData } from '../data.js';
import { positiveInt } from '../options.js';
import { Output } from '../output.js';

interface BenchFlags extends DataOptions {
  backends: string;
  hidden: number;
  epochs: number;
  batch: number;
  k: number;
  repeats: number;
  json?: boolean;
  verbose?: boolean;
}

export function registerBench(program: Command): void {
  const cmd = program
    .command('bench')
    .description('run the same training job on several backends: a table of times and ratios');
  addDataOptions(cmd, 'mnist')
    .option('--backends <list>', 'comma-separated backends', 'js,tfjs:wasm')
    .option('--hidden <n>', 'hidden units', positiveInt, 100)
    .option('--epochs <n>', 'epochs per timing', positiveInt, 1)
    .option('--batch <n>', 'mini-batch size', positiveInt, 100)
    .option('--k <n>', 'CD-k', positiveInt, 1)
    .option('--repeats <n>', 'timings per backend (the median is reported)', positiveInt, 3)
    .option('--json', 'print one JSON object')
    .option('--verbose', 'stack traces on errors')
    .action(async (flags: BenchFlags) => bench(flags));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function bench(flags: BenchFlags): Promise<void> {
  const out = new Output(Boolean(flags.json));
  const opened = openData(dataSpec(flags));
  const source = opened.source;
  const means = await sourceColumnMeans(source);
  const names = flags.backends
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (names.length === 0) throw new RbmError('INVALID_ARGUMENT', '--backends is empty');
  out.info(
    `${opened.description}; CD-${flags.k}, ${source.cols}-${flags.hidden}, batch ${flags.batch}, ${flags.epochs} epoch(s), median of ${flags.repeats}`,
  );
  const rows: Array<{ backend: string; secondsPerEpoch?: number; error?: string }> = [];
  for (const name of names) {
    try {
      const backend = await startBackend(name);
      const times: number[] = [];
      for (let r = 0; r < flags.repeats; r++) {
        const model = RBM.create(backend, { numVisible: source.cols, numHidden: flags.hidden, seed: 1, means });
        const trainer = new Trainer(model, source, {
          epochs: flags.epochs,
          batchSize: flags.batch,
          k: flags.k,
          learningRate: 0.05,
          seed: 1,
        });
        const t0 = performance.now();
        await trainer.run();
        times.push((performance.now() - t0) / 1000 / flags.epochs);
        trainer.dispose();
        model.dispose();
      }
      rows.push({ backend: backend.name, secondsPerEpoch: median(times) });
      backend.destroy();
    } catch (error) {
      rows.push({ backend: name, error: error instanceof Error ? error.message : String(error) });
    }
  }
  await source.close?.();
  const fastest = Math.min(...rows.flatMap((r) => (r.secondsPerEpoch === undefined ? [] : [r.secondsPerEpoch])));
  out.info('| backend | s/epoch | ratio to fastest |');
  out.info('| --- | --- | --- |');
  for (const r of rows) {
    out.info(
      r.secondsPerEpoch === undefined
        ? `| ${r.backend} | not run: ${r.error} | |`
        : `| ${r.backend} | ${r.secondsPerEpoch.toFixed(3)} | ${(r.secondsPerEpoch / fastest).toFixed(2)}x |`,
    );
  }
  out.emit({ data: opened.description, hidden: flags.hidden, batch: flags.batch, k: flags.k, results: rows });
}
