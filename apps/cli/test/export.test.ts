import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  type CollaborativeParameters,
  decodeCollaborative,
  decodeNpy,
  encodeDbm,
  encodeDbn,
  encodeModel,
  type RbmParameters,
} from '@rbmjs/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadAll, openData } from '../src/data.js';
import { argv, PYTHON, peerIt, rbm } from './helpers.js';

/**
 * `rbm export --onnx` and `--sklearn`, `rbm import --sklearn`, verified outside rbmjs: each exported file is
 * run by onnxruntime-node in a process of its own (fixtures/onnx/run.mjs) and checked by Debian's python3-onnx
 * (onnx.checker, full check), and its outputs are compared with what `rbm transform`, `rbm predict`,
 * `rbm recommend` and `rbm eval --ratings` print for the same inputs, and with float64 formulas.
 */

const RUNNER = join(import.meta.dirname, 'fixtures', 'onnx', 'run.mjs');
const USING = join(import.meta.dirname, '..', '..', '..', 'docs', 'using.md');

/** The fenced block after `<!-- snippet: NAME -->` in docs/using.md: the tests run the docs' own code. */
function snippet(name: string): string {
  const m = new RegExp(`<!-- snippet: ${name} -->\\n\`\`\`\\w+\\n([\\s\\S]*?)\`\`\``).exec(readFileSync(USING, 'utf8'));
  if (!m) throw new Error(`docs/using.md has no snippet ${name}`);
  return m[1]!;
}

/** A folder whose node_modules has onnxruntime-node and onnxruntime-web, for the docs' snippets. */
async function snippetFolder(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'rbm-snippet-'));
  mkdirSync(join(d, 'node_modules'));
  const node = dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json'));
  symlinkSync(node, join(d, 'node_modules', 'onnxruntime-node'));
  // onnxruntime-web, as backend-onnxruntime installs it (its exports hide package.json from resolve).
  const web = join(
    import.meta.dirname,
    '..',
    '..',
    '..',
    'packages',
    'backend-onnxruntime',
    'node_modules',
    'onnxruntime-web',
  );
  symlinkSync(realpathSync(web), join(d, 'node_modules', 'onnxruntime-web'));
  return d;
}

/**
 * Runs docs/using.md's snippet `name`, as written there, in folder `d` (which holds model.onnx, and pixels.bin:
 * 1,000 digits as float32), after `preamble`; returns the features it computed.
 */
function runSnippet(d: string, name: 'onnx-node' | 'onnx-web', preamble = ''): Float32Array {
  const code = `import { readFileSync, writeFileSync } from 'node:fs';
const pixels = new Float32Array(new Uint8Array(readFileSync('pixels.bin')).buffer);
const rows = 1000;
${preamble}
${snippet(name)}
writeFileSync('${name}.bin', features.data);`;
  writeFileSync(join(d, `${name}.mjs`), code);
  const s = spawnSync(process.execPath, [`${name}.mjs`], { cwd: d, encoding: 'utf8' });
  expect(s.status, s.stderr).toBe(0);
  return new Float32Array(new Uint8Array(readFileSync(join(d, `${name}.bin`))).buffer);
}

const onnxIt = peerIt(['onnx']);
const sklearnIt = peerIt(['sklearn', 'numpy']);
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rbm-export-'));
});

