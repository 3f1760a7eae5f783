// One epoch of the collaborative-filtering RBM on ratings shaped like Netflix's (longTailedRatings: 480,189
// users, 17,770 items, 100,480,507 ratings at --scale 1; users scaled by --scale, items kept), in sparse
// batches, with its wall time, peak RSS and the fraction of the machine's GEMM rate it reached; then the
// dense layout on the first --dense-users users (it cannot do the whole epoch in reasonable time), scaled.
//
//   node --conditions=@rbmjs/source --import tsx apps/cli/bench/cf-netflix.ts --scale 0.1
//   ... --scale 1 --file netflix-shaped.tsv   (the first run writes the file and stops; later runs read it)
//   ... --out netflix-model   (writes the trained model, with and without the ratings: bench/cf-serve.ts)
//   ... --scale 1 --dense-users 2000 --hidden 100 --batch 100 --backend onnxruntime:cpu --json out.json
//
// Each step also moves every row of W (momentum and weight decay, as the dense step does): at 17,770 items
// that is 9 million weights a step, so larger batches (--batch; S, M & H trained on mini-batches of 1,000
// users) spend less of the epoch there.
//
// The arithmetic of a sparse CD-1 epoch: five products of a rating's K x H weights (p(h | V), the
// reconstruction's logits, p(h | V~) and the two gradient terms), 2 K H flops each: 10 K H flops a rating,
// 0.50 TFLOP for Netflix at K = 5, H = 100. The GEMM rate is that of one large product on the same backend.
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  type BatchLayout,
  CollaborativeModel,
  type CollaborativeParameters,
  collaborativeFamily,
  encodeCollaborative,
  initialCollaborativeParameters,
  levelCounts,
  longTailedRatings,
  NETFLIX_SHAPE,
  type Ratings,
  selectRatings,
  setMemoryBudget,
  Trainer,
} from '@rbmjs/core';
import { readRatingsFile, writeFileAtomic, writeRatingsFile } from '@rbmjs/core/node';
import { startBackend } from '../src/backends.js';

const { values: o } = parseArgs({
  options: {
    scale: { type: 'string', default: '0.1' },
    hidden: { type: 'string', default: '100' },
    backend: { type: 'string', default: 'onnxruntime:cpu' },
    'dense-users': { type: 'string', default: '2000' },
    batch: { type: 'string', default: '100' },
    json: { type: 'string' },
    file: { type: 'string' },
    out: { type: 'string' },
  },
});
const scale = Number(o.scale);
const H = Number(o.hidden);
const be = await startBackend(o.backend);
// The goal is 4 GB; the default budget (2 GiB) refuses the dense comparison's workspace at 17,770 items.
setMemoryBudget(6 * 1024 ** 3);
const rss = () => process.resourceUsage().maxRSS / 1024 ** 2; // GiB (maxRSS is in KiB)

/** The backend's rate on one [n, n] x [n, n] product, GFLOP/s (the median of 5). */
async function gemmRate(n = 1024): Promise<number> {
  const a = be.tensor(
    n,
    n,
    Float32Array.from({ length: n * n }, (_, k) => Math.sin(k)),
  );
  const c = be.tensor(n, n);
  const times: number[] = [];
  for (let r = 0; r < 6; r++) {
    const t0 = performance.now();
    be.fuse ? be.fuse('gemm', () => be.matMul(c, a, a)) : be.matMul(c, a, a);
    await be.read(c);
    if (r > 0) times.push((performance.now() - t0) / 1000);
  }
  be.dispose(a);
  be.dispose(c);
  times.sort((x, y) => x - y);
  return (2 * n ** 3) / times[2]! / 1e9;
}

async function epoch(
  r: Ratings,
  layout: BatchLayout,
): Promise<{ seconds: number; parameters: CollaborativeParameters }> {
  const model = CollaborativeModel.fromParameters(
    be,
    initialCollaborativeParameters({
      numItems: r.items.length,
      numHidden: H,
      levels: r.levels,
      counts: levelCounts(r),
      seed: 1,
    }),
  );
  let seconds = 0;
  const trainer = new Trainer(
    collaborativeFamily(model, r, undefined, {
      epochs: 1,
      batchSize: Number(o.batch),
      gibbsSteps: 1,
      batchLayout: layout,
    }),
    {
      onEpoch: (e) => {
        seconds = e.seconds;
      },
    },
  );
  try {
    await trainer.run();
    return { seconds, parameters: await model.parameters() };
  } finally {
    trainer.dispose();
    model.dispose();
  }
}

