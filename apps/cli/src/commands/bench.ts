import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Backend, RBM, RbmError, sourceColumnMeans, Trainer } from '@rbmjs/core';
import { fused } from '@rbmjs/core/backend';
import { type Command, Option } from 'commander';
import { startBackend } from '../backends.js';
import { addCommonOptions, addDataOptions, type DataOptions, dataSpec } from '../common.js';
import { loadAll, openData } from '../data.js';
import { UsageError } from '../errors.js';
import { nonNegativeInt, positiveInt } from '../options.js';
import { Output } from '../output.js';
import { OtherLoad } from './bench-load.js';
import {
  median,
  type PeerJob,
  PeerProcess,
  PeerShortlist,
  type PeerThreads,
  peerSettings,
  peerUnavailable,
  threadsText,
} from './bench-peer.js';

interface BenchFlags extends DataOptions {
  backends: string;
  hidden: number;
  epochs: number;
  batch: number;
  k: number;
  method: 'cd' | 'pcd';
  repeats: number;
  peer: 'auto' | 'torch' | 'none';
  peerThreads?: string;
  gemm: number;
  python?: string;
  json?: boolean;
  verbose?: boolean;
}

export function registerBench(program: Command): void {
  const cmd = program
    .command('bench')
    .description(
      'time the same training job on several backends and on PyTorch (where installed), warm, alternating: medians, spreads, ratios and the GEMM limit',
    );
  addDataOptions(cmd, 'mnist')
    .option('--backends <list>', 'comma-separated backends', 'auto,js')
    .option('--hidden <n>', 'hidden units', positiveInt, 100)
    .option('--epochs <n>', 'epochs per timing', positiveInt, 1)
    .option('--batch <n>', 'mini-batch size', positiveInt, 100)
    .addOption(
      new Option('--method <m>', 'cd, or pcd (as many chains as the batch)').choices(['cd', 'pcd']).default('cd'),
    )
    .option('--k <n>', 'Gibbs steps per update (CD-k, PCD-k)', positiveInt, 1)
    .option(
      '--repeats <n>',
      'warm timings per backend and peer, alternating (median, minimum and spread)',
      positiveInt,
      3,
    )
    .addOption(
      new Option(
        '--peer <p>',
        'the PyTorch peer (peers/torch_rbm.py, kept warm in one process): auto runs it where Python has torch',
      )
        .choices(['auto', 'torch', 'none'])
        .default('auto'),
    )
    .option(
      '--peer-threads <list>',
      "the peer's thread settings to search, TORCHxOPENBLAS (e.g. 1x1,2x2; default: 1 and all cores, crossed)",
    )
    .option(
      '--gemm <n>',
      'the GEMM rate: an n x n x n float32 product on each backend and each peer thread setting (0: not measured)',
      nonNegativeInt,
      2048,
    )
    .option('--python <path>', 'the Python for the peer (default: $RBMJS_PYTHON, /usr/bin/python3, python3)');
  addCommonOptions(cmd).action(async (flags: BenchFlags) => bench(flags));
}

/** Cores' worth of CPU other processes may use on average before a run is flagged as under load. */
const OTHER_LOAD_LIMIT = 0.25;

function python(flags: BenchFlags): string {
  return flags.python ?? process.env.RBMJS_PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
}

/** `--peer-threads 1x1,2x2`, or 1 and every core for torch crossed with the same for OpenBLAS. */
function threadSettings(flags: BenchFlags, cores: number): PeerThreads[] {
  try {
    return peerSettings(flags.peerThreads, cores);
  } catch (error) {
    throw new UsageError(`--peer-threads: ${(error as Error).message}`);
  }
}

/**
 * Matrix products in one epoch: CD-k computes p(h | v0), then k times p(v | h) and p(h | v), then the two
 * gradient products (2k + 3); PCD-k's chains add p(h | v_k) after their sweeps (2k + 4). Each is B x nv x nh,
 * 2 B nv nh FLOPs, over every row of the epoch.
 */
function flopsPerEpoch(rows: number, nv: number, nh: number, method: 'cd' | 'pcd', k: number): number {
  return 2 * rows * nv * nh * (2 * k + (method === 'cd' ? 3 : 4));
}