/** A seeded stream of uniforms (mulberry32), for parameters and data. */
function uniforms(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomArray(n: number, scale: number, rnd: () => number, offset = 0): Float32Array {
  return Float32Array.from({ length: n }, () => offset + scale * (2 * rnd() - 1));
}

function rbmParameters(nv: number, nh: number, seed: number, extra: Partial<RbmParameters> = {}): RbmParameters {
  const rnd = uniforms(seed);
  return {
    numVisible: nv,
    numHidden: nh,
    weights: randomArray(nv * nh, 1, rnd),
    visibleBias: randomArray(nv, 1, rnd),
    hiddenBias: randomArray(nh, 1, rnd),
    ...extra,
  };
}

/** Rows of random bits (from `seed`) as a header-less CSV file and as numbers. */
function bitsFile(name: string, rows: number, cols: number, seed: number): number[][] {
  const rnd = uniforms(seed);
  return dataFile(name, rows, cols, () => (rnd() < 0.5 ? 1 : 0));
}

/** Rows of data as a header-less CSV file and as numbers. */
function dataFile(name: string, rows: number, cols: number, value: (r: number, c: number) => number): number[][] {
  const data = Array.from({ length: rows }, (_, r) => Array.from({ length: cols }, (_, c) => value(r, c)));
  writeFileSync(join(dir, name), `${data.map((row) => row.join(',')).join('\n')}\n`);
  return data;
}

interface OnnxRun {
  inputNames: string[];
  outputNames: string[];
  outputs: Record<string, { dims: number[]; type: string; data: number[] }>;
}

/** Runs an ONNX file in a separate node process with onnxruntime-node. */
function runOnnx(model: string, inputs: Record<string, number[][]>): OnnxRun {
  const feeds: Record<string, { dims: number[]; data: number[] }> = {};
  for (const [name, rows] of Object.entries(inputs))
    feeds[name] = { dims: [rows.length, rows[0]!.length], data: rows.flat() };
  const input = join(dir, 'onnx-in.json');
  const output = join(dir, 'onnx-out.json');
  writeFileSync(input, JSON.stringify(feeds));
  const r = spawnSync(process.execPath, [RUNNER, model, input, output], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`onnxruntime-node failed: ${r.stderr}`);
  return JSON.parse(readFileSync(output, 'utf8')) as OnnxRun;
}

/** onnx.checker.check_model(full_check=True) in Debian's python3-onnx; returns the outputs' names. */
function checkWithPython(model: string): string[] {
  const code = `import onnx, sys, json
m = onnx.load(sys.argv[1])
onnx.checker.check_model(m, full_check=True)
assert m.opset_import[0].version == 17
print(json.dumps([o.name for o in m.graph.output]))`;
  const r = spawnSync(PYTHON, ['-c', code, model], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`onnx.checker refused ${model}: ${r.stderr}`);
  return JSON.parse(r.stdout) as string[];
}

/** The ONNX file's metadata_props, as python3-onnx reads them. */
function onnxMetadata(model: string): Record<string, string> {
  const code =
    'import onnx, sys, json; print(json.dumps({p.key: p.value for p in onnx.load(sys.argv[1]).metadata_props}))';
  const r = spawnSync(PYTHON, ['-c', code, model], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as Record<string, string>;
}

async function exportOnnx(model: string, out: string, ...flags: string[]): Promise<void> {
  const r = await rbm(argv`export ${model} --onnx ${out} --force ${flags}`);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
}

/** A model file's `bytes` written as NAME.safetensors and exported to NAME.onnx (with `flags`): the two paths. */
async function exported(name: string, bytes: Uint8Array, ...flags: string[]): Promise<{ model: string; onnx: string }> {
  const model = join(dir, `${name}.safetensors`);
  writeFileSync(model, bytes);
  const onnx = join(dir, `${name}.onnx`);
  await exportOnnx(model, onnx, ...flags);
  return { model, onnx };
}

/** `rbm transform` of a CSV file to .npy, decoded. */
async function transform(model: string, data: string): Promise<{ shape: readonly number[]; data: Float64Array }> {
  const out = join(dir, 'features.npy');
  const r = await rbm(argv`transform ${model} --data ${join(dir, data)} --out ${out} --force --backend js`);
  expect(r.code, r.stderr).toBe(0);
  return decodeNpy(readFileSync(out), out);
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tolerance: number): void {
  expect(got.length).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < got.length; i++)
    worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / Math.max(1, Math.abs(want[i]!)));
  expect(worst).toBeLessThanOrEqual(tolerance);
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const softplus = (x: number) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));

