import { SingleBar } from 'cli-progress';

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

  /** A line for people. */
  info(line: string): void {
    (this.json ? process.stderr : process.stdout).write(`${line}\n`);
  }

  /** A JSON object for programs (only with --json). */
  emit(obj: unknown): void {
    if (this.json) process.stdout.write(`${JSON.stringify(obj)}\n`);
  }

  /** A progress bar over `total` steps with rate and ETA, or undefined when stderr is not a terminal. */
  progress(total: number, label: string): SingleBar | undefined {
    if (!process.stderr.isTTY) return undefined;
    const bar = new SingleBar({
      stream: process.stderr,
      format: `${label} |{bar}| {value}/{total} batches | {rate} batches/s | ETA {eta_formatted}`,
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
