import { StringDecoder } from 'node:string_decoder';
import type { Ratings } from '../data/ratings.js';
import { RatingsReader, type RatingsReadOptions } from '../data/ratings-reader.js';
import { DataError, FileError } from '../errors.js';
import { asFileError, openRegularFile } from './files.js';

/**
 * Ratings files larger than this are refused unless asked (MovieLens-25M's ratings.csv is 678 MB; Netflix's
 * 100 million ratings as user, item, rating lines about 1.5 GB). What a file costs in memory is bounded by
 * its ratings, not its bytes, and checked against the memory budget as it is read ({@link RatingsReader}).
 */
export const DEFAULT_MAX_RATINGS_BYTES = 2 ** 32;
/** No line of a ratings file is longer (a file with no line breaks is not a ratings file). */
export const MAX_RATINGS_LINE_BYTES = 64 * 1024;

export interface ReadRatingsOptions extends Omit<RatingsReadOptions, 'source'> {
  /** Largest accepted file in bytes (default {@link DEFAULT_MAX_RATINGS_BYTES}). */
  readonly maxBytes?: number;
  /** Sees every chunk read, in order (a hash of the file without reading it twice). */
  readonly onBytes?: (chunk: Uint8Array) => void;
  /** Called with the first line when it was taken as a header (so that a caller can say so). */
  readonly onHeader?: (line: string) => void;
}

/**
 * Reads a ratings file (MovieLens u.data, ratings.csv, ratings.dat, or user,item,rating CSV: see
 * {@link RatingsReader}) in 1 MiB chunks: only a regular file is opened (a FIFO or a device is refused
 * before any read), its size is checked against `maxBytes` first, and no line may exceed 64 KiB.
 * Errors name the file and line.
 */
function tooLong(line: string): boolean {
  return line.length > MAX_RATINGS_LINE_BYTES / 4 && Buffer.byteLength(line) > MAX_RATINGS_LINE_BYTES;
}

function longLine(path: string, line: number): DataError {
  return new DataError(
    `${path}: line ${line} is longer than ${MAX_RATINGS_LINE_BYTES} bytes (not a ratings file, or no line breaks)`,
    { row: line },
  );
}

export async function readRatingsFile(path: string, options: ReadRatingsOptions = {}): Promise<Ratings> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_RATINGS_BYTES;
  const { handle, size } = await openRegularFile(path, 'ratings file');
  try {
    if (size > maxBytes)
      throw new FileError(
        `${path}: ${size} bytes, more than the limit of ${maxBytes} for a ratings file (the library's readRatingsFile(path, { maxBytes }) reads larger ones)`,
        path,
        'EFBIG',
      );
    const reader = new RatingsReader({ ...options, source: path });
    const decoder = new StringDecoder('utf8');
    const chunk = Buffer.alloc(1 << 20);
    let carry = '';
    let line = 1;
    let position = 0;
    while (position < size) {
      let n: number;
      try {
        ({ bytesRead: n } = await handle.read(chunk, 0, Math.min(chunk.length, size - position), position));
      } catch (error) {
        throw asFileError(error, path);
      }
      if (n === 0) break;
      position += n;
      options.onBytes?.(chunk.subarray(0, n));
      const text = carry + decoder.write(chunk.subarray(0, n));
      const lines = text.split('\n');
      carry = lines.pop()!;
      // Every line is held to the limit, the complete ones of this chunk as well as the one it ends inside.
      for (const l of lines) {
        if (tooLong(l)) throw longLine(path, line);
        reader.push(l, line++);
      }
      if (tooLong(carry)) throw longLine(path, line);
    }
    carry += decoder.end();
    if (tooLong(carry)) throw longLine(path, line);
    if (carry !== '') reader.push(carry, line);
    const ratings = reader.finish();
    if (reader.headerLine !== undefined) options.onHeader?.(reader.headerLine);
    return ratings;
  } finally {
    await handle.close();
  }
}

/**
 * Ratings as `user<TAB>item<TAB>rating` lines (the ids as the ratings spell them), in chunks of 64 Ki lines,
 * so that 100 million ratings never stand as one string: what `writeRatingsFile` writes. `onProgress` sees
 * the ratings encoded.
 */
export function* ratingsLines(
  r: Ratings,
  options: { readonly separator?: string; readonly onProgress?: (written: number, total: number) => void } = {},
): Generator<Uint8Array> {
  const sep = options.separator ?? '\t';
  const values = r.levels.map(String);
  const encoder = new TextEncoder();
  const n = r.user.length;
  const CHUNK = 1 << 16;
  for (let start = 0; start < n; start += CHUNK) {
    let text = '';
    const end = Math.min(n, start + CHUNK);
    for (let k = start; k < end; k++)
      text += `${r.users[r.user[k]!]}${sep}${r.items[r.item[k]!]}${sep}${values[r.level[k]!]}\n`;
    yield encoder.encode(text);
    options.onProgress?.(end, n);
  }
}