/** The float64 reference: hidden input, E[h | v], F(v) and E[v | E[h | v]] of one row. */
function reference(p: RbmParameters, v: readonly number[]) {
  const { numVisible: nv, numHidden: nh } = p;
  const prec = (i: number) => Math.exp(-(p.logVariance?.[i] ?? 0));
  const gaussV = p.visibleUnits === 'gaussian';
  const x = Array.from({ length: nh }, (_, j) => {
    let s = p.hiddenBias[j]!;
    for (let i = 0; i < nv; i++) s += (gaussV ? v[i]! * prec(i) : v[i]!) * p.weights[i * nh + j]!;
    return s;
  });
  const hu = p.hiddenUnits ?? 'bernoulli';
  const h = x.map((t) => (hu === 'bernoulli' ? sigmoid(t) : hu === 'nrelu' ? Math.max(0, t) : t));
  let negF = 0;
  for (let i = 0; i < nv; i++)
    negF += gaussV ? -0.5 * (v[i]! - p.visibleBias[i]!) ** 2 * prec(i) : v[i]! * p.visibleBias[i]!;
  for (const t of x) negF += hu === 'gaussian' ? 0.5 * t * t : softplus(t);
  const y = Array.from({ length: nv }, (_, i) => {
    let s = p.visibleBias[i]!;
    for (let j = 0; j < nh; j++) s += h[j]! * p.weights[i * nh + j]!;
    return s;
  });
  let recon = gaussV ? y : y.map(sigmoid);
  const groups = p.softmaxGroups ?? [];
  let start = nv - groups.reduce((a, k) => a + k, 0);
  for (const k of groups) {
    const part = y.slice(start, start + k);
    const m = Math.max(...part);
    const z = part.reduce((a, t) => a + Math.exp(t - m), 0);
    recon = [...recon.slice(0, start), ...part.map((t) => Math.exp(t - m) / z), ...recon.slice(start + k)];
    start += k;
  }
  return { h, F: -negF, recon };
}

/** The run's outputs against the float64 formulas, row by row. */
function expectReference(run: OnnxRun, p: RbmParameters, rows: number[][], outputs: readonly string[]): void {
  const refs = rows.map((v) => reference(p, v));
  const want: Record<string, number[]> = {
    features: refs.flatMap((r) => r.h),
    free_energy: refs.map((r) => r.F),
    reconstruction: refs.flatMap((r) => r.recon),
  };
  for (const name of outputs) expectClose(run.outputs[name]!.data, want[name]!, 1e-5);
}

describe('rbm export --onnx: RBMs of every unit type', () => {
  const cases: Array<{ name: string; p: RbmParameters; data: (r: number, c: number, rnd: () => number) => number }> = [
    { name: 'bernoulli', p: rbmParameters(12, 7, 1), data: (_r, _c, rnd) => (rnd() < 0.4 ? 1 : 0) },
    {
      name: 'gaussian-visible',
      p: rbmParameters(9, 5, 2, {
        visibleUnits: 'gaussian',
        logVariance: randomArray(9, 0.7, uniforms(22)),
      }),
      data: (_r, _c, rnd) => 3 * (2 * rnd() - 1),
    },
    {
      name: 'nrelu-hidden',
      p: rbmParameters(10, 6, 3, { hiddenUnits: 'nrelu' }),
      data: (_r, _c, rnd) => (rnd() < 0.5 ? 1 : 0),
    },
    {
      name: 'gaussian-hidden',
      p: rbmParameters(8, 4, 4, { hiddenUnits: 'gaussian' }),
      data: (_r, _c, rnd) => (rnd() < 0.5 ? 1 : 0),
    },
  ];
  for (const c of cases) {
    onnxIt(
      `${c.name}: features equal rbm transform's, free energy and reconstruction the float64 formulas`,
      async () => {
        const { model, onnx } = await exported(c.name, encodeModel(c.p));
        const rnd = uniforms(100);
        const rows = dataFile(`${c.name}.csv`, 40, c.p.numVisible, (r, col) => c.data(r, col, rnd));
        const expected =
          c.p.hiddenUnits === 'nrelu' ? ['features', 'reconstruction'] : ['features', 'free_energy', 'reconstruction'];
        expect(checkWithPython(onnx)).toEqual(expected);
        const run = runOnnx(onnx, { visible: rows });
        expect(run.inputNames).toEqual(['visible']);
        expect(run.outputs.features!.dims).toEqual([40, c.p.numHidden]);
        expectClose(run.outputs.features!.data, (await transform(model, `${c.name}.csv`)).data, 1e-5);
        if (expected.includes('free_energy')) expect(run.outputs.free_energy!.dims).toEqual([40]);
        expectReference(run, c.p, rows, expected);
      },
    );
  }

  onnxIt('NReLU has no free energy: asked for, it is refused by name (exit 2), nothing written', async () => {
    const model = join(dir, 'nrelu-refused.safetensors');
    writeFileSync(model, encodeModel(rbmParameters(6, 3, 5, { hiddenUnits: 'nrelu' })));
    const r = await rbm(argv`export ${model} --onnx ${join(dir, 'nrelu-refused.onnx')} --what free_energy`);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /free_energy is not an output of an RBM with bernoulli visible and nrelu hidden units \(the free energy of NReLU hidden units has no closed form\)/,
    );
    expect(spawnSync('test', ['-e', join(dir, 'nrelu-refused.onnx')]).status).toBe(1);
  });

  onnxIt('softmax groups: reconstruction is a softmax per group; the classifier outputs are apart', async () => {
    const p = rbmParameters(9, 5, 6, { visibleUnits: 'softmax', softmaxGroups: [3, 2] });
    const model = join(dir, 'softmax.safetensors');
    writeFileSync(model, encodeModel(p));
    const rnd = uniforms(7);
    const rows = Array.from({ length: 20 }, () => {
      const row = Array.from({ length: 4 }, () => (rnd() < 0.5 ? 1 : 0));
      const a = Math.floor(rnd() * 3);
      const b = Math.floor(rnd() * 2);
      return [...row, ...[0, 1, 2].map((k) => (k === a ? 1 : 0)), ...[0, 1].map((k) => (k === b ? 1 : 0))];
    });
    const onnx = join(dir, 'softmax.onnx');
    await exportOnnx(model, onnx, '--what', 'features,free_energy,reconstruction');
    checkWithPython(onnx);
    const run = runOnnx(onnx, { visible: rows });
    expectReference(run, p, rows, ['free_energy', 'reconstruction']);
    const mixed = await rbm(argv`export ${model} --onnx ${onnx} --force --what features,p_y_given_x`);
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toMatch(
      /p_y_given_x take the inputs alone \(x\), features the whole visible layer: export them to separate files/,
    );
  });
});

