import { type ChildProcessWithoutNullStreams, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { processCpuSeconds } from './bench-load.js';

/**
 * The PyTorch peer of `rbm bench`, kept warm: `peers/torch_rbm.py --serve` in one process per thread setting,
 * asked for one timed training run (or one GEMM timing) at a time, so that its timings alternate with
 * rbmjs's and none of them pays Python's, torch's or OpenBLAS's start-up (its first epoch in a fresh process
 * ran 1.5-5x slower than the next on the 2-core machine).
 */

/** A peer script shipped with the CLI (peers/ beside dist/ and src/): `rbm bench`'s is torch_rbm.py. */
export function peerScript(name = 'torch_rbm.py'): string {
  const here = dirname(fileURLToPath(import.meta.url));
  // dist/bin.js, or src/commands/bench-peer.ts run from source (the bench scripts).
  const [built, source] = [join(here, '..', 'peers', name), join(here, '..', '..', 'peers', name)];
  return existsSync(built) || !existsSync(source) ? built : source;
}

/** Why the peer cannot run with this Python (torch and numpy must import), or undefined when it can. */
export function peerUnavailable(py: string): string | undefined {
  if (!existsSync(peerScript())) return `${peerScript()} is missing`;
  try {
    execFileSync(py, ['-c', 'import torch, numpy'], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
    return undefined;
  } catch (error) {
    const stderr = String((error as { stderr?: Buffer }).stderr ?? '').trim();
    const last = stderr.split('\n').pop() || (error as Error).message;
    return `${py} cannot import torch (${last.slice(0, 200)}); on Debian: apt-get install python3-torch python3-sklearn`;
  }
}

/** A thread setting of the peer: torch.set_num_threads and OPENBLAS_NUM_THREADS (Debian's torch uses OpenBLAS). */
export interface PeerThreads {
  readonly torch: number;
  readonly blas: number;
}

export const threadsText = (t: PeerThreads) => `torch ${t.torch} x OpenBLAS ${t.blas} thread${t.blas === 1 ? '' : 's'}`;

/** The job the peer trains: the rows `rbm bench` wrote, and the training settings. */
export interface PeerJob {
  readonly python: string;
  readonly rowsFile: string;
  readonly rows: number;
  readonly cols: number;
  readonly hidden: number;
  readonly batch: number;
  readonly epochs: number;
  readonly k: number;
  readonly method: 'cd' | 'pcd';
}

export class PeerProcess {
  readonly threads: PeerThreads;
  torchVersion = '';
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: Interface;
  private readonly pending: Array<(line: string | undefined) => void> = [];
  private readonly queued: string[] = [];
  private stderr = '';
  private ended = false;

  private constructor(python: string, script: string, args: readonly string[], threads: PeerThreads) {
    this.threads = threads;
    this.child = spawn(python, [script, '--serve', ...args, '--threads', String(threads.torch)], {
      env: { ...process.env, OPENBLAS_NUM_THREADS: String(threads.blas) },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stderr.on('data', (d) => {
      this.stderr = (this.stderr + d).slice(-4000);
    });
    this.lines = createInterface({ input: this.child.stdout });
    this.lines.on('line', (line) => {
      const waiter = this.pending.shift();
      if (waiter) waiter(line);
      else this.queued.push(line);
    });
    const end = () => {
      this.ended = true;
      for (const waiter of this.pending.splice(0)) waiter(undefined);
    };
    this.lines.on('close', end);
    this.child.on('error', (error) => {
      this.stderr += error.message;
      end();
    });
  }

  /** Starts `rbm bench`'s peer with these threads; resolves once it has loaded the rows. */
  static start(job: PeerJob, threads: PeerThreads): Promise<PeerProcess> {
    const args = ['--data', job.rowsFile, '--rows', String(job.rows), '--cols', String(job.cols)];
    args.push('--hidden', String(job.hidden), '--batch', String(job.batch), '--epochs', String(job.epochs));
    args.push('--k', String(job.k), '--method', job.method);
    return PeerProcess.serve(job.python, peerScript(), args, threads);
  }

  /**
   * Starts any peer script that speaks the protocol (`--serve --threads N`: prints {"ready": true, "torch": v}
   * once warm, then answers each `run` line with {"seconds": s}); resolves once it is ready.
   */
  static async serve(
    python: string,
    script: string,
    args: readonly string[],
    threads: PeerThreads,
  ): Promise<PeerProcess> {
    const peer = new PeerProcess(python, script, args, threads);
    const ready = await peer.answer<{ ready: boolean; torch: string }>('start');
    peer.torchVersion = ready.torch;
    return peer;
  }

  /** One training run from a fresh model, seconds (the peer's own clock, the loop only). */
  async run(): Promise<number> {
    this.child.stdin.write('run\n');
    return (await this.answer<{ seconds: number }>('run')).seconds;
  }

  /** GFLOP/s of an n x n x n float32 product (best of 3 after one untimed). */
  async gemm(n: number): Promise<number> {
    this.child.stdin.write(`gemm ${n}\n`);
    return (await this.answer<{ gflops: number }>('gemm')).gflops;
  }

  /** CPU seconds the peer has used so far (Linux; 0 elsewhere). */
  cpuSeconds(): number {
    return processCpuSeconds(this.child.pid);
  }

  close(): void {
    this.child.stdin.end();
    this.child.kill();
  }

  private async answer<T>(what: string): Promise<T> {
    const line =
      this.queued.shift() ??
      (this.ended ? undefined : await new Promise<string | undefined>((r) => this.pending.push(r)));
    if (line === undefined) {
      const last = this.stderr.trim().split('\n').pop() ?? '';
      throw new Error(`the PyTorch peer (${threadsText(this.threads)}) ended during ${what}: ${last.slice(0, 300)}`);
    }
    const value = JSON.parse(line) as T & { error?: string };
    if (value.error) throw new Error(`the PyTorch peer: ${value.error}`);
    return value;
  }
}

/** The middle value of the timings (the upper middle for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/**
 * The thread settings to search: `list` as TORCHxOPENBLAS pairs (`1x1,2x2`), or by default 1 and every core
 * for torch crossed with the same for OpenBLAS. Throws a RangeError naming the part that is not a pair.
 */
export function peerSettings(list: string | undefined, cores: number): PeerThreads[] {
  if (list === undefined) {
    const counts = cores > 1 ? [1, cores] : [1];
    return counts.flatMap((torch) => counts.map((blas) => ({ torch, blas })));
  }
  return list.split(',').map((part) => {
    const m = /^\s*(\d+)x(\d+)\s*$/.exec(part);
    if (!m || Number(m[1]) < 1 || Number(m[2]) < 1)
      throw new RangeError(`${JSON.stringify(part)} is not TORCHxOPENBLAS (e.g. 1x1,2x2)`);
    return { torch: Number(m[1]), blas: Number(m[2]) };
  });
}

/** A searched thread setting kept up for timing, with its search figure and its timings. */
export interface KeptPeer {
  readonly peer: PeerProcess;
  readonly seconds: number;
  readonly times: number[];
}

/**
 * The peer's shortlist (docs/benchmarks.md, the protocol): each searched setting is offered with its search
 * figure, the `size` fastest stay up and are all timed in every round, and the one with the lower median
 * counts. A search run swings: two runs once ranked different settings first, 3.81 and 3.18 s an epoch.
 */
export class PeerShortlist {
  readonly kept: KeptPeer[] = [];

  /** @param drop closes a setting that fell off the list (and counts its CPU time) */
  constructor(
    private readonly size: number,
    private readonly drop: (peer: PeerProcess) => void,
  ) {}

  offer(peer: PeerProcess, seconds: number): void {
    this.kept.push({ peer, seconds, times: [] });
    this.kept.sort((a, b) => a.seconds - b.seconds);
    for (const dropped of this.kept.splice(this.size)) this.drop(dropped.peer);
  }

  /** The kept setting whose timings have the lower median; undefined where none was timed. */
  best(): KeptPeer | undefined {
    return this.kept.filter((k) => k.times.length > 0).sort((a, b) => median(a.times) - median(b.times))[0];
  }

  /** Closes every kept setting (their timings stay readable). */
  close(): void {
    for (const k of this.kept) this.drop(k.peer);
  }
}
