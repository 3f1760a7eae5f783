import { afterEach, describe, expect, it, vi } from 'vitest';
import { Output } from '../src/output.js';

describe('Output.work without a terminal', () => {
  afterEach(() => vi.restoreAllMocks());

  it('says once how long long work will take, then where it stands every 5 minutes, never more often', () => {
    let now = 0;
    vi.spyOn(performance, 'now').mockImplementation(() => now);
    const lines: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    const isTTY = process.stderr.isTTY;
    Object.defineProperty(process.stderr, 'isTTY', { value: false, configurable: true });
    try {
      const report = new Output(false).work('AIS', 'steps');
      // 1 step a second of 3,600.
      for (let done = 1; done < 3600; done++) {
        now = done * 1000;
        report(done, 3600);
      }
      report(3600, 3600);
    } finally {
      Object.defineProperty(process.stderr, 'isTTY', { value: isTTY, configurable: true });
    }
    expect(lines[0]).toMatch(/^AIS: 1 of 3600 steps in 1\.0 s; the rest will take about 60 min \(Ctrl-C stops it\)\n$/);
    // Then at 301 s, 601 s, ... 3301 s: 11 lines, each with the time so far and the rest.
    expect(lines).toHaveLength(12);
    expect(lines[1]).toBe('AIS: 301 of 3600 steps after 5 min; about 55 min to go\n');
    expect(lines[11]).toBe('AIS: 3301 of 3600 steps after 55 min; about 5 min to go\n');
  });

  it('gives adaptive work (not paced) no estimate of the rest, only where it stands', () => {
    let now = 0;
    vi.spyOn(performance, 'now').mockImplementation(() => now);
    const lines: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    const isTTY = process.stderr.isTTY;
    Object.defineProperty(process.stderr, 'isTTY', { value: false, configurable: true });
    try {
      const report = new Output(false).work('SMC', 'thousandths', { paced: false });
      // The first thousandths go fast, the last slowly: 1 s each for 500, then 10 s each.
      for (let done = 1; done < 1000; done++) {
        now = (done <= 500 ? done : 500 + 10 * (done - 500)) * 1000;
        report(done, 1000);
      }
    } finally {
      Object.defineProperty(process.stderr, 'isTTY', { value: isTTY, configurable: true });
    }
    // Told once past 10 s, then every 5 minutes of the 5,490 s: 18 more lines, none with a time to go.
    expect(lines[0]).toBe(
      'SMC: 11 of 1000 thousandths in 11.0 s; the steps are adaptive, so the rest cannot be timed from this (Ctrl-C stops it)\n',
    );
    expect(lines).toHaveLength(19);
    expect(lines[1]).toBe('SMC: 311 of 1000 thousandths after 5 min\n');
    for (const line of lines) expect(line).not.toMatch(/to go|will take/);
  });
});
