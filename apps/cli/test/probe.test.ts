/**
 * The CLI probed as a hostile or careless user would drive it: malformed model, checkpoint, IDX and CSV
 * files, FIFOs and devices, outputs over inputs, conflicting flags, divergence, terminal escapes, signals.
 * Every case must end with a clear one-line error (or succeed where it should), never hang, never leave a
 * file it was not asked to replace changed. The table at the end counts the cases per class.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { mkdtemp, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  encodeCheckpoint,
  encodeDbm,
  encodeModel,
  initialDbmParameters,
  initialParameters,
  type RbmParameters,
  type TrainerState,
} from '@rbmjs/core';
import { readCheckpoint, readModelFile } from '@rbmjs/core/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { argv, BIN, type Run, rbm } from './helpers.js';

type ProbeClass =
  | 'outputs'
  | 'inputs that hang or have no end'
  | 'data files'
  | 'model files'
  | 'checkpoints'
  | 'flags'
  | 'divergence'
  | 'terminal escapes'
  | 'native noise'
  | 'signals'
  | 'labels'
  | 'resource requests'
  | 'number syntax'
  | 'checked before work';

interface Tally {
  cases: number;
  clearErrors: number;
  succeeded: number;
  hangs: number;
  filesLost: number;
}

const tally = new Map<ProbeClass, Tally>();

function count(cls: ProbeClass, r: Run, lost: number): void {
  const t = tally.get(cls) ?? { cases: 0, clearErrors: 0, succeeded: 0, hangs: 0, filesLost: 0 };
  t.cases++;
  if (r.timedOut) t.hangs++;
  else if (r.code === 0) t.succeeded++;
  else if (isClear(r)) t.clearErrors++;
  t.filesLost += lost;
  tally.set(cls, t);
}

/** An `rbm: ...` line on stderr (or Commander's `error: ...` for a bad flag value), no stack trace. */
function isClear(r: Run): boolean {
  const line = r.stderr.split('\n').find((l) => /^(rbm|error): /.test(l));
  return line !== undefined && !/\n\s+at /.test(r.stderr);
}

/** Any C0 (but newline) or C1 control character: what a terminal would act on. */
const hasControl = (text: string) =>
  [...text].some((c) => {
    const x = c.charCodeAt(0);
    return (x < 0x20 && x !== 0x0a) || (x >= 0x7f && x < 0xa0);
  });

const hash = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

let dir: string;
let csv: string;
let model: string;
let checkpoint: string;
let idxFile: string;
const TIMEOUT = 20_000;

function modelBytes(p: RbmParameters, metadata: Record<string, string> = {}): Uint8Array {
  return encodeModel(p, metadata);
}

function write(name: string, bytes: Uint8Array | string): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rbmjs-probe-'));
  const rows = ['a,b,c,d,e,f,g,h,i'];
  for (let r = 0; r < 60; r++)
    rows.push(Array.from({ length: 9 }, (_, j) => ((r * 7 + j * 3) % 5 < 2 ? 1 : 0)).join(','));
  csv = write('data.csv', `${rows.join('\n')}\n`);
  model = write('m.safetensors', modelBytes(initialParameters({ numVisible: 9, numHidden: 4, seed: 1 })));
  const head = new Uint8Array(16);
  new DataView(head.buffer).setUint32(0, 0x0803);
  idxFile = write('x.idx', head);
  checkpoint = join(dir, 'run.ckpt.safetensors');
  const r = await rbm(
    argv`train --data ${csv} --hidden 4 --epochs 2 --batch 10 --method pcd --momentum 0.5 --backend js
      --checkpoint-every 1 --checkpoint ${checkpoint} --out ${join(dir, 'run.safetensors')} --no-pictures`,
    { timeoutMs: TIMEOUT },
  );
  if (r.code !== 0) throw new Error(`fixture run failed: ${r.stderr}`);
  execFileSync('mkfifo', [join(dir, 'fifo')]);
  symlinkSync(join(dir, 'fifo'), join(dir, 'fifo.csv'));
  symlinkSync(join(dir, 'fifo'), join(dir, 'fifo.safetensors'));
}, 60_000);

