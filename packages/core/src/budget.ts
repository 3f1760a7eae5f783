import { ArgumentError, TooLargeError } from './errors.js';

/**
 * The up-front budget: what a request asks for (classes, chains, replicas, runs, hidden units) is estimated
 * in bytes before anything is allocated, and refused when the estimate is over the budget, with a message that
 * names the option, the estimate, the limit and how to raise it. Estimates count float32 values that live at
 * once; they are lower bounds of what a backend holds, so a refusal is never a false alarm by more than the
 * factor a backend adds.
 */

/** The default budget: 2 GiB (a 784-500 model trains in about 30 MiB). */
export const DEFAULT_MEMORY_BUDGET = 2 * 2 ** 30;

let budget = DEFAULT_MEMORY_BUDGET;
let raiseHint = 'setMemoryBudget(bytes) raises it';

/**
 * Sets the memory budget (bytes) that every entry point checks its request against, and the words that say
 * how to raise it (the CLI says `--max-memory`). Returns the previous budget.
 */
export function setMemoryBudget(bytes: number, hint?: string): number {
  if (!(bytes > 0) || !Number.isFinite(bytes))
    throw new TooLargeError(`the memory budget must be a positive number of bytes, got ${bytes}`);
  const was = budget;
  budget = bytes;
  if (hint !== undefined) raiseHint = hint;
  return was;
}

/** The memory budget in bytes. */
export function memoryBudget(): number {
  return budget;
}

/** Bytes as a person reads them: 1.5 GiB, 320 MiB, 12 KiB. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return String(bytes);
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  let x = bytes;
  let u = 0;
  while (x >= 1024 && u < units.length - 1) {
    x /= 1024;
    u++;
  }
  return u === 0 ? `${x} bytes` : `${x >= 100 ? x.toFixed(0) : x.toPrecision(3)} ${units[u]}`;
}

/** Bytes of `values` float32 numbers. */
export const float32Bytes = (values: number) => 4 * values;

/**
 * Refuses a request whose estimate is over the budget. `what` names the request as the user wrote it
 * (`--chains 10000000`, `chains: 10000000`), `detail` how the estimate was made (`10000000 chains x 1284
 * units x 3 copies`).
 */
export function checkMemory(what: string, bytes: number, detail: string): void {
  if (bytes <= budget) return;
  if (Number.isNaN(bytes) || bytes < 0)
    throw new ArgumentError(
      `${what}: its memory came out ${bytes} bytes (${detail}): a size it was given is not a number`,
    );
  throw new TooLargeError(
    `${what} needs about ${formatBytes(bytes)} (${detail}), more than the ${formatBytes(budget)} memory budget (${raiseHint})`,
  );
}

/** Copies of the weights a model holds to be used (parameters, scratch, a host copy). */
export const MODEL_WEIGHT_COPIES = 3;
/**
 * Copies of the weights training holds: parameters, gradient, velocity, the rollback snapshot, scratch,
 * the host copies of the last good parameters and of the model being written.
 */
export const TRAINING_WEIGHT_COPIES = 8;

/**
 * Copies of each row of units (a chain, a replica, a run, a batch row): states, conditional means, uniforms
 * and scratch on the device, and the host copies of what is read back.
 */
export const ROW_COPIES = 8;

/**
 * Memory of an nv x nh model: `weightCopies` nv x nh matrices, and `rows` rows of visible and hidden units
 * (data, chains, replicas or runs), {@link ROW_COPIES} copies each, all float32.
 */
export function modelMemory(
  numVisible: number,
  numHidden: number,
  rows = 0,
  weightCopies = MODEL_WEIGHT_COPIES,
): { bytes: number; detail: string } {
  const weights = numVisible * numHidden;
  const bytes = float32Bytes(weightCopies * weights + ROW_COPIES * rows * (numVisible + numHidden));
  const w = `${weightCopies} copies of ${numVisible} x ${numHidden} weights`;
  const detail =
    rows > 0 ? `${w} and ${ROW_COPIES} of ${rows} rows of ${numVisible + numHidden} units, float32` : `${w}, float32`;
  return { bytes, detail };
}

/**
 * Memory of training an nv x nh model: {@link TRAINING_WEIGHT_COPIES} of the weights, the batch, and the
 * persistent chains times their temperatures (`chains` 0 for CD, `temperatures` 1 but for parallel tempering).
 */
export function trainingMemory(
  numVisible: number,
  numHidden: number,
  run: { readonly batchSize: number; readonly chains: number; readonly temperatures: number },
): { bytes: number; detail: string } {
  const rows = run.batchSize + run.chains * run.temperatures;
  return modelMemory(numVisible, numHidden, rows, TRAINING_WEIGHT_COPIES);
}
