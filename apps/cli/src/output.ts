import { SingleBar } from 'cli-progress';

/**
 * Text from files (metadata, CSV cells, paths) may hold terminal control sequences: ESC [ 2 J clears the
 * screen, OSC 52 writes the clipboard. Every C0 and C1 control character except the newline is shown as
 * an escape (\x1b, \u009b), so nothing printed can drive the terminal.
 */
export function escapeControls(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
  return text.replace(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16)}`;
  });
}

/** A value from a file shown inside one line: newlines escaped too, so it cannot forge lines. */
export function escapeInline(text: string): string {
  return escapeControls(text).replace(/\n/g, '\\n');
}

/** JSON.stringify escapes C0 controls but not DEL and C1 (U+007F to U+009F): escape those too. */
export function safeJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\u007f-\u009f\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/**
 * Where output goes. With --json, stdout carries only JSON objects (one per line) and human-readable lines
 * go to stderr; otherwise human lines go to stdout. A progress bar is drawn on stderr only when it is a
 * terminal.
 */
export class Output {
  readonly json: boolean;
  constructor(json: boolean) {
    this.json = json;
  }

  /**
   * A line for people. A newline inside it (a file name holding one) is shown as \\n: one call, one line,
   * so no value can forge a line of output. A block of lines goes through {@link lines}.
   */
  info(line: string): void {
    (this.json ? process.stderr : process.stdout).write(`${escapeInline(line)}\n`);
  }

  /** Several lines for people (a table): each one escaped as {@link info} escapes a line. */
  lines(lines: readonly string[]): void {
    for (const line of lines) this.info(line);
  }

  /** A warning: on stderr, always, one line. */
  warn(line: string): void {
    process.stderr.write(`${escapeInline(`warning: ${line}`)}\n`);
  }

  /** A JSON object for programs (only with --json). */
  emit(obj: unknown): void {
    if (this.json) process.stdout.write(`${safeJson(obj)}\n`);
  }

  /**
   * Progress of long work that is not training (sampling sweeps, AIS steps, benchmark repeats): a bar on a
   * terminal, and on any stream one line saying how long the whole will take once the first reports show it
   * is long (over `longSeconds`), so that huge requested work never runs silently; without a terminal, a line
   * every `everySeconds` (5 minutes) after that says where it stands. Work whose units do not take equal time
   * (`paced: false`: an adaptive schedule's thousandths of beta) is reported without an estimate of the rest.
   */
  work(label: string, unit: string, options: WorkOptions = {}): (done: number, total: number) => void {
    const { longSeconds = 10, everySeconds = 300, paced = true } = options;
    const t0 = performance.now();
    let bar: SingleBar | undefined;
    let told = false;
    let lastLine = 0;
    return (done, total) => {
      if (!bar && process.stderr.isTTY && total > 1) bar = this.progress(total, label, unit, paced);
      bar?.update(done, { rate: (done / Math.max(1e-3, (performance.now() - t0) / 1000)).toFixed(1) });
      if (done >= total) bar?.stop();
      const seconds = (performance.now() - t0) / 1000;
      if (done <= 0 || done >= total || seconds <= 0.2) return;
      const eta = (seconds / done) * (total - done);
      if (!told && (paced ? eta > longSeconds : seconds > longSeconds)) {
        told = true;
        lastLine = seconds;
        bar?.stop();
        bar = undefined;
        this.info(
          paced
            ? `${label}: ${done} of ${total} ${unit} in ${seconds.toFixed(1)} s; the rest will take about ${duration(eta)} (Ctrl-C stops it)`
            : `${label}: ${done} of ${total} ${unit} in ${seconds.toFixed(1)} s; the steps are adaptive, so the rest cannot be timed from this (Ctrl-C stops it)`,
        );
      } else if (told && !process.stderr.isTTY && seconds - lastLine >= everySeconds) {
        // Without a terminal there is no bar: a long run logged to a file says where it is now and then.
        lastLine = seconds;
        this.info(
          paced
            ? `${label}: ${done} of ${total} ${unit} after ${duration(seconds)}; about ${duration(eta)} to go`
            : `${label}: ${done} of ${total} ${unit} after ${duration(seconds)}`,
        );
      }
    };
  }

  /**
   * A progress bar over `total` steps with rate and ETA (no ETA unless `paced`: see {@link Output.work}), or
   * undefined when stderr is not a terminal.
   */
  progress(total: number, label: string, unit = 'batches', paced = true): SingleBar | undefined {
    if (!process.stderr.isTTY) return undefined;
    const bar = new SingleBar({
      stream: process.stderr,
      format: `${label} |{bar}| {value}/{total} ${unit} | {rate} ${unit}/s${paced ? ' | ETA {eta_formatted}' : ''}`,
      barCompleteChar: '#',
      barIncompleteChar: '-',
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 50,
    });
    bar.start(total, 0, { rate: '0' });
    return bar;
  }
}

/** How {@link Output.work} reports. */
export interface WorkOptions {
  /** Report the first line once the work is known to take longer than this (default 10 s). */
  readonly longSeconds?: number;
  /** Without a terminal, a line this often after the first (default 300 s). */
  readonly everySeconds?: number;
  /** Whether each unit takes about the same time, so that the rest can be estimated (default true). */
  readonly paced?: boolean;
}

/** Seconds as a person reads them: 42 s, 12 min, 3.5 hours, 120 days, 3e6 years. */
export function duration(seconds: number): string {
  if (seconds < 90) return `${seconds.toFixed(0)} s`;
  if (seconds < 5400) return `${(seconds / 60).toFixed(0)} min`;
  if (seconds < 3 * 86400) return `${(seconds / 3600).toFixed(1)} hours`;
  if (seconds < 3 * 365 * 86400) return `${(seconds / 86400).toFixed(0)} days`;
  return `${(seconds / (365 * 86400)).toPrecision(2)} years`;
}