describe('rbm export --onnx: a 784-500 MNIST model', () => {
  onnxIt(
    "onnx.checker's full check passes; the features of 1,000 test digits by onnxruntime-node, and by the docs' Node and browser snippets, equal rbm transform's within 1e-5",
    async () => {
      const model = join(dir, 'mnist.safetensors');
      const t = await rbm(
        argv`train --data mnist --limit 2000 --hidden 500 --epochs 1 --backend js --out ${model} --force`,
        { timeoutMs: 120_000 },
      );
      expect(t.code, t.stderr).toBe(0);
      const onnx = join(dir, 'mnist.onnx');
      await exportOnnx(model, onnx);
      expect(checkWithPython(onnx)).toEqual(['features', 'free_energy', 'reconstruction']);
      // Provenance: the training job and the tool, as the model file states them.
      const meta = onnxMetadata(onnx);
      expect(JSON.parse(meta.hyperparameters!)).toMatchObject({ hidden: 500 });
      expect(JSON.parse(meta.provenance!).tool).toMatch(/^@rbmjs\/cli /);
      expect(meta).toMatchObject({ rbmjs_source: 'mnist.safetensors', rbmjs_model: 'rbm' });
      expect(meta.rbmjs_version).toMatch(/^\d+\.\d+\.\d+/);
      const digits = await loadAll(
        openData({ name: 'mnist', split: 'test', limit: 1000, threshold: 0.5, seed: 0 }).source,
      );
      const rows = Array.from({ length: 1000 }, (_, r) => Array.from(digits.data.subarray(r * 784, (r + 1) * 784)));
      const features = join(dir, 'mnist-features.npy');
      const r = await rbm(
        argv`transform ${model} --data mnist --split test --limit 1000 --out ${features} --backend js`,
      );
      expect(r.code, r.stderr).toBe(0);
      const want = decodeNpy(readFileSync(features), features).data;
      const run = runOnnx(onnx, { visible: rows });
      expect(run.outputs.features!.dims).toEqual([1000, 500]);
      expectClose(run.outputs.features!.data, want, 1e-5);
      // docs/using.md's Node snippet on the same digits.
      const d = await snippetFolder();
      copyFileSync(onnx, join(d, 'model.onnx'));
      writeFileSync(join(d, 'pixels.bin'), digits.data.subarray(0, 1000 * 784));
      expectClose(runSnippet(d, 'onnx-node'), want, 1e-5);
      // The browser's snippet, with onnxruntime-web's WebAssembly build; the model served as a data: URL.
      const url =
        "const url = 'data:application/octet-stream;base64,' + readFileSync('model.onnx').toString('base64');";
      expectClose(runSnippet(d, 'onnx-web', url), want, 1e-5);
    },
    180_000,
  );
});

