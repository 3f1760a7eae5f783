import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { barsAndStripes, decodeDbm, decodeModel } from '@rbmjs/core';
import { describe, expect, it } from 'vitest';
import { argv, rbm } from './helpers.js';

/**
 * Deep Boltzmann machines (`rbm train --dbm`) and NReLU hidden units (`--hidden-units nrelu`) through the
 * CLI, on bars and stripes (9 columns), small enough that `rbm eval --exact` enumerates the DBM.
 */

/** Bars and stripes 3x3 (14 patterns, each 20 times) as CSV. */
function barsCsv(): string {
  const bs = barsAndStripes(3);
  const lines: string[] = [];
  for (let copy = 0; copy < 20; copy++)
    for (let r = 0; r < bs.rows; r++) lines.push(Array.from(bs.data.subarray(r * 9, r * 9 + 9)).join(','));
  return `${lines.join('\n')}\n`;
}

async function setup() {
  const d = await mkdtemp(join(tmpdir(), 'rbmjs-dbm-'));
  const data = join(d, 'd.csv');
  await writeFile(data, barsCsv());
  return { d, data };
}

const TRAIN = [
  ...['--dbm', '8,4', '--pretrain-epochs', '20', '--pretrain-lr', '0.1'],
  ...['--batch', '10', '--lr', '0.05', '--backend', 'js'],
];

