import { type Backend, BackendUnavailableError, createDataset, RBM, Trainer } from '@rbmjs/core';
import { backendChoices, loadBackend } from './session.js';

/**
 * bench.html: milliseconds per 784-500 CD-1 training step at batch 100 on every backend the demo offers, in
 * this browser, one backend at a time (each started, then timed over 3 epochs of up to 60 steps on one model
 * after a warm-up epoch, the median kept: as Node's benchmarks time a step). `?run=1` runs at once;
 * `?backends=a,b` times those only; `?allowFallbackAdapter=1` accepts software WebGPU; `?hidden=64&batch=50` times another job (the demo's
 * default); `?threads=2&spinning=0` sets onnxruntime's WebAssembly threads. The outcome is left on
 * `window.rbmBench` too.
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
  readonly hidden: number;
  readonly batchSize: number;
  readonly rows: BenchRow[];
}

/** A positive integer URL parameter, or `fallback`. */
function intParam(name: string, fallback: number): number {
  const n = Number(params.get(name) ?? fallback);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}

const [NV, NH, BATCH] = [784, intParam('hidden', 500), intParam('batch', 100)];
const ORT = {
  ...(params.has('threads') ? { threads: intParam('threads', 1) } : {}),
  ...(params.has('spinning') ? { spinning: params.get('spinning') !== '0' } : {}),
};

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

/**
 * Milliseconds per step over 3 epochs of `steps` steps on one model and trainer, after a warm-up epoch
 * (compiles kernels and units): timed as `rbm bench` and the backends' benchmarks time a step in Node, so
 * the two figures compare.
 */
async function stepMs(backend: Backend, steps: number): Promise<number[]> {
  const model = RBM.create(backend, { numVisible: NV, numHidden: NH, seed: 1 });
  const trainer = new Trainer(model, data(steps * BATCH), { epochs: 100, batchSize: BATCH, learningRate: 0.05 });
  try {
    await trainer.trainEpoch();
    const times: number[] = [];
    for (let r = 0; r < 3; r++) {
      const t0 = performance.now();
      await trainer.trainEpoch();
      times.push((performance.now() - t0) / steps);
    }
    return times.sort((a, b) => a - b);
  } finally {
    trainer.dispose();
    model.dispose();
  }
}

async function time(choice: string): Promise<BenchRow> {
  let backend: Backend;
  try {
    backend = await loadBackend(choice, {
      allowFallbackAdapter: params.get('allowFallbackAdapter') === '1',
      onnxruntime: ORT,
    });
  } catch (error) {
    const reason = error instanceof BackendUnavailableError ? error.reasons[0]?.reason : undefined;
    return {
      backend: choice,
      error: reason ?? (error instanceof Error ? error.message.split('\n')[0]! : String(error)),
    };
  }
  try {
    // A first look at 2 steps, then epochs of as many steps as fit in about 2 s (5 to 60).
    const [first] = await stepMs(backend, 2);
    const steps = Math.max(5, Math.min(60, Math.round(2000 / first!)));
    const times = await stepMs(backend, steps);
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
  status.textContent = `784-${NH} CD-1, batch ${BATCH}; crossOriginIsolated: ${self.crossOriginIsolated} (WebAssembly threads ${self.crossOriginIsolated ? 'available' : 'unavailable'}); ${threads} cores`;
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
    hidden: NH,
    batchSize: BATCH,
    rows,
  };
}

document.getElementById('run')!.addEventListener('click', () => void run());
if (params.get('run') === '1') void run();