afterAll(() => {
  const lines = ['probe of the CLI: class | cases | clear errors | succeeded as they should | hangs | files lost'];
  let total: Tally = { cases: 0, clearErrors: 0, succeeded: 0, hangs: 0, filesLost: 0 };
  for (const [cls, t] of tally) {
    lines.push(`  ${cls} | ${t.cases} | ${t.clearErrors} | ${t.succeeded} | ${t.hangs} | ${t.filesLost}`);
    total = {
      cases: total.cases + t.cases,
      clearErrors: total.clearErrors + t.clearErrors,
      succeeded: total.succeeded + t.succeeded,
      hangs: total.hangs + t.hangs,
      filesLost: total.filesLost + t.filesLost,
    };
  }
  lines.push(
    `  all | ${total.cases} | ${total.clearErrors} | ${total.succeeded} | ${total.hangs} | ${total.filesLost}`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
});

interface Case {
  readonly name: string;
  readonly cls: ProbeClass;
  /** Builds the arguments (and any files) in the probe folder. */
  readonly args: () => string[] | Promise<string[]>;
  /** 0, or the exit code the refusal must have. */
  readonly code: number;
  /** What stderr must say. */
  readonly message?: RegExp;
  /** Files that must be byte-for-byte unchanged afterwards (paths made by `args`). */
  readonly keep?: () => string[];
  readonly check?: (r: Run) => void | Promise<void>;
  /** Refused before any work: nothing printed on stdout. */
  readonly quiet?: boolean;
  /** Measure the run's peak resident set (Run.maxRssBytes). */
  readonly rss?: boolean;
}

const p = (name: string) => join(dir, name);
/** `train --ratings` on n users who each rate one item of n (item u, rating 1 + u mod 5), on onnxruntime:cpu. */
const diagonalRatings = (n: number) => {
  const lines = Array.from({ length: n }, (_, u) => `${u + 1},${u + 1},${1 + (u % 5)}`);
  return [
    ...['train', '--ratings', write(`diag${n}.csv`, `${lines.join('\n')}\n`)],
    ...['--epochs', '1', '--hidden', '10', '--backend', 'onnxruntime:cpu'],
  ];
};
const tiny = () => ['--data', csv, '--hidden', '4', '--epochs', '1', '--batch', '10', '--backend', 'js'];
/** Training on 100 MNIST digits with this many hidden units. */
const mnistHidden = (hidden: string) => [
  'train',
  '--data',
  'mnist',
  '--limit',
  '100',
  '--hidden',
  hidden,
  '--backend',
  'js',
];
const mnist = ['--data', 'mnist', '--limit', '500', '--hidden', '8', '--epochs', '2', '--backend', 'js'];

/** The state with one value of one named tensor replaced. */
function replaced(state: TrainerState, name: string, i: number, x: number): TrainerState {
  const entry = state.tensors[name]!;
  const data = Float32Array.from(entry.data);
  data[i] = x;
  return { ...state, tensors: { ...state.tensors, [name]: { ...entry, data } } };
}

/** A copy of the fixture checkpoint with its state or job changed. */
async function tamperedCheckpoint(
  name: string,
  change: (c: Awaited<ReturnType<typeof readCheckpoint<Record<string, unknown>>>>) => {
    parameters?: RbmParameters;
    state?: TrainerState;
    job?: unknown;
  },
): Promise<string> {
  const c = await readCheckpoint<Record<string, unknown>>(checkpoint);
  const changed = change(c);
  const bytes = encodeCheckpoint(
    { kind: 'rbm', parameters: changed.parameters ?? (c.file as { parameters: RbmParameters }).parameters },
    (changed.state ?? c.state) as never,
    changed.job === undefined ? c.job : changed.job,
  );
  return write(name, bytes);
}

const cases: Case[] = [
  // ---- outputs: refuse an existing path without --force, replace regular files only, never an input ----
  {
    name: '--checkpoint PATH over the training data',
    cls: 'outputs',
    args: () => ['train', ...tiny(), '--checkpoint', csv, '--checkpoint-every', '1', '--out', p('o1.safetensors')],
    code: 1,
    message: /data\.csv is an input of this command/,
    keep: () => [csv],
  },
  {
    name: '--checkpoint over the training data, even with --force',
    cls: 'outputs',
    args: () => argv`train ${tiny()} --checkpoint ${csv} --checkpoint-every 1 --out ${p('o2.safetensors')} --force`,
    code: 1,
    message: /is an input of this command/,
    keep: () => [csv],
  },
  {
    name: 'an existing --checkpoint without --force',
    cls: 'outputs',
    args: () => {
      write('stale.ckpt', 'precious');
      return argv`train ${tiny()} --checkpoint ${p('stale.ckpt')} --checkpoint-every 1 --out ${p('o3.safetensors')}`;
    },
    code: 1,
    message: /stale\.ckpt exists; use --force/,
    keep: () => [p('stale.ckpt')],
  },
  {
    name: 'sample --csv over its own model',
    cls: 'outputs',
    args: () => ['sample', model, '--steps', '2', '--csv', model, '--backend', 'js'],
    code: 1,
    message: /m\.safetensors is an input of this command/,
    keep: () => [model],
  },
  {
    name: 'sample --png over an existing file without --force',
    cls: 'outputs',
    args: () => {
      write('keep.png', 'precious');
      return ['sample', model, '--steps', '2', '--png', p('keep.png'), '--side', '3', '--backend', 'js'];
    },
    code: 1,
    message: /keep\.png exists; use --force/,
    keep: () => [p('keep.png')],
  },
  {
    name: 'sample --csv over an existing file with --force replaces it',
    cls: 'outputs',
    args: () => {
      write('old.csv', 'old');
      return ['sample', model, '--steps', '2', '--chains', '3', '--csv', p('old.csv'), '--backend', 'js', '--force'];
    },
    code: 0,
    check: () => {
      expect(readFileSync(p('old.csv'), 'utf8').trim().split('\n')).toHaveLength(3);
    },
  },
  {
    name: 'sample --png and --csv to one path',
    cls: 'outputs',
    args: () => ['sample', model, '--steps', '2', '--png', p('same'), '--csv', p('same'), '--side', '3'],
    code: 1,
    message: /is both the --png file and the --csv file/,
  },
  {
    name: 'sample --csv over its --init data',
    cls: 'outputs',
    args: () => ['sample', model, '--steps', '2', '--init', csv, '--csv', csv, '--force', '--backend', 'js'],
    code: 1,
    message: /is an input of this command/,
    keep: () => [csv],
  },
  {
    name: 'an existing OUT.filters.png without --force',
    cls: 'outputs',
    args: () => {
      write('pic.filters.png', 'precious');
      return ['train', ...mnist, '--out', p('pic.safetensors')];
    },
    code: 1,
    message: /pic\.filters\.png exists; use --force/,
    keep: () => [p('pic.filters.png')],
  },
  {
    name: 'an existing OUT.curves.svg without --force',
    cls: 'outputs',
    args: () => {
      write('cur.curves.svg', 'precious');
      return ['train', ...tiny(), '--out', p('cur.safetensors')];
    },
    code: 1,
    message: /cur\.curves\.svg exists; use --force/,
    keep: () => [p('cur.curves.svg')],
  },
  {
    name: '--out /dev/null --force (a device node)',
    cls: 'outputs',
    args: () => ['train', ...tiny(), '--out', '/dev/null', '--force', '--no-pictures'],
    code: 1,
    message: /\/dev\/null exists and is a character device; the model file replaces regular files only/,
    check: () => {
      expect(statSync('/dev/null').isCharacterDevice()).toBe(true);
    },
  },
  {
    name: 'a dangling symlink at --out',
    cls: 'outputs',
    args: () => {
      symlinkSync(p('nowhere'), p('dangling.safetensors'));
      return ['train', ...tiny(), '--out', p('dangling.safetensors'), '--no-pictures'];
    },
    code: 1,
    message: /symbolic link \(dangling\)/,
    check: () => {
      expect(lstatSync(p('dangling.safetensors')).isSymbolicLink()).toBe(true);
      expect(existsSync(p('nowhere'))).toBe(false);
    },
  },
  {
    name: 'a symlink to a file at --out, with --force',
    cls: 'outputs',
    args: () => {
      write('target.txt', 'precious');
      symlinkSync(p('target.txt'), p('link.safetensors'));
      return ['train', ...tiny(), '--out', p('link.safetensors'), '--no-pictures', '--force'];
    },
    code: 1,
    message: /is a symbolic link; the model file replaces regular files only/,
    keep: () => [p('target.txt')],
  },
  {
    name: '--out is a directory',
    cls: 'outputs',
    args: () => {
      mkdirSync(p('adir.safetensors'));
      return ['train', ...tiny(), '--out', p('adir.safetensors'), '--force', '--no-pictures'];
    },
    code: 1,
    message: /is a directory; the model file replaces regular files only/,
  },
  {
    name: '--out under a regular file: refused before training',
    cls: 'outputs',
    args: () => ['train', ...mnist, '--out', join(csv, 'm.safetensors')],
    code: 1,
    message: /cannot write the model file: .*data\.csv is a regular file, not a directory/,
    keep: () => [csv],
    check: (r) => {
      expect(r.stdout + r.stderr).not.toMatch(/epoch 1/);
    },
  },
  {
    name: '--out over the training data with --force',
    cls: 'outputs',
    args: () => ['train', ...tiny(), '--out', csv, '--force', '--no-pictures'],
    code: 1,
    message: /is an input of this command/,
    keep: () => [csv],
  },
  {
    name: '--resume A --out A --force (the checkpoint read is not the model written)',
    cls: 'outputs',
    args: () => ['train', '--resume', checkpoint, '--out', checkpoint, '--force', '--epochs', '3'],
    code: 1,
    message: /is an input of this command/,
    keep: () => [checkpoint],
  },
  // ---- inputs: FIFOs, devices, loops, sizes: refused at once, never read without bound ----
  ...(['info', 'eval', 'sample'] as const).map(
    (cmd): Case => ({
      name: `rbm ${cmd} on a FIFO`,
      cls: 'inputs that hang or have no end',
      args: () => [
        cmd,
        p('fifo'),
        ...(cmd === 'eval' ? ['--data', csv] : cmd === 'sample' ? ['--csv', p('never.csv')] : []),
      ],
      code: 1,
      message: /fifo: a FIFO \(named pipe\), not a regular model file/,
    }),
  ),
  {
    name: 'train --resume FIFO',
    cls: 'inputs that hang or have no end',
    args: () => ['train', '--resume', p('fifo'), '--out', p('never.safetensors')],
    code: 1,
    message: /a FIFO \(named pipe\), not a regular model file/,
  },
  {
    name: 'train --data on a .csv symlink to a FIFO',
    cls: 'inputs that hang or have no end',
    args: () => ['train', '--data', p('fifo.csv'), '--out', p('never.safetensors')],
    code: 1,
    message: /fifo\.csv: a FIFO \(named pipe\), not a regular CSV file/,
  },
  {
    name: 'train --data FIFO (IDX)',
    cls: 'inputs that hang or have no end',
    args: () => ['train', '--data', p('fifo'), '--out', p('never.safetensors')],
    code: 1,
    message: /a FIFO \(named pipe\), not a regular IDX file/,
  },
  {
    name: 'info /dev/zero',
    cls: 'inputs that hang or have no end',
    args: () => ['info', '/dev/zero'],
    code: 1,
    message: /\/dev\/zero: a character device, not a regular model file/,
  },
  {
    name: 'train --data /dev/zero',
    cls: 'inputs that hang or have no end',
    args: () => ['train', '--data', '/dev/zero', '--out', p('never.safetensors')],
    code: 1,
    message: /a character device, not a regular IDX file/,
  },
  {
    name: 'info on a directory',
    cls: 'inputs that hang or have no end',
    args: () => ['info', dir],
    code: 1,
    message: /a directory, not a regular model file/,
  },
  {
    name: 'info on a symlink loop',
    cls: 'inputs that hang or have no end',
    args: () => {
      symlinkSync(p('loop2'), p('loop1'));
      symlinkSync(p('loop1'), p('loop2'));
      return ['info', p('loop1')];
    },
    code: 1,
    message: /loop1: cannot read: too many levels of symbolic links/,
  },
  {
    name: 'info on a missing file',
    cls: 'inputs that hang or have no end',
    args: () => ['info', p('missing.safetensors')],
    code: 1,
    message: /missing\.safetensors: cannot read: no such file or directory/,
  },
  {
    name: 'info on a 1 GiB file of zeros: refused from its header',
    cls: 'inputs that hang or have no end',
    args: async () => {
      write('zeros.st', '');
      await truncate(p('zeros.st'), 2 ** 30);
      return ['info', p('zeros.st')];
    },
    code: 1,
    message: /zeros\.st: header is not a JSON object/,
    check: (r) => {
      expect(r.seconds).toBeLessThan(10);
    },
  },
  {
    name: 'info on a model followed by 1 GiB of nothing',
    cls: 'inputs that hang or have no end',
    args: async () => {
      write('padded.safetensors', readFileSync(model));
      await truncate(p('padded.safetensors'), 2 ** 30);
      return ['info', p('padded.safetensors')];
    },
    code: 1,
    message: /unexpected bytes after the last tensor/,
  },
  {
    name: 'a CSV file of one 6 MiB line',
    cls: 'inputs that hang or have no end',
    args: () => {
      write('oneline.csv', '0,'.repeat(3 * 2 ** 20));
      return ['train', '--data', p('oneline.csv'), '--out', p('never.safetensors')];
    },
    code: 1,
    message: /oneline\.csv: line 1 is longer than 4194304 bytes/,
  },
  // ---- data files ----
  {
    name: 'a CSV whose first row has one bad cell is not a header',
    cls: 'data files',
    args: () => {
      const lines = ['0,1,x,1', ...Array.from({ length: 39 }, () => '1,0,1,0')];
      write('badfirst.csv', `${lines.join('\n')}\n`);
      return argv`train --data ${p('badfirst.csv')} --hidden 2 --epochs 1 --backend js --out ${p('bf.safetensors')}`;
    },
    code: 1,
    message: /badfirst\.csv: line 1, column 3: "x" is not a number \(a header line must have no numbers at all\)/,
  },
  {
    name: 'a CSV header is said to be one',
    cls: 'data files',
    args: () => ['train', ...tiny(), '--out', p('hdr.safetensors'), '--no-pictures'],
    code: 0,
    check: (r) => {
      expect(r.stdout).toMatch(/data\.csv: 60 x 9, not binarised \(line 1 taken as a header\)/);
    },
  },
  {
    name: 'a ragged CSV row',
    cls: 'data files',
    args: () => {
      write('ragged.csv', '1,0,1\n0,1\n1,1,1\n');
      return argv`train --data ${p('ragged.csv')} --hidden 2 --epochs 1 --backend js --out ${p('rg.safetensors')}`;
    },
    code: 1,
    message: /ragged\.csv: line 2 has 2 cells, expected 3/,
  },
  {
    name: 'a CSV cell that is NaN',
    cls: 'data files',
    args: () => {
      write('nan.csv', '1,0,1\n0,NaN,1\n1,1,1\n');
      return argv`train --data ${p('nan.csv')} --hidden 2 --epochs 1 --backend js --out ${p('nn.safetensors')}`;
    },
    code: 1,
    message: /nan\.csv: line 2, column 2: "NaN" is not a finite number/,
  },
  {
    name: 'a CSV value outside [0, 1] for Bernoulli units',
    cls: 'data files',
    args: () => {
      write('range.csv', '1,0,1\n0,7,1\n1,1,1\n');
      return argv`train --data ${p('range.csv')} --hidden 2 --epochs 1 --backend js --out ${p('rn.safetensors')}`;
    },
    code: 1,
    message: /value 7 .*range\.csv at line 2, column 2 is outside \[0, 1\]/,
  },
  {
    name: 'an empty CSV',
    cls: 'data files',
    args: () => {
      write('empty.csv', '\n\n');
      return ['train', '--data', p('empty.csv'), '--out', p('em.safetensors')];
    },
    code: 1,
    message: /empty\.csv: the CSV file has no rows/,
  },
  {
    name: 'a CSV with a header and no rows',
    cls: 'data files',
    args: () => {
      write('hdronly.csv', 'a,b\n');
      return ['train', '--data', p('hdronly.csv'), '--out', p('ho.safetensors')];
    },
    code: 1,
    message: /has a header and no rows/,
  },
  {
    name: 'an IDX file with a wrong magic number',
    cls: 'data files',
    args: () => {
      write('magic.idx', new Uint8Array([1, 2, 3, 4, 0, 0, 0, 1]));
      return ['train', '--data', p('magic.idx'), '--out', p('mg.safetensors')];
    },
    code: 1,
    message: /magic number 0x01020304 is not that of an IDX file/,
  },
  {
    name: 'a truncated IDX file',
    cls: 'data files',
    args: () => ['train', '--data', idxFile, '--out', p('tr.safetensors')],
    code: 1,
    message: /x\.idx: .*(truncated|no data)/,
  },
  // ---- model files ----
  {
    name: 'a truncated model',
    cls: 'model files',
    args: () => {
      write('trunc.safetensors', readFileSync(model).subarray(0, 100));
      return ['info', p('trunc.safetensors')];
    },
    code: 1,
    message: /trunc\.safetensors: (truncated|header)/,
  },
  {
    name: 'a header length of 2^60',
    cls: 'model files',
    args: () => {
      const b = new Uint8Array(16);
      new DataView(b.buffer).setBigUint64(0, 2n ** 60n, true);
      write('huge-header.safetensors', b);
      return ['info', p('huge-header.safetensors')];
    },
    code: 1,
    message: /header length 1152921504606846976 exceeds the limit/,
  },
  {
    name: 'an empty model file',
    cls: 'model files',
    args: () => {
      write('zero.safetensors', '');
      return ['info', p('zero.safetensors')];
    },
    code: 1,
    message: /zero\.safetensors: truncated: 0 bytes/,
  },
  {
    name: 'a model with NaN weights',
    cls: 'model files',
    args: () => {
      const q = initialParameters({ numVisible: 9, numHidden: 4, seed: 1 });
      const bytes = modelBytes(q);
      // Overwrite the first weight (right after the header) with a NaN.
      const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
      new DataView(bytes.buffer).setFloat32(8 + headerLen, Number.NaN, true);
      write('nan.safetensors', bytes);
      return ['info', p('nan.safetensors')];
    },
    code: 1,
    message: /nan\.safetensors: weights\[0\] is NaN/,
  },
  {
    name: 'eval of a model with finite weights of 3e38 never prints NaN',
    cls: 'model files',
    args: () => {
      const q = initialParameters({ numVisible: 9, numHidden: 4, seed: 1 });
      q.weights.fill(3e38);
      write('huge.safetensors', modelBytes(q));
      return ['eval', p('huge.safetensors'), '--data', csv, '--exact', '--backend', 'js', '--json'];
    },
    code: 1,
    message: /came out (NaN|-?Infinity): .*largest \|parameter\| is 3\.00e\+38/,
    check: (r) => {
      expect(r.stdout).not.toMatch(/NaN/);
    },
  },
  {
    name: 'a model file given to --resume',
    cls: 'model files',
    args: () => ['train', '--resume', model, '--out', p('never.safetensors')],
    code: 1,
    message: /a model file, not a checkpoint/,
  },
  // ---- checkpoints: validated as strictly as model files ----
  {
    name: 'persistent chains holding 7.0',
    cls: 'checkpoints',
    args: async () => [
      'train',
      '--resume',
      await tamperedCheckpoint('c-chains7.ckpt', (c) => ({
        state: replaced(c.state, 'chains', 5, 7),
      })),
      '--out',
      p('c1.safetensors'),
      '--backend',
      'js',
      '--epochs',
      '3',
    ],
    code: 1,
    message: /chains\[5\] is 7, expected 0 or 1/,
  },
  {
    name: 'chains of shape [19600, 4] style (right count, wrong shape)',
    cls: 'checkpoints',
    args: async () => {
      const c = await readCheckpoint<Record<string, unknown>>(checkpoint);
      const { tensors } = await readModelFile(checkpoint);
      const chains = tensors.get('trainer.chains')!;
      expect(chains.shape[1]).toBe(9);
      // Re-encode with the chains as [n * 9 / 3, 3]: the values fill it, the shape is wrong.
      const bytes = encodeCheckpoint(
        { kind: 'rbm', parameters: (c.file as { parameters: RbmParameters }).parameters },
        c.state,
        c.job,
      );
      const text = new TextDecoder().decode(bytes);
      const was = `"trainer.chains":{"dtype":"F32","shape":[${chains.shape[0]},9]`;
      expect(text).toContain(was);
      const now = `"trainer.chains":{"dtype":"F32","shape":[${chains.shape[0]! * 3},3]`;
      // Same byte length when the digits agree; otherwise pad the JSON header with spaces.
      const patched = text.replace(was, now);
      const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
      const grow = patched.length - text.length;
      const header = new TextEncoder().encode(patched.slice(8, 8 + headerLen + grow));
      const out = new Uint8Array(8 + header.length + (bytes.length - 8 - headerLen));
      new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
      out.set(header, 8);
      out.set(bytes.subarray(8 + headerLen), 8 + header.length);
      return ['train', '--resume', write('c-shape.ckpt', out), '--out', p('c2.safetensors'), '--epochs', '3'];
    },
    code: 1,
    message: /trainer state: chains has shape \[\d+, 3\], expected \[\d+, 9\]/,
  },
  {
    name: 'a job saying 99 hidden units against 4-unit tensors',
    cls: 'checkpoints',
    args: async () => [
      'train',
      '--resume',
      await tamperedCheckpoint('c-hidden.ckpt', (c) => ({ job: { ...c.job, hidden: 99 } })),
      '--out',
      p('c3.safetensors'),
    ],
    code: 1,
    message: /the checkpoint's job says 99 hidden units, its tensors have 4/,
  },
  {
    name: 'NaN momentum in the job',
    cls: 'checkpoints',
    args: async () => {
      const path = await tamperedCheckpoint('c-mom.ckpt', (c) => ({
        job: { ...c.job, config: { ...(c.job.config as object), momentum: 'NaN' } },
      }));
      return ['train', '--resume', path, '--out', p('c4.safetensors')];
    },
    code: 1,
    message:
      /the checkpoint's job has an invalid config: momentum must be a number or a schedule .*, got "NaN" \(string\)/,
  },
  {
    name: 'NaN in the velocity',
    cls: 'checkpoints',
    args: async () => [
      'train',
      '--resume',
      await tamperedCheckpoint('c-vel.ckpt', (c) => ({ state: replaced(c.state, 'velocity.weights', 3, Number.NaN) })),
      '--out',
      p('c5.safetensors'),
      '--backend',
      'js',
      '--epochs',
      '3',
    ],
    code: 1,
    message: /velocity\.weights\[3\] is NaN, expected finite/,
  },
  {
    name: 'a checkpoint with no job',
    cls: 'checkpoints',
    args: async () => [
      'train',
      '--resume',
      await tamperedCheckpoint('c-nojob.ckpt', () => ({ job: null })),
      '--out',
      p('c6.safetensors'),
    ],
    code: 1,
    message: /has no job \(the settings of the run that wrote it\)/,
  },
  {
    name: 'a negative epoch counter',
    cls: 'checkpoints',
    args: async () => [
      'train',
      '--resume',
      await tamperedCheckpoint('c-epoch.ckpt', (c) => ({ state: { ...c.state, epoch: -1 } })),
      '--out',
      p('c7.safetensors'),
    ],
    code: 1,
    message: /rbmjs_checkpoint\.epoch is -1, expected a count/,
  },
  {
    name: 'resuming on a data file that lost rows',
    cls: 'checkpoints',
    args: async () => {
      const lines = readFileSync(csv, 'utf8').trim().split('\n');
      write('shrunk.csv', `${lines.slice(0, 40).join('\n')}\n`);
      const path = await tamperedCheckpoint('c-shrunk.ckpt', (c) => ({
        job: { ...c.job, data: { ...(c.job.data as object), name: p('shrunk.csv') } },
      }));
      return ['train', '--resume', path, '--out', p('c8.safetensors'), '--epochs', '3', '--backend', 'js'];
    },
    code: 1,
    message: /not the data .* was trained on \(.*60 rows then, 39 now/,
  },
  {
    name: 'resuming on a data file with the same size and other values',
    cls: 'checkpoints',
    args: async () => {
      write('flipped.csv', readFileSync(csv, 'utf8').replace(/\n1,/g, '\n0,'));
      const path = await tamperedCheckpoint('c-flip.ckpt', (c) => ({
        job: { ...c.job, data: { ...(c.job.data as object), name: p('flipped.csv') } },
      }));
      return ['train', '--resume', path, '--out', p('c9.safetensors'), '--epochs', '3', '--backend', 'js'];
    },
    code: 1,
    message: /the same size, but different values/,
  },
  {
    name: 'a finished checkpoint whose model was never written: the model is written',
    cls: 'checkpoints',
    args: () => argv`train --resume ${checkpoint} --out ${p('finished.safetensors')} --backend js --no-pictures`,
    code: 0,
    check: async (r) => {
      expect(r.stdout).toMatch(/has trained all 2 epochs: writing the model it holds/);
      const a = (await readModelFile(p('finished.safetensors'))).parameters;
      const b = (await readModelFile(join(dir, 'run.safetensors'))).parameters;
      expect(Array.from(a.weights)).toEqual(Array.from(b.weights));
    },
  },
  {
    name: 'temporary files of killed writes are cleaned',
    cls: 'checkpoints',
    args: () => {
      // A process id that has ended: our own child's, once it has exited.
      const dead = spawnDeadPid();
      write(`.clean.safetensors.${dead}.0123456789ab.tmp`, 'torn');
      write(`.clean.safetensors.${process.pid}.0123456789ab.tmp`, 'a live writer');
      return ['train', ...tiny(), '--out', p('clean.safetensors'), '--no-pictures'];
    },
    code: 0,
    check: (r) => {
      expect(r.stdout).toMatch(/removed .*\.clean\.safetensors\.\d+\.0123456789ab\.tmp, left by an interrupted write/);
      const left = readdirSync(dir).filter((n) => n.startsWith('.clean.safetensors.'));
      expect(left).toEqual([`.clean.safetensors.${process.pid}.0123456789ab.tmp`]);
    },
  },
  // ---- flags ----
  ...(
    [
      [['--lr-final', '0.01'], /--lr-final needs --lr-schedule linear/],
      [['--lr-decay', '0.9'], /--lr-decay needs --lr-schedule exponential/],
      [['--learn-variance'], /--learn-variance needs gaussian visible units/],
      [['--chains', '10'], /--chains needs --method pcd, fpcd, pt/],
      [['--fast-lr', '0.1'], /--fast-lr needs --method fpcd/],
      [['--fast-decay', '0.5'], /--fast-decay needs --method fpcd/],
      [['--max-norm', '0'], /--max-norm.*expected a finite number > 0, got "0"/],
      [['--ais-every', '2'], /--ais-every, --ais-runs and --ais-schedule need --monitor ais/],
      [['--temperatures', '5'], /--temperatures needs --method pt/],
      [['--momentum-switch', '3'], /--momentum-switch needs --momentum-final/],
      [['--sparsity-cost', '0.1'], /--sparsity-cost needs --sparsity-target/],
      [['--checkpoint', 'x.ckpt'], /--checkpoint needs --checkpoint-every or --resume/],
      [
        ['--method', 'pt', '--temperatures', '1'],
        /--temperatures <n>' argument '1' is invalid. expected an integer >= 2/,
      ],
      [['--backend', 'quantum'], /unknown backend "quantum"/],
    ] as Array<[string[], RegExp]>
  ).map(
    ([flags, message]): Case => ({
      name: `train ${flags.join(' ')}`,
      cls: 'flags',
      args: () => ['train', ...tiny(), ...flags, '--out', p('never.safetensors')],
      code: 2,
      message,
    }),
  ),
  {
    name: 'train --hidden 10000000',
    cls: 'flags',
    args: () => [...mnistHidden('10000000'), '--out', p('never.safetensors')],
    code: 1,
    message:
      /training with --hidden 10000000 on 784 visible units, --batch 100 needs about 263 GiB .* more than the 2\.00 GiB memory budget/,
  },
  {
    name: 'train --lr 0',
    cls: 'flags',
    args: () => ['train', '--lr', '0'],
    code: 2,
    message: /expected a finite number > 0, got "0"/,
  },
  {
    name: 'sample --side 27 on a 784-unit model',
    cls: 'flags',
    args: async () => {
      write('m784.safetensors', modelBytes(initialParameters({ numVisible: 784, numHidden: 2, seed: 1 })));
      return ['sample', p('m784.safetensors'), '--png', p('s27.png'), '--side', '27', '--steps', '1'];
    },
    code: 2,
    message: /--side 27 makes 729 pixels, the model has 784 visible units/,
  },
  {
    name: 'sample --beta-min without --tempering',
    cls: 'flags',
    args: () => ['sample', model, '--csv', p('bm.csv'), '--beta-min', '0.2'],
    code: 2,
    message: /--beta-min needs --tempering/,
  },
  // ---- divergence ----
  {
    name: '--lr 1e6: stopped, the last good parameters saved, exit 1',
    cls: 'divergence',
    args: () => ['train', ...mnist, '--lr', '1e6', '--out', p('div.safetensors'), '--no-pictures'],
    code: 1,
    message: /training diverged at step \d+ .*larger than 10000 in magnitude.*saved to .*div\.safetensors/,
    check: async () => {
      const q = (await readModelFile(p('div.safetensors'))).parameters;
      for (const x of q.weights) expect(Math.abs(x)).toBeLessThan(1e4);
    },
  },
  {
    name: '--lr 1e300: the model before the first step is saved',
    cls: 'divergence',
    args: () => ['train', ...mnist, '--lr', '1e300', '--out', p('div2.safetensors'), '--no-pictures'],
    code: 1,
    message: /training diverged at step 1 .*saved to .*div2\.safetensors/,
    check: () => {
      expect(existsSync(p('div2.safetensors'))).toBe(true);
    },
  },
  // ---- terminal escapes ----
  {
    name: 'info on a model whose metadata clears the screen and writes the clipboard',
    cls: 'terminal escapes',
    args: () => {
      const q = initialParameters({ numVisible: 9, numHidden: 4, seed: 1 });
      write(
        'evil.safetensors',
        modelBytes(q, { hyperparameters: '\u001b[2J\u001b]52;c;ZXZpbA==\u0007\nforged line\u009b31m' }),
      );
      return ['info', p('evil.safetensors')];
    },
    code: 0,
    check: (r) => {
      expect(hasControl(r.stdout)).toBe(false);
      expect(r.stdout).toContain('\\x1b[2J');
      expect(r.stdout).not.toMatch(/^forged line/m);
    },
  },
  {
    name: 'info --json on the same model',
    cls: 'terminal escapes',
    args: () => ['info', p('evil.safetensors'), '--json'],
    code: 0,
    check: (r) => {
      expect(hasControl(r.stdout)).toBe(false);
      expect(JSON.parse(r.stdout).hyperparameters).toContain('\u009b31m');
    },
  },
  {
    name: 'a CSV cell holding an escape sequence, in the error message',
    cls: 'terminal escapes',
    args: () => {
      write('esc.csv', '1,0\n0,\u001b[31mred\n');
      return ['train', '--data', p('esc.csv'), '--hidden', '2', '--epochs', '1', '--out', p('esc.safetensors')];
    },
    code: 1,
    message: /line 2, column 2: "\\u001b\[31mred" is not a number/,
    check: (r) => {
      expect(hasControl(r.stderr)).toBe(false);
    },
  },
  {
    name: 'a file name holding an escape sequence',
    cls: 'terminal escapes',
    args: () => ['info', p('\u001b]0;title\u0007.safetensors')],
    code: 1,
    check: (r) => {
      expect(hasControl(r.stderr)).toBe(false);
      expect(r.stderr).toContain('\\x1b]0;title\\x07');
    },
  },
  // ---- hidden units beyond Bernoulli: the figures they have are reported, the others skipped or refused ----
  {
    name: 'eval of an NReLU model: reconstruction reported, free energy and pseudo-likelihood skipped with a note, exit 0',
    cls: 'checked before work',
    args: () => ['eval', unitsModel('nrelu'), '--data', csv, '--backend', 'js', '--json'],
    code: 0,
    check: (r) => {
      const result = JSON.parse(r.stdout);
      expect(result.reconstructionError).toBeGreaterThan(0);
      expect(result.meanFreeEnergy).toBeUndefined();
      expect(result.skipped).toEqual([
        expect.stringMatching(/^no pseudo-likelihood: pseudo-likelihood is for Bernoulli hidden units/),
        'no free energy: nrelu hidden units have none in closed form',
      ]);
    },
  },
  {
    name: 'eval of a Gaussian-hidden model: the free energy reported, pseudo-likelihood skipped, exit 0',
    cls: 'checked before work',
    args: () => ['eval', unitsModel('gaussian'), '--data', csv, '--backend', 'js', '--json'],
    code: 0,
    check: (r) => {
      const result = JSON.parse(r.stdout);
      expect(Number.isFinite(result.meanFreeEnergy)).toBe(true);
      expect(result.skipped).toHaveLength(1);
    },
  },
  {
    name: 'eval --ais of an NReLU model: refused by name before work',
    cls: 'checked before work',
    args: () => ['eval', unitsModel('nrelu'), '--data', csv, '--ais', '--backend', 'js'],
    code: 2,
    message: /--ais needs Bernoulli hidden units .* has nrelu hidden units/,
    quiet: true,
  },
  {
    name: 'train NReLU units with --validation: trains, the free-energy figures left out',
    cls: 'checked before work',
    args: () => [
      ...['train', ...tiny(), '--hidden-units', 'nrelu', '--validation', '20', '--monitor', 'reconstruction'],
      ...['--no-pictures', '--out', p('nrelu-v.safetensors')],
    ],
    code: 0,
    check: (r) => {
      expect(r.stdout).toMatch(/held out: reconstruction/);
    },
  },
  // ---- evaluation flags without their mode: refused by name, never ignored ----
  ...(
    [
      [['--raise-sweeps', '10'], '--raise-sweeps needs --bounds'],
      [['--raise-chains', '2', '--ais'], '--raise-chains needs --bounds'],
      [['--ais-runs', '5'], '--ais-runs needs --ais or --bounds'],
      [['--ais-schedule', 'linear:10'], '--ais-schedule needs --ais or --bounds'],
      [['--ais-reverse'], '--ais-reverse needs --ais'],
      [['--ais-temperatures', '4', '--bounds'], '--ais-temperatures needs --ais'],
      [['--ais-sweeps', '3'], '--ais-sweeps needs --ais or --bounds'],
      [['--width', '2', '--ais'], '--width needs --bounds'],
      [['--budget', '10m', '--ais'], '--budget needs --bounds'],
      [['--raise-stuck-chains', '64', '--ais'], '--raise-stuck-chains needs --bounds'],
      [['--raise-stuck-gap', '2'], '--raise-stuck-gap needs --bounds'],
      [['--ais-resample', '0.3', '--ais'], '--ais-resample needs --ais-schedule adaptive'],
    ] as const
  ).map(
    ([flags, said]): Case => ({
      name: `eval ${flags.join(' ')} without its mode: refused by name`,
      cls: 'flags',
      args: () => ['eval', model, '--data', csv, ...flags, '--backend', 'js'],
      code: 2,
      message: new RegExp(`${said}; without it, it would do nothing`),
      quiet: true,
    }),
  ),
  {
    name: "eval --bounds --raise-stuck-chains of a DBM: refused by name (one RBM's RAISE only), not the plain output",
    cls: 'flags',
    args: () => [
      'eval',
      write('dbm.safetensors', encodeDbm(initialDbmParameters({ sizes: [9, 4, 3], seed: 1 }))),
      ...['--data', csv, '--bounds', '--raise-stuck-chains', '8', '--backend', 'js'],
    ],
    code: 2,
    message: /--raise-stuck-chains is for one RBM; .*dbm\.safetensors is a deep Boltzmann machine/,
    quiet: true,
  },
  {
    name: "eval --raise-posterior-steps of one RBM: refused by name (a DBM's RAISE only)",
    cls: 'flags',
    args: () => ['eval', model, '--data', csv, '--bounds', '--raise-posterior-steps', '10', '--backend', 'js'],
    code: 2,
    message: /--raise-posterior-steps is for a deep Boltzmann machine; .* is not one/,
    quiet: true,
  },
  {
    name: "eval --raise-schedule of one RBM: refused by name (a DBM's RAISE only)",
    cls: 'flags',
    args: () => ['eval', model, '--data', csv, '--bounds', '--raise-schedule', 'linear:100', '--backend', 'js'],
    code: 2,
    message: /--raise-schedule is for a deep Boltzmann machine; .* is not one/,
    quiet: true,
  },
  {
    name: 'eval --bounds --budget that is no duration: refused by value',
    cls: 'flags',
    args: () => ['eval', model, '--data', csv, '--bounds', '--budget', 'soon', '--backend', 'js'],
    code: 2,
    message: /expected a duration such as 90s, 30m or 2h, got "soon"/,
    quiet: true,
  },
  {
    name: 'eval --bounds --raise-stuck-chains below --raise-chains: refused before work',
    cls: 'flags',
    args: () => [
      ...['eval', model, '--data', csv, '--bounds', '--raise-chains', '8', '--raise-stuck-chains', '4'],
      ...['--backend', 'js'],
    ],
    code: 2,
    message: /--raise-stuck-chains 4 is below --raise-chains 8: the stuck examples get at least as many chains/,
    quiet: true,
  },
  {
    name: 'eval --ais-schedule adaptive:1.5: the conditional ESS is a fraction, refused before work',
    cls: 'flags',
    args: () => ['eval', model, '--data', csv, '--ais', '--ais-schedule', 'adaptive:1.5', '--backend', 'js'],
    code: 2,
    message: /--ais-schedule adaptive:1\.5: the conditional ESS C of adaptive:C must be in \(0, 1\)/,
    quiet: true,
  },
  // ---- collaborative filtering: flags without their mode ----
  {
    name: 'train --ratings --checkpoint without --checkpoint-every or --resume: refused, as for other runs',
    cls: 'flags',
    args: () => [
      ...['train', '--ratings', write('r.csv', '1,1,3\n1,2,4\n2,1,5\n2,2,1\n'), '--checkpoint', p('r.ckpt')],
      ...['--epochs', '1', '--backend', 'js', '--out', p('r.safetensors')],
    ],
    code: 2,
    message: /--checkpoint needs --checkpoint-every or --resume/,
    quiet: true,
  },
  // ---- rbm export and rbm import: outputs, inputs that never end, archives that are not one ----
  {
    name: 'rbm export over its own model file is refused, the model kept',
    cls: 'outputs',
    args: () => ['export', fixedModel('ex1.safetensors', 6, 3), '--onnx', p('ex1.safetensors'), '--force'],
    code: 1,
    message: /ex1\.safetensors is an input of this command/,
    keep: () => [p('ex1.safetensors')],
    quiet: true,
  },
  {
    name: 'rbm export onto an existing file without --force is refused, the file kept',
    cls: 'outputs',
    args: () => {
      write('ex2.onnx', 'keep me');
      return ['export', fixedModel('ex2.safetensors', 6, 3), '--onnx', p('ex2.onnx')];
    },
    code: 1,
    message: /ex2\.onnx exists; use --force to replace it \(the ONNX model\)/,
    keep: () => [p('ex2.onnx')],
  },
  {
    name: 'rbm export of a FIFO ends at once',
    cls: 'inputs that hang or have no end',
    args: () => ['export', p('fifo.safetensors'), '--onnx', p('ex3.onnx')],
    code: 1,
    message: /FIFO \(named pipe\), not a regular model file/,
  },
  {
    name: 'rbm import of /dev/zero ends at once',
    cls: 'inputs that hang or have no end',
    args: () => ['import', '--sklearn', '/dev/zero', '--out', p('ex4.safetensors')],
    code: 1,
    message: /\/dev\/zero/,
  },
  {
    name: 'rbm import of a FIFO ends at once',
    cls: 'inputs that hang or have no end',
    args: () => ['import', '--sklearn', p('fifo'), '--out', p('ex5.safetensors')],
    code: 1,
    message: /fifo: a FIFO \(named pipe\)/,
  },
  {
    name: 'rbm import of a zip that is not an npz names it',
    cls: 'model files',
    args: () => ['import', '--sklearn', write('ex6.npz', 'PK\u0003\u0004 truncated'), '--out', p('ex6.safetensors')],
    code: 1,
    message: /ex6\.npz: not a NumPy \.npz archive/,
  },
  {
    name: 'rbm export --what with an unknown output is refused before reading the model',
    cls: 'flags',
    args: () => ['export', p('missing.safetensors'), '--onnx', p('ex7.onnx'), '--what', 'features,bogus'],
    code: 2,
    message: /"bogus" is not an output/,
    quiet: true,
  },
  // ---- what native libraries print ----
  {
    name: 'rbm backends keeps Dawn and Vulkan warnings out of its output',
    cls: 'native noise',
    args: () => ['backends'],
    code: 0,
    check: (r) => {
      expect(r.stdout + r.stderr).not.toMatch(/\.cpp:\d+|BackendVk|Couldn't load Vulkan/);
      expect(r.stdout).toMatch(/^ok {3}js /m);
    },
  },
];

/**
 * Runs one case: no hang, no kept file changed, the exit code and message asked for, a clear one-line error
 * (never a stack trace, a bare TypeError or "Invalid typed array length"), then the case's own checks.
 */
async function runCase(c: Case): Promise<void> {
  const args = await c.args();
  const kept = (c.keep?.() ?? []).map((path) => [path, hash(path)] as const);
  const r = await rbm(args, { timeoutMs: TIMEOUT, ...(c.rss ? { rss: true } : {}) });
  const lost = kept.filter(([path, h]) => !existsSync(path) || hash(path) !== h).length;
  count(c.cls, r, lost);
  expect(r.timedOut, `hung: rbm ${args.join(' ')}`).toBe(false);
  expect(lost, 'a file that had to be kept changed').toBe(0);
  expect(r.code, r.stderr).toBe(c.code);
  expect(r.stderr).not.toMatch(/Invalid typed array length|TypeError/);
  if (c.code !== 0) {
    expect(isClear(r), r.stderr).toBe(true);
    expect(r.stderr).not.toMatch(/run with --verbose/);
  }
  if (c.message) expect(r.stderr).toMatch(c.message);
  if (c.quiet) expect(r.stdout).toBe('');
  await c.check?.(r);
}

/**
 * Runs `rbm args`, calling `onOutput(child, stdout)` each time its stdout grows (to send it signals), and
 * counts the run in `cls`; a run still going after `limitMs` is killed and reported as hung.
 */
async function watched(
  args: string[],
  onOutput: (child: ChildProcess, stdout: string) => void,
  limitMs = 60_000,
): Promise<Run> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let timedOut = false;
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, limitMs);
  const code = await new Promise<number | null>((resolve) => {
    child.stdout.on('data', (d) => {
      stdout += d;
      onOutput(child, stdout);
    });
    child.on('close', resolve);
  });
  clearTimeout(timer);
  const r: Run = { code, stdout, stderr, timedOut, seconds: 0 };
  count('signals', r, 0);
  return r;
}

/** Writes `content` as the data file `name` and returns the arguments of a tiny training run on it. */
function dataTrain(name: string, content: string | Uint8Array, ...flags: string[]): string[] {
  write(name, content);
  const out = p(name.replace(/\.\w+$/, '.safetensors'));
  return ['train', '--data', p(name), ...flags, '--hidden', '2', '--epochs', '1', '--backend', 'js', '--out', out];
}

/** A 9-4 model with `units` hidden units (the probe's CSV has 9 columns), written once. */
function unitsModel(units: 'nrelu' | 'gaussian'): string {
  return write(
    `${units}.safetensors`,
    modelBytes(initialParameters({ numVisible: 9, numHidden: 4, seed: 2, hiddenUnits: units })),
  );
}

/** Writes a freshly initialised nv-nh model as `name` and returns its path. */
function fixedModel(name: string, nv: number, nh: number): string {
  return write(name, modelBytes(initialParameters({ numVisible: nv, numHidden: nh, seed: 1 })));
}

// ---- Bounded before it starts: labels, budgets, strict numbers, checks before the first byte written ----
// `d16.csv` = 200 rows of 16 binary values, `lab.csv` = 200 labels 0-3, `lab_N.csv` = lab.csv with line 11 = N.
const lab = (n: string | number) => p(`lab_${n}.csv`);
const d16 = () => p('d16.csv');
const cls = () => p('cls.safetensors');
const labelled = (labels: string, ...more: string[]) => [
  'train',
  '--data',
  d16(),
  '--labels',
  labels,
  '--hidden',
  '8',
  '--epochs',
  '1',
  '--batch',
  '20',
  '--backend',
  'js',
  '--no-pictures',
  ...more,
];
/** An IDX file of float32 rows (magic 0x00000D02), big-endian. */
function floatIdx(rows: number, cols: number, value: (i: number) => number): Uint8Array {
  const bytes = new Uint8Array(12 + 4 * rows * cols);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, 0x0d02);
  view.setUint32(4, rows);
  view.setUint32(8, cols);
  for (let i = 0; i < rows * cols; i++) view.setFloat32(12 + 4 * i, value(i));
  return bytes;
}

