import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatRatings, holdoutSplit, parseRatings, syntheticRatings } from '@rbmjs/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { argv, PYTHON, peerIt, rbm } from './helpers.js';

/**
 * Collaborative filtering end to end on generated ratings (MovieLens may not be redistributed): train with a
 * holdout, recommend, evaluate, describe, checkpoint and resume; bad files and flags.
 */

let dir: string;
let csv: string;
const syn = syntheticRatings({ users: 300, items: 40, density: 0.4, seed: 7 });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rbm-ratings-'));
  // A generic user,item,rating CSV with a header and string ids (not MovieLens' integers).
  const r = syn.ratings;
  const lines = ['user,item,rating'];
  for (let k = 0; k < r.user.length; k++)
    lines.push(`user${r.users[r.user[k]!]},film-${r.items[r.item[k]!]},${r.level[k]! + 1}`);
  csv = join(dir, 'ratings.csv');
  await writeFile(csv, `${lines.join('\n')}\n`);
});

/** The generated ratings split 90/10 (seed 3), written as `NAME.base` and `NAME.test` (MovieLens' naming). */
function splitFiles(name: string) {
  const { train, test } = holdoutSplit(syn.ratings, 0.1, 3);
  const [trainPath, testPath] = [join(dir, `${name}.base`), join(dir, `${name}.test`)];
  writeFileSync(trainPath, formatRatings(train));
  writeFileSync(testPath, formatRatings(test));
  return { test, trainPath, testPath };
}

