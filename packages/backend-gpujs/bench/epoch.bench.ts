/**
 * One MNIST-sized epoch of CD-1 (784-500, batch 100) in each gpu.js mode available here (against PyTorch:
 * `rbm bench --backends gpujs:webasm`, which times both sides warm by docs/benchmarks.md's protocol).
 * Run: `pnpm --filter @rbmjs/backend-gpujs bench` (modes: BENCH_MODES=webgpu,headlessgl,webasm,cpu, and
 * webasm-sync for webasm without its worker pool;
 * steps: BENCH_STEPS; a software WebGPU adapter only with RBMJS_ALLOW_FALLBACK_ADAPTER=1).
 */
import { printTable, runVariants, timeEpoch } from '@rbmjs/bench-tools';
import { createGpujsBackend, type Mode } from '../src/index.js';

const steps = Number(process.env.BENCH_STEPS ?? 30);

if (process.argv[2] === '--variant') {
  // `webasm-sync`: the webasm mode without its worker pool.
  const variant = process.argv[3]!;
  const backend = await createGpujsBackend({
    mode: variant.replace('-sync', '') as Mode,
    threads: !variant.endsWith('-sync'),
    allowFallbackAdapter: process.env.RBMJS_ALLOW_FALLBACK_ADAPTER === '1',
  });
  const timing = await timeEpoch(backend, steps);
  const threads = backend.details?.threads;
  const name = threads === undefined ? backend.name : `${backend.name} (${threads ? 'worker pool' : 'one thread'})`;
  process.stdout.write(JSON.stringify({ ...timing, name }));
  backend.destroy();
  process.exit(0); // the webasm worker pool and Dawn keep the event loop alive
} else {
  const modes = (process.env.BENCH_MODES ?? 'webgpu,headlessgl,webasm,cpu').split(',');
  const rows = runVariants(import.meta.filename, modes, (m) => (m === 'cpu' ? Math.min(steps, 5) : steps));
  printTable(rows, steps);
}
