/**
 * The derivation's central claim, measured: the data term of the gradient taken with p(h = 1 | v)
 * (Rao-Blackwellised, the trainer's default) is unbiased, like the one with a sampled h, and has strictly
 * lower variance, by the amount the law of total variance predicts:
 *
 *   D_samp = (1/B) sum_n v_n h_n^T,  D_prob = (1/B) sum_n v_n p_n^T = E[D_samp | batch],
 *   Var(D_samp) - Var(D_prob) = E[Var(D_samp | batch)] = (1/B) mean_n v_ni p_nj (1 - p_nj)   (W_ij; binary v)
 *                                                        (1/B) mean_n p_nj (1 - p_nj)          (b_j)
 *
 * The model is small enough for the exact gradient. Each trial is one minibatch gradient estimate of the
 * trainer (gradientEstimate: the step it takes at learning rate 1), with its own seed: its own minibatch,
 * hidden sample and Gibbs chain. With the same seed the two variants share all three, so their difference
 * Delta = D_samp - D_prob is measured exactly, trial by trial.
 */
import { describe, expect, it } from 'vitest';
import {
  createDataset,
  createReferenceBackend,
  exactGradient,
  type GradientEstimate,
  gradientEstimate,
  RBM,
} from '../src/index.js';
import { bits, randomParameters } from './brute.js';

const backend = createReferenceBackend();
const NV = 6;
const NH = 4;
const B = 6;
const TRIALS = 1200;
const K = 50;

// A pool of 60 examples (6 patterns, 10 each) from which each trial draws a minibatch of 6.
const patterns = [0b000111, 0b111000, 0b101010, 0b010101, 0b110011, 0b001100];
const POOL = patterns.length * 10;
const pool = createDataset(
  Float32Array.from(
    { length: POOL * NV },
    (_, i) => bits(patterns[Math.floor(i / NV) % patterns.length]!, NV)[i % NV]!,
  ),
  POOL,
  NV,
);
const params = randomParameters(NV, NH, 1.0, 21);

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
/** p(h_j = 1 | v_n) for every pool row, in float64 from the float32 parameters. */
const P = Array.from({ length: POOL }, (_, n) =>
  Array.from({ length: NH }, (_, j) => {
    let x = params.hiddenBias[j]!;
    for (let i = 0; i < NV; i++) x += pool.data[n * NV + i]! * params.weights[i * NH + j]!;
    return sigmoid(x);
  }),
);
const v = (n: number, i: number) => pool.data[n * NV + i]!;

/** The entries compared: W_ij and b_j (a's data term is v itself, the same in both estimators). */
type Entry = { name: string; x: (n: number) => number; fromEstimate: (g: GradientEstimate) => number };
const entries: Entry[] = [
  ...Array.from({ length: NV * NH }, (_, e): Entry => {
    const [i, j] = [Math.floor(e / NH), e % NH];
    return { name: `W[${i},${j}]`, x: (n) => v(n, i) * P[n]![j]!, fromEstimate: (g) => g.weights[e]! };
  }),
  ...Array.from(
    { length: NH },
    (_, j): Entry => ({
      name: `b[${j}]`,
      x: (n) => P[n]![j]!,
      fromEstimate: (g) => g.hiddenBias[j]!,
    }),
  ),
];
/** The conditional variance term of each entry: p(1 - p), times v_i for weights. */
const conditional = (e: Entry, n: number) => {
  const j = Number(/(\d+)\]$/.exec(e.name)![1]);
  const p = P[n]![j]!;
  return (e.name.startsWith('W') ? v(n, Number(/\[(\d+),/.exec(e.name)![1])) : 1) * p * (1 - p);
};

function meanVar(xs: readonly number[]): { mean: number; variance: number } {
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  const variance = xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (xs.length - 1);
  return { mean, variance };
}