const boundCases: Case[] = [
  {
    name: 'train --labels with one label of 5000 among 0-3: refused at once, naming the line and the value',
    cls: 'labels',
    args: () => labelled(lab(5000), '--out', p('l5000.safetensors')),
    code: 1,
    message:
      /lab_5000\.csv: line 11: label 5000 is far beyond the others \(4 other distinct labels, 0\.\.3\): it would make 5001 classes; give --classes 5001/,
    check: (r) => {
      expect(r.seconds).toBeLessThan(10);
      expect(existsSync(p('l5000.safetensors'))).toBe(false);
    },
  },
  {
    name: 'the same with --objective generative (it trained a 5017-visible "classifier")',
    cls: 'labels',
    args: () => labelled(lab(5000), '--objective', 'generative', '--out', p('l5000g.safetensors')),
    code: 1,
    message: /line 11: label 5000 is far beyond the others/,
  },
  {
    name: 'a label of 1e9: no bare "Invalid typed array length"',
    cls: 'labels',
    args: () => labelled(lab(1000000000), '--out', p('l1e9.safetensors')),
    code: 1,
    message: /line 11: label 1000000000 is far beyond .* more than the 65536 a classifier may have/,
  },
  {
    name: '--classes beyond what a classifier may have',
    cls: 'labels',
    args: () => labelled(p('lab.csv'), '--classes', '100000', '--out', p('lcl.safetensors')),
    code: 1,
    message: /--classes 100000: 100000 classes, more than the 65536/,
  },
  {
    name: '--classes 5001 given: the budget decides, naming the flags and the limit',
    cls: 'labels',
    args: () => labelled(lab(5000), '--classes', '5001', '--max-memory', '1M', '--out', p('lbud.safetensors')),
    code: 1,
    message:
      /training with --hidden 8 on 5017 visible units \(5001 of them classes\), --batch 20 needs about .* more than the 1\.00 MiB memory budget \(--max-memory SIZE raises it\)/,
  },
  {
    name: 'a label -1 is named by its file line (1-based), not "label 10"',
    cls: 'labels',
    args: () => labelled(lab(-1), '--out', p('lneg.safetensors')),
    code: 1,
    message: /lab_-1\.csv: line 11: label -1 is not a whole number/,
  },
  {
    name: 'label 2147483647 is shown as read, not as 2147483648',
    cls: 'labels',
    args: () => labelled(lab(2147483647), '--out', p('lmax.safetensors')),
    code: 1,
    message: /line 11: label 2147483647 is far beyond/,
  },
  {
    name: 'label 2.0004 is not rounded to 2',
    cls: 'number syntax',
    args: () => labelled(lab('2.0004'), '--out', p('lfrac.safetensors')),
    code: 1,
    message: /line 11: label 2\.0004 is not a whole number/,
  },
  {
    name: 'label 0x2 is not a number',
    cls: 'number syntax',
    args: () => labelled(lab('0x2'), '--out', p('lhex.safetensors')),
    code: 1,
    message: /line 11, column 1: "0x2" is not a number \(only decimal and exponent forms/,
  },
  {
    name: 'label 1e39 is named as read, not as Infinity',
    cls: 'number syntax',
    args: () => labelled(lab('1e39'), '--out', p('lbig.safetensors')),
    code: 1,
    message: /line 11, column 1: "1e39" is beyond the float32 range/,
  },
  {
    name: 'CSV cells 0b1 and 0o1 are not numbers',
    cls: 'number syntax',
    args: () => dataTrain('bin.csv', '0,1\n0b1,0o1\n'),
    code: 1,
    message: /bin\.csv: line 2, column 1: "0b1" is not a number/,
  },
  {
    name: 'a first row of NaN is data (refused), not a header',
    cls: 'number syntax',
    args: () => dataTrain('nanrow.csv', 'NaN,NaN\n0,1\n1,0\n'),
    code: 1,
    message: /nanrow\.csv: line 1, column 1: "NaN" is not a finite number/,
  },
  {
    name: 'a tab-separated file: the error says so',
    cls: 'number syntax',
    args: () => dataTrain('tabs.csv', '0\t1\t0\n1\t0\t1\n'),
    code: 1,
    message:
      /tabs\.csv: line 1, column 1: .* \(the file seems to be separated by tabs: rbm reads comma-separated values\)/,
  },
  {
    name: 'a semicolon-separated file with a header: the error says so',
    cls: 'number syntax',
    args: () => dataTrain('semi.csv', 'a;b\n0;1\n1;0\n'),
    code: 1,
    message: /semi\.csv: line 1, column 1: "a;b" is not a number \(the file seems to be separated by semicolons/,
  },
  {
    name: 'CR-only line endings are named',
    cls: 'number syntax',
    args: () => dataTrain('cr.csv', '0,1\r1,0\r1,1\r'),
    code: 1,
    message: /cr\.csv: its lines end in a carriage return alone/,
  },
  {
    name: 'a value out of [0, 1] is named by file line and column (1-based), as the CSV parser names them',
    cls: 'number syntax',
    args: () => dataTrain('bad3.csv', 'a,b\n0,1\n1,0\n2,1\n0,0\n'),
    code: 1,
    message: /value 2 in .*bad3\.csv at line 4, column 1 is outside \[0, 1\]/,
  },
  {
    name: 'NaN in IDX float data under --binarize threshold is refused, not made 0 (train)',
    cls: 'data files',
    args: () =>
      dataTrain(
        'nan.idx',
        floatIdx(20, 4, (i) => (i === 9 ? Number.NaN : (i % 3) / 3)),
        '--binarize',
        'threshold',
      ),
    code: 1,
    message: /nan\.idx: row 3, column 2: NaN is not a finite number/,
  },
  {
    name: 'the same in transform',
    cls: 'data files',
    args: () =>
      argv`transform ${fixedModel('m4.safetensors', 4, 2)} --data ${p('nan.idx')} --binarize threshold
        --out ${p('nan.npy')} --backend js`,
    code: 1,
    message: /row 3, column 2: NaN is not a finite number/,
    check: () => {
      expect(existsSync(p('nan.npy'))).toBe(false);
    },
  },
  {
    name: 'a label file longer than the data is refused, not truncated (train)',
    cls: 'labels',
    args: () => {
      write('lab_long.csv', `${Array.from({ length: 201 }, (_, i) => i % 4).join('\n')}\n`);
      return labelled(p('lab_long.csv'), '--out', p('llong.safetensors'));
    },
    code: 1,
    message: /lab_long\.csv: 201 labels for 200 examples \(more labels than examples/,
  },
  {
    name: 'a label file longer than the data is refused (predict)',
    cls: 'labels',
    args: () => ['predict', cls(), '--data', d16(), '--labels', p('lab_long.csv'), '--backend', 'js'],
    code: 1,
    message: /201 labels for 200 examples/,
  },
  {
    name: 'predict --out --force with labels outside the classes: refused before, the old file kept',
    cls: 'checked before work',
    args: () => {
      write('pred.csv', 'precious');
      return argv`predict ${cls()} --data ${d16()} --labels ${lab(7)} --out ${p('pred.csv')} --force --backend js`;
    },
    code: 1,
    message: /lab_7\.csv: line 11: label 7 is not one of the 4 classes 0\.\.3/,
    keep: () => [p('pred.csv')],
  },
  {
    name: 'predict --out without --force with labels outside the classes: no new file left',
    cls: 'checked before work',
    args: () => ['predict', cls(), '--data', d16(), '--labels', lab(7), '--out', p('pred-new.csv'), '--backend', 'js'],
    code: 1,
    check: () => {
      expect(existsSync(p('pred-new.csv'))).toBe(false);
    },
  },
  {
    name: 'sample --chains 10000000: refused before allocating',
    cls: 'resource requests',
    args: () => ['sample', model, '--chains', '10000000', '--csv', p('huge.csv'), '--backend', 'js'],
    code: 1,
    message:
      /--chains 10000000 needs about .* GiB .* more than the 2\.00 GiB memory budget \(--max-memory SIZE raises it\)/,
    check: (r) => {
      expect(r.seconds).toBeLessThan(10);
    },
  },
  {
    name: 'sample --tempering 10000000',
    cls: 'resource requests',
    args: () => ['sample', model, '--tempering', '10000000', '--csv', p('huge.csv'), '--backend', 'js'],
    code: 1,
    message: /--chains 64 x --tempering 10000000 needs about/,
  },
  {
    name: 'eval --ais --ais-runs 10000000',
    cls: 'resource requests',
    args: () => ['eval', model, '--data', csv, '--ais', '--ais-runs', '10000000', '--backend', 'js'],
    code: 1,
    message: /--ais-runs 10000000 needs about/,
    quiet: true,
  },
  {
    name: 'eval --ais --ais-schedule linear:400000000 within --max-memory 100M: refused before allocating, naming the flag',
    cls: 'resource requests',
    args: () => [
      ...['eval', model, '--data', csv, '--ais', '--ais-schedule', 'linear:400000000'],
      ...['--max-memory', '100M', '--backend', 'js'],
    ],
    code: 1,
    message:
      /--ais-schedule linear:400000000 \(400000000 steps\) needs about 5\.96 GiB .* more than the 100 MiB memory budget/,
    quiet: true,
    check: (r) => {
      expect(r.seconds).toBeLessThan(10);
    },
  },
  {
    name: 'eval --bounds --ais-schedule linear:99999999999: a clear refusal, not a bare RangeError',
    cls: 'resource requests',
    args: () => ['eval', model, '--data', csv, '--bounds', '--ais-schedule', 'linear:99999999999', '--backend', 'js'],
    code: 1,
    message: /--ais-schedule linear:99999999999 \(99999999999 steps\) needs about/,
    quiet: true,
  },
  {
    name: 'train --monitor ais --ais-schedule linear:400000000 within --max-memory 100M: refused before training',
    cls: 'resource requests',
    args: () => [
      ...['train', ...tiny(), '--monitor', 'ais', '--ais-schedule', 'linear:400000000', '--max-memory', '100M'],
      ...['--out', p('sched.safetensors')],
    ],
    code: 1,
    message: /--ais-schedule linear:400000000 \(400000000 steps\) needs about/,
  },
  {
    name: 'eval --ais --ais-schedule sm:1000 says the multiplier runs from 1 to 999',
    cls: 'flags',
    args: () => ['eval', model, '--data', csv, '--ais', '--ais-schedule', 'sm:1000', '--backend', 'js'],
    code: 1,
    message: /--ais-schedule "sm:1000": use sm, sm:F \(F from 1 to 999 times its steps\) or linear:N/,
  },
  {
    // Each user rates one item: a 60 KB file whose dense batches are 4,000 items wide. ONNX Runtime's queue
    // held a copy of every batch's uploads (an epoch's worth: past 2.5 GB at 10,000 x 10,000 ids) until the
    // trainer paced it.
    name: 'train --ratings on a sparse id space (4,000 x 4,000) on onnxruntime:cpu: the run stays within --max-memory',
    cls: 'resource requests',
    rss: true,
    args: () => [...diagonalRatings(4000), '--max-memory', '300M', '--out', p('diag4k.safetensors')],
    code: 0,
    check: async (r) => {
      // The budget covers what a run allocates: above what the same process holds for 30 ids.
      const base = await rbm(argv`${diagonalRatings(30)} --out ${p('diag30.safetensors')}`, {
        rss: true,
        timeoutMs: TIMEOUT,
      });
      expect(base.code, base.stderr).toBe(0);
      expect(r.maxRssBytes! - base.maxRssBytes!).toBeLessThan(300 * 2 ** 20);
    },
  },
  {
    name: 'train --method pt --temperatures 1000000',
    cls: 'resource requests',
    args: () => ['train', ...tiny(), '--method', 'pt', '--temperatures', '1000000', '--out', p('pt.safetensors')],
    code: 1,
    message: /training with --hidden 4 on 9 visible units, --batch 10, --chains 10, --temperatures 1000000 needs about/,
  },
  {
    name: 'train --hidden 100000 on MNIST: refused before training',
    cls: 'resource requests',
    args: () => [...mnistHidden('100000'), '--out', p('h.safetensors')],
    code: 1,
    message: /training with --hidden 100000 on 784 visible units, --batch 100 needs about 2\.\d+ GiB/,
    check: (r) => {
      expect(r.seconds).toBeLessThan(10);
    },
  },
  {
    name: '--max-memory raises the budget',
    cls: 'resource requests',
    args: () => argv`sample ${model} --chains 100 --steps 1 --csv ${p('mm.csv')} --max-memory 10M --backend js`,
    code: 0,
  },
  {
    name: 'eval holds its data in memory: within the budget, or refused before reading',
    cls: 'resource requests',
    args: () => ['eval', model, '--data', csv, '--max-memory', '1K', '--backend', 'js'],
    code: 1,
    message:
      /holding .*data\.csv in memory \(60 rows of 9; --limit N holds fewer\) needs about 4\.\d+ KiB .* more than the 1\.00 KiB memory budget/,
    quiet: true,
  },
  {
    name: 'transform to safetensors builds the file in memory: within the budget, or refused before writing',
    cls: 'resource requests',
    args: () => argv`transform ${model} --data ${csv} --out ${p('f.safetensors')} --max-memory 1K --backend js`,
    code: 1,
    quiet: true,
    message: /a safetensors file of 60 rows x 4 features, built in memory \(--format npy or csv streams them\)/,
    check: () => {
      expect(existsSync(p('f.safetensors'))).toBe(false);
    },
  },
  {
    name: '--max-memory takes sizes only',
    cls: 'resource requests',
    args: () => ['sample', model, '--csv', p('mm2.csv'), '--max-memory', 'lots'],
    code: 2,
    message: /expected a size such as 4G/,
  },
  {
    name: 'eval on a classifier: no pseudo-likelihood (it is undefined), said, exit 0',
    cls: 'checked before work',
    args: () => ['eval', cls(), '--data', p('joint.csv'), '--backend', 'js'],
    code: 0,
    check: (r) => {
      expect(r.stdout).toMatch(/no pseudo-likelihood: .* rbm predict gives its accuracy/);
      expect(r.stdout).toMatch(/mean free energy/);
    },
  },
  {
    name: 'eval of a classifier on its inputs alone: the shape error says the labels go in as one-hot columns',
    cls: 'checked before work',
    args: () => ['eval', cls(), '--data', d16(), '--backend', 'js'],
    code: 1,
    message:
      /16 values per example, .* has 20 visible units \(16 inputs, then the label as 4 one-hot columns: .*rbm predict classifies rows of the inputs alone\)/,
  },
  {
    name: 'eval --pl full on a classifier: refused before work, with the way out',
    cls: 'checked before work',
    args: () => ['eval', cls(), '--data', p('joint.csv'), '--pl', 'full', '--backend', 'js'],
    code: 2,
    message: /--pl full: pseudo-likelihood by bit flips is undefined for softmax units .* use --pl none/,
    quiet: true,
  },
  {
    name: 'eval on a DBN says what it is, not an API name',
    cls: 'checked before work',
    args: () => ['eval', p('dbn.safetensors'), '--data', d16(), '--backend', 'js'],
    code: 2,
    message: /dbn\.safetensors is a deep belief network \(2 layers\); rbm eval takes one RBM/,
  },
  {
    name: 'predict on a DBN says what it is',
    cls: 'checked before work',
    args: () => ['predict', p('dbn.safetensors'), '--data', d16(), '--no-labels', '--backend', 'js'],
    code: 2,
    message: /is a deep belief network \(2 layers\); rbm predict takes one RBM/,
  },
  {
    name: 'transform of a classifier names its label units',
    cls: 'checked before work',
    args: () => ['transform', cls(), '--data', d16(), '--out', p('tc.npy'), '--backend', 'js'],
    code: 1,
    message:
      /has 20 visible units \(16 inputs and 4 label units: a classifier takes each row with its one-hot label appended/,
  },
  ...(
    [
      [
        'transform',
        () => ['transform', model, '--data', csv, '--backend', 'js', '--out', p('nd1/sub/f.npy')],
        'nd1/sub/f.npy',
      ],
      [
        'predict',
        () => ['predict', cls(), '--data', d16(), '--no-labels', '--backend', 'js', '--out', p('nd2/sub/p.csv')],
        'nd2/sub/p.csv',
      ],
      [
        'sample',
        () => ['sample', model, '--steps', '2', '--csv', p('nd3/sub/s.csv'), '--backend', 'js'],
        'nd3/sub/s.csv',
      ],
    ] as const
  ).map(
    ([cmd, args, out]): Case => ({
      name: `${cmd} --out into new folders creates them, as train does`,
      cls: 'outputs',
      args: () => [...args()],
      code: 0,
      check: () => {
        expect(existsSync(p(out))).toBe(true);
      },
    }),
  ),
  {
    name: 'an over-long output file name is refused before any work',
    cls: 'checked before work',
    args: () => ['transform', model, '--data', csv, '--backend', 'js', '--out', p(`${'x'.repeat(250)}.npy`)],
    code: 1,
    message: /cannot write the features file: the name "x{40}\.\.\." is 254 bytes, more than the 223/,
    quiet: true,
  },
  {
    name: 'eval --compare of the wrong width: refused before printing, naming the file',
    cls: 'checked before work',
    args: () => ['eval', model, '--data', csv, '--compare', d16(), '--backend', 'js'],
    code: 1,
    message: /--compare .*d16\.csv: 16 values per example, the model .* has 9 visible units/,
    quiet: true,
  },
  {
    name: '--ais-reverse-start exact on a model too large: refused before forward AIS',
    cls: 'checked before work',
    args: () => {
      write('m30.safetensors', modelBytes(initialParameters({ numVisible: 30, numHidden: 30, seed: 1 })));
      write('d30.csv', `${Array.from({ length: 4 }, () => Array(30).fill(0).join(',')).join('\n')}\n`);
      return argv`eval ${p('m30.safetensors')} --data ${p('d30.csv')} --ais --ais-reverse --ais-reverse-start exact --backend js`;
    },
    code: 2,
    message: /--ais-reverse-start exact: 30-30 has 2\^30 states to enumerate, more than 2\^20; use pt/,
    quiet: true,
  },
  {
    name: 'sample --chains 400 --init d16.csv (200 rows) writes 400 samples',
    cls: 'checked before work',
    args: () =>
      argv`sample ${fixedModel('m16.safetensors', 16, 4)} --chains 400 --init ${d16()} --steps 2
        --csv ${p('s400.csv')} --backend js`,
    code: 0,
    check: (r) => {
      expect(readFileSync(p('s400.csv'), 'utf8').trim().split('\n')).toHaveLength(400);
      expect(r.stdout).toMatch(/400 chains from the 200 rows/);
    },
  },
  {
    name: 'clamped real values in the samples CSV are written as read (0.65316, not 0.6531599760055542)',
    cls: 'checked before work',
    args: () => {
      fixedModel('m16.safetensors', 16, 4);
      write('real16.csv', `${Array.from({ length: 4 }, () => Array(16).fill('0.65316').join(',')).join('\n')}\n`);
      return argv`sample ${p('m16.safetensors')} --init ${p('real16.csv')} --chains 4 --clamp-top 2 --steps 2
        --csv ${p('real.csv')} --backend js`;
    },
    code: 0,
    check: () => {
      const text = readFileSync(p('real.csv'), 'utf8');
      expect(text).toContain('0.65316');
      expect(text).not.toMatch(/0\.653159/);
    },
  },
  ...(
    [
      [
        ['--threshold', '0.3'],
        /--threshold has no effect without threshold binarisation .*not binarised by default; add --binarize threshold/,
      ],
      [['--data-seed', '3'], /--data-seed seeds stochastic binarisation only/],
      [['--split', 'test'], /--split chooses MNIST's split; it has no effect on/],
      [['--binarize', 'none', '--threshold', '0.3'], /--threshold has no effect .*--binarize none/],
    ] as const
  ).map(
    ([flags, message]): Case => ({
      name: `a flag with no effect on CSV data is refused: ${flags.join(' ')}`,
      cls: 'flags',
      args: () => ['train', ...tiny(), ...flags, '--out', p('idle.safetensors')],
      code: 2,
      message,
    }),
  ),
  {
    name: '--binarize stochastic on values above 1 is refused, naming the place',
    cls: 'flags',
    args: () => dataTrain('above1.csv', '0,0.5\n0.2,3\n', '--binarize', 'stochastic'),
    code: 1,
    message:
      /above1\.csv: line 2, column 2: 3 is outside \[0, 1\]; --binarize stochastic draws 1 with the value as its probability/,
  },
  {
    name: 'a newline in an output file name is shown escaped: no forged output line',
    cls: 'terminal escapes',
    args: () => ['sample', model, '--steps', '2', '--csv', p('two\nforged line.csv'), '--backend', 'js'],
    code: 0,
    check: (r) => {
      expect(r.stdout).toContain('two\\nforged line.csv');
      expect(r.stdout).not.toMatch(/^forged line/m);
    },
  },
];

describe('bounded before it starts: labels, budgets, strict numbers, nothing written by a failing command', () => {
  beforeAll(async () => {
    const rows: string[] = [];
    const labels: number[] = [];
    for (let r = 0; r < 200; r++) {
      rows.push(Array.from({ length: 16 }, (_, j) => ((r * 7 + j * 3) % 5 < 2 ? 1 : 0)).join(','));
      labels.push(r % 4);
    }
    write('d16.csv', `${rows.join('\n')}\n`);
    write('lab.csv', `${labels.join('\n')}\n`);
    for (const n of [5000, 1000000000, -1, 2147483647, '2.0004', '0x2', '1e39', 7]) {
      const changed = labels.map(String);
      changed[10] = String(n);
      write(`lab_${n}.csv`, `${changed.join('\n')}\n`);
    }
    // Joint rows [x, e_y] for eval on the classifier.
    write(
      'joint.csv',
      `${rows.map((x, r) => `${x},${[0, 1, 2, 3].map((k) => (k === r % 4 ? 1 : 0)).join(',')}`).join('\n')}\n`,
    );
    const trained = await rbm(labelled(p('lab.csv'), '--out', cls()), { timeoutMs: 60_000 });
    if (trained.code !== 0) throw new Error(`classifier fixture: ${trained.stderr}`);
    const dbn = await rbm(
      argv`train --data ${d16()} --hidden 6,3 --epochs 1 --backend js --no-pictures --out ${p('dbn.safetensors')}`,
      { timeoutMs: 60_000 },
    );
    if (dbn.code !== 0) throw new Error(`DBN fixture: ${dbn.stderr}`);
  }, 120_000);

  it.each(boundCases.map((c) => [c.name, c] as const))('%s', async (_name, c) => runCase(c));

  it('--resume notices a changed label file (labels are fingerprinted with the data)', async () => {
    write('labres.csv', readFileSync(p('lab.csv')));
    const first = await rbm(
      argv`${labelled(p('labres.csv'), '--out', p('res.safetensors'))} --epochs 2 --checkpoint-every 1`,
      { timeoutMs: 60_000 },
    );
    expect(first.code, first.stderr).toBe(0);
    // The same file, the same rows and classes: two labels swapped.
    const text = readFileSync(p('labres.csv'), 'utf8').split('\n');
    [text[0], text[1]] = [text[1]!, text[0]!];
    write('labres.csv', text.join('\n'));
    const r = await rbm(
      argv`train --resume ${p('res.ckpt.safetensors')} --epochs 3 --out ${p('res.safetensors')} --force --no-pictures`,
      { timeoutMs: 60_000 },
    );
    count('labels', r, 0);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(
      /labres\.csv: not the labels .*res\.ckpt\.safetensors was trained on \(the same 200 rows, different labels\)/,
    );
  }, 120_000);

  it('huge requested work says how long it will take, and a signal ends it', async () => {
    const r = await watched(
      ['sample', model, '--steps', '1000000000000', '--csv', p('never2.csv'), '--backend', 'js'],
      (child, stdout) => {
        if (/the rest will take about/.test(stdout)) child.kill('SIGINT');
      },
    );
    expect(r.timedOut).toBe(false);
    expect(r.stdout).toMatch(
      /sampling: \d+ of 1000000000000 sweeps in [\d.]+ s; the rest will take about [\d.]+ (years|days)/,
    );
    expect(existsSync(p('never2.csv'))).toBe(false);
  }, 60_000);

  // Sizes that the budget cannot bound because they cost time, not memory (RAISE's sweeps, sm:F's steps): the
  // annealing times itself, says how long the rest will take, and a signal ends it.
  it.each([
    [
      'eval --bounds --raise-sweeps 100000000',
      ['--bounds', '--raise-sweeps', '100000000'],
      /bounds, round 1 \(RAISE, then AIS\): \d+ of \d+ steps/,
    ],
    ['eval --ais --ais-schedule sm:999', ['--ais', '--ais-schedule', 'sm:999'], /forward AIS: \d+ of 14485500 steps/],
  ])(
    '%s says how long it will take, and a signal ends it',
    async (_name, flags, said) => {
      const r = await watched(['eval', model, '--data', csv, ...flags, '--backend', 'js'], (child, stdout) => {
        if (/the rest will take about/.test(stdout)) child.kill('SIGINT');
      });
      expect(r.timedOut).toBe(false);
      // eval writes nothing: it leaves Ctrl-C's default, which ends the process by the signal.
      expect(r.code).toBe(null);
      expect(r.stdout).toMatch(
        new RegExp(`${said.source} in [\\d.]+ s; the rest will take about [\\d.]+ (min|hours|days)`),
      );
    },
    60_000,
  );

  it('train --monitor ais --ais-schedule sm:999: the held-out AIS says how long, and a signal ends the run with a checkpoint', async () => {
    const out = p('monais.safetensors');
    const args = ['train', '--data', csv, '--hidden', '4', '--epochs', '3', '--validation', '10'];
    const r = await watched(
      [...args, '--monitor', 'ais', '--ais-schedule', 'sm:999', '--backend', 'js', '--out', out],
      (child, stdout) => {
        if (/the rest will take about/.test(stdout) && !child.killed) child.kill('SIGINT');
      },
    );
    expect(r.timedOut).toBe(false);
    expect(r.stdout).toMatch(/held-out AIS: \d+ of 14485500 steps in [\d.]+ s; the rest will take about/);
    expect(r.stdout).toMatch(/held-out AIS of epoch 1 stopped by the signal: no AIS figure/);
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toMatch(/interrupted by SIGINT after epoch 1: checkpoint .*monais\.ckpt\.safetensors/);
    expect(existsSync(out)).toBe(false);
  }, 60_000);
});

function spawnDeadPid(): number {
  const out = execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(out.toString());
}

describe('the CLI probed: clear errors, no hangs, no file lost', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => runCase(c));
});

describe('signals', () => {
  const runArgs = (out: string) => [
    'train',
    '--data',
    'mnist',
    '--limit',
    '3000',
    '--hidden',
    '32',
    '--epochs',
    '3',
    '--batch',
    '50',
    '--backend',
    'js',
    '--out',
    out,
    '--no-pictures',
  ];

  it('SIGTERM finishes the batch, writes a checkpoint, exits 130; the resumed run ends where an uninterrupted one does', async () => {
    const out = p('sig.safetensors');
    const straight = await rbm(runArgs(p('straight.safetensors')), { timeoutMs: 120_000 });
    expect(straight.code, straight.stderr).toBe(0);
    // Mid-run: after the first epoch, inside the second.
    let sent = false;
    const { code, stderr } = await watched(runArgs(out), (child, stdout) => {
      if (/epoch 1\/3/.test(stdout) && !sent) {
        sent = true;
        setTimeout(() => child.kill('SIGTERM'), 150);
      }
    });
    expect(code, stderr).toBe(130);
    expect(stderr).toMatch(/SIGTERM: finishing the batch in flight/);
    expect(stderr).toMatch(
      /interrupted by SIGTERM (in epoch 2 after batch \d+|after epoch \d): checkpoint .*sig\.ckpt\.safetensors/,
    );
    expect(existsSync(out)).toBe(false);
    const resumed = await rbm(
      argv`train --resume ${p('sig.ckpt.safetensors')} --out ${out} --backend js --no-pictures`,
      {
        timeoutMs: 120_000,
      },
    );
    count('signals', resumed, 0);
    expect(resumed.code, resumed.stderr).toBe(0);
    const a = (await readModelFile(out)).parameters;
    const b = (await readModelFile(p('straight.safetensors'))).parameters;
    expect(Array.from(a.weights)).toEqual(Array.from(b.weights));
    expect(Array.from(a.hiddenBias)).toEqual(Array.from(b.hiddenBias));
  }, 300_000);

  it('a second signal quits at once', async () => {
    const { code, stderr } = await watched(runArgs(p('twice.safetensors')), (child, stdout) => {
      if (/CD-1/.test(stdout) && !child.killed) {
        child.kill('SIGINT');
        setTimeout(() => child.kill('SIGINT'), 20);
      }
    });
    expect(code).toBe(130);
    expect(stderr).toMatch(/SIGINT again: quitting without a checkpoint|interrupted by SIGINT/);
    expect(existsSync(p('twice.safetensors'))).toBe(false);
  }, 120_000);
});