describe('rbm train --dbm, and eval, info, sample, transform on its file', () => {
  it('trains a 9-8-4 DBM; eval --exact: the exact log Z inside AIS interval, the bound below the exact log p(v)', async () => {
    const { d, data } = await setup();
    const model = join(d, 'm.safetensors');
    const train = await rbm(argv`train --data ${data} ${TRAIN} --epochs 40 --out ${model} --json`);
    expect(train.code, train.stderr).toBe(0);
    const lines = train.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.type === 'epoch' && l.phase === 'pretrain')).toHaveLength(40);
    expect(lines.filter((l) => l.type === 'epoch' && l.phase === 'joint')).toHaveLength(40);
    expect(lines.at(-1)).toMatchObject({ type: 'summary', sizes: [9, 8, 4] });
    expect(decodeDbm(await readFile(model)).parameters.sizes).toEqual([9, 8, 4]);

    const info = await rbm(argv`info ${model} --json`);
    expect(info.code, info.stderr).toBe(0);
    expect(JSON.parse(info.stdout)).toMatchObject({ model: 'dbm', sizes: [9, 8, 4], parameters: 9 * 8 + 8 * 4 + 21 });
    const text = await rbm(argv`info ${model}`);
    expect(text.stdout + text.stderr).toMatch(/deep Boltzmann machine 9-8-4, 2 hidden layers/);

    const ev = await rbm(argv`eval ${model} --data ${data} --exact --ais-runs 200 --ais-schedule linear:3000 --json`, {
      timeoutMs: 120_000,
    });
    expect(ev.code, ev.stderr).toBe(0);
    const r = JSON.parse(ev.stdout);
    expect(r.exact.logZ).toBeGreaterThanOrEqual(r.logZInterval[0]);
    expect(r.exact.logZ).toBeLessThanOrEqual(r.logZInterval[1]);
    // The bound with the exact log Z (the AIS one shifted) lies below the exact mean log p(v), within 1 nat.
    const bound = r.bounds.lowerEstimate + r.logZ - r.exact.logZ;
    expect(bound).toBeLessThanOrEqual(r.exact.logLikelihood);
    expect(bound).toBeGreaterThan(r.exact.logLikelihood - 1);
    expect(r.bounds.upper).toBeNull();
    expect(r.bounds.note).toMatch(/only where AIS does not underestimate log Z/);
    // Trained: well above the uniform model's 9 log 2 = 6.24 nats (the data's entropy is log 14 = 2.64; this
    // run reached -3.12 when the test was written).
    expect(r.exact.logLikelihood).toBeGreaterThan(-3.6);

    // --bounds: RAISE below, without AIS's log Z; the exact mean at or above its estimate, and near it.
    const bounded = await rbm(
      argv`eval ${model} --data ${data} --exact --bounds --raise-chains 20 --raise-sweeps 50 --ais-runs 100 --ais-schedule linear:2000 --json`,
      { timeoutMs: 120_000 },
    );
    expect(bounded.code, bounded.stderr).toBe(0);
    const rb = JSON.parse(bounded.stdout);
    expect(rb.bounds.lower).toBeLessThanOrEqual(rb.exact.logLikelihood);
    expect(rb.bounds.lowerEstimate).toBeLessThanOrEqual(rb.exact.logLikelihood + 0.02);
    expect(rb.bounds.lowerEstimate).toBeGreaterThan(rb.exact.logLikelihood - 0.1);
    expect(rb.bounds.lowerMethod).toMatch(/^RAISE, 20 chain\(s\) per example, 500 posterior steps, 50 sweeps/);
    expect(rb.bounds.meanField.lowerEstimate).toBeLessThan(rb.exact.logLikelihood);
    // --ais-base model: the base from the model's own samples; the exact log Z still inside AIS's interval.
    const fromModel = await rbm(
      argv`eval ${model} --data ${data} --exact --ais-base model --ais-runs 200 --ais-schedule linear:3000 --json`,
      { timeoutMs: 120_000 },
    );
    expect(fromModel.code, fromModel.stderr).toBe(0);
    const rm = JSON.parse(fromModel.stdout);
    expect(rm.base).toMatch(/the model's samples \(1000 Gibbs chains, 1000 sweeps\)/);
    expect(rm.exact.logZ).toBeGreaterThanOrEqual(rm.logZInterval[0]);
    expect(rm.exact.logZ).toBeLessThanOrEqual(rm.logZInterval[1]);
    // --ais-schedule adaptive: SMC for log Z (the exact value inside its interval), RAISE on the temperatures
    // it chose.
    const adaptive = await rbm(
      argv`eval ${model} --data ${data} --exact --bounds --raise-chains 20 --raise-sweeps 50 --ais-runs 200 --ais-schedule adaptive:0.995 --ais-resample 0.6 --ais-sweeps 2 --json`,
      { timeoutMs: 120_000 },
    );
    expect(adaptive.code, adaptive.stderr).toBe(0);
    const ra = JSON.parse(adaptive.stdout);
    expect(ra).toMatchObject({ method: 'smc', runs: 200, stepSweeps: 2 });
    expect(ra.steps).toBeGreaterThan(10);
    expect(ra.resamplings).toBeGreaterThanOrEqual(0);
    expect(ra.exact.logZ).toBeGreaterThanOrEqual(ra.logZInterval[0]);
    expect(ra.exact.logZ).toBeLessThanOrEqual(ra.logZInterval[1]);
    expect(ra.bounds.lowerMethod).toMatch(new RegExp(`, ${ra.steps} steps, 2 Gibbs sweeps at each temperature$`));
    expect(ra.bounds.lower).toBeLessThanOrEqual(ra.exact.logLikelihood);
    // The mean-field figure with the exact log Z (SMC's shifted) is a bound.
    expect(ra.bounds.meanField.lowerEstimate + ra.logZ - ra.exact.logZ).toBeLessThan(ra.exact.logLikelihood);
    expect(ra.bounds.lowerEstimate).toBeGreaterThan(ra.exact.logLikelihood - 0.1);
    // --raise-schedule: RAISE on its own fixed schedule beside SMC's log Z.
    const own = await rbm(
      argv`eval ${model} --data ${data} --bounds --raise-chains 4 --raise-sweeps 20 --raise-posterior-steps 20 --ais-runs 100 --ais-schedule adaptive --raise-schedule linear:300 --json`,
      { timeoutMs: 120_000 },
    );
    expect(own.code, own.stderr).toBe(0);
    expect(JSON.parse(own.stdout).bounds.lowerMethod).toMatch(/, 300 steps$/);
    const badSchedule = await rbm(argv`eval ${model} --data ${data} --bounds --raise-schedule adaptive`);
    expect(badSchedule.code).toBe(1);
    expect(badSchedule.stderr).toMatch(
      /--raise-schedule "adaptive": use sm, sm:F \(F from 1 to 999 times its steps\) or linear:N\n/,
    );
    const resampleAlone = await rbm(argv`eval ${model} --data ${data} --ais-resample 0.6`);
    expect(resampleAlone.code).toBe(2);
    expect(resampleAlone.stderr).toMatch(/--ais-resample needs --ais-schedule adaptive/);
    const idle = await rbm(argv`eval ${model} --data ${data} --raise-chains 3`);
    expect(idle.code).toBe(2);
    expect(idle.stderr).toMatch(/--raise-chains sets RAISE, which runs with --bounds/);

    const samples = join(d, 's.csv');
    const s = await rbm(argv`sample ${model} --chains 8 --steps 20 --csv ${samples}`);
    expect(s.code, s.stderr).toBe(0);
    const rows = (await readFile(samples, 'utf8')).trim().split('\n');
    expect(rows).toHaveLength(8);
    for (const row of rows) expect(row).toMatch(/^[01](,[01]){8}$/);

    const features = join(d, 'f.csv');
    const t = await rbm(argv`transform ${model} --data ${data} --out ${features}`);
    expect(t.code, t.stderr).toBe(0);
    const f = (await readFile(features, 'utf8')).trim().split('\n');
    expect(f).toHaveLength(281);
    expect(f[1]!.split(',')).toHaveLength(12);

    const predict = await rbm(argv`predict ${model} --data ${data}`);
    expect(predict.code).toBe(2);
    expect(predict.stderr).toMatch(/deep Boltzmann machine \(9-8-4\); rbm predict takes one RBM/);
  }, 300_000);

  it('--resume from a checkpoint ends where the run straight through does', async () => {
    const { d, data } = await setup();
    const straight = join(d, 'straight.safetensors');
    const a = await rbm(argv`train --data ${data} ${TRAIN} --epochs 6 --out ${straight}`);
    expect(a.code, a.stderr).toBe(0);
    const part = join(d, 'part.safetensors');
    const ckpt = join(d, 'part.ckpt.safetensors');
    const b = await rbm(argv`train --data ${data} ${TRAIN} --epochs 3 --checkpoint-every 4 --out ${part}`);
    expect(b.code, b.stderr).toBe(0);
    // 20 + 20 pretraining epochs and 3 joint: checkpoints after epochs 4, 8, ..., 20 of each stage, the last at
    // the end of pretraining, which leaves the run at joint training (stage 2), no epoch of it done.
    const info = await rbm(argv`info ${ckpt} --json`);
    expect(JSON.parse(info.stdout).checkpoint).toMatchObject({ stage: 2, epoch: 0 });
    // Resumed without --dbm: the layers, and every other setting, are the checkpoint's.
    const bare = join(d, 'bare.safetensors');
    const e = await rbm(argv`train --data ${data} --epochs 6 --resume ${ckpt} --out ${bare} --backend js`);
    expect(e.code, e.stderr).toBe(0);
    const c = await rbm(argv`train --data ${data} ${TRAIN} --epochs 6 --resume --out ${part} --force`);
    expect(c.code, c.stderr).toBe(0);
    const [x, y] = [decodeDbm(await readFile(straight)).parameters, decodeDbm(await readFile(part)).parameters];
    const z = decodeDbm(await readFile(bare)).parameters;
    x.weights.forEach((w, l) => {
      expect(Array.from(y.weights[l]!)).toEqual(Array.from(w));
      expect(Array.from(z.weights[l]!)).toEqual(Array.from(w));
    });
    const other = await rbm(argv`train --data ${data} ${TRAIN.slice(0, 1)} 5,3 --resume ${ckpt} --out ${join(d, 'o')}`);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/is a 9-8-4 DBM, not --dbm 5,3/);
  }, 300_000);

  it('a diverging run stops at the bad step and saves the parameters from before it, as one RBM does', async () => {
    const { d, data } = await setup();
    const model = join(d, 'm.safetensors');
    const flags = ['--dbm', '5,4', '--pretrain-epochs', '1', '--epochs', '3', '--batch', '100', '--backend', 'js'];
    const r = await rbm(argv`train --data ${data} ${flags} --lr 1e6 --out ${model}`);
    expect(r.code).toBe(1);
    // 280 rows in batches of 100: 3 steps in each pretraining epoch, so joint training's first step is step 7.
    expect(r.stderr).toMatch(/diverged at step 7 \(epoch 0, batch 0\).*\(joint\).*saved to/);
    const p = decodeDbm(await readFile(model)).parameters;
    for (const w of [...p.weights, ...p.biases]) for (const x of w) expect(Number.isFinite(x)).toBe(true);
    const info = await rbm(argv`info ${model}`);
    expect(info.code, info.stderr).toBe(0);
  }, 60_000);

  it('refuses what a DBM does not take, in words', async () => {
    const { d, data } = await setup();
    const out = join(d, 'x.safetensors');
    const cases: Array<[string[], RegExp]> = [
      [['--dbm', '500'], /at least two hidden layers/],
      [['--dbm', '4,3', '--labels', data], /--labels is not an option of a deep Boltzmann machine/],
      [['--dbm', '4,3', '--method', 'cd'], /--method is not an option of a deep Boltzmann machine/],
      [['--hidden', '4', '--pretrain-epochs', '3'], /--pretrain-epochs is not an option of one RBM .*--dbm/],
      // Flags a DBM once took and silently ignored.
      [['--dbm', '4,3', '--objective', 'discriminative'], /--objective is not an option of a deep Boltzmann/],
      [['--dbm', '4,3', '--alpha', '0.1'], /--alpha is not an option of a deep Boltzmann machine/],
      [['--dbm', '4,3', '--classes', '3'], /--classes is not an option of a deep Boltzmann machine/],
      [['--dbm', '4,3', '--holdout', '0.1'], /--holdout is not an option of a deep Boltzmann machine.*--ratings/],
      [['--dbm', '4,3', '--levels', '1:5'], /--levels is not an option of a deep Boltzmann machine/],
      [['--dbm', '4,3', '--stop-on', 'ais'], /--stop-on is not an option of a deep Boltzmann machine/],
      [['--dbm', '4,3', '--ais-runs', '10'], /--ais-runs is not an option of a deep Boltzmann machine/],
      [['--dbm', '4,3', '--chains', '0'], /chains/],
    ];
    for (const [flags, message] of cases) {
      const r = await rbm(argv`train --data ${data} ${flags} --out ${out}`);
      expect(r.code, flags.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
    }
  }, 120_000);
});

