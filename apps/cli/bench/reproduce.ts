/**
 * Reruns a published table with one command and prints it (docs/reproductions.md shows the results):
 *
 *   pnpm --filter @rbmjs/cli reproduce pydeep-16     PyDeep, 784-16 PCD-1 plain and centred, 50 epochs, exact
 *   pnpm --filter @rbmjs/cli reproduce pydeep-500    PyDeep, 784-500 PCD-1 centred and plain, 200 epochs, AIS
 *   pnpm --filter @rbmjs/cli reproduce sm-2008       Salakhutdinov & Murray (2008) table 1: CD-1, CD-3, CD-25
 *   pnpm --filter @rbmjs/cli reproduce sh-2009       Salakhutdinov & Hinton (2009): a 784-500-1000 DBM, RAISE and AIS
 *   pnpm --filter @rbmjs/cli reproduce lb-2008       Larochelle & Bengio (2008): ClassRBM, DRBM, HDRBM online, test error
 *
 * Options: --seeds 3, --variants a,b (a subset of the table's rows), --epochs N (shorter runs, for a quick
 * look), --dir reproductions (where models, checkpoints and results go), --backend onnxruntime, and for the
 * 784-500 tables `rbm eval --bounds`'s settings: --ais-runs 1000, --ais-schedule sm (S&M's 14,500 steps; sm:4
 * has 4 times the steps in each piece; adaptive[:C], SMC's), --raise-chains 1, --test-limit 10000 (RAISE and AIS on
 * the first N test digits: RAISE costs one annealing run per digit), and where given --ais-base data|model,
 * --raise-stuck-chains N, --width W and --budget T (the bracket in rounds: docs/reproductions.md, section 1b).
 *
 * Every model is trained by the `rbm` CLI with a checkpoint every 5 epochs and every result is kept as JSON
 * in --dir, so the command is resumable: run it again after an interruption (or with more seeds) and it
 * continues the unfinished training from its checkpoint and skips what is done.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

interface Variant {
  readonly name: string;
  /** `rbm train` flags besides data, epochs, seed, backend and files. */
  readonly train: readonly string[];
  /** The published figure to compare with: nats per test digit, or a test error in percent (classify). */
  readonly paper: number;
}

interface Table {
  readonly title: string;
  /** `rbm train`'s model flags: --hidden N, or --dbm and its settings. */
  readonly model: readonly string[];
  readonly epochs: number;
  /** Data flags shared by training and evaluation. */
  readonly data: readonly string[];
  /**
   * exact: log Z by enumeration; ais: `rbm eval --bounds`; dbm: the same for a DBM (RAISE, AIS + mean field);
   * classify: `rbm predict`'s test error of the model that did best on the held-out digits.
   */
  readonly evaluate: 'exact' | 'ais' | 'dbm' | 'classify';
  readonly source: string;
  readonly variants: readonly Variant[];
}

const pcd = ['--method', 'pcd', '--lr', '0.01', '--momentum', '0', '--batch', '100'];
// Salakhutdinov's rbm.m (Hinton & Salakhutdinov 2006), which S&M (2008) train with: batch 100, momentum 0.5
// then 0.9 after 5 epochs, weight cost 0.0002; the learning rate here is the batch-mean one of rbmjs.
const sm = ['--lr', '0.05', '--momentum', '0.5', '--momentum-final', '0.9', '--l2', '0.0002', '--batch', '100'];

