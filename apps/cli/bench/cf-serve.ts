// Serving a large recommender: the load of a model file (reported apart), then `recommend` for 100 users spread
// over the file (its median, 90th percentile and worst), as `rbm recommend --user` answers once loaded; and the
// same for a model saved without its ratings (--no-evidence), each user's ratings given as `--ratings` gives
// them; and the held-out pass training monitors, on the host and (scaled) on the device. The model: cf-netflix.ts
// --out PREFIX (a sparse epoch over the 100-million-rating set).
//
//   node --conditions=@rbmjs/source --import tsx apps/cli/bench/cf-serve.ts --model PREFIX [--json out.json]
import { statSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CollaborativeRBM, predictQueries, ratingsFromIndices, selectRatings, setMemoryBudget } from '@rbmjs/core';
import { readCollaborativeFile } from '@rbmjs/core/node';
import { startBackend } from '../src/backends.js';

const { values: o } = parseArgs({
  options: {
    model: { type: 'string' },
    backend: { type: 'string', default: 'onnxruntime:cpu' },
    users: { type: 'string', default: '100' },
    'dense-users': { type: 'string', default: '2000' },
    json: { type: 'string' },
  },
});
if (!o.model) throw new Error('--model PREFIX: the prefix cf-netflix.ts --out wrote');
setMemoryBudget(6 * 1024 ** 3);
const be = await startBackend(o.backend);
const ms = (t0: number) => performance.now() - t0;
const summary = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[s.length >> 1]!, p90: s[Math.floor(0.9 * s.length)]!, max: s.at(-1)! };
};
const fmt = (x: { median: number; p90: number; max: number }) =>
  `median ${x.median.toFixed(1)} ms, 90th percentile ${x.p90.toFixed(1)} ms, worst ${x.max.toFixed(1)} ms`;

let t0 = performance.now();
const path = `${o.model}.safetensors`;
const file = await readCollaborativeFile(path);
const cf = CollaborativeRBM.fromFile(be, file);
const load = ms(t0) / 1000;
const r = file.ratings!;
const n = Number(o.users);
const picks = Array.from({ length: n }, (_, k) => Math.floor(((k + 0.5) * r.users.length) / n));
console.log(
  `loaded ${path} (${(statSync(path).size / 1e9).toFixed(2)} GB: ${r.user.length} ratings, ${r.users.length} users, ${r.items.length} items) in ${load.toFixed(1)} s`,
);
const times: number[] = [];
const rated: number[] = [];
for (const u of picks) {
  t0 = performance.now();
  await cf.recommend(r.users[u]!, 10);
  times.push(ms(t0));
  rated.push(r.userStart[u + 1]! - r.userStart[u]!);
}
const withEvidence = summary(times);
console.log(
  `recommend (top 10, mean field) for ${n} users of ${Math.min(...rated)} to ${Math.max(...rated)} ratings: ${fmt(withEvidence)}`,
);

// Without evidence: each user's ratings come with the request (rbm recommend --ratings FILE).
const bare = `${o.model}-no-evidence.safetensors`;
t0 = performance.now();
const bareFile = await readCollaborativeFile(bare);
const bareCf = CollaborativeRBM.fromFile(be, bareFile);
const bareLoad = ms(t0) / 1000;
console.log(`loaded ${bare} (${(statSync(bare).size / 1e6).toFixed(1)} MB) in ${bareLoad.toFixed(2)} s`);
const bareTimes: number[] = [];
for (const u of picks) {
  const [s, e] = [r.userStart[u]!, r.userStart[u + 1]!];
  const own = ratingsFromIndices(
    { users: [r.users[u]!], items: r.items, levels: r.levels },
    new Int32Array(e - s),
    r.item.subarray(s, e),
    r.level.subarray(s, e),
  );
  t0 = performance.now();
  const { view } = bareCf.withRatings(own);
  await view.recommend(r.users[u]!, 10);
  bareTimes.push(ms(t0));
  view.dispose();
}
const noEvidence = summary(bareTimes);
console.log(`the same users, their ratings given with the request: ${fmt(noEvidence)}`);

// The held-out pass (as training monitors it each epoch): every 70th rating asked (1.4 million pairs, the size of
// Netflix's probe set), each user's ratings the evidence; on the host, and the device's dense pass on the pairs
// of the first --dense-users users, scaled.
const queries = selectRatings(r, (k) => k % 70 === 0);
t0 = performance.now();
await predictQueries(cf.model, r, queries, { on: 'host' });
const heldOutHost = ms(t0) / 1000;
const few = Number(o['dense-users']);
const someQueries = selectRatings(queries, (k) => queries.user[k]! < few);
t0 = performance.now();
await predictQueries(cf.model, r, someQueries, { on: 'device' });
const heldOutDense = ((ms(t0) / 1000) * queries.user.length) / someQueries.user.length;
console.log(
  `held-out pass over ${queries.user.length} pairs: ${heldOutHost.toFixed(1)} s on the host; the dense device pass, scaled from the first ${few} users' ${someQueries.user.length} pairs: ${heldOutDense.toFixed(0)} s`,
);
if (o.json)
  writeFileSync(
    o.json,
    `${JSON.stringify({ backend: be.name, model: path, ratings: r.user.length, users: n, loadSeconds: load, recommendMs: withEvidence, noEvidenceLoadSeconds: bareLoad, noEvidenceRecommendMs: noEvidence, heldOutPairs: queries.user.length, heldOutHostSeconds: heldOutHost, heldOutDenseScaledSeconds: heldOutDense }, null, 2)}\n`,
  );
cf.dispose();
bareCf.dispose();
be.destroy();
