/**
 * One MNIST-sized epoch of CD-1 (784-500, batch 100) on the TensorFlow.js engines available here (against
 * PyTorch: `rbm bench --backends tfjs:wasm`, which times both sides warm by docs/benchmarks.md's protocol).
 * Run: `pnpm --filter @rbmjs/backend-tfjs bench` (engines: BENCH_ENGINES=wasm,cpu; steps: BENCH_STEPS).
 *
 * Each engine runs in its own process (tfjs has one global engine per process).
 */
import { printTable, runVariants, timeEpoch } from '@rbmjs/bench-tools';
import { createTfjsBackend, type Engine } from '../src/index.js';

const steps = Number(process.env.BENCH_STEPS ?? 60);

if (process.argv[2] === '--variant') {
  const backend = await createTfjsBackend({ engine: process.argv[3] as Engine });
  process.stdout.write(JSON.stringify(await timeEpoch(backend, steps)));
} else {
  const engines = (process.env.BENCH_ENGINES ?? 'wasm,cpu').split(',');
  const rows = runVariants(import.meta.filename, engines, (e) => (e === 'cpu' ? Math.min(steps, 10) : steps));
  printTable(rows, steps);
}