const TABLES: Record<string, Table> = {
  'pydeep-16': {
    title: "PyDeep's 784-16 MNIST table (RBM_MNIST_small): exact test log-likelihood",
    model: ['--hidden', '16'],
    epochs: 50,
    data: ['--data', 'mnist'],
    evaluate: 'exact',
    source: 'PyDeep (Melchior), RBM_MNIST_small',
    variants: [
      { name: 'plain', train: pcd, paper: -149.05 },
      { name: 'centred', train: [...pcd, '--centering', '0.01'], paper: -142.56 },
    ],
  },
  'pydeep-500': {
    title: "PyDeep's 784-500 MNIST table (RBM_MNIST_big): test log-likelihood bounds (RAISE, AIS)",
    model: ['--hidden', '500'],
    epochs: 200,
    data: ['--data', 'mnist'],
    evaluate: 'ais',
    source: 'PyDeep (Melchior), RBM_MNIST_big',
    variants: [
      { name: 'centred', train: [...pcd, '--centering', '0.01'], paper: -84.86 },
      { name: 'plain', train: pcd, paper: -130.81 },
    ],
  },
  'sm-2008': {
    title: 'Salakhutdinov & Murray (2008), table 1: 784-500 on stochastically binarised MNIST, bounds (RAISE, AIS)',
    model: ['--hidden', '500'],
    epochs: 100,
    data: ['--data', 'mnist', '--binarize', 'stochastic', '--data-seed', '1'],
    evaluate: 'ais',
    source: 'Salakhutdinov & Murray (2008), table 1',
    variants: [
      { name: 'cd1', train: [...sm, '--method', 'cd', '--k', '1'], paper: -125.53 },
      // The paper's CD-3 figure could not be checked from this machine: no comparison is printed for it.
      { name: 'cd3', train: [...sm, '--method', 'cd', '--k', '3'], paper: Number.NaN },
      { name: 'cd25', train: [...sm, '--method', 'cd', '--k', '25'], paper: -86.34 },
    ],
  },
  'sh-2009': {
    title: "Salakhutdinov & Hinton (2009): a 784-500-1000 DBM, RAISE below, the mean-field bound with AIS's log Z",
    // docs/deeper.md's run 2 (pretraining 30 epochs an RBM, 100 joint epochs at a rate decaying linearly), on
    // stochastically binarised digits as S&H's were (run 2 itself was trained on digits thresholded at 0.5).
    model: ['--dbm', '500,1000', '--pretrain-epochs', '30'],
    epochs: 100,
    data: ['--data', 'mnist', '--binarize', 'stochastic', '--data-seed', '1'],
    evaluate: 'dbm',
    source: 'Salakhutdinov & Hinton (2009)',
    variants: [
      { name: 'dbm', train: ['--lr', '0.005', '--lr-schedule', 'linear', '--lr-final', '0.00005'], paper: -84.62 },
    ],
  },
  'lb-2008': {
    title:
      'Larochelle & Bengio (2008): classification RBMs on MNIST, trained online (batch 1) until 10 epochs bring no better held-out error',
    // Their split: 50,000 training digits, the last 10,000 of the training set held out; plain SGD at their
    // per-example rates (with batch 1 rbmjs's batch-mean rate is theirs).
    model: ['--labels', '--batch', '1', '--momentum', '0', '--validation', '10000', '--early-stop', '10'],
    epochs: 200,
    data: ['--data', 'mnist'],
    evaluate: 'classify',
    source: 'Larochelle & Bengio (2008), table 1',
    variants: [
      { name: 'classrbm', train: ['--objective', 'generative', '--hidden', '6000', '--lr', '0.005'], paper: 3.39 },
      { name: 'drbm', train: ['--objective', 'discriminative', '--hidden', '500', '--lr', '0.05'], paper: 1.81 },
      {
        name: 'hdrbm',
        train: ['--objective', 'hybrid', '--alpha', '0.01', '--hidden', '1500', '--lr', '0.01'],
        paper: 1.28,
      },
    ],
  },
};

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    seeds: { type: 'string', default: '3' },
    variants: { type: 'string' },
    epochs: { type: 'string' },
    dir: { type: 'string', default: 'reproductions' },
    backend: { type: 'string', default: 'onnxruntime' },
    'ais-runs': { type: 'string', default: '1000' },
    'ais-schedule': { type: 'string', default: 'sm' },
    'raise-chains': { type: 'string', default: '1' },
    'test-limit': { type: 'string', default: '10000' },
    'raise-sweeps': { type: 'string', default: '1000' },
    'ais-base': { type: 'string' },
    'raise-stuck-chains': { type: 'string' },
    width: { type: 'string' },
    budget: { type: 'string' },
  },
});
const table = TABLES[positionals[0] ?? ''];
if (!table || positionals.length !== 1) {
  console.error(`usage: reproduce <${Object.keys(TABLES).join('|')}> [--seeds N] [--variants a,b] [--epochs N]`);
  process.exit(2);
}
const seeds = Number(values.seeds);
const epochs = values.epochs ? Number(values.epochs) : table.epochs;
const wanted = values.variants?.split(',');
const variants = table.variants.filter((v) => !wanted || wanted.includes(v.name));
if (!Number.isInteger(seeds) || seeds < 1 || !Number.isInteger(epochs) || epochs < 1 || variants.length === 0) {
  console.error('--seeds and --epochs take positive integers; --variants names rows of the table');
  process.exit(2);
}
const BIN = join(import.meta.dirname, '..', 'dist', 'bin.js');
if (!existsSync(BIN)) {
  console.error(`${BIN} is missing: build the CLI first (pnpm --filter @rbmjs/cli build)`);
  process.exit(1);
}
const dir = join(values.dir!, positionals[0]!);
await mkdir(dir, { recursive: true });