describe('the Rao-Blackwellised data term', () => {
  it('is the default, is unbiased like the sampled one, and has lower variance by E[p(1 - p) v v^T] / B', async () => {
    const model = RBM.fromParameters(backend, params);
    const options = { batchSize: B, method: 'cd' as const, k: K };

    // The default is p(h = 1 | v): bit for bit the same as asking for it, and not the sampled estimator.
    for (const seed of [1, 2, 3]) {
      const d = await gradientEstimate(model, pool, { ...options, seed });
      const asked = await gradientEstimate(model, pool, { ...options, seed, positivePhase: 'probabilities' });
      const sampled = await gradientEstimate(model, pool, { ...options, seed, positivePhase: 'samples' });
      expect(Array.from(d.weights)).toEqual(Array.from(asked.weights));
      expect(Array.from(d.weights)).not.toEqual(Array.from(sampled.weights));
    }

    const def: GradientEstimate[] = [];
    const samp: GradientEstimate[] = [];
    for (let seed = 1; seed <= TRIALS; seed++) {
      def.push(await gradientEstimate(model, pool, { ...options, seed }));
      samp.push(await gradientEstimate(model, pool, { ...options, seed, positivePhase: 'samples' }));
      // Same seed: same minibatch (and the same h0 and chain).
      expect(Array.from(samp.at(-1)!.rows)).toEqual(Array.from(def.at(-1)!.rows));
    }
    expect(def[0]!.rows).toHaveLength(B);

    // 1. Both estimators are unbiased: the mean of each is within Monte Carlo error of the exact gradient
    //    (CD-50 on this small model has mixed: its chain bias is far below the Monte Carlo error).
    const exact = await exactGradient(model, pool);
    const exactOf: GradientEstimate = { ...exact, rows: new Uint32Array(0) };
    for (const e of entries) {
      for (const [name, runs] of [
        ['probabilities', def],
        ['samples', samp],
      ] as const) {
        const { mean, variance } = meanVar(runs.map(e.fromEstimate));
        const se = Math.sqrt(variance / TRIALS);
        expect(Math.abs(mean - e.fromEstimate(exactOf)), `${name} ${e.name}: mean ${mean}, se ${se}`).toBeLessThan(
          4.5 * se,
        );
      }
    }
    // The visible bias's data term is v in both: identical estimates.
    for (let t = 0; t < TRIALS; t++) expect(Array.from(samp[t]!.visibleBias)).toEqual(Array.from(def[t]!.visibleBias));

    // 2. Delta = D_samp - D_prob, measured per trial: mean 0, variance E[Var(D_samp | batch)] from theory.
    let measuredSum = 0;
    let theorySum = 0;
    const lines: string[] = [];
    let ratioMeasuredSum = 0;
    let ratioExpectedSum = 0;
    for (const e of entries) {
      const delta = def.map((d, t) => e.fromEstimate(samp[t]!) - e.fromEstimate(d));
      const { mean, variance } = meanVar(delta);
      const theory = Array.from({ length: POOL }, (_, n) => conditional(e, n)).reduce((s, x) => s + x, 0) / POOL / B;
      expect(Math.abs(mean), `${e.name}: mean of Delta`).toBeLessThan(4.5 * Math.sqrt(variance / TRIALS));
      // Per entry the variance of 1200 draws is known to within ~10% (4 sigma: 30%).
      expect(variance / theory, `${e.name}: Var(Delta) ${variance} against ${theory}`).toBeGreaterThan(0.7);
      expect(variance / theory, `${e.name}: Var(Delta) ${variance} against ${theory}`).toBeLessThan(1.3);
      measuredSum += variance;
      theorySum += theory;

      // 3. The data terms themselves: D_prob of each trial's minibatch (its rows are known), D_samp =
      //    D_prob + Delta. Var(D_prob) over minibatches of 6 drawn without replacement from 60:
      //    sigma^2 / B * (N - B) / (N - 1).
      const dProb = def.map((d) => Array.from(d.rows).reduce((s, n) => s + e.x(n), 0) / B);
      const dSamp = dProb.map((x, t) => x + delta[t]!);
      const population = meanVar(Array.from({ length: POOL }, (_, n) => e.x(n)));
      const sigma2 = (population.variance * (POOL - 1)) / POOL;
      const varProbTheory = ((sigma2 / B) * (POOL - B)) / (POOL - 1);
      const varProb = meanVar(dProb).variance;
      const varSamp = meanVar(dSamp).variance;
      // Strictly lower, by a margin: at least half the predicted difference.
      expect(varSamp - varProb, `${e.name}: Var(D_samp) ${varSamp} vs Var(D_prob) ${varProb}`).toBeGreaterThan(
        0.5 * theory,
      );
      ratioMeasuredSum += varSamp / varProb;
      ratioExpectedSum += 1 + theory / varProbTheory;
      lines.push(
        `${e.name}: Var(D_prob) ${varProb.toExponential(3)} (theory ${varProbTheory.toExponential(3)}), Var(D_samp) ${varSamp.toExponential(3)}, ratio ${(varSamp / varProb).toFixed(2)} (theory ${(1 + theory / varProbTheory).toFixed(2)})`,
      );
    }
    // Over all 28 entries the variance of Delta is known to within ~2%: 10% is 5 sigma.
    expect(measuredSum / theorySum).toBeGreaterThan(0.9);
    expect(measuredSum / theorySum).toBeLessThan(1.1);
    // The mean variance ratio Var(D_samp) / Var(D_prob), measured against expected.
    const ratioMeasured = ratioMeasuredSum / entries.length;
    const ratioExpected = ratioExpectedSum / entries.length;
    expect(ratioMeasured / ratioExpected).toBeGreaterThan(0.85);
    expect(ratioMeasured / ratioExpected).toBeLessThan(1.15);
    console.log(
      `[rao-blackwell] ${TRIALS} trials, batch ${B} of ${POOL}, CD-${K}: sum Var(Delta) / theory = ${(measuredSum / theorySum).toFixed(3)}; ` +
        `mean Var(D_samp) / Var(D_prob) = ${ratioMeasured.toFixed(2)} (expected ${ratioExpected.toFixed(2)})\n  ${lines.join('\n  ')}`,
    );
  }, 300_000);
});
