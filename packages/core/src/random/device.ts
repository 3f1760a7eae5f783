import type { Backend, Tensor } from '../backend/types.js';
import type { RandomStream } from './stream.js';

/**
 * Puts uniforms from a core {@link RandomStream} into device tensors: generated on the device by backends
 * that reproduce Philox, otherwise generated here and uploaded. Either way the numbers are the same, so a
 * run is reproducible from its seed whatever the backend.
 */
export class DeviceRandom {
  readonly backend: Backend;
  readonly rng: RandomStream;
  private readonly scratch = new Map<number, Float32Array>();

  constructor(backend: Backend, rng: RandomStream) {
    this.backend = backend;
    this.rng = rng;
  }

  /** Standard normals (Box-Muller on the host, uploaded): for Gaussian visible units. */
  normal(out: Tensor): void {
    const n = out.rows * out.cols;
    let buf = this.scratch.get(-n);
    if (!buf) {
      buf = new Float32Array(n);
      this.scratch.set(-n, buf);
    }
    this.rng.normal(buf);
    this.backend.write(out, buf);
  }

  uniform(out: Tensor): void {
    const n = out.rows * out.cols;
    if (this.backend.randomness === 'philox' && this.backend.uniform) {
      const { k0, k1, stream } = this.rng;
      this.backend.uniform(out, { k0, k1, stream, offset: this.rng.reserve(n) });
      return;
    }
    let buf = this.scratch.get(n);
    if (!buf) {
      buf = new Float32Array(n);
      this.scratch.set(n, buf);
    }
    this.rng.uniform(buf);
    this.backend.write(out, buf);
  }
}
