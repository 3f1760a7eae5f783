import type { Scope } from '../backend/scope.js';
import type { Backend, Tensor } from '../backend/types.js';
import { ArgumentError, DataError, ShapeError } from '../errors.js';

/**
 * The named state of a training run's parts. A part (a negative-phase sampler, a gradient term, the
 * optimiser) registers its device tensors and host counters here once, by name; the trainer then rolls them
 * back on divergence, exports them to {@link TrainerState} and imports them again without knowing what they
 * are. The names are the checkpoint's: `trainer.<name>` tensors and `counters.<name>` entries.
 */

/** What a state tensor's values must be, checked on import: any finite value, binary unit states, or [0, 1]. */
export type StateValues = 'finite' | 'states' | 'unit';

/** A state tensor on the host: row-major values of a [rows, cols] array. */
export interface StateArray {
  readonly rows: number;
  readonly cols: number;
  readonly data: Float32Array;
}

/**
 * Everything besides the model that a resumed run needs to continue exactly where it left off: counters,
 * the positions of the random streams, and the parts' named state (momentum, persistent chains, the
 * sparsity estimate, centring offsets, ...).
 */
export interface TrainerState {
  /** Epochs done in `stage` (the only stage, for most families). */
  readonly epoch: number;
  /** The stage (a DBM: pretraining RBM l < L, then joint training L); absent: 0. */
  readonly stage?: number;
  /** Batches of `epoch` already done (0 between epochs: a run stopped by its signal stops inside one). */
  readonly batch?: number;
  /** Sum of the reconstruction errors of those batches. */
  readonly epochErrorSum?: number;
  readonly step: number;
  readonly gibbsOffset: number;
  readonly shuffleOffset: number;
  /** The parts' device state by name, e.g. `velocity.weights`, `chains`, `sparsity_estimate`. */
  readonly tensors: Readonly<Record<string, StateArray>>;
  /** The parts' host counters by name, e.g. `swapRounds` (integers; flags as 0 or 1). */
  readonly counters: Readonly<Record<string, number>>;
  /** Early stopping's position, with the best epoch's parameters. */
  readonly monitor?: MonitorState;
}

/** Where early stopping stands: the best epoch (0-based) and its figure, the first figure, epochs since the best. */
export interface MonitorState {
  readonly epoch: number;
  readonly value: number;
  readonly first: number;
  readonly since: number;
  /** The best epoch's parameters, by the family's names. */
  readonly parameters: Readonly<Record<string, StateArray>>;
}

interface TensorEntry {
  /** Row blocks stacked in order (one for most entries; one per replica for parallel tempering). */
  readonly blocks: readonly Tensor[];
  readonly rows: number;
  readonly cols: number;
  readonly values: StateValues;
}

interface CounterEntry {
  readonly get: () => number;
  readonly set: (x: number) => void;
  /** The values it may take: a count (a non-negative integer) or a flag (0 or 1). */
  readonly kind: 'count' | 'flag';
}

export interface StateSnapshot {
  readonly counters: ReadonlyMap<string, number>;
}

export class StateRegistry {
  private readonly tensors = new Map<string, TensorEntry>();
  private readonly counters = new Map<string, CounterEntry>();
  private readonly backend: Backend;
  private readonly scope: Scope;
  /** Whether `states` entries must be 0 or 1 (binary visible units); otherwise they must be finite. */
  private readonly binaryStates: boolean;
  /** Tensors rolled back but never exported: the model's parameters. */
  private readonly extra: Tensor[] = [];
  private snapshotCopies: Tensor[] | undefined;
  /** Names a resumed state may carry that this run does not keep: accepted on import and dropped. */
  private readonly ignored = new Set<string>();

  constructor(backend: Backend, scope: Scope, binaryStates: boolean) {
    this.backend = backend;
    this.scope = scope;
    this.binaryStates = binaryStates;
  }

  /** Allocates a zero [rows, cols] tensor and registers it under `name`. */
  tensor(name: string, rows: number, cols: number, values: StateValues = 'finite'): Tensor {
    const t = this.scope.tensor(rows, cols);
    this.register(name, [t], values);
    return t;
  }

  /** Registers existing tensors of equal shape as one entry, their rows stacked in order. */
  register(name: string, blocks: readonly Tensor[], values: StateValues = 'finite'): void {
    if (this.tensors.has(name) || this.counters.has(name)) throw new ArgumentError(`state ${name} is registered twice`);
    const [first] = blocks;
    if (!first || blocks.some((t) => t.cols !== first.cols || t.rows !== first.rows))
      throw new ArgumentError(`state ${name}: blocks of one shape expected`);
    this.tensors.set(name, { blocks, rows: first.rows * blocks.length, cols: first.cols, values });
  }

  /**
   * Names of state that this run's configuration makes unused (the velocity of a run without momentum): a
   * state that carries them, from an older version, imports with them dropped.
   */
  ignore(...names: string[]): void {
    for (const name of names) this.ignored.add(name);
  }

