import { type Backend, BackendUnavailableError, createDataset, RBM, Trainer } from '@rbmjs/core';
import { backendChoices, loadBackend } from './session.js';

/**
 * bench.html: milliseconds per 784-500 CD-1 training step at batch 100 on every backend the demo offers, in
 * this browser, one backend at a time (each started, warmed up with 2 steps, then timed over 3 epochs of a
 * few steps, the median kept). `?run=1` runs at once; `?backends=a,b` times those only;
 * `?allowFallbackAdapter=1` accepts software WebGPU. The outcome is left on `window.rbmBench` too.
 */

const status = document.getElementById('status')!;
const table = document.getElementById('results') as HTMLTableElement;
const params = new URLSearchParams(location.search);

export interface BenchRow {
  readonly backend: string;
  readonly msPerStep?: number;
  readonly steps?: number;
  /** What whole-step execution did, where the backend counts it (onnxruntime: compiled, replayed, op by op). */
  readonly stats?: unknown;
  readonly error?: string;
}

export interface BenchOutcome {
  readonly crossOriginIsolated: boolean;
  readonly threads: number;
  readonly rows: BenchRow[];
}

const [NV, NH, BATCH] = [784, 500, 100];

/** Binary rows with MNIST's density (about 13% ones), from a fixed linear congruential sequence. */
function data(rows: number) {
  const x = new Float32Array(rows * NV);
  let s = 12345;
  for (let i = 0; i < x.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    x[i] = s / 2 ** 32 < 0.13 ? 1 : 0;
  }
  return createDataset(x, rows, NV);
}

async function epochMs(backend: Backend, steps: number): Promise<number> {
  const model = RBM.create(backend, { numVisible: NV, numHidden: NH, seed: 1 });
  const trainer = new Trainer(model, data(steps * BATCH), { epochs: 1, batchSize: BATCH, learningRate: 0.05 });
  try {
    const t0 = performance.now();
    await trainer.run();
    return performance.now() - t0;
  } finally {
    trainer.dispose();
    model.dispose();
  }
}

async function time(choice: string): Promise<BenchRow> {
  let backend: Backend;
  try {
    backend = await loadBackend(choice, { allowFallbackAdapter: params.get('allowFallbackAdapter') === '1' });
  } catch (error) {
    const reason = error instanceof BackendUnavailableError ? error.reasons[0]?.reason : undefined;
    return {
      backend: choice,
      error: reason ?? (error instanceof Error ? error.message.split('\n')[0]! : String(error)),
    };
  }
  try {
    // Warm-up (compiles kernels and units), then as many steps as fit in about 2 s an epoch (2 to 20).
    const warm = await epochMs(backend, 2);
    const steps = Math.max(5, Math.min(20, Math.round(2000 / (warm / 2))));
    const times: number[] = [];
    for (let r = 0; r < 3; r++) times.push((await epochMs(backend, steps)) / steps);
    times.sort((a, b) => a - b);
    const stats = (backend as { stats?: unknown }).stats;
    return { backend: backend.name, msPerStep: times[1]!, steps, ...(stats ? { stats: { ...stats } } : {}) };
  } catch (error) {
    return { backend: choice, error: error instanceof Error ? error.message.split('\n')[0]! : String(error) };
  } finally {
    backend.destroy();
  }
}

function addRow(r: BenchRow): void {
  const row = table.insertRow();
  const cells = [r.backend, r.msPerStep !== undefined ? r.msPerStep.toFixed(1) : `not run: ${r.error}`];
  for (const text of cells) row.insertCell().textContent = text;
}

async function run(): Promise<void> {
  const chosen = params.get('backends')?.split(',').filter(Boolean);
  const choices = chosen ?? (await backendChoices());
  const threads = navigator.hardwareConcurrency ?? 1;
  status.textContent = `crossOriginIsolated: ${self.crossOriginIsolated} (WebAssembly threads ${self.crossOriginIsolated ? 'available' : 'unavailable'}); ${threads} cores`;
  table.innerHTML = '<tr><th>backend</th><th>ms per step</th></tr>';
  const rows: BenchRow[] = [];
  for (const choice of choices) {
    const r = await time(choice);
    rows.push(r);
    addRow(r);
  }
  (window as unknown as { rbmBench: BenchOutcome }).rbmBench = {
    crossOriginIsolated: self.crossOriginIsolated,
    threads,
    rows,
  };
}

document.getElementById('run')!.addEventListener('click', () => void run());
if (params.get('run') === '1') void run();
