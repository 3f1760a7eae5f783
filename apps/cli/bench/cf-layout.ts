// Dense against sparse batches of the collaborative-filtering RBM: one epoch's wall time of each layout on the
// same generated ratings, at several densities (ratings / (users x items)), alternating the two so that the
// machine's drift falls on both. It is how `batchLayout: 'auto'` got its threshold (SPARSE_DENSITY).
//
//   node --conditions=@rbmjs/source --import tsx apps/cli/bench/cf-layout.ts
//   ... --users 20000 --items 2000 --densities 0.01,0.05,0.2 --hidden 100 --backend onnxruntime:cpu --repeats 3
//
// Each timing is the second epoch of a two-epoch run (the first compiles the backend's units), CD-1, batches
// of 100 users, no held-out pass. The median of the repeats is printed, with the ratio dense / sparse.
import { parseArgs } from 'node:util';
import {
  type BatchLayout,
  CollaborativeModel,
  collaborativeFamily,
  initialCollaborativeParameters,
  levelCounts,
  syntheticRatings,
  Trainer,
} from '@rbmjs/core';
import { startBackend } from '../src/backends.js';

const { values: o } = parseArgs({
  options: {
    users: { type: 'string', default: '20000' },
    items: { type: 'string', default: '2000' },
    densities: { type: 'string', default: '0.005,0.02,0.05,0.1,0.2' },
    hidden: { type: 'string', default: '100' },
    backend: { type: 'string', default: 'onnxruntime:cpu' },
    repeats: { type: 'string', default: '3' },
    json: { type: 'string' },
  },
});

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const be = await startBackend(o.backend);
const H = Number(o.hidden);
const rows: Array<Record<string, number>> = [];
console.log(`backend ${be.name}, ${o.users} users x ${o.items} items, ${H} hidden units, CD-1, batches of 100`);
for (const density of o.densities.split(',').map(Number)) {
  const { ratings } = syntheticRatings({ users: Number(o.users), items: Number(o.items), density, seed: 1 });
  const epoch = async (layout: BatchLayout): Promise<number> => {
    const model = CollaborativeModel.fromParameters(
      be,
      initialCollaborativeParameters({
        numItems: ratings.items.length,
        numHidden: H,
        levels: ratings.levels,
        counts: levelCounts(ratings),
        seed: 1,
      }),
    );
    const seconds: number[] = [];
    const trainer = new Trainer(
      collaborativeFamily(model, ratings, undefined, { epochs: 2, batchSize: 100, gibbsSteps: 1, batchLayout: layout }),
      { onEpoch: (e) => void seconds.push(e.seconds) },
    );
    try {
      await trainer.run();
      return seconds[1]!;
    } finally {
      trainer.dispose();
      model.dispose();
    }
  };
  const times: Record<BatchLayout, number[]> = { dense: [], sparse: [] };
  for (let r = 0; r < Number(o.repeats); r++)
    for (const layout of r % 2 ? (['sparse', 'dense'] as const) : (['dense', 'sparse'] as const))
      times[layout].push(await epoch(layout));
  const [d, s] = [median(times.dense), median(times.sparse)];
  rows.push({ density, ratings: ratings.user.length, dense: d, sparse: s, ratio: d / s });
  console.log(
    `density ${density}: ${ratings.user.length} ratings; epoch dense ${d.toFixed(2)} s, sparse ${s.toFixed(2)} s; dense / sparse ${(d / s).toFixed(2)}`,
  );
}
if (o.json) {
  const { writeFileSync } = await import('node:fs');
  writeFileSync(
    o.json,
    `${JSON.stringify({ backend: be.name, users: +o.users, items: +o.items, hidden: H, rows }, null, 2)}\n`,
  );
}
be.destroy();
