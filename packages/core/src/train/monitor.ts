import { ArgumentError, ShapeError } from '../errors.js';
import type { ModelFamily, Monitor } from './family.js';
import type { MonitorState, StateArray } from './state.js';

/**
 * Early stopping (Prechelt 1998) as the {@link Trainer} runs it for any family: after each epoch of the last
 * stage the monitored figure is compared with the best so far; a new best's parameters are copied to the host,
 * and the model ends with them. With `patience`, the run stops once that many epochs passed without a new
 * best, counted from when the best improved on the first epoch's figure by the `settle` fraction.
 */
export class BestEpoch {
  private readonly monitor: Monitor;
  private readonly family: ModelFamily;
  private best: MonitorState | undefined;
  /** Epochs whose figure was not finite before any best (none counts as one). */
  private waitedForFirst = 0;
  /** Set when patience ran out. */
  stop = false;

  constructor(monitor: Monitor, family: ModelFamily) {
    if (monitor.patience !== undefined && (!Number.isInteger(monitor.patience) || monitor.patience < 1))
      throw new ArgumentError(`patience must be a positive integer, got ${monitor.patience}`);
    const minDelta = monitor.minDelta ?? 0;
    if (!(minDelta >= 0) || !Number.isFinite(minDelta))
      throw new ArgumentError(`minDelta must be a finite number >= 0, got ${minDelta}`);
    this.monitor = monitor;
    this.family = family;
  }

  get current(): { readonly epoch: number; readonly value: number } | undefined {
    return this.best ? { epoch: this.best.epoch, value: this.best.value } : undefined;
  }

  get exported(): MonitorState | undefined {
    return this.best;
  }

  /** Better by more than minDelta; a non-finite figure never is. */
  private better(x: number, than: number): boolean {
    const d = this.monitor.minDelta ?? 0;
    return Number.isFinite(x) && (this.monitor.mode === 'max' ? x - than > d : than - x > d);
  }

  private outOfPatience(since: number): boolean {
    return this.monitor.patience !== undefined && since >= this.monitor.patience;
  }

  /** Takes an epoch's figures; returns `{ best }` for its metrics. */
  async observe(epoch: number, figures: Readonly<Record<string, number>>): Promise<{ readonly best: boolean }> {
    const x = figures[this.monitor.figure];
    if (x === undefined)
      throw new ArgumentError(`early stopping watches ${this.monitor.figure}, which no epoch reports`);
    const b = this.best;
    if (!b && !Number.isFinite(x)) {
      this.stop = this.outOfPatience(++this.waitedForFirst);
      return { best: false };
    }
    const first = b?.first ?? x;
    if (!b || this.better(x, b.value)) {
      this.best = { epoch, value: x, first, since: 0, parameters: await this.read() };
      return { best: true };
    }
    const settle = this.monitor.settle ?? 0;
    const settled = this.monitor.mode === 'max' ? b.value > (1 + settle) * first : b.value < (1 - settle) * first;
    this.best = { ...b, since: settled ? b.since + 1 : b.since };
    this.stop = this.outOfPatience(this.best.since);
    return { best: false };
  }

  private async read(): Promise<Record<string, StateArray>> {
    const be = this.family.backend;
    const out: Record<string, StateArray> = {};
    for (const { name, tensor: t } of this.family.parameters)
      out[name] = { rows: t.rows, cols: t.cols, data: Float32Array.from(await be.read(t)) };
    return out;
  }

  /** Writes the best epoch's parameters into the model. */
  restore(): void {
    if (!this.best) return;
    for (const { name, tensor } of this.family.parameters)
      this.family.backend.write(tensor, Float32Array.from(this.best.parameters[name]!.data));
  }

  /** Checks an imported state before anything is written. */
  check(state: MonitorState | undefined, epochs: number): void {
    if (!state) return;
    const count = (name: string, x: unknown, max: number) => {
      if (!Number.isSafeInteger(x) || (x as number) < 0 || (x as number) > max)
        throw new ArgumentError(`trainer state: monitor.${name} must be a whole number in 0..${max}, got ${x}`);
    };
    count('epoch', state.epoch, Math.max(0, epochs - 1));
    count('since', state.since, epochs);
    for (const [name, x] of [
      ['value', state.value],
      ['first', state.first],
    ] as const)
      if (typeof x !== 'number' || !Number.isFinite(x))
        throw new ArgumentError(`trainer state: monitor.${name} must be a finite number, got ${x}`);
    for (const { name, tensor: t } of this.family.parameters) {
      const p = state.parameters[name];
      if (!p || p.data.length !== t.rows * t.cols)
        throw new ShapeError(
          `trainer state: the best epoch's ${name} has ${p?.data.length ?? 0} values, expected ${t.rows * t.cols}`,
        );
    }
  }

  import(state: MonitorState | undefined): void {
    this.best = state;
    this.stop = state !== undefined && this.outOfPatience(state.since);
  }
}