describe('rbm export --onnx: classifier, DBN, DBM', () => {
  onnxIt("classification RBM: p_y_given_x and predicted_class equal rbm predict's", async () => {
    const p = rbmParameters(10 + 3, 8, 8, { visibleUnits: 'softmax', softmaxGroups: [3] });
    const { model, onnx } = await exported('drbm', encodeModel(p));
    const rows = bitsFile('x.csv', 30, 10, 9);
    expect(checkWithPython(onnx)).toEqual(['p_y_given_x', 'predicted_class']);
    const run = runOnnx(onnx, { x: rows });
    expect(run.inputNames).toEqual(['x']);
    expect(run.outputs.predicted_class!.type).toBe('int64');
    const csv = join(dir, 'predictions.csv');
    const r = await rbm(
      argv`predict ${model} --data ${join(dir, 'x.csv')} --no-labels --out ${csv} --force --backend js`,
    );
    expect(r.code, r.stderr).toBe(0);
    const lines = readFileSync(csv, 'utf8').trim().split('\n');
    const body = lines.filter((l) => /^\d/.test(l)).map((l) => l.split(',').map(Number));
    expect(body).toHaveLength(30);
    expect(run.outputs.predicted_class!.data).toEqual(body.map((row) => row[0]));
    expectClose(
      run.outputs.p_y_given_x!.data,
      body.flatMap((row) => row.slice(1, 4)),
      1e-5,
    );
  });

  onnxIt("DBN: features equal rbm transform's (the up pass through every layer)", async () => {
    const layers = [rbmParameters(11, 7, 10), rbmParameters(7, 5, 11), rbmParameters(5, 3, 12)];
    const { model, onnx } = await exported('dbn', encodeDbn(layers));
    const rows = bitsFile('dbn.csv', 25, 11, 13);
    expect(checkWithPython(onnx)).toEqual(['features']);
    expectClose(
      runOnnx(onnx, { visible: rows }).outputs.features!.data,
      (await transform(model, 'dbn.csv')).data,
      1e-5,
    );
  });

  onnxIt("DBM: every hidden layer's mean field equals rbm transform's; the sweeps are in the metadata", async () => {
    const rnd = uniforms(14);
    const sizes = [10, 6, 4, 3];
    const p = {
      sizes,
      weights: sizes.slice(0, -1).map((n, l) => randomArray(n * sizes[l + 1]!, 1, rnd)),
      biases: sizes.map((n) => randomArray(n, 0.5, rnd)),
    };
    const { model, onnx } = await exported('dbm', encodeDbm(p));
    const rows = bitsFile('dbm.csv', 25, 10, 16);
    expect(checkWithPython(onnx)).toEqual(['mean_field_1', 'mean_field_2', 'mean_field_3', 'features']);
    const run = runOnnx(onnx, { visible: rows });
    expect(run.outputs.features!.dims).toEqual([25, 13]);
    expectClose(run.outputs.features!.data, (await transform(model, 'dbm.csv')).data, 1e-5);
    expect(onnxMetadata(onnx).rbmjs_mean_field_iterations).toBe('30');
    // Fewer sweeps, fixed at export: against mean field in float64 (the doubled bottom-up start, then sweeps).
    await exportOnnx(model, onnx, '--mean-field-iterations', '3');
    expect(onnxMetadata(onnx).rbmjs_mean_field_iterations).toBe('3');
    const three = runOnnx(onnx, { visible: rows }).outputs.features!.data;
    const L = sizes.length - 1;
    const want = rows.flatMap((v) => {
      const mu: number[][] = [v];
      const input = (l: number, below: number, withAbove: boolean) =>
        Array.from({ length: sizes[l]! }, (_, j) => {
          let x = p.biases[l]![j]!;
          for (let i = 0; i < sizes[l - 1]!; i++) x += below * mu[l - 1]![i]! * p.weights[l - 1]![i * sizes[l]! + j]!;
          if (withAbove && l < L)
            for (let k = 0; k < sizes[l + 1]!; k++) x += mu[l + 1]![k]! * p.weights[l]![j * sizes[l + 1]! + k]!;
          return sigmoid(x);
        });
      for (let l = 1; l <= L; l++) mu[l] = input(l, l < L ? 2 : 1, false);
      for (let t = 0; t < 3; t++) for (let l = 1; l <= L; l++) mu[l] = input(l, 1, true);
      return mu.slice(1).flat();
    });
    expectClose(three, want, 1e-5);
    const many = await rbm(argv`export ${model} --onnx ${onnx} --force --mean-field-iterations 5000`);
    expect(many.code).toBe(2);
    expect(many.stderr).toMatch(/meanFieldIterations must be a whole number in 0\.\.1000, got 5000/);
    const wrong = await rbm(argv`export ${model} --onnx ${onnx} --force --what reconstruction`);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/reconstruction is not an output of a DBM; it has features/);
  });
});