  /** Registers a host counter (rolled back, exported and imported with the tensors). */
  counter(name: string, get: () => number, set: (x: number) => void, kind: 'count' | 'flag' = 'count'): void {
    if (this.tensors.has(name) || this.counters.has(name)) throw new ArgumentError(`state ${name} is registered twice`);
    this.counters.set(name, { get, set, kind });
  }

  /** Registers a numeric property of a part as a counter: `state.property('swapRounds', pt, 'swapRounds')`. */
  property<T extends object>(name: string, target: T, key: keyof T & string, kind: 'count' | 'flag' = 'count'): void {
    const o = target as Record<string, unknown>;
    this.counter(
      name,
      () => o[key] as number,
      (x) => (o[key] = x),
      kind,
    );
  }

  /** Tensors that a rollback restores but that are not the trainer's to export (the model's parameters). */
  rollbackAlso(...ts: Tensor[]): void {
    this.extra.push(...ts);
  }

  private all(): Tensor[] {
    const ts = [...this.extra];
    for (const e of this.tensors.values()) ts.push(...e.blocks);
    return ts;
  }

  /** Copies every registered tensor on the device and remembers the counters. */
  snapshot(): StateSnapshot {
    const ts = this.all();
    if (!this.snapshotCopies) this.snapshotCopies = ts.map((t) => this.scope.tensor(t.rows, t.cols));
    ts.forEach((t, i) => {
      this.backend.copy(this.snapshotCopies![i]!, t);
    });
    return { counters: new Map([...this.counters].map(([name, c]) => [name, c.get()])) };
  }

  restore(snap: StateSnapshot): void {
    this.all().forEach((t, i) => {
      this.backend.copy(t, this.snapshotCopies![i]!);
    });
    for (const [name, x] of snap.counters) this.counters.get(name)!.set(x);
  }

  /** Reads every entry back to the host. */
  async export(): Promise<Pick<TrainerState, 'tensors' | 'counters'>> {
    const tensors: Record<string, StateArray> = {};
    for (const [name, e] of this.tensors) {
      const data = new Float32Array(e.rows * e.cols);
      let at = 0;
      for (const t of e.blocks) {
        const block = await this.backend.read(t);
        data.set(block, at);
        at += block.length;
      }
      tensors[name] = { rows: e.rows, cols: e.cols, data };
    }
    const counters: Record<string, number> = {};
    for (const [name, c] of this.counters) counters[name] = c.get();
    return { tensors, counters };
  }

  /**
   * Writes a state from {@link export}. Every entry is checked first (present, of the right size, values as
   * registered; nothing unknown), so that a bad state leaves the run as it was.
   */
  import(state: Pick<TrainerState, 'tensors' | 'counters'>): void {
    const tensors = state.tensors ?? {};
    const counters = state.counters ?? {};
    for (const name of Object.keys(tensors)) {
      if (!this.tensors.has(name) && !this.ignored.has(name))
        throw new ArgumentError(
          `trainer state: ${name} is not part of this run (it has ${[...this.tensors.keys()].join(', ')})`,
        );
    }
    for (const name of Object.keys(counters)) {
      if (!this.counters.has(name)) throw new ArgumentError(`trainer state: counter ${name} is not part of this run`);
    }
    for (const [name, e] of this.tensors) this.check(name, tensors[name], e);
    for (const [name, c] of this.counters) {
      const x = counters[name] ?? 0;
      const ok = c.kind === 'flag' ? x === 0 || x === 1 : Number.isSafeInteger(x) && x >= 0;
      if (!ok)
        throw new ArgumentError(
          `trainer state: ${name} is ${x}, expected ${c.kind === 'flag' ? '0 or 1' : 'a non-negative integer'}`,
        );
    }
    for (const [name, e] of this.tensors) {
      const data = tensors[name]!.data;
      const block = e.rows / e.blocks.length;
      e.blocks.forEach((t, r) => {
        // A private copy: the interface does not promise that write copies, and the caller keeps its state.
        this.backend.write(t, Float32Array.from(data.subarray(r * block * e.cols, (r + 1) * block * e.cols)));
      });
    }
    for (const [name, c] of this.counters) c.set(counters[name] ?? 0);
  }

  private check(name: string, given: StateArray | undefined, e: TensorEntry): void {
    const n = e.rows * e.cols;
    const x = given?.data;
    if (!x || x.length !== n)
      throw new ShapeError(`trainer state: ${name} has ${x?.length ?? 0} values, expected ${n}`);
    if (given.rows !== e.rows || given.cols !== e.cols)
      throw new ShapeError(
        `trainer state: ${name} has shape [${given.rows}, ${given.cols}], expected [${e.rows}, ${e.cols}]`,
      );
    const binary = e.values === 'states' && this.binaryStates;
    for (let i = 0; i < n; i++) {
      const v = x[i]!;
      const ok = binary ? v === 0 || v === 1 : e.values === 'unit' ? v >= 0 && v <= 1 : Number.isFinite(v);
      if (!ok) {
        const want = binary ? '0 or 1' : e.values === 'unit' ? 'in [0, 1]' : 'finite';
        throw new DataError(`trainer state: ${name}[${i}] is ${v}, expected ${want}`, { row: i, value: v });
      }
    }
  }
}