describe('rbm train --ratings, rbm recommend', () => {
  it('trains with --holdout, prints held-out RMSE each epoch, and recommends only unrated items with the file ids', async () => {
    const model = join(dir, 'cf.safetensors');
    const t = await rbm(
      argv`train --ratings ${csv} --holdout 0.1 --epochs 30 --hidden 20 --lr 0.1 --out ${model} --json --backend js`,
      { timeoutMs: 120_000 },
    );
    expect(t.stderr).toMatch(/ratings of 40 items by 300 users/);
    expect(t.code).toBe(0);
    const events = t.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(events.filter((e) => e.epoch !== undefined)).toHaveLength(30);
    for (const e of events.filter((x) => x.epoch !== undefined)) expect(e.rmse).toBeGreaterThan(0);
    const summary = events.at(-1).summary;
    expect(summary.model).toBe(model);
    expect(summary.rmse).toBeLessThan(1.1);

    const text = readFileSync(csv, 'utf8');
    const ratings = parseRatings(text);
    const ids = new Set(ratings.items);
    for (const user of ['user1', 'user42', 'user300']) {
      const r = await rbm(argv`recommend ${model} --user ${user} --top 5 --json --backend js`);
      expect(r.code).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(out.user).toBe(user);
      expect(out.items).toHaveLength(5);
      const u = ratings.users.indexOf(user);
      const rated = new Set(
        Array.from(ratings.item.subarray(ratings.userStart[u]!, ratings.userStart[u + 1]!), (i) => ratings.items[i]),
      );
      for (const { item, rating } of out.items) {
        // Every id printed is one of the file's; none the user rated (held-out ratings included).
        expect(ids.has(item)).toBe(true);
        expect(rated.has(item)).toBe(false);
        expect(rating).toBeGreaterThanOrEqual(1);
        expect(rating).toBeLessThanOrEqual(5);
      }
    }
    // New ratings for the user: an item they now rated is no longer recommended.
    const first = JSON.parse((await rbm(argv`recommend ${model} --user user1 --top 1 --json --backend js`)).stdout)
      .items[0].item;
    const extra = join(dir, 'new.csv');
    await writeFile(extra, `user1,${first},1\n`);
    const after = JSON.parse(
      (await rbm(argv`recommend ${model} --user user1 --top 5 --ratings ${extra} --json --backend js`)).stdout,
    );
    expect(after.items.map((x: { item: string }) => x.item)).not.toContain(first);

    const info = await rbm(argv`info ${model} --json`);
    const described = JSON.parse(info.stdout);
    expect(described).toMatchObject({
      model: 'collaborative',
      users: 300,
      items: 40,
      levels: [1, 2, 3, 4, 5],
      numHidden: 20,
    });
    const missing = await rbm(argv`recommend ${model} --user nobody --backend js`);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/user "nobody" is not in/);
  }, 180_000);

  it('--test FILE, rbm eval --ratings, and a run resumed from a checkpoint that ends like one straight run', async () => {
    const { test, trainPath, testPath } = splitFiles('u1');
    const common = [
      '--ratings',
      trainPath,
      '--test',
      testPath,
      '--hidden',
      '10',
      '--lr',
      '0.1',
      '--backend',
      'js',
      '--json',
    ];
    const straight = join(dir, 'straight.safetensors');
    const a = await rbm(argv`train ${common} --epochs 4 --out ${straight}`);
    expect(a.code).toBe(0);
    const split = join(dir, 'split.safetensors');
    const b1 = await rbm(argv`train ${common} --epochs 4 --checkpoint-every 2 --out ${split}`);
    expect(b1.code).toBe(0);
    // The checkpoint is from epoch 2: resume it for the last 2 epochs.
    const b2 = await rbm(
      argv`train --ratings ${trainPath} --resume ${join(dir, 'split.ckpt.safetensors')} --out ${split} --force --json --backend js`,
    );
    expect(b2.code).toBe(0);
    const epochs = b2.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((e) => e.epoch !== undefined);
    expect(epochs.map((e) => e.epoch)).toEqual([3, 4]);
    const scores = await Promise.all(
      [straight, split].map(async (m) =>
        JSON.parse((await rbm(argv`eval ${m} --ratings ${testPath} --json --backend js`)).stdout),
      ),
    );
    expect(scores[1].rmse).toBeCloseTo(scores[0].rmse, 6);
    expect(scores[0].count).toBe(test.user.length);
  }, 180_000);

  it('without --early-stop, the file holds the best held-out epoch: rbm eval gives the RMSE rbm info states', async () => {
    const { trainPath, testPath } = splitFiles('best');
    const model = join(dir, 'best.safetensors');
    const t = await rbm(
      argv`train --ratings ${trainPath} --test ${testPath} --hidden 30 --epochs 20 --lr 0.5 --backend js --json --out ${model}`,
    );
    expect(t.code, t.stderr).toBe(0);
    const rmses = t.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((e) => e.epoch !== undefined)
      .map((e) => e.rmse as number);
    const best = rmses.indexOf(Math.min(...rmses));
    // The case that matters: the last epoch is not the best (at this rate the RMSE wanders).
    expect(best).toBeLessThan(rmses.length - 1);
    const info = JSON.parse((await rbm(argv`info ${model} --json`)).stdout);
    expect(info.validation.epoch).toBe(best + 1);
    const scored = JSON.parse((await rbm(argv`eval ${model} --ratings ${testPath} --json --backend js`)).stdout);
    expect(scored.rmse).toBeCloseTo(info.validation.rmse, 5);
    expect(scored.rmse).toBeCloseTo(rmses[best]!, 5);
  }, 120_000);

  it('--batch-layout sparse trains as dense does (the same held-out RMSE each epoch) and says which it used', async () => {
    const { trainPath, testPath } = splitFiles('layout');
    const runs: number[][] = [];
    for (const layout of ['dense', 'sparse']) {
      const model = join(dir, `layout-${layout}.safetensors`);
      const t = await rbm(
        argv`train --ratings ${trainPath} --test ${testPath} --hidden 20 --epochs 4 --k 2 --conditional --batch-layout ${layout} --backend js --json --out ${model}`,
      );
      expect(t.code, t.stderr).toBe(0);
      expect(t.stderr).toContain(`; ${layout} batches;`);
      runs.push(
        t.stdout
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l))
          .filter((e) => e.epoch !== undefined)
          .map((e) => e.rmse as number),
      );
    }
    expect(runs[1]).toHaveLength(4);
    runs[1]!.forEach((r, k) => {
      expect(r).toBeCloseTo(runs[0]![k]!, 4);
    });
    // Generated ratings at 40% density: auto keeps the dense layout.
    const auto = await rbm(
      argv`train --ratings ${trainPath} --epochs 1 --hidden 5 --backend js --json --out ${join(dir, 'auto.safetensors')}`,
    );
    expect(auto.stderr).toContain('; dense batches;');
  }, 120_000);

  it('says when it takes a first line as a header; warns when --test holds the training ratings themselves', async () => {
    const r = await rbm(
      argv`train --ratings ${csv} --test ${csv} --epochs 1 --backend js --out ${join(dir, 'same.safetensors')}`,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/ratings\.csv: took line 1 as a header: "user,item,rating"/);
    expect(r.stderr).toMatch(/holds the same ratings as .*ratings\.csv: the "held-out" RMSE is the training RMSE/);
  });

  it('a --test file with no rating of a known item is refused before training, naming it', async () => {
    const unknown = join(dir, 'unknown.test');
    await writeFile(unknown, 'user1,no-such-film,3\nuser2,nor-this,4\n');
    const r = await rbm(
      argv`train --ratings ${csv} --test ${unknown} --epochs 2 --backend js --out ${join(dir, 'nan.safetensors')}`,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /unknown\.test: none of its 2 ratings is of an item that .*ratings\.csv has; no held-out RMSE can be computed/,
    );
    expect(r.stdout).not.toMatch(/epoch/);
  });

  it("--no-evidence saves no ratings, and recommend asks for them; --all --out writes each user's top items as --user gives them", async () => {
    const { trainPath } = splitFiles('serve');
    const [model, bare, recs] = ['serve.safetensors', 'serve-bare.safetensors', 'recs.csv'].map((f) => join(dir, f));
    const common = argv`--ratings ${trainPath} --epochs 3 --hidden 8 --seed 1 --backend js`;
    expect((await rbm(argv`train ${common} --out ${model}`, { timeoutMs: 120_000 })).code).toBe(0);
    const saved = await rbm(argv`train ${common} --no-evidence --out ${bare}`, { timeoutMs: 120_000 });
    expect(saved.code).toBe(0);
    expect(saved.stdout).toMatch(/holds no ratings \(--no-evidence\): rbm recommend needs each user's ratings/);
    const train = parseRatings(readFileSync(trainPath, 'utf8'));
    // 5 bytes a rating (an item and a level) and the offsets: what --no-evidence leaves out.
    const saving = readFileSync(model).length - readFileSync(bare).length;
    expect(saving).toBeGreaterThanOrEqual(5 * train.user.length);
    expect(saving).toBeLessThan(5 * train.user.length + 4 * (train.users.length + 1) + 400); // and their header entries

    const user = train.users[5]!;
    const refused = await rbm(argv`recommend ${bare} --user ${user} --backend js`);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/holds no ratings \(it was saved with --no-evidence\).*--ratings FILE/);
    const own = JSON.parse((await rbm(argv`recommend ${model} --user ${user} --top 4 --json --backend js`)).stdout);
    const given = await rbm(argv`recommend ${bare} --user ${user} --top 4 --ratings ${trainPath} --json --backend js`);
    expect(JSON.parse(given.stdout)).toEqual(own);

    const all = await rbm(argv`recommend ${model} --all --top 4 --out ${recs} --batch 64 --json --backend js`);
    expect(all.code).toBe(0);
    expect(JSON.parse(all.stdout)).toMatchObject({ out: recs, users: train.users.length, top: 4 });
    const lines = readFileSync(recs, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('user,rank,item,rating');
    expect(lines).toHaveLength(1 + 4 * train.users.length);
    const mine = lines.filter((l) => l.startsWith(`${user},`)).map((l) => l.split(','));
    expect(mine.map((c) => c[2])).toEqual(own.items.map((x: { item: string }) => x.item));
    mine.forEach((c, k) => {
      expect(c[1]).toBe(String(k + 1));
      expect(Number(c[3])).toBeCloseTo(own.items[k].rating, 3);
    });
    for (const [args, code, message] of [
      [argv`--user ${user} --all --out ${recs}`, 2, /give --user ID, or --all with --out FILE/],
      [argv`--all`, 2, /--all writes a CSV file: give --out FILE/],
      [argv`--user ${user} --out ${recs}`, 2, /--out goes with --all/],
      [argv`--all --out ${recs}`, 1, /exists/],
    ] as const) {
      const x = await rbm(argv`recommend ${model} ${args} --backend js`);
      expect([x.code, x.stderr]).toEqual([code, expect.stringMatching(message)]);
    }
  }, 300_000);

  it('refuses bad files and flags with what is wrong', async () => {
    const bad = join(dir, 'bad.tsv');
    await writeFile(bad, '1\t2\t5\n1\t3\t4\n2\t2\tfive\n');
    const r = await rbm(argv`train --ratings ${bad} --out ${join(dir, 'x.safetensors')}`);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/bad.tsv: line 3, column 3: rating "five" is not a number/);
    const dup = join(dir, 'dup.tsv');
    await writeFile(dup, '1\t2\t5\n1\t3\t4\n1\t2\t3\n');
    expect((await rbm(argv`train --ratings ${dup} --out ${join(dir, 'x.safetensors')}`)).stderr).toMatch(
      /line 3: user "1" rated item "2" before, on line 1/,
    );
    const scale = await rbm(argv`train --ratings ${dup} --levels 1:4 --out ${join(dir, 'x.safetensors')}`);
    expect(scale.stderr).toMatch(/line 1, column 3: rating 5 is not one of the levels 1, 2, 3, 4/);
    const fifo = join(dir, 'fifo');
    if (spawnSync('mkfifo', [fifo]).status === 0) {
      const f = await rbm(argv`train --ratings ${fifo} --out ${join(dir, 'x.safetensors')}`, { timeoutMs: 20_000 });
      expect(f.timedOut).toBe(false);
      expect(f.stderr).toMatch(/FIFO/i);
    }
    for (const [args, message] of [
      [['--method', 'pcd'], /--method is not an option of the collaborative-filtering RBM/],
      [['--objective', 'discriminative'], /--objective is not an option of the collaborative-filtering RBM/],
      [['--validation', '10'], /--validation is not an option of the collaborative-filtering RBM/],
      [['--pretrain-epochs', '2'], /--pretrain-epochs is not an option of the collaborative.*--dbm/],
      [['--early-stop', '3'], /--early-stop needs held-out ratings/],
      [['--hidden', '10,10'], /--hidden one size/],
      [['--holdout', '1.5'], /--holdout/],
    ] as const) {
      const x = await rbm(argv`train --ratings ${csv} ${args} --out ${join(dir, 'x.safetensors')}`);
      expect(x.code).toBe(2);
      expect(x.stderr).toMatch(message);
    }
  }, 60_000);
});

describe('the baselines peer', () => {
  peerIt(['numpy'])(
    'apps/cli/peers/cf_baselines.py prints the global mean, item mean, biases and MF on the same split',
    () => {
      const { test, trainPath, testPath } = splitFiles('peer');
      const p = spawnSync(PYTHON, [join(import.meta.dirname, '..', 'peers', 'cf_baselines.py'), trainPath, testPath], {
        encoding: 'utf8',
      });
      expect(p.status).toBe(0);
      const out = JSON.parse(p.stdout);
      expect(out.test).toBe(test.user.length);
      const b = out.baselines;
      // Each baseline uses more of the data's structure than the one before; the last is near the generator's floor.
      expect(b['item mean'][0]).toBeLessThan(b['global mean'][0]);
      expect(b.biases[0]).toBeLessThan(b['item mean'][0]);
      expect(b['matrix factorisation (biased ALS)'][0]).toBeLessThan(b.biases[0]);
      expect(b['matrix factorisation (biased ALS)'][0]).toBeLessThan(1.25 * syn.noiseFloor(test));
    },
    120_000,
  );
});
