/**
 * The Rao-Blackwellised data term on MNIST (issue: the derivation's central claim, measured).
 *
 * 1. Variance: for a trained 784-16 and a trained 784-500 RBM (CD-1, batch 100, lr 0.05, momentum 0.5),
 *    `--trials` paired CD-1 gradient estimates at batch 100 (gradientEstimate: the trainer's own step at
 *    learning rate 1; the same seed gives both estimators the same minibatch, h0 and chain). Reported: the
 *    variance ratio Var(samples) / Var(probabilities), summed over W's entries and over b's, for the full
 *    CD-1 gradient and for its data term alone (D_prob = v^T p(h | v) / B from the batch's rows, D_samp =
 *    D_prob + Delta); the median per-entry ratio; and Var(D_samp) - Var(D_prob) against the theory,
 *    E[v_i p_j (1 - p_j)] / B.
 * 2. Learning: 784-16, CD-1 with each data term, the same updates (`--epochs` of 600 batches), 3 seeds: the
 *    exact test log-likelihood (log Z by enumerating the 2^16 hidden states).
 *
 *   pnpm --filter @rbmjs/cli rao-blackwell [--trials 300] [--epochs 10] [--seeds 3] [--backend auto]
 */
import { parseArgs } from 'node:util';
import {
  type Dataset,
  datasetSource,
  exactLogLikelihood,
  exactLogPartition,
  gradientEstimate,
  RBM,
  sourceColumnMeans,
  Trainer,
} from '@rbmjs/core';
import { startBackend } from '../src/backends.js';
import { loadAll, openData } from '../src/data.js';

const { values } = parseArgs({
  options: {
    trials: { type: 'string', default: '300' },
    epochs: { type: 'string', default: '10' },
    'train-epochs': { type: 'string', default: '3' },
    seeds: { type: 'string', default: '3' },
    backend: { type: 'string', default: 'auto' },
    skip: { type: 'string', default: '' },
  },
});
const trials = Number(values.trials);
const epochs = Number(values.epochs);
const seeds = Number(values.seeds);
const skip = new Set(values.skip!.split(',').filter(Boolean));
const spec = { name: 'mnist', threshold: 0.5, seed: 0 } as const;
const train = await loadAll(openData({ ...spec, split: 'train' }).source);
const test = await loadAll(openData({ ...spec, split: 'test' }).source);
const means = await sourceColumnMeans(datasetSource(train));
const backend = await startBackend(values.backend!);
const B = 100;
console.log(`MNIST binarised at 0.5; backend ${backend.name}; ${new Date().toISOString()}`);

/** Running mean and variance per entry (Welford), in float64. */
class Moments {
  n = 0;
  readonly mean: Float64Array;
  readonly m2: Float64Array;
  constructor(size: number) {
    this.mean = new Float64Array(size);
    this.m2 = new Float64Array(size);
  }
  add(x: ArrayLike<number>): void {
    this.n++;
    for (let i = 0; i < this.mean.length; i++) {
      const d = x[i]! - this.mean[i]!;
      this.mean[i]! += d / this.n;
      this.m2[i]! += d * (x[i]! - this.mean[i]!);
    }
  }
  variance(i: number): number {
    return this.m2[i]! / (this.n - 1);
  }
}

const sum = (m: Moments, from: number, to: number) => {
  let s = 0;
  for (let i = from; i < to; i++) s += m.variance(i);
  return s;
};
function median(xs: number[]): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function trained(hidden: number, trainEpochs: number): Promise<RBM> {
  const model = RBM.create(backend, { numVisible: 784, numHidden: hidden, seed: 1, means });
  const trainer = new Trainer(model, train, {
    epochs: trainEpochs,
    batchSize: B,
    learningRate: 0.05,
    momentum: 0.5,
    seed: 1,
  });
  await trainer.run();
  trainer.dispose();
  return model;
}

