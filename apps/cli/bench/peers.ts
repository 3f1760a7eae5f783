// The jobs of docs/benchmarks.md's "Against a PyTorch peer, job by job" table, each timed against a PyTorch peer
// written as a PyTorch user would write it (apps/cli/peers/), with `rbm bench`'s protocol: both sides warm;
// the peer kept up in one process per thread setting (torch x OpenBLAS threads in {1, all cores}^2, the better
// of two warm runs each, the two fastest timed, the lower median counting); timings alternating, rbm then the peer; the median, minimum and
// spread of each side; the load average before and after, and other processes' CPU (a run under load flagged).
//
//   pnpm --filter @rbmjs/cli peers --job drbm            # the online DRBM step (L&B 2008: batch 1, 500 hidden)
//   pnpm --filter @rbmjs/cli peers --job hdrbm           # the online HDRBM step (1,500 hidden, alpha 0.01)
//   pnpm --filter @rbmjs/cli peers --job dbm             # a DBM joint-training epoch (784-500-1000, PCD, mean field)
//   pnpm --filter @rbmjs/cli peers --job ratings         # a recommender epoch (MovieLens-100k shaped, 100 hidden, CD-1)
//   pnpm --filter @rbmjs/cli peers --job raise           # RAISE of 100 test digits on a 784-500 model
//   pnpm --filter @rbmjs/cli peers --job ais             # forward AIS, 1,000 runs, on the same model
//   pnpm --filter @rbmjs/cli peers --job all --repeats 5 --json
//
// It times the built packages, as users run them (pnpm build first): run from source (tsx with the
// @rbmjs/source condition) the online DRBM step took 0.39-0.47 ms where the build took 0.27-0.31.
// Needs Debian's python3 with PyTorch (apt-get install python3-torch python3-sklearn), or --python.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  annealedImportanceSampling,
  type Backend,
  ClassificationRBM,
  CollaborativeModel,
  collaborativeFamily,
  DBM,
  dbmFamily,
  encodeModel,
  initialCollaborativeParameters,
  jointRows,
  RBM,
  reverseAnnealedImportanceSampling,
  syntheticRatings,
  Trainer,
} from '@rbmjs/core';
import { startBackend } from '../src/backends.js';
import { OtherLoad } from '../src/commands/bench-load.js';
import {
  median,
  PeerProcess,
  PeerShortlist,
  peerScript,
  peerSettings,
  peerUnavailable,
  threadsText,
} from '../src/commands/bench-peer.js';
import { mnistPath } from '../src/data.js';

