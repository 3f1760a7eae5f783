import { InvalidArgumentError } from 'commander';

/** Parsers for flag values: a nonsense value is refused with the flag, the value and what was expected. */

export function positiveInt(value: string): number {
  const x = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(x) || x < 1) {
    throw new InvalidArgumentError(`expected a positive integer, got ${JSON.stringify(value)}`);
  }
  return x;
}

export function nonNegativeInt(value: string): number {
  const x = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(x)) {
    throw new InvalidArgumentError(`expected a non-negative integer, got ${JSON.stringify(value)}`);
  }
  return x;
}

export function integerAtLeast(min: number) {
  return (value: string): number => {
    const x = Number(value);
    if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(x) || x < min)
      throw new InvalidArgumentError(`expected an integer >= ${min}, got ${JSON.stringify(value)}`);
    return x;
  };
}

export function number(min: number, max: number, { inclusiveMax = true, inclusiveMin = true } = {}) {
  return (value: string): number => {
    const x = Number(value);
    const okMin = inclusiveMin ? x >= min : x > min;
    const okMax = inclusiveMax ? x <= max : x < max;
    if (value.trim() === '' || !Number.isFinite(x) || !okMin || !okMax) {
      // Half-open ranges read better as a comparison: "a finite number > 0", not "(0, Infinity]".
      const range =
        max === Number.POSITIVE_INFINITY
          ? `a finite number ${inclusiveMin ? '>=' : '>'} ${min}`
          : `a number in ${inclusiveMin ? '[' : '('}${min}, ${max}${inclusiveMax ? ']' : ')'}`;
      throw new InvalidArgumentError(`expected ${range}, got ${JSON.stringify(value)}`);
    }
    return x;
  };
}

export function oneOf<T extends string>(...choices: T[]) {
  return (value: string): T => {
    if (!(choices as string[]).includes(value)) {
      throw new InvalidArgumentError(`expected one of ${choices.join(', ')}, got ${JSON.stringify(value)}`);
    }
    return value as T;
  };
}

/** Layer sizes: `500` (one RBM) or `500,500` (a stack), each a positive integer. */
export function layerSizes(value: string): number[] {
  const parts = value.split(',');
  if (parts.some((p) => !/^\s*\d+\s*$/.test(p) || Number(p) < 1 || !Number.isSafeInteger(Number(p))))
    throw new InvalidArgumentError(
      `expected a positive integer, or a comma list of them for a stack (500,500), got ${JSON.stringify(value)}`,
    );
  return parts.map(Number);
}

/** A size in bytes: `2G`, `512M`, `1.5GiB`, `100000` (K, M, G, T are powers of 1024). */
export function byteSize(value: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$/i.exec(value);
  const bytes = m ? Number(m[1]) * (m[2] ? 1024 ** ('KMGT'.indexOf(m[2]!.toUpperCase()) + 1) : 1) : Number.NaN;
  if (!m || !(bytes >= 1) || !Number.isFinite(bytes))
    throw new InvalidArgumentError(`expected a size such as 4G, 512M or 1000000 (bytes), got ${JSON.stringify(value)}`);
  return Math.floor(bytes);
}

/** A duration in seconds: `90s`, `30m`, `2h`, `1.5h` or a bare number of seconds. */
export function seconds(value: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*$/i.exec(value);
  const s = m
    ? Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600 }[m[2]!.toLowerCase() as '' | 's' | 'm' | 'h']
    : Number.NaN;
  if (!m || !Number.isFinite(s))
    throw new InvalidArgumentError(`expected a duration such as 90s, 30m or 2h, got ${JSON.stringify(value)}`);
  return s;
}