async function varianceRatios(hidden: number, trainEpochs: number): Promise<string> {
  const t0 = performance.now();
  const model = await trained(hidden, trainEpochs);
  const p = await model.parameters();
  const nW = 784 * hidden;
  // Entries: W (row-major), then b. Full gradients and data terms, per estimator.
  const size = nW + hidden;
  const [gProb, gSamp, dProb, dSamp] = [0, 1, 2, 3].map(() => new Moments(size));
  const theory = new Float64Array(size);
  // p(h | v) of every training row is needed only for the rows drawn; computed per batch.
  const hiddenProb = (row: number, out: Float64Array) => {
    for (let j = 0; j < hidden; j++) {
      let x = p.hiddenBias[j]!;
      for (let i = 0; i < 784; i++) if (train.data[row * 784 + i]) x += p.weights[i * hidden + j]!;
      out[j] = 1 / (1 + Math.exp(-x));
    }
  };
  // Theory: (1/B) mean over the training set of v_i p_j (1 - p_j), and p_j (1 - p_j), from 6,000 rows.
  const ph = new Float64Array(hidden);
  const sampleRows = 6000;
  for (let r = 0; r < sampleRows; r++) {
    const row = Math.floor((r * train.rows) / sampleRows);
    hiddenProb(row, ph);
    for (let j = 0; j < hidden; j++) {
      const q = ph[j]! * (1 - ph[j]!);
      theory[nW + j]! += q;
      for (let i = 0; i < 784; i++) if (train.data[row * 784 + i]) theory[i * hidden + j]! += q;
    }
  }
  for (let e = 0; e < size; e++) theory[e]! /= sampleRows * B;

  const pack = (g: { weights: Float64Array; hiddenBias: Float64Array }) => {
    const out = new Float64Array(size);
    out.set(g.weights);
    out.set(g.hiddenBias, nW);
    return out;
  };
  const data = new Float64Array(size);
  for (let seed = 1; seed <= trials; seed++) {
    const a = await gradientEstimate(model, train, { batchSize: B, method: 'cd', k: 1, seed });
    const b = await gradientEstimate(model, train, {
      batchSize: B,
      method: 'cd',
      k: 1,
      seed,
      positivePhase: 'samples',
    });
    const ga = pack(a);
    const gb = pack(b);
    gProb.add(ga);
    gSamp.add(gb);
    // D_prob of this minibatch; D_samp = D_prob + (g_samp - g_prob).
    data.fill(0);
    for (const row of a.rows) {
      hiddenProb(row, ph);
      for (let j = 0; j < hidden; j++) {
        data[nW + j]! += ph[j]! / B;
        for (let i = 0; i < 784; i++) if (train.data[row * 784 + i]) data[i * hidden + j]! += ph[j]! / B;
      }
    }
    dProb.add(data);
    for (let e = 0; e < size; e++) data[e]! += gb[e]! - ga[e]!;
    dSamp.add(data);
  }
  const ratio = (s: Moments, q: Moments, from: number, to: number) => sum(s, from, to) / sum(q, from, to);
  const perEntry = (s: Moments, q: Moments, from: number, to: number) =>
    median(Array.from({ length: to - from }, (_, k) => s.variance(from + k) / q.variance(from + k)));
  let excess = 0;
  let predicted = 0;
  for (let e = 0; e < size; e++) {
    excess += dSamp.variance(e) - dProb.variance(e);
    predicted += theory[e]!;
  }
  model.dispose();
  const seconds = (performance.now() - t0) / 1000;
  return (
    `| 784-${hidden} | ${trainEpochs} | ${trials} | ${ratio(gSamp, gProb, 0, nW).toFixed(3)} | ${ratio(gSamp, gProb, nW, size).toFixed(3)} | ` +
    `${perEntry(gSamp, gProb, 0, nW).toFixed(3)} | ${ratio(dSamp, dProb, 0, nW).toFixed(2)} | ${ratio(dSamp, dProb, nW, size).toFixed(2)} | ` +
    `${(excess / predicted).toFixed(3)} | ${seconds.toFixed(0)} |`
  );
}

if (!skip.has('variance')) {
  const rows: string[] = [];
  for (const hidden of [16, 500]) {
    const line = await varianceRatios(hidden, Number(values['train-epochs']));
    console.log(line);
    rows.push(line);
  }
  console.log(
    '\n| model | trained epochs | paired trials | full CD-1 gradient, W: sum Var(samp) / sum Var(prob) | same, b | W: median per-entry ratio | data term, W: sum Var(D_samp) / sum Var(D_prob) | data term, b | (Var(D_samp) - Var(D_prob)) / theory, summed | seconds |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) console.log(r);
}

async function learn(positivePhase: 'probabilities' | 'samples', seed: number): Promise<number> {
  const model = RBM.create(backend, { numVisible: 784, numHidden: 16, seed, means });
  const trainer = new Trainer(model, train, {
    epochs,
    batchSize: B,
    learningRate: 0.05,
    momentum: 0.5,
    method: 'cd',
    k: 1,
    seed,
    positivePhase,
  });
  await trainer.run();
  trainer.dispose();
  const { logZ } = await exactLogPartition(model);
  const ll = await exactLogLikelihood(model, test as Dataset, { logZ });
  model.dispose();
  return ll.mean;
}

if (!skip.has('learning')) {
  const rows: string[] = [];
  const results: Record<string, number[]> = { probabilities: [], samples: [] };
  for (let seed = 1; seed <= seeds; seed++) {
    for (const phase of ['probabilities', 'samples'] as const) {
      const t0 = performance.now();
      const ll = await learn(phase, seed);
      results[phase]!.push(ll);
      const line = `| ${phase} | ${seed} | ${ll.toFixed(2)} | ${((performance.now() - t0) / 1000).toFixed(0)} |`;
      console.log(line);
      rows.push(line);
    }
  }
  const stats = (xs: number[]) => {
    const m = xs.reduce((s, x) => s + x, 0) / xs.length;
    const sd = Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / Math.max(1, xs.length - 1));
    return `${m.toFixed(2)} +- ${sd.toFixed(2)}`;
  };
  console.log(
    `\n784-16, CD-1, batch 100, lr 0.05, momentum 0.5, ${epochs} epochs (${epochs * 600} updates), exact test LL:`,
  );
  console.log('| data term | seed | test LL (nats) | seconds |');
  console.log('| --- | --- | --- | --- |');
  for (const r of rows) console.log(r);
  console.log(`| probabilities | mean +- sd | ${stats(results.probabilities!)} | |`);
  console.log(`| samples | mean +- sd | ${stats(results.samples!)} | |`);
  const diffs = results.probabilities!.map((x, i) => x - results.samples![i]!);
  console.log(
    `| paired difference (probabilities - samples) | per seed | ${diffs.map((d) => d.toFixed(2)).join(', ')} | |`,
  );
}
backend.destroy();