const { values: o } = parseArgs({
  options: {
    job: { type: 'string', default: 'all' },
    repeats: { type: 'string', default: '5' },
    backend: { type: 'string', default: 'onnxruntime:cpu' },
    python: { type: 'string', default: '/usr/bin/python3' },
    'peer-threads': { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const repeats = Number(o.repeats);
const cores = availableParallelism();

/** A job: how rbm runs it (epochs, calling `between` after each with its seconds) and how its peer is started. */
interface Job {
  readonly name: string;
  readonly what: string;
  /** Per timed run: the figure's unit and the divisor from seconds (steps a run for ms/step). */
  readonly unit: 'ms/step' | 's/epoch' | 's/run';
  readonly steps: number;
  readonly peer: { readonly script: string; readonly args: readonly string[] };
  /** What the peer reads and rbm made (a model file), before the peer starts. */
  prepare?(be: Backend): Promise<void>;
  run(be: Backend, epochs: number, between: (seconds: number) => Promise<void>): Promise<void>;
}

const scratch = mkdtempSync(join(tmpdir(), 'rbm-peers-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));

function mnist(rows: number, split: 'train' | 't10k' = 'train'): { x: Float32Array; y: Uint8Array } {
  const dir = dirname(mnistPath('train'));
  const pixels = readFileSync(join(dir, `${split}-images-idx3-ubyte`)).subarray(16, 16 + rows * 784);
  const x = new Float32Array(rows * 784);
  for (let i = 0; i < x.length; i++) x[i] = pixels[i]! / 255 > 0.5 ? 1 : 0;
  const y = readFileSync(join(dir, `${split}-labels-idx1-ubyte`)).subarray(8, 8 + rows);
  return { x, y };
}

/** The online classifier step (Larochelle & Bengio 2008): batch 1, plain SGD at 0.05, no momentum. */
function online(name: string, hidden: number, objective: 'discriminative' | 'hybrid'): Job {
  const rows = 3000;
  return {
    name,
    what: `${objective === 'hybrid' ? 'HDRBM (hybrid, alpha 0.01)' : 'DRBM (discriminative)'}, 784-${hidden}, 10 classes, batch 1, ${rows} digits a run`,
    unit: 'ms/step',
    steps: rows,
    peer: {
      script: peerScript('torch_drbm.py'),
      args: [
        '--hidden',
        String(hidden),
        '--steps',
        String(rows),
        '--hybrid-alpha',
        objective === 'hybrid' ? '0.01' : '0',
      ],
    },
    async run(be, epochs, between) {
      const { x, y } = mnist(rows);
      const clf = ClassificationRBM.create(be, { numInputs: 784, numClasses: 10, numHidden: hidden, seed: 1 });
      const data = jointRows({ data: x, rows, cols: 784 }, y, 10);
      const trainer = new Trainer(clf.model, data, {
        objective,
        ...(objective === 'hybrid' ? { hybridWeight: 0.01 } : {}),
        batchSize: 1,
        learningRate: 0.05,
        momentum: 0,
        epochs,
        seed: 1,
        onEpoch: (m) => between(m.seconds),
      });
      await trainer.run();
      trainer.dispose();
    },
  };
}

const JOBS: Record<string, () => Job> = {
  drbm: () => online('drbm', 500, 'discriminative'),
  hdrbm: () => online('hdrbm', 1500, 'hybrid'),
  dbm: () => {
    const rows = 10000;
    return {
      name: 'dbm',
      what: `DBM joint training, 784-500-1000, PCD (100 chains, 1 sweep), 10 mean-field sweeps, batch 100, ${rows} digits an epoch`,
      unit: 's/epoch',
      steps: 1,
      peer: { script: peerScript('torch_dbm.py'), args: ['--rows', String(rows)] },
      async run(be, epochs, between) {
        const { x } = mnist(rows);
        const dbm = DBM.create(be, { sizes: [784, 500, 1000], seed: 1 });
        const family = dbmFamily(dbm, { data: x, rows, cols: 784 }, { epochs, pretrainEpochs: 0, seed: 1 });
        const trainer = new Trainer(family, { onEpoch: (e) => between(e.seconds) });
        await trainer.run();
        trainer.dispose();
      },
    };
  },
  raise: raiseJob,
  ais: aisJob,
  ratings: () => {
    // MovieLens-100k's shape: 943 users, 1,682 items, 100,000 ratings of 5 levels.
    const users = 943;
    const items = 1682;
    const { ratings } = syntheticRatings({ users, items, levels: 5, density: 100000 / (users * items), seed: 1 });
    const batch = 48; // rbm's default for 943 users (at least 20 updates an epoch)
    const file = join(scratch, 'ratings.i32');
    const triples = new Int32Array(3 * ratings.user.length);
    for (let k = 0; k < ratings.user.length; k++)
      triples.set([ratings.user[k]!, ratings.item[k]!, ratings.level[k]!], 3 * k);
    writeFileSync(file, triples);
    return {
      name: 'ratings',
      what: `recommender (CF-RBM), ${users} users x ${items} items, ${ratings.user.length} ratings of 5 levels, 100 hidden, CD-1, batch ${batch}`,
      unit: 's/epoch',
      steps: 1,
      peer: {
        script: peerScript('torch_cf.py'),
        args: [
          '--data',
          file,
          '--users',
          String(users),
          '--items',
          String(items),
          '--levels',
          '5',
          '--batch',
          String(batch),
        ],
      },
      async run(be, epochs, between) {
        const model = CollaborativeModel.fromParameters(
          be,
          initialCollaborativeParameters({ numItems: items, numHidden: 100, levels: ratings.levels, seed: 1 }),
        );
        const family = collaborativeFamily(model, ratings, undefined, {
          epochs,
          batchSize: batch,
          gibbsSteps: 1,
          seed: 1,
        });
        const trainer = new Trainer(family, { onEpoch: (e) => between(e.seconds) });
        await trainer.run();
        trainer.dispose();
      },
    };
  },
};

/**
 * The 784-500 model the annealing jobs evaluate (CD-1, one epoch of the first 10,000 digits, which also give
 * the base rates), trained once and written where the peers read it.
 */
const annealed = (() => {
  const rows = 10000;
  const train = mnist(rows);
  const data = { data: train.x, rows, cols: 784 };
  const files = { model: join(scratch, 'model.safetensors'), data: join(scratch, 'train.u8') };
  let model: RBM | undefined;
  return {
    rows,
    data,
    files,
    model: () => model!,
    async prepare(be: Backend) {
      if (model) return;
      writeFileSync(files.data, Uint8Array.from(train.x));
      model = RBM.create(be, { numVisible: 784, numHidden: 500, seed: 1, data });
      await new Trainer(model, data, { epochs: 1, learningRate: 0.05, seed: 1 }).run();
      writeFileSync(files.model, encodeModel(await model.parameters()));
    },
    peerArgs: () => ['--model', files.model, '--data', files.data, '--rows', String(rows), '--cols', '784'],
  };
})();

/** Times `runs` of `once` (seconds each), handing each to `between`. */
async function timedRuns(epochs: number, between: (s: number) => Promise<void>, once: (e: number) => Promise<unknown>) {
  for (let e = 0; e < epochs; e++) {
    const t0 = performance.now();
    await once(e);
    await between((performance.now() - t0) / 1000);
  }
}

/**
 * RAISE of 100 test digits, one chain each. Timed at a tenth of the defaults, S&M's schedule scaled to 1,450
 * steps and 500 sweeps at beta = 1 (a step costs the same at any beta): the default run (14,500 steps, 5,000
 * sweeps) takes ten times as long on either side.
 */
function raiseJob(): Job {
  const examples = 100;
  const sweeps = 500;
  // S&M's three segments (0-0.5, 0.5-0.9, 0.9-1) with a tenth of their steps each.
  const betas = new Float64Array(1451);
  let at = 0;
  for (const [from, to, n] of [
    [0, 0.5, 50],
    [0.5, 0.9, 400],
    [0.9, 1, 1000],
  ] as const)
    for (let i = 0; i < n; i++) betas[at++] = from + ((to - from) * i) / n;
  betas[at] = 1;
  const test = mnist(examples, 't10k');
  const testFile = join(scratch, 'test.u8');
  writeFileSync(testFile, Uint8Array.from(test.x));
  writeFileSync(join(scratch, 'betas.f64'), betas);
  return {
    name: 'raise',
    what: `RAISE, ${examples} test digits x 1 chain, 784-500, ${betas.length - 1} steps (S&M's x 0.1) and ${sweeps} sweeps`,
    unit: 's/run',
    steps: 1,
    peer: {
      script: peerScript('torch_raise.py'),
      args: [...annealed.peerArgs(), '--test', testFile, '--examples', String(examples)].concat([
        '--betas',
        join(scratch, 'betas.f64'),
        '--sweeps',
        String(sweeps),
      ]),
    },
    prepare: (be) => annealed.prepare(be),
    run: (_be, epochs, between) =>
      timedRuns(epochs, between, (e) =>
        reverseAnnealedImportanceSampling(
          annealed.model(),
          { data: test.x, rows: examples, cols: 784 },
          { chains: 1, schedule: betas, sweeps, baseData: annealed.data, seed: e },
        ),
      ),
  };
}

/**
 * Forward AIS, 1,000 runs as the rows of one product, 500 steps (a step costs the same at any beta; S&M's
 * full schedule is 29 times as long; bench/ais.mjs runs it whole, for the estimates' agreement).
 */
function aisJob(): Job {
  const runs = 1000;
  const steps = 500;
  return {
    name: 'ais',
    what: `forward AIS, ${runs} runs x ${steps} steps, 784-500`,
    unit: 's/run',
    steps: 1,
    peer: {
      script: peerScript('torch_ais.py'),
      args: [...annealed.peerArgs(), '--runs', String(runs), '--steps', String(steps)],
    },
    prepare: (be) => annealed.prepare(be),
    run: (_be, epochs, between) =>
      timedRuns(epochs, between, (e) =>
        annealedImportanceSampling(annealed.model(), {
          runs,
          schedule: { linear: steps },
          data: annealed.data,
          seed: e,
        }),
      ),
  };
}

const stats = (xs: readonly number[]) => {
  const m = median(xs);
  return { median: m, min: Math.min(...xs), spread: (Math.max(...xs) - Math.min(...xs)) / m };
};

async function bench(job: Job, be: Backend) {
  const load0 = loadavg()[0]!;
  const other = new OtherLoad();
  await job.prepare?.(be);
  const scale = (s: number) => (job.unit === 'ms/step' ? (1000 * s) / job.steps : s);
  // The peer: each thread setting warm, the better of two runs each; the two fastest kept up and both timed
  // in every round (a search run swings), the lower median counting.
  const search: Array<{ threads: string; seconds: number }> = [];
  const shortlist = new PeerShortlist(2, (peer) => {
    other.addChild(peer.cpuSeconds());
    peer.close();
  });
  const kept = shortlist.kept;
  for (const t of peerSettings(o['peer-threads'], cores)) {
    const peer = await PeerProcess.serve(o.python!, job.peer.script, job.peer.args, t);
    const seconds = Math.min(await peer.run(), await peer.run());
    search.push({ threads: threadsText(t), seconds: scale(seconds) });
    shortlist.offer(peer, seconds);
  }
  const rbm: number[] = [];
  let epoch = 0;
  // rbm's first epoch is its warm-up; after each later one each kept peer runs once: alternating.
  await job.run(be, repeats + 1, async (seconds) => {
    if (epoch++ === 0) return;
    rbm.push(scale(seconds));
    for (const k of kept) k.times.push(scale(await k.peer.run()));
  });
  shortlist.close();
  const { peer, times: torch } = shortlist.best()!;
  const cores_ = other.cores();
  const result = {
    job: job.name,
    what: job.what,
    unit: job.unit,
    backend: be.name,
    rbm: { ...stats(rbm), times: rbm },
    peer: {
      ...stats(torch),
      times: torch,
      threads: threadsText(peer.threads),
      torch: peer.torchVersion,
      search,
      timed: kept.map((k) => ({ threads: threadsText(k.peer.threads), times: k.times })),
    },
    ratio: median(rbm) / median(torch),
    loadAverage: { before: load0, after: loadavg()[0]! },
    ...(cores_ !== undefined ? { otherCores: cores_, underLoad: cores_ >= 0.25 } : {}),
  };
  if (o.json) console.log(JSON.stringify(result));
  else {
    const f = (x: number) => x.toFixed(job.unit === 'ms/step' ? 3 : 2);
    console.log(`${job.name}: ${job.what}`);
    console.log(`  peer search: ${search.map((s) => `${s.threads} ${f(s.seconds)}`).join('; ')}`);
    console.log(
      `  rbm (${be.name}) ${f(result.rbm.median)} ${job.unit} (min ${f(result.rbm.min)}, spread ${(100 * result.rbm.spread).toFixed(0)}%)` +
        `; PyTorch ${peer.torchVersion} (${result.peer.threads}) ${f(result.peer.median)} (min ${f(result.peer.min)}, spread ${(100 * result.peer.spread).toFixed(0)}%)` +
        `; ratio ${result.ratio.toFixed(2)}x`,
    );
    console.log(
      `  load average ${load0.toFixed(2)} -> ${result.loadAverage.after.toFixed(2)}` +
        (cores_ !== undefined
          ? `; other processes ${cores_.toFixed(2)} cores${result.underLoad ? ': UNDER LOAD, these timings are not to be quoted' : ''}`
          : ''),
    );
  }
}

const why = peerUnavailable(o.python!);
if (why) {
  console.error(`no PyTorch peer: ${why}`);
  process.exit(1);
}
process.env.MNIST_DIR = dirname(mnistPath('train'));
const names = o.job === 'all' ? Object.keys(JOBS) : o.job!.split(',');
for (const n of names) if (!JOBS[n]) throw new Error(`--job ${n}: choose from ${Object.keys(JOBS).join(', ')}, all`);
const be = await startBackend(o.backend!);
try {
  for (const n of names) await bench(JOBS[n]!(), be);
} finally {
  be.destroy();
}
