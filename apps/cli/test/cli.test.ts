import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createReferenceBackend,
  encodeModel,
  exactLogLikelihood,
  exactLogPartition,
  initialParameters,
  loadModel,
} from '@rbmjs/core';
import { readCheckpoint } from '@rbmjs/core/node';
import { describe, expect, it } from 'vitest';
import { argv, BIN, peerIt, rbm } from './helpers.js';

const tiny = ['--data', 'mnist', '--limit', '300', '--hidden', '8', '--epochs', '2', '--backend', 'js'];
/** `rbm eval MODEL` on the first 100 test images. */
const evalTest = (model: string) => ['eval', model, '--data', 'mnist', '--split', 'test', '--limit', '100'];

async function dir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'rbmjs-cli-'));
}

async function params(path: string) {
  return loadModel(createReferenceBackend(), new Uint8Array(await readFile(path))).model.parameters();
}

describe('rbm train and eval', () => {
  it('trains, writes the model and pictures, and eval --exact agrees with the core', async () => {
    const d = await dir();
    const out = join(d, 'model.safetensors');
    const train = await rbm(argv`train ${tiny} --seed 3 --out ${out} --json --validation 50`);
    expect(train.code, train.stderr).toBe(0);
    const lines = train.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.type)).toEqual(['epoch', 'epoch', 'summary']);
    expect(lines[0].reconstructionError).toBeGreaterThan(0);
    expect(typeof lines[1].freeEnergyGap).toBe('number');
    expect(lines[2].files).toEqual([out, join(d, 'model.filters.png'), join(d, 'model.curves.svg')]);
    expect(train.stderr).toMatch(/250 for training, 50 held out/);
    expect((await readFile(join(d, 'model.curves.svg'), 'utf8')).startsWith('<svg')).toBe(true);

    const evaluation = await rbm(argv`${evalTest(out)} --exact --json --backend js`);
    expect(evaluation.code, evaluation.stderr).toBe(0);
    const result = JSON.parse(evaluation.stdout);
    // The core's values, computed here independently in float64.
    const { model } = loadModel(createReferenceBackend(), new Uint8Array(await readFile(out)));
    const z = await exactLogPartition(model);
    expect(result.logZ).toBeCloseTo(z.logZ, 3);
    const { openData, loadAll } = await import('../src/data.js');
    const data = await loadAll(openData({ name: 'mnist', split: 'test', limit: 100, threshold: 0.5, seed: 0 }).source);
    const ll = await exactLogLikelihood(model, data, { logZ: z.logZ });
    expect(result.meanLogLikelihood).toBeCloseTo(ll.mean, 3);
    expect(result.meanLogLikelihood).toBeLessThan(0);
    expect(typeof result.pseudoLogLikelihood).toBe('number');
    expect(result.reconstructionError).toBeGreaterThan(0);
  }, 60_000);

  it('eval --ais estimates log Z with an interval, beside the exact value and a reverse run', async () => {
    const d = await dir();
    const out = join(d, 'm.safetensors');
    expect((await rbm(argv`train ${tiny} --out ${out}`)).code).toBe(0);
    const args = [...evalTest(out), '--pl', 'none', '--backend', 'js', '--json'];
    const r = await rbm(argv`${args} --exact --ais --ais-runs 50 --ais-schedule linear:500 --ais-reverse`);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(Math.abs(result.ais.logZ - result.logZ)).toBeLessThan(0.1);
    expect(result.ais.logZLow).toBeLessThan(result.ais.logZHigh);
    expect(Math.abs(result.ais.reverseLogZ - result.logZ)).toBeLessThan(0.2);
    // Without --exact, logZ and meanLogLikelihood come from AIS, with an interval.
    const a = JSON.parse((await rbm(argv`${args} --ais --ais-runs 50 --ais-schedule linear:500`)).stdout);
    expect(a.logZ).toBe(a.ais.logZ);
    expect(a.meanLogLikelihoodInterval[0]).toBeLessThanOrEqual(a.meanLogLikelihood);
    expect(a.meanLogLikelihoodInterval[1]).toBeGreaterThanOrEqual(a.meanLogLikelihood);
    const bad = await rbm(argv`${args} --ais --ais-schedule fast`);
    expect(bad.stderr).toMatch(/--ais-schedule "fast": use sm, sm:F \(F from 1 to 999 times its steps\) or linear:N/);
  }, 60_000);

  it('trains with parallel tempering and centring, and samples with tempering', async () => {
    const d = await dir();
    const out = join(d, 'pt.safetensors');
    const r = await rbm(argv`train ${tiny} --method pt --temperatures 4 --centering --out ${out} --json`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/PT-1 \(centred\)/);
    const info = JSON.parse((await rbm(argv`info ${out} --json`)).stdout);
    expect(info.hyperparameters.config.tempering.betas).toEqual([1, 0.7, 0.4, expect.closeTo(0.1, 12)]);
    const s = await rbm(argv`sample ${out} --chains 4 --steps 10 --tempering 3 --csv ${join(d, 's.csv')} --backend js`);
    expect(s.code, s.stderr).toBe(0);
    const bad = await rbm(argv`train ${tiny} --method pt --temperatures 1 --out ${join(d, 'x.safetensors')}`);
    expect(bad.stderr).toMatch(/--temperatures <n>' argument '1' is invalid. expected an integer >= 2/);
  }, 60_000);

  it('resumes PT with centring, FPCD (its fast weights), and Gaussian units with learned variances, exactly', async () => {
    const d = await dir();
    const rows = ['a,b,c,d'];
    let s = 3;
    for (let i = 0; i < 60; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      const c = i % 2 ? 1 : -1;
      rows.push([0, 1, 2, 3].map((k) => (c + ((s >>> (k * 8)) & 255) / 512 - 0.25).toFixed(4)).join(','));
    }
    const csv = join(d, 'real.csv');
    await writeFile(csv, rows.join('\n'));
    const jobs: string[][] = [
      [...tiny, '--method', 'pt', '--temperatures', '3', '--centering', '--chains', '20'],
      [...tiny, '--method', 'fpcd', '--chains', '20', '--fast-lr', '0.1', '--fast-decay', '0.9'],
      [
        '--data',
        csv,
        '--hidden',
        '3',
        '--batch',
        '10',
        '--visible',
        'gaussian',
        '--learn-variance',
        '--lr',
        '0.01',
        '--backend',
        'js',
      ],
    ];
    for (const [n, job] of jobs.entries()) {
      const straight = join(d, `straight${n}.safetensors`);
      const out = join(d, `resumed${n}.safetensors`);
      expect((await rbm(argv`train ${job} --epochs 4 --out ${straight} --no-pictures`)).code).toBe(0);
      const half = join(d, `half${n}.safetensors`);
      const first = await rbm(argv`train ${job} --epochs 2 --checkpoint-every 1 --out ${half} --no-pictures`);
      expect(first.code, first.stderr).toBe(0);
      const resumed = await rbm(
        argv`train --resume ${join(d, `half${n}.ckpt.safetensors`)} --epochs 4 --out ${out} --no-pictures --backend js`,
      );
      expect(resumed.code, resumed.stderr).toBe(0);
      const a = await params(out);
      const b = await params(straight);
      expect(Array.from(a.weights)).toEqual(Array.from(b.weights));
      expect(Array.from(a.logVariance ?? [])).toEqual(Array.from(b.logVariance ?? []));
    }
    const info = JSON.parse((await rbm(argv`info ${join(d, 'resumed2.safetensors')} --json`)).stdout);
    expect(info.model).toBe('gaussian-bernoulli');
  }, 90_000);

  it('never overwrites a model without --force', async () => {
    const d = await dir();
    const out = join(d, 'm.safetensors');
    await writeFile(out, 'precious');
    const r = await rbm(argv`train ${tiny} --out ${out}`);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`rbm: ${out} exists; use --force to replace it (the model file)\n`);
    expect(await readFile(out, 'utf8')).toBe('precious');
    expect((await rbm(argv`train ${tiny} --out ${out} --force`)).code).toBe(0);
  }, 30_000);

  it('trains on a CSV file with a header', async () => {
    const d = await dir();
    const rows = ['a,b,c,d'];
    for (let i = 0; i < 40; i++) rows.push(i % 2 ? '1,1,0,0' : '0,0,1,1');
    await writeFile(join(d, 'x.csv'), rows.join('\n'));
    const r = await rbm(
      argv`train --data ${join(d, 'x.csv')} --hidden 2 --epochs 3 --batch 8 --out ${join(d, 'x.safetensors')} --backend js`,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/x\.csv: 40 x 4, not binarised/);
    expect(existsSync(join(d, 'x.filters.png'))).toBe(false); // 4 units are not an image
  }, 30_000);
});

