import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Backend, RBM, RbmError, sourceColumnMeans, Trainer } from '@rbmjs/core';
import { type Command, Option } from 'commander';
import { startBackend } from '../backends.js';
import { addCommonOptions, addDataOptions, type DataOptions, dataSpec } from '../common.js';
import { loadAll, openData } from '../data.js';
import { positiveInt } from '../options.js';
import { Output } from '../output.js';

interface BenchFlags extends DataOptions {
  backends: string;
  hidden: number;
  epochs: number;
  batch: number;
  k: number;
  method: 'cd' | 'pcd';
  repeats: number;
  peer: 'auto' | 'torch' | 'none';
  python?: string;
  json?: boolean;
  verbose?: boolean;
}

export function registerBench(program: Command): void {
  const cmd = program
    .command('bench')
    .description(
      'time the same training job on several backends and on PyTorch (where installed), alternating: medians and ratios',
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
    .option('--repeats <n>', 'timings per backend and peer (the median is reported)', positiveInt, 3)
    .addOption(
      new Option(
        '--peer <p>',
        'the PyTorch peer (peers/torch_rbm.py) on one thread and on the threads it picks: auto runs it where Python has torch',
      )
        .choices(['auto', 'torch', 'none'])
        .default('auto'),
    )
    .option('--python <path>', 'the Python for the peer (default: $RBMJS_PYTHON, /usr/bin/python3, python3)');
  addCommonOptions(cmd).action(async (flags: BenchFlags) => bench(flags));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** The peer script shipped with the CLI (peers/ beside dist/). */
function peerScript(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', 'peers', 'torch_rbm.py');
}

function python(flags: BenchFlags): string {
  return flags.python ?? process.env.RBMJS_PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
}

/** PyTorch's default thread count, or why the peer cannot run here (Python without torch and numpy). */
function probePeer(py: string): { threads: number } | { why: string } {
  if (!existsSync(peerScript())) return { why: `${peerScript()} is missing` };
  try {
    const text = execFileSync(py, ['-c', 'import torch, numpy; print(torch.get_num_threads())'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 120_000,
    });
    return { threads: Number(text.trim()) || 1 };
  } catch (error) {
    const stderr = String((error as { stderr?: Buffer }).stderr ?? '').trim();
    const last = stderr.split('\n').pop() || (error as Error).message;
    return {
      why: `${py} cannot import torch (${last.slice(0, 200)}); on Debian: apt-get install python3-torch python3-sklearn`,
    };
  }
}

interface Row {
  name: string;
  kind: 'backend' | 'peer';
  times: number[];
  error?: string;
}

async function bench(flags: BenchFlags): Promise<void> {
  const out = new Output(Boolean(flags.json));
  const opened = openData(dataSpec(flags));
  const source = opened.source;
  const names = flags.backends
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (names.length === 0) throw new RbmError('INVALID_ARGUMENT', '--backends is empty');
  const job = `${flags.method.toUpperCase()}-${flags.k}, ${source.cols}-${flags.hidden}, batch ${flags.batch}`;
  out.info(
    `${opened.description}; ${job}, ${flags.epochs} epoch(s) per timing, median of ${flags.repeats}, backends and peers alternating`,
  );
  // In memory, as the peer has it: the timings are of training, not of reading and checking the file.
  const data = await loadAll(source);
  const means = await sourceColumnMeans(source);

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

  let tmp: string | undefined;
  const peers: Array<{ row: Row; threads: number }> = [];
  const py = python(flags);
  if (flags.peer !== 'none') {
    const probe = probePeer(py);
    if ('why' in probe) {
      if (flags.peer === 'torch')
        throw new RbmError('BACKEND_UNAVAILABLE', `the PyTorch peer cannot run: ${probe.why}`);
      out.info(`PyTorch peer not run: ${probe.why}`);
    } else {
      tmp = mkdtempSync(join(tmpdir(), 'rbm-bench-'));
      writeFileSync(
        join(tmp, 'rows.f32'),
        new Uint8Array(data.data.buffer, data.data.byteOffset, data.data.byteLength),
      );
      // One thread (Debian's torch is fastest so), and the count PyTorch picks when that is more.
      for (const threads of probe.threads > 1 ? [1, probe.threads] : [1]) {
        const row: Row = { name: `PyTorch CPU, ${threads} thread${threads > 1 ? 's' : ''}`, kind: 'peer', times: [] };
        rows.push(row);
        peers.push({ row, threads });
      }
    }
  }

  // Every timing reported as it ends (a bar on a terminal; the time the rest will take, once it is long).
  const progress = out.work('bench', 'timings');
  const timings = flags.repeats * (backends.length + peers.length);
  let timed = 0;
  try {
    for (let r = 0; r < flags.repeats; r++) {
      for (const { row, backend } of backends) {
        progress(timed++, timings);
        if (row.error) continue;
        try {
          const model = RBM.create(backend, { numVisible: source.cols, numHidden: flags.hidden, seed: 1, means });
          const trainer = new Trainer(model, data, {
            epochs: flags.epochs,
            batchSize: flags.batch,
            method: flags.method,
            k: flags.k,
            learningRate: 0.05,
            seed: 1,
          });
          const t0 = performance.now();
          await trainer.run();
          row.times.push((performance.now() - t0) / 1000 / flags.epochs);
          trainer.dispose();
          model.dispose();
        } catch (error) {
          row.error = error instanceof Error ? error.message : String(error);
        }
      }
      for (const { row, threads } of peers) {
        progress(timed++, timings);
        if (row.error) continue;
        try {
          const args = [peerScript(), '--data', join(tmp!, 'rows.f32'), '--rows', String(source.rows)];
          args.push('--cols', String(source.cols), '--hidden', String(flags.hidden), '--batch', String(flags.batch));
          args.push('--epochs', String(flags.epochs), '--k', String(flags.k), '--method', flags.method);
          args.push('--threads', String(threads));
          const text = execFileSync(py, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
          const result = JSON.parse(text.trim().split('\n').pop()!) as {
            seconds: number[];
            threads: number;
            torch: string;
          };
          row.times.push(result.seconds[0]! / flags.epochs);
          row.name = `PyTorch ${result.torch} CPU, ${result.threads} thread${result.threads === 1 ? '' : 's'}${peers.length === 1 ? ' (its default)' : ''}`;
        } catch (error) {
          const stderr = String((error as { stderr?: string }).stderr ?? '').trim();
          row.error = (stderr.split('\n').pop() || (error as Error).message).slice(0, 300);
        }
      }
    }
    progress(timings, timings);
  } finally {
    for (const { backend } of backends) backend.destroy();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    await source.close?.();
  }

  const seconds = (r: Row) => (r.times.length > 0 && !r.error ? median(r.times) : undefined);
  const peerRow = rows.find((r) => r.kind === 'peer' && seconds(r) !== undefined);
  const fastest = Math.min(...rows.flatMap((r) => (seconds(r) === undefined ? [] : [seconds(r)!])));
  const reference = peerRow ? seconds(peerRow)! : fastest;
  const against = peerRow ? `ratio to ${peerRow.name}` : 'ratio to fastest';
  const steps = Math.ceil(source.rows / flags.batch);
  out.info(`| backend | s/epoch | ms/step | ${against} |`);
  out.info('| --- | --- | --- | --- |');
  for (const r of rows) {
    const s = seconds(r);
    out.info(
      s === undefined
        ? `| ${r.name} | not run: ${r.error} | | |`
        : `| ${r.name} | ${s.toFixed(3)} | ${((s * 1000) / steps).toFixed(2)} | ${(s / reference).toFixed(2)}x |`,
    );
  }
  out.emit({
    data: opened.description,
    method: flags.method,
    k: flags.k,
    hidden: flags.hidden,
    batch: flags.batch,
    epochs: flags.epochs,
    repeats: flags.repeats,
    reference: peerRow?.name ?? 'fastest',
    results: rows.map((r) => ({
      backend: r.name,
      kind: r.kind,
      ...(seconds(r) !== undefined
        ? { secondsPerEpoch: seconds(r), ratio: seconds(r)! / reference, times: r.times }
        : {}),
      ...(r.error ? { error: r.error } : {}),
    })),
  });
}