const users = Math.round(NETFLIX_SHAPE.users * scale);
const total = Math.round(NETFLIX_SHAPE.ratings * scale);
let t0 = performance.now();
let ratings: Ratings;
let generated = 0;
let read: { seconds: number; bytes: number; rssGiB: number } | undefined;
if (o.file && existsSync(o.file)) {
  ratings = await readRatingsFile(o.file, { levels: [1, 2, 3, 4, 5] });
  read = { seconds: (performance.now() - t0) / 1000, bytes: statSync(o.file).size, rssGiB: rss() };
  console.log(
    `read ${ratings.user.length} ratings (${(read.bytes / 1e9).toFixed(2)} GB) from ${o.file} in ${read.seconds.toFixed(1)} s; peak RSS ${read.rssGiB.toFixed(2)} GiB`,
  );
} else {
  ({ ratings } = longTailedRatings({ users, items: NETFLIX_SHAPE.items, ratings: total, seed: 1 }));
  generated = (performance.now() - t0) / 1000;
  console.log(
    `generated ${ratings.user.length} ratings of ${users} users x ${NETFLIX_SHAPE.items} items in ${generated.toFixed(1)} s; RSS ${rss().toFixed(2)} GiB; backend ${be.name}`,
  );
  if (o.file) {
    t0 = performance.now();
    await writeRatingsFile(o.file, ratings);
    console.log(
      `wrote ${o.file}: ${(statSync(o.file).size / 1e9).toFixed(2)} GB in ${((performance.now() - t0) / 1000).toFixed(1)} s; peak RSS ${rss().toFixed(2)} GiB. Run again to read it and train.`,
    );
    be.destroy();
    process.exit(0);
  }
}
const K = ratings.levels.length;
console.log(`backend ${be.name}`);
const rate = await gemmRate();
console.log(`GEMM rate (1024^3 product): ${rate.toFixed(1)} GFLOP/s`);
t0 = performance.now();
const { seconds: sparse, parameters } = await epoch(ratings, 'sparse');
const flops = 10 * K * H * ratings.user.length;
console.log(
  `sparse epoch: ${sparse.toFixed(1)} s (${((performance.now() - t0) / 1000).toFixed(1)} s with set-up), peak RSS ${rss().toFixed(2)} GiB; ` +
    `${(flops / 1e12).toFixed(3)} TFLOP, ${(flops / sparse / 1e9).toFixed(1)} GFLOP/s = ${((100 * flops) / sparse / 1e9 / rate).toFixed(1)}% of the GEMM rate`,
);
if (o.out) {
  // The trained model, as `rbm train --ratings` writes it: with the ratings as each user's evidence, and without.
  for (const [path, evidence] of [
    [`${o.out}.safetensors`, true],
    [`${o.out}-no-evidence.safetensors`, false],
  ] as const) {
    const t1 = performance.now();
    await writeFileAtomic(
      path,
      encodeCollaborative(parameters, { users: ratings.users, items: ratings.items }, evidence ? { ratings } : {}),
    );
    console.log(
      `wrote ${path}: ${(statSync(path).size / 1e6).toFixed(1)} MB in ${((performance.now() - t1) / 1000).toFixed(1)} s`,
    );
  }
}
const denseUsers = Math.min(users, Number(o['dense-users']));
const part = selectRatings(ratings, (k) => ratings.user[k]! < denseUsers);
const sub: Ratings = {
  ...part,
  users: ratings.users.slice(0, denseUsers),
  userStart: part.userStart.slice(0, denseUsers + 1),
};
const { seconds: dense } = await epoch(sub, 'dense');
const denseScaled = (dense * users) / denseUsers;
console.log(
  `dense epoch on the first ${denseUsers} users (${sub.user.length} ratings): ${dense.toFixed(1)} s; scaled to ${users} users: ${denseScaled.toFixed(0)} s (${(denseScaled / sparse).toFixed(1)}x the sparse epoch)`,
);
if (o.json)
  writeFileSync(
    o.json,
    `${JSON.stringify({ backend: be.name, scale, batch: Number(o.batch), users, items: NETFLIX_SHAPE.items, ratings: ratings.user.length, hidden: H, generated, ...(read ? { file: o.file, readSeconds: read.seconds, fileBytes: read.bytes, readPeakRssGiB: read.rssGiB } : {}), gemmGflops: rate, sparseSeconds: sparse, peakRssGiB: rss(), tflop: flops / 1e12, denseUsers, denseSeconds: dense, denseScaledSeconds: denseScaled }, null, 2)}\n`,
  );
be.destroy();