describe('rbm export --onnx: the collaborative RBM', () => {
  /** A small ratings CSV (ids as strings), split into training and test pairs. */
  function ratingsFiles(): { train: string; test: string; testRows: Array<[string, string, number]> } {
    const rnd = uniforms(15);
    const train: string[] = ['user,item,rating'];
    const test: string[] = ['user,item,rating'];
    const testRows: Array<[string, string, number]> = [];
    for (let u = 0; u < 60; u++)
      for (let i = 0; i < 15; i++) {
        if (rnd() > 0.5) continue;
        const rating = 1 + Math.min(4, Math.floor(((u % 5) + (i % 3) + 5 * rnd()) / 2));
        if (rnd() < 0.15 && testRows.length < 80) {
          test.push(`u${u},film${i},${rating}`);
          testRows.push([`u${u}`, `film${i}`, rating]);
        } else train.push(`u${u},film${i},${rating}`);
      }
    writeFileSync(join(dir, 'train.csv'), `${train.join('\n')}\n`);
    writeFileSync(join(dir, 'test.csv'), `${test.join('\n')}\n`);
    return { train: join(dir, 'train.csv'), test: join(dir, 'test.csv'), testRows };
  }

  const variants = [
    { name: 'plain, one RBM a user', flags: [] as string[], conditional: false, item: false },
    { name: 'conditional', flags: ['--conditional'], conditional: true, item: false },
    { name: 'one RBM an item (I-RBM)', flags: ['--orientation', 'item'], conditional: false, item: true },
  ];
  for (const v of variants) {
    onnxIt(
      `${v.name}: predicted ratings give rbm eval --ratings' RMSE${v.item ? '' : " and rbm recommend's scores"}`,
      async () => {
        const { train, test, testRows } = ratingsFiles();
        const model = join(dir, 'cf.safetensors');
        const t = await rbm(
          argv`train --ratings ${train} --hidden 6 --epochs 3 --backend js --out ${model} --force ${v.flags}`,
        );
        expect(t.code, t.stderr).toBe(0);
        const file = decodeCollaborative(readFileSync(model));
        expect(file.orientation).toBe(v.item ? 'item' : 'user');
        const p: CollaborativeParameters = file.parameters;
        const onnx = join(dir, 'cf.onnx');
        await exportOnnx(model, onnx);
        expect(checkWithPython(onnx)).toEqual(['predicted_ratings', 'rating_distribution']);
        // One row a case (a user; an item for the I-RBM), one column a visible unit (an item; a user).
        const [rows, cols] = v.item ? [file.items, file.users] : [file.users, file.items];
        const M = p.numItems;
        expect(cols.length).toBe(M);
        const at = (u: string, i: string) =>
          (v.item ? [rows.indexOf(i), cols.indexOf(u)] : [rows.indexOf(u), cols.indexOf(i)]) as [number, number];
        // Each case's evidence: the ratings the model file keeps; conditional r adds the test pairs.
        const ratings = rows.map(() => new Array<number>(M).fill(0));
        const mask = rows.map(() => new Array<number>(M).fill(0));
        const r = file.ratings!;
        for (let k = 0; k < r.user.length; k++) {
          const [row, col] = at(file.users[r.user[k]!]!, file.items[r.item[k]!]!);
          ratings[row]![col] = p.levels[r.level[k]!]!;
          mask[row]![col] = 1;
        }
        const rated = mask.map((row) => [...row]);
        for (const [u, i] of testRows) {
          const [row, col] = at(u, i);
          if (row >= 0 && col >= 0) rated[row]![col] = 1;
        }
        const run = runOnnx(onnx, { ratings, mask, ...(v.conditional ? { rated } : {}) });
        expect(run.outputs.rating_distribution!.dims).toEqual([rows.length, M, p.levels.length]);
        const pred = run.outputs.predicted_ratings!.data;
        let se = 0;
        let n = 0;
        for (const [u, i, rating] of testRows) {
          const [row, col] = at(u, i);
          if (row < 0 || col < 0) continue; // a pair the model has no weights for: eval leaves it out too
          se += (pred[row * M + col]! - rating) ** 2;
          n++;
        }
        const e = await rbm(argv`eval ${model} --ratings ${test} --json --backend js`);
        expect(e.code, e.stderr).toBe(0);
        const scored = JSON.parse(e.stdout);
        expect(scored.count).toBe(n);
        expect(Math.abs(Math.sqrt(se / n) - scored.rmse)).toBeLessThan(1e-5);
        if (!v.item) {
          // rbm recommend: one user's unrated items with their expected ratings, from the model's own ratings.
          const rec = await rbm(argv`recommend ${model} --user u3 --top ${String(M)} --json --backend js`);
          expect(rec.code, rec.stderr).toBe(0);
          const u = rows.indexOf('u3');
          const items = JSON.parse(rec.stdout).items as Array<{ item: string; rating: number }>;
          expect(items.length).toBe(M - mask[u]!.reduce((a, b) => a + b, 0));
          for (const it of items) expect(Math.abs(pred[u * M + cols.indexOf(it.item)]! - it.rating)).toBeLessThan(1e-5);
        }
      },
      60_000,
    );
  }
});

