import type { Backend } from './types.js';

/** Uploads a loop may have in a backend's queue before it waits: the bound {@link QueuePacer} keeps. */
export const MAX_QUEUED_UPLOAD_BYTES = 64 * 2 ** 20;
/** Units a loop may have in a backend's queue before it waits. */
export const MAX_QUEUED_UNITS = 50;

/**
 * Keeps a backend's queue short in a loop that issues units without reading anything back (an epoch of
 * training steps). A backend whose runs are asynchronous (ONNX Runtime) copies each upload into its queue,
 * and the host issues steps faster than they run: unpaced, a collaborative epoch of 100 batches of
 * 100 x 10,000 items x 5 levels queued 2.6 GB of copies before the first step ended. The pacer drains
 * ({@link Backend.drain}) once {@link MAX_QUEUED_UNITS} units or {@link MAX_QUEUED_UPLOAD_BYTES} bytes of
 * uploads were issued since the last drain, so what the queue holds is bounded whatever the batch.
 */
export class QueuePacer {
  private units = 0;
  private bytes = 0;

  constructor(
    private readonly backend: Backend,
    private readonly maxBytes = MAX_QUEUED_UPLOAD_BYTES,
    private readonly maxUnits = MAX_QUEUED_UNITS,
  ) {}

  /** Records a unit issued with `uploadBytes` of uploads; waits for the queue when it is at the bound. */
  async issued(uploadBytes: number): Promise<void> {
    this.units++;
    this.bytes += uploadBytes;
    if (this.units >= this.maxUnits || this.bytes >= this.maxBytes) await this.drain();
  }

  /** Waits for everything issued so far. */
  async drain(): Promise<void> {
    this.units = 0;
    this.bytes = 0;
    await this.backend.drain?.();
  }
}
