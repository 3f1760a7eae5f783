/**
 * Benchmarks of the plain TypeScript backend (run: `pnpm --filter @rbmjs/backend-js bench`).
 *
 * 1. The matrix products of a CD-1 step for a 784-500 RBM at batch 100, against a naive triple loop timed in
 *    the same run (the target: at least 3 GFLOP/s for 100x784 by 784x500 on one core).
 * 2. A whole CD-1 training step at that size, and the MNIST epoch (600 such steps) it implies. Against
 *    PyTorch, `rbm bench --backends js` times both sides warm by docs/benchmarks.md's protocol.
 *
 * Medians of repeated runs, because these machines are shared and noisy.
 */
import { createDataset, RBM, Trainer } from '@rbmjs/core';
import { createJsBackend, gemm } from '../src/index.js';

const reps = Number(process.env.BENCH_REPS ?? 15);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function time(fn: () => void, n = reps): number {
  fn(); // warm up (JIT)
  const ts: number[] = [];
  for (let r = 0; r < n; r++) {
    const t0 = performance.now();
    fn();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

function random(n: number): Float32Array {
  let s = 12345;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  });
}

/** The baseline the issue quotes: C = A B with the textbook i-j-p loop. */
function naive(m: number, n: number, k: number, A: Float32Array, B: Float32Array, C: Float32Array): void {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += A[i * k + p]! * B[p * n + j]!;
      C[i * n + j] = s;
    }
  }
}

const [B, V, H] = [100, 784, 500];
const rows: string[] = [];
const report = (name: string, flops: number, ms: number, baselineMs?: number) => {
  const gflops = flops / ms / 1e6;
  rows.push(
    `| ${name} | ${ms.toFixed(2)} | ${gflops.toFixed(2)} | ${baselineMs ? `${(baselineMs / ms).toFixed(2)}x` : ''} |`,
  );
  return gflops;
};

const vData = random(B * V);
const wData = random(V * H);
const hData = random(B * H);
const C1 = new Float32Array(B * H);
const C2 = new Float32Array(V * H);
const C3 = new Float32Array(B * V);
const flops = 2 * B * V * H;

const naiveMs = time(() => naive(B, H, V, vData, wData, C1), 5);
report('naive triple loop, v W (100x784 by 784x500)', flops, naiveMs);
const nn = report(
  'gemm, v W (100x784 by 784x500)',
  flops,
  time(() =>
    gemm({
      m: B,
      n: H,
      k: V,
      alpha: 1,
      beta: 0,
      a: vData,
      lda: V,
      transA: false,
      b: wData,
      ldb: H,
      transB: false,
      c: C1,
    }),
  ),
  naiveMs,
);
report(
  'gemm, v^T h (784x100 by 100x500)',
  flops,
  time(() =>
    gemm({
      m: V,
      n: H,
      k: B,
      alpha: 1,
      beta: 0,
      a: vData,
      lda: V,
      transA: true,
      b: hData,
      ldb: H,
      transB: false,
      c: C2,
    }),
  ),
  naiveMs,
);
report(
  'gemm, h W^T (100x500 by 500x784)',
  flops,
  time(() =>
    gemm({
      m: B,
      n: V,
      k: H,
      alpha: 1,
      beta: 0,
      a: hData,
      lda: H,
      transA: false,
      b: wData,
      ldb: H,
      transB: true,
      c: C3,
    }),
  ),
  naiveMs,
);

// A whole CD-1 step (3 products plus elementwise work and sampling), as the trainer runs it.
const backend = createJsBackend();
const n = 2000;
const data = createDataset(
  random(n * V).map((x) => (x > 0.5 ? 1 : 0)),
  n,
  V,
);
const model = RBM.create(backend, { numVisible: V, numHidden: H, seed: 1, data });
const trainer = new Trainer(model, data, { epochs: 1000, batchSize: B, learningRate: 0.01, seed: 1 });
await trainer.trainEpoch(); // warm up
const epochMs: number[] = [];
for (let r = 0; r < 3; r++) {
  const t0 = performance.now();
  await trainer.trainEpoch();
  epochMs.push(performance.now() - t0);
}
const stepMs = median(epochMs) / (n / B);
trainer.dispose();

console.log(`backend-js benchmarks (median of ${reps} runs; Node ${process.version}, one thread)\n`);
console.log('| product | ms | GFLOP/s | speed-up over naive |');
console.log('| --- | --- | --- | --- |');
for (const r of rows) console.log(r);
console.log(
  `\nCD-1 step, batch ${B}, ${V}-${H}: ${stepMs.toFixed(1)} ms; one MNIST epoch (600 steps): ${((stepMs * 600) / 1000).toFixed(1)} s`,
);
console.log(`against PyTorch, warm, by one protocol: rbm bench --data mnist --hidden ${H} --backends js`);
console.log(`\ntarget >= 3 GFLOP/s for v W: ${nn >= 3 ? 'met' : 'NOT met'} (${nn.toFixed(2)} GFLOP/s)`);