describe('scikit-learn both ways', () => {
  sklearnIt(
    "rbm export --sklearn: a BernoulliRBM set from the file gives rbm transform's features and the same free energies",
    async () => {
      const p = rbmParameters(16, 6, 20);
      const model = join(dir, 'sk.safetensors');
      writeFileSync(model, encodeModel(p));
      const rows = bitsFile('sk.csv', 30, 16, 21);
      const npz = join(dir, 'sk.npz');
      const e = await rbm(argv`export ${model} --sklearn ${npz}`);
      expect(e.code, e.stderr).toBe(0);
      // docs/using.md's snippet, as written there.
      copyFileSync(npz, join(dir, 'model.npz'));
      const code = `import json
import numpy as np
X = np.loadtxt("sk.csv", delimiter=",")
${snippet('sklearn-export')}
print(json.dumps({"features": features.ravel().tolist(), "free_energy": rbm._free_energy(X).tolist()}))`;
      const py = spawnSync(PYTHON, ['-c', code], { cwd: dir, encoding: 'utf8' });
      expect(py.status, py.stderr).toBe(0);
      const got = JSON.parse(py.stdout) as { features: number[]; free_energy: number[] };
      expectClose(got.features, (await transform(model, 'sk.csv')).data, 1e-5);
      expectClose(
        got.free_energy,
        rows.map((v) => reference(p, v).F),
        1e-5,
      );
    },
  );

  sklearnIt(
    "rbm import --sklearn: sklearn's own fitted BernoulliRBM, then rbm transform, matches sklearn's transform",
    async () => {
      // docs/using.md's snippet, as written there, on scikit-learn's digits.
      const code = `from sklearn.datasets import load_digits
X = load_digits().data[:300] / 16.0
${snippet('sklearn-import')}
np.savetxt("digits.csv", X[:50], delimiter=",")
np.save("sklearn-features.npy", rbm.transform(X[:50]))`;
      const [npz, want] = [join(dir, 'sklearn.npz'), join(dir, 'sklearn-features.npy')];
      const py = spawnSync(PYTHON, ['-c', code], { cwd: dir, encoding: 'utf8' });
      expect(py.status, py.stderr).toBe(0);
      const model = join(dir, 'imported.safetensors');
      const i = await rbm(argv`import --sklearn ${npz} --out ${model}`);
      expect(i.code, i.stderr).toBe(0);
      expect(i.stdout).toMatch(/a 64-20 Bernoulli RBM/);
      expectClose((await transform(model, 'digits.csv')).data, decodeNpy(readFileSync(want), want).data, 1e-5);
      const info = await rbm(argv`info ${model} --json`);
      expect(JSON.parse(info.stdout).provenance.imported).toMatch(/scikit-learn BernoulliRBM \(sklearn.npz\)/);
    },
  );

  peerIt(['torch', 'numpy'])(
    "docs/using.md's PyTorch snippet reads the model file: the features equal rbm transform's",
    async () => {
      const p = rbmParameters(14, 5, 40);
      writeFileSync(join(dir, 'model.safetensors'), encodeModel(p));
      bitsFile('torch.csv', 20, 14, 41);
      const code = `import numpy as np
X = np.loadtxt("torch.csv", delimiter=",")
${snippet('torch')}
print(json.dumps(features.ravel().tolist()))`;
      const py = spawnSync(PYTHON, ['-c', code], { cwd: dir, encoding: 'utf8' });
      expect(py.status, py.stderr).toBe(0);
      expectClose(
        JSON.parse(py.stdout) as number[],
        (await transform(join(dir, 'model.safetensors'), 'torch.csv')).data,
        1e-5,
      );
    },
  );

  sklearnIt('rbm import --sklearn refuses an archive without one of the three arrays, naming it', async () => {
    const npz = join(dir, 'partial.npz');
    const py = spawnSync(PYTHON, [
      '-c',
      'import numpy as np, sys; np.savez(sys.argv[1], components_=np.zeros((3, 4)), intercept_hidden_=np.zeros(3))',
      npz,
    ]);
    expect(py.status).toBe(0);
    const r = await rbm(argv`import --sklearn ${npz} --out ${join(dir, 'partial.safetensors')}`);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/partial\.npz: no intercept_visible_ array/);
    const shapes = join(dir, 'shapes.npz');
    spawnSync(PYTHON, [
      '-c',
      'import numpy as np, sys; np.savez(sys.argv[1], components_=np.zeros((3, 4)), intercept_hidden_=np.zeros(2), intercept_visible_=np.zeros(4))',
      shapes,
    ]);
    const s = await rbm(argv`import --sklearn ${shapes} --out ${join(dir, 'shapes.safetensors')}`);
    expect(s.code).toBe(1);
    expect(s.stderr).toMatch(/intercept_hidden_ has shape \(2\), expected \(3,\) for 3 components/);
  });

  it('refuses what has no BernoulliRBM, and archives that are not one, by name', async () => {
    const gauss = join(dir, 'gauss.safetensors');
    writeFileSync(gauss, encodeModel(rbmParameters(4, 3, 30, { visibleUnits: 'gaussian' })));
    const e = await rbm(argv`export ${gauss} --sklearn ${join(dir, 'gauss.npz')}`);
    expect(e.code).toBe(2);
    expect(e.stderr).toMatch(
      /BernoulliRBM has Bernoulli visible and hidden units; this model has gaussian visible and bernoulli hidden units/,
    );
    const dbn = join(dir, 'dbn2.safetensors');
    writeFileSync(dbn, encodeDbn([rbmParameters(4, 3, 31), rbmParameters(3, 2, 32)]));
    expect((await rbm(argv`export ${dbn} --sklearn ${join(dir, 'dbn.npz')}`)).stderr).toMatch(
      /is a dbn file; scikit-learn's BernoulliRBM is one RBM/,
    );
    const notZip = join(dir, 'not.npz');
    writeFileSync(notZip, 'hello');
    const bad = await rbm(argv`import --sklearn ${notZip} --out ${join(dir, 'x.safetensors')}`);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/not\.npz: not a NumPy \.npz archive/);
    const fifo = await rbm(argv`import --sklearn /dev/zero --out ${join(dir, 'y.safetensors')}`);
    expect(fifo.code).toBe(1);
    expect(fifo.stderr).toMatch(/\/dev\/zero/);
    const both = await rbm(argv`export ${gauss} --onnx ${join(dir, 'a.onnx')} --sklearn ${join(dir, 'b.npz')}`);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/give one of --onnx FILE and --sklearn FILE/);
    const what = await rbm(argv`export ${gauss} --onnx ${join(dir, 'a.onnx')} --what energy`);
    expect(what.code).toBe(2);
    expect(what.stderr).toMatch(/"energy" is not an output; choose from features, free_energy/);
  });
});