describe('rbm train --hidden-units', () => {
  it('trains NReLU hidden units; the file says so; what needs binary hidden units is refused', async () => {
    const { d, data } = await setup();
    const model = join(d, 'n.safetensors');
    const train = await rbm(
      argv`train --data ${data} --hidden 5 --hidden-units nrelu --epochs 3 --backend js --out ${model}`,
    );
    expect(train.code, train.stderr).toBe(0);
    expect(train.stdout + train.stderr).toMatch(/9-5 \(nrelu hidden units\)/);
    const file = decodeModel(await readFile(model));
    expect(file.metadata.model).toBe('bernoulli-nrelu');
    const info = await rbm(argv`info ${model} --json`);
    expect(JSON.parse(info.stdout)).toMatchObject({ model: 'bernoulli-nrelu', hiddenUnits: 'nrelu' });
    const ais = await rbm(argv`eval ${model} --data ${data} --ais --pl none`);
    expect(ais.code).not.toBe(0);
    expect(ais.stderr).toMatch(/nrelu/);
    const labels = await rbm(argv`train --data ${data} --hidden 5 --hidden-units nrelu --labels ${data}`);
    expect(labels.code).toBe(2);
    expect(labels.stderr).toMatch(/--hidden-units nrelu is for one RBM without --labels/);
  }, 120_000);

  it('rbm train --help offers the DBM and NReLU units', async () => {
    const help = await rbm(argv`train --help`);
    expect(help.stdout).toMatch(/--dbm <sizes>/);
    expect(help.stdout).toMatch(/--hidden-units <units>/);
    expect(help.stdout).toMatch(/nrelu/);
    expect(help.stdout).toMatch(/--pretrain-epochs/);
  });
});
