import { ArgumentError } from '../errors.js';
import { fillUniforms, philox4x32_10 } from './philox.js';

/** Everything needed to resume a stream exactly: store it in a checkpoint. */
export interface RandomState {
  readonly seed: number;
  readonly stream: number;
  readonly offset: number;
}

const TWO_POW_32 = 4294967296;

/**
 * A position in one Philox stream. Each draw consumes whole blocks and advances `offset`, so the
 * sequence depends only on (seed, stream, offset): reproducible, splittable and resumable.
 */
export class RandomStream {
  readonly seed: number;
  readonly stream: number;
  /** Key words derived from the seed. */
  readonly k0: number;
  readonly k1: number;
  /** Next unused block. */
  offset: number;

  constructor(seed: number, stream = 0, offset = 0) {
    if (!Number.isSafeInteger(seed) || seed < 0) {
      throw new ArgumentError(`seed must be a non-negative safe integer, got ${seed}`);
    }
    if (!Number.isInteger(stream) || stream < 0 || stream >= TWO_POW_32) {
      throw new ArgumentError(`stream must be an integer in [0, 2^32), got ${stream}`);
    }
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new ArgumentError(`offset must be a non-negative safe integer, got ${offset}`);
    }
    this.seed = seed;
    this.stream = stream;
    this.k0 = seed % TWO_POW_32;
    this.k1 = Math.floor(seed / TWO_POW_32);
    this.offset = offset;
  }

  static fromState(state: RandomState): RandomStream {
    return new RandomStream(state.seed, state.stream, state.offset);
  }

  state(): RandomState {
    return { seed: this.seed, stream: this.stream, offset: this.offset };
  }

  /** Reserves the blocks for `n` uniforms and returns the offset of the first. */
  reserve(n: number): number {
    const start = this.offset;
    this.offset += Math.ceil(n / 4);
    return start;
  }

  /** Fills `out` with uniforms in [0, 1) and advances the stream. */
  uniform(out: Float32Array | Float64Array): void {
    fillUniforms(out, this.k0, this.k1, this.stream, this.reserve(out.length));
  }

  /** Standard normals by Box-Muller, one pair per block half; advances the stream. */
  normal(out: Float32Array | Float64Array): void {
    const n = out.length;
    const pairs = Math.ceil(n / 2);
    const start = this.reserve(pairs * 2);
    const words = new Uint32Array(4);
    for (let p = 0; p < pairs; p += 2) {
      const counter = start + p / 2;
      philox4x32_10(counter % TWO_POW_32, Math.floor(counter / TWO_POW_32), 0, this.stream, this.k0, this.k1, words);
      for (let q = 0; q < 2 && p + q < pairs; q++) {
        // u1 in (0, 1] so that log(u1) is finite; u2 in [0, 1).
        const u1 = (words[2 * q]! + 1) / TWO_POW_32;
        const u2 = words[2 * q + 1]! / TWO_POW_32;
        const r = Math.sqrt(-2 * Math.log(u1));
        const i = 2 * (p + q);
        out[i] = r * Math.cos(2 * Math.PI * u2);
        if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * u2);
      }
    }
  }

  /** A uniform integer in [0, n), n <= 2^32, by rejection (no modulo bias). */
  nextInt(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > TWO_POW_32) {
      throw new ArgumentError(`nextInt bound must be an integer in [1, 2^32], got ${n}`);
    }
    const words = new Uint32Array(4);
    const limit = TWO_POW_32 - (TWO_POW_32 % n);
    for (;;) {
      const counter = this.reserve(4);
      philox4x32_10(counter % TWO_POW_32, Math.floor(counter / TWO_POW_32), 0, this.stream, this.k0, this.k1, words);
      for (let w = 0; w < 4; w++) if (words[w]! < limit) return words[w]! % n;
    }
  }

  /** Fisher-Yates shuffle of `perm` in place. */
  shuffle(perm: Uint32Array | number[]): void {
    for (let i = perm.length - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      const t = perm[i]!;
      perm[i] = perm[j]!;
      perm[j] = t;
    }
  }
}

/**
 * Stream ids used by rbmjs, so that initialisation, shuffling and sampling never share numbers. Every
 * stream rbmjs draws from is named here; a new use of randomness takes a new id.
 */
export const Streams = {
  init: 1,
  shuffle: 2,
  /** The trainer's Gibbs chains and h0 samples. */
  gibbs: 3,
  /** Sampling and evaluation on demand (RBM.sample, pseudo-likelihood, reconstructions). */
  sample: 4,
  /** Stochastic binarisation of data (each row's uniforms depend on the seed and the row only). */
  binarize: 5,
  /** Annealed importance sampling. */
  ais: 6,
  /** Held-out splits of ratings (collaborative filtering). */
  holdout: 8,
  /** Generated data (synthetic ratings). */
  synthetic: 9,
  /** RAISE's reverse chains (reverse annealed importance sampling from the test examples). */
  raise: 10,
  /** Deep Boltzmann machines: AIS on the DBM's log Z. */
  dbmAis: 11,
  /** Deep Boltzmann machines: the training's persistent chains (pretraining uses `gibbs`). */
  dbmChains: 12,
  /** Sequential Monte Carlo's resampling (its Gibbs moves draw on `ais`). */
  smc: 13,
  /** RAISE for a DBM: its draws of the even hidden layers from the mean-field posterior (the chains use `raise`). */
  dbmRaise: 14,
  /** The conformance suite's test inputs. */
  conformance: 77,
} as const;