/** Runs `rbm` with stderr passed through (progress) and returns its stdout. */
function rbm(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`rbm ${args.join(' ')}: exit ${code}`))));
  });
}

/** Writes a file whole or not at all. */
async function writeAtomic(path: string, text: string): Promise<void> {
  await writeFile(`${path}.tmp`, text);
  await rename(`${path}.tmp`, path);
}

interface Row {
  variant: string;
  seed: number;
  testLL: number;
  logZ: number;
  trainSeconds: number;
  /** classify: the test error of the best held-out model, and the early stopping that chose it. */
  classify?: { testError: number; heldOut: number; bestEpoch: number; epochsRun: number; stopped: boolean };
  bounds?: {
    lower: number;
    upper: number;
    width: number;
    lowerInterval: [number, number];
    upperInterval: [number, number];
    ess: number;
    examples: number;
    seconds: number;
    warnings: string[];
  };
}

const rows: Row[] = [];
for (const variant of variants) {
  for (let seed = 1; seed <= seeds; seed++) {
    const stem = join(dir, `${variant.name}-e${epochs}-seed${seed}`);
    const model = `${stem}.safetensors`;
    const checkpoint = `${stem}.ckpt.safetensors`;
    const timing = `${stem}.train.json`;
    if (!existsSync(model)) {
      console.error(`\n== ${table.source}: ${variant.name}, seed ${seed}, ${epochs} epochs -> ${model}`);
      const t0 = performance.now();
      const summary = await rbm([
        'train',
        ...table.data,
        ...table.model,
        ...variant.train,
        '--epochs',
        String(epochs),
        '--seed',
        String(seed),
        '--backend',
        values.backend!,
        '--out',
        model,
        '--checkpoint',
        checkpoint,
        '--checkpoint-every',
        '5',
        ...(existsSync(checkpoint) ? ['--resume'] : []),
        '--no-pictures',
        '--json',
      ]);
      const last = JSON.parse(summary.trim().split('\n').at(-1)!);
      const previous = existsSync(timing) ? JSON.parse(await readFile(timing, 'utf8')).seconds : 0;
      // Seconds of this session, added to those before an interruption that the checkpoint resumed.
      await writeAtomic(timing, JSON.stringify({ seconds: previous + (performance.now() - t0) / 1000, last }));
    }
    // The optional settings name the result file only when given, so that earlier results keep their names.
    const optional = (['ais-base', 'raise-stuck-chains', 'width', 'budget'] as const).filter((k) => values[k]);
    const sweeps = table.evaluate === 'dbm' ? `-sweeps${values['raise-sweeps']}` : '';
    const resultFile =
      table.evaluate === 'exact'
        ? `${stem}.eval.json`
        : table.evaluate === 'classify'
          ? `${stem}.predict.json`
          : `${stem}.bounds-${values['ais-schedule']!.replace(':', '')}-runs${values['ais-runs']}-chains${values['raise-chains']}${sweeps}${optional.map((k) => `-${k}${values[k]}`).join('')}-test${values['test-limit']}.json`;
    if (!existsSync(resultFile) && table.evaluate === 'classify') {
      console.error(`\n== test error of ${stem}.best.safetensors (the best held-out error)`);
      const out = await rbm([
        'predict',
        `${stem}.best.safetensors`,
        ...table.data,
        '--split',
        'test',
        '--backend',
        values.backend!,
        '--json',
      ]);
      await writeAtomic(resultFile, out);
    }
    if (!existsSync(resultFile)) {
      const limit = table.evaluate === 'exact' ? '10000' : values['test-limit']!;
      console.error(`\n== evaluating ${model} on the first ${limit} test digits (${table.evaluate})`);
      const flags =
        table.evaluate === 'exact'
          ? ['--exact', '--pl', 'none']
          : [
              ...['--bounds', '--ais-runs', values['ais-runs']!, '--ais-schedule', values['ais-schedule']!],
              ...['--raise-chains', values['raise-chains']!, '--limit', limit],
              ...optional.flatMap((k) => [`--${k}`, values[k]!]),
              // A DBM takes RAISE's chains and sweeps, no pseudo-likelihood (rbm eval refuses --pl for it).
              ...(table.evaluate === 'dbm' ? ['--raise-sweeps', values['raise-sweeps']!] : ['--pl', 'none']),
            ];
      const out = await rbm([
        'eval',
        model,
        ...table.data,
        '--split',
        'test',
        ...flags,
        '--seed',
        String(seed),
        '--backend',
        values.backend!,
        '--json',
      ]);
      await writeAtomic(resultFile, out);
    }
    const r = JSON.parse(await readFile(resultFile, 'utf8'));
    const trainSeconds = existsSync(timing) ? JSON.parse(await readFile(timing, 'utf8')).seconds : Number.NaN;
    if (table.evaluate === 'classify') {
      const stop = existsSync(timing) ? JSON.parse(await readFile(timing, 'utf8')).last?.earlyStopping : undefined;
      rows.push({
        variant: variant.name,
        seed,
        testLL: Number.NaN,
        logZ: Number.NaN,
        trainSeconds,
        classify: {
          testError: r.error,
          heldOut: stop?.best ?? Number.NaN,
          bestEpoch: stop?.bestEpoch ?? Number.NaN,
          epochsRun: stop?.epochsRun ?? Number.NaN,
          stopped: Boolean(stop?.stopped),
        },
      });
      continue;
    }
    const b = r.bounds;
    const row: Row = {
      variant: variant.name,
      seed,
      testLL: b ? b.upper : r.meanLogLikelihood,
      logZ: b?.logZ ?? r.logZ,
      trainSeconds,
    };
    if (b && table.evaluate === 'dbm') {
      // No upper bound for a DBM: the other side is the mean-field bound with AIS's log Z, an estimate.
      row.testLL = b.lowerEstimate;
      row.bounds = {
        lower: b.lower,
        upper: b.meanField.lowerEstimate,
        width: b.meanField.lowerEstimate - b.lower,
        lowerInterval: b.lowerInterval,
        upperInterval: r.logZInterval,
        ess: r.effectiveSampleSize,
        examples: r.examples,
        seconds: r.seconds,
        warnings: r.warnings,
      };
    } else if (b) {
      // JSON has no infinities: an open end of an interval is null.
      const end = (x: number | null, inf: number) => x ?? inf;
      row.bounds = {
        lower: b.lower,
        upper: b.upper ?? Number.POSITIVE_INFINITY,
        width: b.width ?? Number.POSITIVE_INFINITY,
        lowerInterval: [end(b.lowerInterval[0], -Infinity), end(b.lowerInterval[1], Infinity)],
        upperInterval: [end(b.upperInterval[0], -Infinity), end(b.upperInterval[1], Infinity)],
        ess: b.effectiveSampleSize,
        examples: b.examples,
        seconds: b.seconds,
        warnings: b.warnings,
      };
    }
    rows.push(row);
  }
}

