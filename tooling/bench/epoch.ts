/**
 * Shared by the backends' epoch benchmarks: one MNIST-sized epoch of CD-1 (784-500, batch 100) timed on a
 * backend. Each backend variant runs in its own process (`runVariants`), so that engines with global state
 * (tfjs) or worker pools cannot interfere. Against PyTorch, `rbm bench --backends <name>` times any backend by
 * the protocol in docs/benchmarks.md (both sides warm, thread settings searched, alternating): these scripts
 * compare a backend's own variants.
 */
import { execFileSync } from 'node:child_process';
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

/** Prints the markdown table of the figures, and where the comparison with PyTorch lives. */
export function printTable(rows: EpochTiming[], steps: number): void {
  console.log(`\nCD-1, ${V}-${H}, batch ${B}: median of 3 epochs of up to ${steps} steps, projected to 600 steps\n`);
  console.log('| backend | ms/step | s/MNIST epoch |');
  console.log('| --- | --- | --- |');
  for (const r of rows) console.log(`| ${r.name} | ${r.stepMs.toFixed(2)} | ${r.epochSeconds.toFixed(2)} |`);
  console.log(`\nAgainst PyTorch, warm, by one protocol: rbm bench --data mnist --hidden ${H} --backends <name>`);
}