describe('checkpoints', () => {
  it('a run killed mid-training and resumed ends with the same parameters as an uninterrupted run', async () => {
    const d = await dir();
    const job = [
      '--data',
      'mnist',
      '--limit',
      '2000',
      '--hidden',
      '48',
      '--k',
      '3',
      '--method',
      'pcd',
      '--epochs',
      '10',
      '--momentum',
      '0.5',
      '--seed',
      '7',
      '--backend',
      'js',
      '--checkpoint-every',
      '1',
      '--no-pictures',
    ];
    const straight = await rbm(argv`train ${job} --out ${join(d, 'straight.safetensors')}`);
    expect(straight.code, straight.stderr).toBe(0);

    const out = join(d, 'killed.safetensors');
    const ckpt = join(d, 'killed.ckpt.safetensors');
    const child = spawn(process.execPath, [BIN, 'train', ...job, '--out', out], { stdio: 'ignore' });
    await new Promise<void>((resolve, reject) => {
      const poll = setInterval(() => {
        if (existsSync(ckpt)) {
          clearInterval(poll);
          child.kill('SIGKILL');
          resolve();
        }
      }, 5);
      child.on('exit', () => {
        clearInterval(poll);
        reject(new Error('training finished before it could be killed'));
      });
    });
    await new Promise((resolve) => child.on('exit', resolve));
    expect(existsSync(out)).toBe(false);
    const saved = await readCheckpoint<{ epochs: number }>(ckpt);
    expect(saved.state.epoch).toBeGreaterThanOrEqual(1);
    expect(saved.state.epoch).toBeLessThan(10);

    // Resuming with a flag that contradicts the checkpoint is refused.
    const wrong = await rbm(argv`train --resume --hidden 20 --out ${out}`);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/--hidden 20 differs from the checkpoint's 48/);

    const resumed = await rbm(argv`train --resume --out ${out} --backend js`);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(new RegExp(`resuming after epoch ${saved.state.epoch}`));
    // The kill can land between the checkpoint's hard link into place and the removal of its temporary file
    // (the first write of a run links, so that concurrent runs never share it): the resume then removes that
    // file, and nothing else.
    for (const line of resumed.stdout.split('\n').filter((l) => l.startsWith('removed ')))
      expect(line).toMatch(/^removed .*\/\.killed\.ckpt\.safetensors\.\d+\.\w+\.tmp, left by an interrupted write$/);
    const a = await params(out);
    const b = await params(join(d, 'straight.safetensors'));
    expect(Array.from(a.weights)).toEqual(Array.from(b.weights));
    expect(Array.from(a.visibleBias)).toEqual(Array.from(b.visibleBias));
    expect(Array.from(a.hiddenBias)).toEqual(Array.from(b.hiddenBias));
  }, 120_000);
});