const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : String(x));
const evaluation =
  table.evaluate === 'exact'
    ? 'exact'
    : table.evaluate === 'classify'
      ? 'test error of the model with the best held-out error (rbm predict), all 10,000 test digits'
      : table.evaluate === 'dbm'
        ? `RAISE ${values['raise-chains']} chain(s) per digit and ${values['raise-sweeps']} sweeps below; the mean-field bound with AIS's log Z (${values['ais-runs']} runs) beside; schedule ${values['ais-schedule']}; first ${values['test-limit']} test digits`
        : `bounds: RAISE ${values['raise-chains']} chain(s) per digit below, forward AIS ${values['ais-runs']} runs above, schedule ${values['ais-schedule']}${(['ais-base', 'raise-stuck-chains', 'width', 'budget'] as const).map((k) => (values[k] ? `, --${k} ${values[k]}` : '')).join('')}, first ${values['test-limit']} test digits`;
console.log(`\n${table.title}; ${epochs} epochs; ${evaluation}; backend ${values.backend}; results in ${dir}\n`);
if (table.evaluate === 'classify') {
  console.log(
    '| variant | seed | test error | best held-out error (epoch) | epochs run | stopped early | paper | train s |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  const pc = (x: number) => `${(100 * x).toFixed(2)}%`;
  for (const r of rows) {
    const c = r.classify!;
    const paper = variants.find((v) => v.name === r.variant)!.paper;
    console.log(
      `| ${r.variant} | ${r.seed} | ${pc(c.testError)} | ${pc(c.heldOut)} (${c.bestEpoch}) | ${c.epochsRun} | ${c.stopped ? 'yes' : 'no'} | ${paper}% | ${r.trainSeconds.toFixed(0)} |`,
    );
  }
} else if (table.evaluate === 'exact') {
  console.log('| variant | seed | test LL (exact) | log Z | train s |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const r of rows)
    console.log(`| ${r.variant} | ${r.seed} | ${f2(r.testLL)} | ${r.logZ.toFixed(3)} | ${r.trainSeconds.toFixed(0)} |`);
} else if (table.evaluate === 'dbm') {
  console.log(
    "| variant | seed | lower (RAISE) [+-3 sigma] | mean-field bound with AIS's log Z | difference | log Z [+-3 sigma] | AIS ESS | warnings | train s | eval s |",
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    const b = r.bounds!;
    const iv = (x: [number, number]) => `[${f2(x[0] ?? -Infinity)}, ${f2(x[1] ?? Infinity)}]`;
    console.log(
      `| ${r.variant} | ${r.seed} | ${f2(b.lower)} ${iv(b.lowerInterval)} | ${f2(b.upper)} | ${f2(b.width)} | ${r.logZ.toFixed(2)} ${iv(b.upperInterval)} | ${b.ess.toFixed(0)} | ${b.warnings.length} | ${r.trainSeconds.toFixed(0)} | ${b.seconds.toFixed(0)} |`,
    );
  }
} else {
  console.log(
    '| variant | seed | lower (RAISE) [+-3 sigma] | upper (forward AIS) [+-3 sigma] | width | log Z | AIS ESS | warnings | train s | eval s |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    const b = r.bounds!;
    const iv = (x: [number, number]) => `[${f2(x[0])}, ${f2(x[1])}]`;
    console.log(
      `| ${r.variant} | ${r.seed} | ${f2(b.lower)} ${iv(b.lowerInterval)} | ${f2(b.upper)} ${iv(b.upperInterval)} | ${f2(b.width)} | ${r.logZ.toFixed(2)} | ${b.ess.toFixed(0)} | ${b.warnings.length} | ${r.trainSeconds.toFixed(0)} | ${b.seconds.toFixed(0)} |`,
    );
  }
}
const meanSd = (xs: number[]) => {
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (xs.length - 1)) : Number.NaN;
  // One seed has no spread to show: the mean alone.
  return { mean, sd, text: xs.length > 1 ? `${f2(mean)} +- ${f2(sd)}` : `${f2(mean)} (one seed)` };
};
const sign = (x: number) => (x >= 0 ? '+' : '') + f2(x);
if (table.evaluate === 'exact') {
  console.log(`\n| variant | seeds | test LL, mean +- sd | ${table.source} | difference |`);
  console.log('| --- | --- | --- | --- | --- |');
  for (const v of variants) {
    const m = meanSd(rows.filter((r) => r.variant === v.name).map((r) => r.testLL));
    console.log(
      `| ${v.name} | ${rows.filter((r) => r.variant === v.name).length} | ${m.text} | ${v.paper} | ${sign(m.mean - v.paper)} |`,
    );
  }
} else if (table.evaluate === 'classify') {
  console.log(`\n| variant | seeds | test error, mean +- sd (%) | ${table.source} (%) | difference |`);
  console.log('| --- | --- | --- | --- | --- |');
  for (const v of variants) {
    const mine = rows.filter((r) => r.variant === v.name);
    const m = meanSd(mine.map((r) => 100 * r.classify!.testError));
    console.log(`| ${v.name} | ${mine.length} | ${m.text} | ${v.paper} | ${sign(m.mean - v.paper)} |`);
  }
} else {
  const other = table.evaluate === 'dbm' ? "mean-field with AIS's log Z" : 'upper';
  console.log(`\n| variant | seeds | lower, mean +- sd | ${other}, mean +- sd | ${table.source} | paper - lower |`);
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const v of variants) {
    const mine = rows.filter((r) => r.variant === v.name);
    const lo = meanSd(mine.map((r) => r.bounds!.lower));
    const hi = meanSd(mine.map((r) => r.bounds!.upper));
    console.log(`| ${v.name} | ${mine.length} | ${lo.text} | ${hi.text} | ${v.paper} | ${sign(v.paper - lo.mean)} |`);
  }
}
for (const r of rows)
  for (const w of r.bounds?.warnings ?? []) console.log(`warning (${r.variant}, seed ${r.seed}): ${w}`);