/** GFLOP/s of an n x n x n float32 product on the backend, as one unit (compiled where it compiles), best of 3. */
async function backendGemm(be: Backend, n: number): Promise<number> {
  const values = (seed: number) => Float32Array.from({ length: n * n }, (_, i) => Math.sin(seed + i * 0.37));
  const [a, b, c] = [be.tensor(n, n, values(1)), be.tensor(n, n, values(2)), be.tensor(n, n)];
  try {
    const once = async () => {
      const t0 = performance.now();
      fused(be, 'bench-gemm', () => be.matMul(c, a, b));
      await be.read(c);
      return (performance.now() - t0) / 1000;
    };
    await once();
    const best = Math.min(await once(), await once(), await once());
    return (2 * n ** 3) / best / 1e9;
  } finally {
    for (const t of [a, b, c]) be.dispose(t);
  }
}

interface Row {
  name: string;
  kind: 'backend' | 'peer';
  times: number[];
  error?: string;
}

/**
 * The protocol (docs/benchmarks.md): each side warm (one untimed run each, in the same process), then
 * `--repeats` timings alternating backend by backend and the peer; the peer's thread settings searched first
 * (the better of two warm runs each) and the two fastest timed, the lower median counting; the median, minimum
 * and spread of the warm timings; the GEMM rate of each side as the limit beside every figure; the load
 * average before and after, a run under load flagged.
 */
async function bench(flags: BenchFlags): Promise<void> {
  const out = new Output(Boolean(flags.json));
  const cores = availableParallelism();
  const loadBefore = loadavg()[0]!;
  const others = new OtherLoad();
  const opened = openData(dataSpec(flags));
  const source = opened.source;
  const names = flags.backends
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (names.length === 0) throw new RbmError('INVALID_ARGUMENT', '--backends is empty');
  const settings = flags.peer === 'none' ? [] : threadSettings(flags, cores);
  const job = `${flags.method.toUpperCase()}-${flags.k}, ${source.cols}-${flags.hidden}, batch ${flags.batch}`;
  out.info(
    `${opened.description}; ${job}, ${flags.epochs} epoch(s) per timing; each side warm, then ${flags.repeats} timings alternating`,
  );
  // In memory, as the peer has it: the timings are of training, not of reading and checking the file.
  const data = await loadAll(source);
  const means = await sourceColumnMeans(source);
  const flops = flopsPerEpoch(source.rows, source.cols, flags.hidden, flags.method, flags.k);

  const rows: Row[] = [];
  const backends: Array<{ row: Row; backend: Backend }> = [];
  for (const name of names) {
    const row: Row = { name, kind: 'backend', times: [] };
    rows.push(row);
    try {
      const backend = await startBackend(name);
      row.name = name === backend.name ? name : `${backend.name}${name === 'auto' ? ' (auto)' : ''}`;
      backends.push({ row, backend });
    } catch (error) {
      row.error = error instanceof Error ? error.message : String(error);
    }
  }
  const trainOnce = async (backend: Backend): Promise<number> => {
    const model = RBM.create(backend, { numVisible: source.cols, numHidden: flags.hidden, seed: 1, means });
    const trainer = new Trainer(model, data, {
      epochs: flags.epochs,
      batchSize: flags.batch,
      method: flags.method,
      k: flags.k,
      learningRate: 0.05,
      seed: 1,
    });
    try {
      const t0 = performance.now();
      await trainer.run();
      return (performance.now() - t0) / 1000 / flags.epochs;
    } finally {
      trainer.dispose();
      model.dispose();
    }
  };
  const attempt = async (row: Row, body: () => Promise<void>) => {
    if (row.error) return;
    try {
      await body();
    } catch (error) {
      row.error = (error instanceof Error ? error.message : String(error)).slice(0, 300);
    }
  };

  let tmp: string | undefined;
  const close = (p: PeerProcess) => {
    others.addChild(p.cpuSeconds());
    p.close();
  };
  const peerRow: Row = { name: 'PyTorch', kind: 'peer', times: [] };
  const search: Array<{ threads: PeerThreads; seconds?: number; error?: string }> = [];
  const gemm: Array<{ name: string; gflops: number }> = [];
  const progress = out.work('bench', 'timings');
  const timed = Math.min(2, settings.length);
  // The two fastest thread settings of the search, both timed in every round.
  const shortlist = new PeerShortlist(timed, close);
  const kept = shortlist.kept;
  const total =
    backends.length * (flags.repeats + 1) + (settings.length ? settings.length * 2 + timed * flags.repeats : 0);
  let done = 0;
  const tick = () => progress(done++, total);
  try {
    if (settings.length > 0) {
      const why = peerUnavailable(python(flags));
      if (why && flags.peer === 'torch')
        throw new RbmError('BACKEND_UNAVAILABLE', `the PyTorch peer cannot run: ${why}`);
      if (why) {
        out.info(`PyTorch peer not run: ${why}`);
        settings.length = 0;
      } else {
        tmp = mkdtempSync(join(tmpdir(), 'rbm-bench-'));
        writeFileSync(
          join(tmp, 'rows.f32'),
          new Uint8Array(data.data.buffer, data.data.byteOffset, data.data.byteLength),
        );
        const peerJob: PeerJob = {
          python: python(flags),
          rowsFile: join(tmp, 'rows.f32'),
          rows: source.rows,
          cols: source.cols,
          hidden: flags.hidden,
          batch: flags.batch,
          epochs: flags.epochs,
          k: flags.k,
          method: flags.method,
        };
        // The thread search: two warm runs per setting (its first run untimed), the two fastest kept running.
        for (const threads of settings) {
          let p: PeerProcess | undefined;
          try {
            p = await PeerProcess.start(peerJob, threads);
            tick();
            await p.run();
            tick();
            // The better of two warm runs: one run of a thread setting swung 2x on the 2-core machine.
            const seconds = Math.min(await p.run(), await p.run()) / flags.epochs;
            search.push({ threads, seconds });
            // The machine's GEMM rate is the best any setting reaches, whichever trains fastest.
            if (flags.gemm > 0)
              gemm.push({ name: `PyTorch, ${threadsText(threads)}`, gflops: await p.gemm(flags.gemm) });
            shortlist.offer(p, seconds);
            p = undefined;
          } catch (error) {
            search.push({ threads, error: (error instanceof Error ? error.message : String(error)).slice(0, 300) });
          } finally {
            if (p) close(p);
          }
        }
        rows.push(peerRow);
        if (kept.length === 0) peerRow.error = search.find((x) => x.error)?.error ?? 'no thread setting ran';
      }
    }

    // The limit beside the figures: each backend's GEMM rate (the peer's were taken in its thread search).
    if (flags.gemm > 0) {
      for (const { row, backend } of backends)
        await attempt(row, async () => {
          gemm.push({ name: row.name, gflops: await backendGemm(backend, flags.gemm) });
        });
    }

    // Each backend warm: one untimed run (compiles its units, grows its buffers).
    for (const { row, backend } of backends) {
      tick();
      await attempt(row, async () => {
        await trainOnce(backend);
      });
    }
    for (let r = 0; r < flags.repeats; r++) {
      for (const { row, backend } of backends) {
        tick();
        await attempt(row, async () => {
          row.times.push(await trainOnce(backend));
        });
      }
      for (const k of kept) {
        tick();
        await attempt(peerRow, async () => {
          k.times.push((await k.peer.run()) / flags.epochs);
        });
      }
    }
    // The peer's figure: the kept setting with the lower median.
    const best = shortlist.best();
    if (best && !peerRow.error) {
      peerRow.name = `PyTorch ${best.peer.torchVersion} CPU, ${threadsText(best.peer.threads)}`;
      peerRow.times = best.times;
    }
    progress(total, total);
  } finally {
    shortlist.close();
    for (const { backend } of backends) backend.destroy();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    await source.close?.();
  }
  const loadAfter = loadavg()[0]!;
  const otherCores = others.cores();
  report(out, flags, {
    opened,
    source,
    rows,
    search,
    peerTimed: kept.map((k) => ({ threads: k.peer.threads, times: k.times })),
    gemm,
    flops,
    cores,
    loadBefore,
    loadAfter,
    otherCores,
  });
}