describe('bad input: one line, non-zero exit, no stack trace', () => {
  it.each([
    [
      ['eval', '/nonexistent/m.safetensors', '--data', 'mnist'],
      1,
      /^rbm: \/nonexistent\/m\.safetensors: cannot read: no such file or directory\n$/,
    ],
    [
      ['train', '--data', '/nonexistent/x.idx', '--out', '/tmp/never.safetensors'],
      1,
      /^rbm: \/nonexistent\/x\.idx: cannot read: no such file or directory\n$/,
    ],
    [
      ['train', '--hidden', '-3'],
      2,
      /--hidden <n>' argument '-3' is invalid\. expected a positive integer, or a comma list of them for a stack \(500,500\), got "-3"/,
    ],
    [['train', '--lr', 'fast'], 2, /--lr <x>' argument 'fast' is invalid\. expected a finite number > 0, got "fast"/],
    [['train', '--method', 'magic'], 2, /argument 'magic' is invalid\. Allowed choices are cd, pcd/],
    [
      ['train', '--backend', 'quantum', '--out', '/tmp/never.safetensors', '--limit', '10'],
      2,
      /^rbm: unknown backend "quantum"/,
    ],
    [['frobnicate'], 2, /unknown command 'frobnicate'/],
  ])('rbm %j', async (args, code, message) => {
    const r = await rbm(args as string[]);
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('names wrong magic numbers, truncation, non-numeric CSV cells and mismatched dimensions', async () => {
    const d = await dir();
    const model = join(d, 'm.safetensors');
    await writeFile(model, encodeModel(initialParameters({ numVisible: 4, numHidden: 2 })));
    await writeFile(join(d, 'magic.idx'), Uint8Array.of(9, 9, 9, 9, 0, 0, 0, 0));
    await writeFile(join(d, 'short.idx'), Uint8Array.of(0, 0, 8, 2, 0, 0, 0, 5, 0, 0, 0, 4, 1, 2));
    await writeFile(join(d, 'cells.csv'), 'a,b,c,d\n0,1,0,1\n1,0,x,1\n');
    await writeFile(join(d, 'wide.csv'), '0,1,0,1,1\n');
    const cases: Array<[string[], RegExp]> = [
      [
        ['eval', model, '--data', join(d, 'magic.idx')],
        /magic\.idx: magic number 0x09090909 is not that of an IDX file/,
      ],
      [
        ['eval', model, '--data', join(d, 'short.idx')],
        /short\.idx: 14 bytes, but 5 rows of \[4\] unsigned bytes need 32 \(truncated or corrupt\)/,
      ],
      [['eval', model, '--data', join(d, 'cells.csv')], /cells\.csv: line 3, column 3: "x" is not a number/],
      [
        ['eval', model, '--data', join(d, 'wide.csv')],
        /wide\.csv: 5 values per example, the model .* has 4 visible units/,
      ],
      [
        ['eval', model, '--data', 'mnist', '--limit', '3'],
        /mnist:train: 784 values per example, the model .* has 4 visible units/,
      ],
    ];
    for (const [args, message] of cases) {
      const r = await rbm(args);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  }, 30_000);

  it('refuses hostile or corrupt model files and --exact on a model too large', async () => {
    const d = await dir();
    const hostile = new Uint8Array(16);
    new DataView(hostile.buffer).setBigUint64(0, 2n ** 60n, true);
    await writeFile(join(d, 'hostile.safetensors'), hostile);
    const good = encodeModel(initialParameters({ numVisible: 784, numHidden: 30 }));
    await writeFile(join(d, 'big.safetensors'), good);
    await writeFile(join(d, 'cut.safetensors'), good.subarray(0, good.length - 10));
    const h = await rbm(argv`info ${join(d, 'hostile.safetensors')}`);
    expect(h.code).toBe(1);
    expect(h.stderr).toMatch(
      /hostile\.safetensors: header length 1152921504606846976 exceeds the limit of 1048576 bytes/,
    );
    const c = await rbm(argv`info ${join(d, 'cut.safetensors')}`);
    expect(c.stderr).toMatch(/cut\.safetensors: truncated: tensors need \d+ bytes of data, the file has \d+/);
    const big = await rbm(argv`eval ${join(d, 'big.safetensors')} --data mnist --limit 5 --exact --backend js`);
    expect(big.code).toBe(1);
    expect(big.stderr).toMatch(
      /--exact: a 784-30 model needs 2\^30 states, more than --max-states 16777216; use --ais/,
    );
  }, 30_000);
});

describe('rbm sample, info, backends, bench', () => {
  it('samples to PNG and CSV, describes the model, lists backends and benchmarks two of them', async () => {
    const d = await dir();
    const model = join(d, 'm.safetensors');
    expect((await rbm(argv`train ${tiny} --out ${model}`)).code).toBe(0);
    const s = await rbm(
      argv`sample ${model} --chains 4 --steps 20 --png ${join(d, 's.png')} --csv ${join(d, 's.csv')}`,
    );
    expect(s.code, s.stderr).toBe(0);
    const csv = (await readFile(join(d, 's.csv'), 'utf8')).trim().split('\n');
    expect(csv).toHaveLength(4);
    expect(csv[0]!.split(',')).toHaveLength(784);
    expect(csv.every((l) => /^[01](,[01])*$/.test(l))).toBe(true);

    const info = JSON.parse((await rbm(argv`info ${model} --json`)).stdout);
    expect([info.numVisible, info.numHidden, info.hyperparameters.hidden]).toEqual([784, 8, 8]);
    expect(info.provenance.backend).toBe('js');

    const backends = JSON.parse((await rbm(argv`backends --json`)).stdout).backends;
    expect(backends.find((b: { name: string }) => b.name === 'js').ok).toBe(true);
    const find = (name: string) => backends.find((b: { name: string }) => b.name === name);
    expect(find('tfjs:wasm').ok).toBe(true);
    expect(find('gpujs:webasm').ok).toBe(true);
    expect(find('gpujs:cpu').detail).toMatch(/^float32, randomness host, mode: cpu/);
    expect(find('gpujs:webgpu').ok || /WebGPU|webgpu/.test(find('gpujs:webgpu').detail)).toBe(true);
    if (!find('tfjs:node').ok) expect(find('tfjs:node').install).toMatch(/npm i @tensorflow\/tfjs-node/);

    const bench = await rbm(
      argv`bench --limit 200 --hidden 8 --repeats 1 --backends js,tfjs:wasm,onnxruntime:cpu,nope --peer none
        --gemm 128 --json`,
    );
    expect(bench.code, bench.stderr).toBe(0);
    const summary = JSON.parse(bench.stdout);
    const results = summary.results;
    expect(results.map((r: { backend: string }) => r.backend)).toEqual(['js', 'tfjs:wasm', 'onnxruntime:cpu', 'nope']);
    for (const r of results.slice(0, 3)) {
      expect(r.secondsPerEpoch).toBeGreaterThan(0);
      expect(r.minSeconds).toBeLessThanOrEqual(r.secondsPerEpoch);
      // The figure beside its limit: the epoch's FLOPs over its time, as a share of the best GEMM rate measured.
      expect(r.gflops).toBeCloseTo(summary.flopsPerEpoch / r.secondsPerEpoch / 1e9, 6);
      expect(r.fractionOfLimit).toBeCloseTo(r.gflops / summary.gemm.limit, 6);
    }
    // 200 rows of 784, 8 hidden, CD-1: five products of 200 x 784 x 8.
    expect(summary.flopsPerEpoch).toBe(2 * 200 * 784 * 8 * 5);
    expect(summary.gemm.rates.map((g: { name: string }) => g.name)).toEqual(['js', 'tfjs:wasm', 'onnxruntime:cpu']);
    expect(summary.loadAverage.cores).toBeGreaterThan(0);
    // What other processes used while it ran (Linux): CPU seconds of the machine less this run's own.
    expect(summary.loadAverage.otherProcessesCores).toBeGreaterThanOrEqual(0);
    expect(summary.loadAverage.underLoad).toBe(summary.loadAverage.otherProcessesCores >= 0.25);
    expect(results[3].error).toMatch(/unknown backend/);
    expect(bench.stderr).toMatch(/\| js \| [\d.]+ \| [\d.]+ \| \d+% \| [\d.]+ \| [\d.]+ \| \d+% \| [\d.]+x \|/);
    expect(bench.stderr).toMatch(/GEMM rate \(128 x 128 x 128 float32, best of 3\): js [\d.]+, /);
    expect(bench.stderr).toMatch(/load average \(1 min\): [\d.]+ before, [\d.]+ after, \d+ cores/);
  }, 60_000);

  // The PyTorch peer: required where CI installs python3-torch (RBMJS_REQUIRE_PEER=1), else skipped with why.
  const peerTest = peerIt(['torch', 'numpy']);
  peerTest(
    'times PyTorch on the same rows in the same run, and gives ratios to it',
    async () => {
      const args = [
        'bench',
        '--limit',
        '300',
        '--hidden',
        '16',
        '--repeats',
        '2',
        '--backends',
        'onnxruntime:cpu',
        '--json',
      ];
      const bench = await rbm(argv`${args} --peer torch --method pcd --peer-threads 1x1,1x2 --gemm 256`);
      expect(bench.code, bench.stderr).toBe(0);
      const out = JSON.parse(bench.stdout);
      // The peer warm in one process, its thread settings searched (the better of two warm runs each), the two
      // fastest timed in every round, the one with the lower median the reference.
      expect(
        out.peerSearch.map((x: { torchThreads: number; blasThreads: number }) => [x.torchThreads, x.blasThreads]),
      ).toEqual([
        [1, 1],
        [1, 2],
      ]);
      for (const x of out.peerSearch) expect(x.seconds).toBeGreaterThan(0);
      type Timed = { torchThreads: number; blasThreads: number; times: number[]; median: number };
      expect(out.peerTimed).toHaveLength(2);
      for (const x of out.peerTimed as Timed[]) expect(x.times).toHaveLength(2);
      const best = (out.peerTimed as Timed[]).reduce((a, b) => (b.median < a.median ? b : a));
      expect(out.reference).toBe(
        `PyTorch ${out.reference.split(' ')[1]} CPU, torch 1 x OpenBLAS ${best.blasThreads} thread${best.blasThreads === 1 ? '' : 's'}`,
      );
      const [ours, peer, ...more] = out.results;
      expect(more).toEqual([]);
      expect(ours.backend).toBe('onnxruntime:cpu');
      expect(peer.kind).toBe('peer');
      expect(peer.ratio).toBe(1);
      expect(ours.times).toHaveLength(2);
      expect(peer.times).toHaveLength(2);
      expect(ours.ratio).toBeCloseTo(ours.secondsPerEpoch / peer.secondsPerEpoch, 10);
      // The GEMM rate of the backend and of each peer setting; the limit is the best.
      expect(out.gemm.rates.map((g: { name: string }) => g.name)).toEqual([
        'PyTorch, torch 1 x OpenBLAS 1 thread',
        'PyTorch, torch 1 x OpenBLAS 2 threads',
        'onnxruntime:cpu',
      ]);
      expect(out.gemm.limit).toBe(Math.max(...out.gemm.rates.map((g: { gflops: number }) => g.gflops)));
      expect(bench.stderr).toMatch(
        /\| backend \| s\/epoch \| min \| spread \| ms\/step \| GFLOP\/s \| of the limit \| ratio to PyTorch/,
      );
      expect(bench.stderr).toMatch(
        /PyTorch thread search \(the better of two warm runs each; the two fastest then timed, the lower median counts\): torch 1 x OpenBLAS 1 thread [\d.]+ s; torch 1 x OpenBLAS 2 threads [\d.]+ s/,
      );
      // A Python without torch: a clear error with --peer torch, a note and the backends alone with auto.
      const missing = await rbm(argv`${args} --peer torch --python /nonexistent/python3`);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/PyTorch peer cannot run: \/nonexistent\/python3 cannot import torch/);
      const auto = await rbm(argv`${args} --python /nonexistent/python3`);
      expect(auto.code, auto.stderr).toBe(0);
      expect(auto.stderr).toMatch(/PyTorch peer not run/);
      expect(JSON.parse(auto.stdout).results).toHaveLength(1);
    },
    120_000,
  );
});
