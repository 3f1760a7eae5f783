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

  /** A line for people. */
  info(line: string): void {
    (this.json ? process.stderr : process.stdout).write(`${escapeControls(line)}\n`);
  }

  /** A warning: on stderr, always. */
  warn(line: string): void {
    process.stderr.write(`${escapeControls(`warning: ${line}`)}\n`);
  }

  /** A JSON object for programs (only with --json). */
  emit(obj: unknown): void {
    if (this.json) process.stdout.write(`${safeJson(obj)}\n`);
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