function report(
  out: Output,
  flags: BenchFlags,
  r: {
    opened: { description: string };
    source: { rows: number };
    rows: Row[];
    search: Array<{ threads: PeerThreads; seconds?: number; error?: string }>;
    peerTimed: Array<{ threads: PeerThreads; times: number[] }>;
    gemm: Array<{ name: string; gflops: number }>;
    flops: number;
    cores: number;
    loadBefore: number;
    loadAfter: number;
    otherCores: number | undefined;
  },
): void {
  const seconds = (row: Row) => (row.times.length > 0 && !row.error ? median(row.times) : undefined);
  const peerRow = r.rows.find((row) => row.kind === 'peer' && seconds(row) !== undefined);
  const fastest = Math.min(...r.rows.flatMap((row) => (seconds(row) === undefined ? [] : [seconds(row)!])));
  const reference = peerRow ? seconds(peerRow)! : fastest;
  const against = peerRow ? `ratio to ${peerRow.name}` : 'ratio to fastest';
  const limit = r.gemm.length > 0 ? Math.max(...r.gemm.map((g) => g.gflops)) : undefined;
  const steps = Math.ceil(r.source.rows / flags.batch);
  if (r.search.length > 0)
    out.info(
      `PyTorch thread search (the better of two warm runs each; the two fastest then timed, the lower median counts): ${r.search
        .map(
          (x) =>
            `${threadsText(x.threads)} ${x.seconds !== undefined ? `${x.seconds.toFixed(3)} s` : `failed: ${x.error}`}`,
        )
        .join('; ')}`,
    );
  if (limit !== undefined)
    out.info(
      `GEMM rate (${flags.gemm} x ${flags.gemm} x ${flags.gemm} float32, best of 3): ${r.gemm
        .map((g) => `${g.name} ${g.gflops.toFixed(1)}`)
        .join(', ')} GFLOP/s; the limit below is the best, ${limit.toFixed(1)}`,
    );
  out.info(
    `${(r.flops / 1e9).toFixed(1)} GFLOP an epoch; median of ${flags.repeats} warm timings, min, spread = (max - min) / median`,
  );
  out.info(`| backend | s/epoch | min | spread | ms/step | GFLOP/s | of the limit | ${against} |`);
  out.info('| --- | --- | --- | --- | --- | --- | --- | --- |');
  const stats = (row: Row) => {
    const s = seconds(row)!;
    const min = Math.min(...row.times);
    const spread = (Math.max(...row.times) - min) / s;
    const gflops = r.flops / s / 1e9;
    return { s, min, spread, gflops, ...(limit !== undefined ? { fraction: gflops / limit } : {}) };
  };
  for (const row of r.rows) {
    if (seconds(row) === undefined) {
      out.info(`| ${row.name} | not run: ${row.error ?? 'no timing'} | | | | | | |`);
      continue;
    }
    const x = stats(row);
    const of = x.fraction !== undefined ? `${(100 * x.fraction).toFixed(0)}%` : '';
    out.info(
      `| ${row.name} | ${x.s.toFixed(3)} | ${x.min.toFixed(3)} | ${(100 * x.spread).toFixed(0)}% | ${((x.s * 1000) / steps).toFixed(2)} | ${x.gflops.toFixed(1)} | ${of} | ${(x.s / reference).toFixed(2)}x |`,
    );
  }
  // Under load: other processes used a quarter of a core or more on average while this ran (measured where
  // /proc is; elsewhere the load average: other jobs alone filled the machine before, or overfilled it after).
  const underLoad =
    r.otherCores !== undefined ? r.otherCores >= OTHER_LOAD_LIMIT : r.loadBefore > r.cores || r.loadAfter > r.cores;
  const otherText =
    r.otherCores !== undefined ? `; other processes used ${r.otherCores.toFixed(2)} cores on average` : '';
  out.info(
    `load average (1 min): ${r.loadBefore.toFixed(2)} before, ${r.loadAfter.toFixed(2)} after, ${r.cores} cores${otherText}${underLoad ? ': UNDER LOAD, these timings are not to be quoted' : ''}`,
  );
  out.emit({
    data: r.opened.description,
    method: flags.method,
    k: flags.k,
    hidden: flags.hidden,
    batch: flags.batch,
    epochs: flags.epochs,
    repeats: flags.repeats,
    protocol:
      'warm (one untimed run each side), alternating, median of the warm repeats; the peer thread settings searched, the two fastest timed',
    flopsPerEpoch: r.flops,
    gemm: { size: flags.gemm, rates: r.gemm, limit: limit ?? null },
    peerTimed: r.peerTimed.map((x) => ({
      torchThreads: x.threads.torch,
      blasThreads: x.threads.blas,
      times: x.times,
      ...(x.times.length > 0 ? { median: median(x.times) } : {}),
    })),
    peerSearch: r.search.map((x) => ({
      torchThreads: x.threads.torch,
      blasThreads: x.threads.blas,
      seconds: x.seconds,
      ...(x.error ? { error: x.error } : {}),
    })),
    loadAverage: {
      before: r.loadBefore,
      after: r.loadAfter,
      cores: r.cores,
      ...(r.otherCores !== undefined ? { otherProcessesCores: r.otherCores } : {}),
      underLoad,
    },
    reference: peerRow?.name ?? 'fastest',
    results: r.rows.map((row) => {
      if (seconds(row) === undefined)
        return { backend: row.name, kind: row.kind, ...(row.error ? { error: row.error } : {}) };
      const x = stats(row);
      return {
        backend: row.name,
        kind: row.kind,
        secondsPerEpoch: x.s,
        minSeconds: x.min,
        spread: x.spread,
        gflops: x.gflops,
        ...(x.fraction !== undefined ? { fractionOfLimit: x.fraction } : {}),
        ratio: x.s / reference,
        times: row.times,
      };
    }),
  });
}
