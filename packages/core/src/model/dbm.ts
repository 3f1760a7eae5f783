import { assertBackend } from '../backend/check.js';
import { memo, type Scope, withScope } from '../backend/scope.js';
import { fused } from '../backend/trace.js';
import type { Backend, HostArray, Tensor } from '../backend/types.js';
import { checkMemory, float32Bytes, formatBytes } from '../budget.js';
import { assertUnitInterval, type Dataset } from '../data/dataset.js';
import { ArgumentError, RbmError, ShapeError, TooLargeError } from '../errors.js';
import { steppedLoop, type Watch } from '../progress.js';
import { DeviceRandom } from '../random/device.js';
import { RandomStream, Streams } from '../random/stream.js';
import { asDataset, MAX_WEIGHTS } from './parameters.js';

/**
 * A deep Boltzmann machine (Salakhutdinov & Hinton 2009): binary layers s_0 = v, s_1, ..., s_L (L >= 2
 * hidden layers), each connected to the layers beside it only:
 *
 *   E(s) = -sum_l b_l.s_l - sum_{l < L} s_l W_l s_{l+1}
 *   p(s_l = 1 | s_{l-1}, s_{l+1}) = sigmoid(b_l + s_{l-1} W_{l-1} + s_{l+1} W_l^T)
 *
 * Given the even layers the odd ones are independent (and the other way round), so one Gibbs sweep samples
 * the odd layers, then the even ones, and log p*(even) = sum_{l even} b_l.s_l + sum_{l odd} sum_j
 * softplus(x_lj) sums the odd layers out (x_l: their input above). Inference of the hidden layers given v is
 * by mean field: q(h) = prod_l prod_j mu_lj^h (1 - mu_lj)^(1-h), mu_l = sigmoid(b_l + mu_{l-1} W_{l-1} +
 * mu_{l+1} W_l^T) at the fixed point, which gives the variational bound
 *
 *   log p(v) >= sum_l b_l.mu_l + sum_l mu_l W_l mu_{l+1} + sum_{l >= 1} H(mu_l) - log Z   (mu_0 = v).
 */

/** Parameters on the host: `sizes` [n_0 = visible, n_1, ..., n_L]; W_l [n_l, n_{l+1}] row-major; b_l [n_l]. */
export interface DbmParameters {
  readonly sizes: readonly number[];
  readonly weights: readonly Float32Array[];
  readonly biases: readonly Float32Array[];
}

export interface DbmInitOptions {
  /** Layer sizes, the visible layer first: at least 3 (two hidden layers; one is an RBM). */
  readonly sizes: readonly number[];
  /** Seed of the initial weights (stream `init`). */
  readonly seed?: number;
  /** Standard deviation of the initial N(0, sigma^2) weights (default 0.01). */
  readonly weightScale?: number;
  /** Column means of the data: the visible biases start at their log-odds (clamped to [1e-3, 1 - 1e-3]). */
  readonly means?: ArrayLike<number>;
}

/** Mean-field iterations when none are given: enough for MNIST-sized models to settle (S&H use 10 to 30). */
export const DEFAULT_MEAN_FIELD_ITERATIONS = 30;

function describe(n: unknown): string {
  return typeof n === 'number' ? String(n) : `${JSON.stringify(n) ?? 'undefined'} (${typeof n})`;
}

/** Checks layer sizes: at least a visible and two hidden layers, positive integers, within the weight bound. */
export function checkDbmSizes(sizes: readonly number[]): void {
  if (!Array.isArray(sizes) || sizes.length < 3)
    throw new ArgumentError(
      `a deep Boltzmann machine needs the visible layer and at least two hidden layers (sizes like [784, 500, 1000]), got ${JSON.stringify(sizes)}`,
    );
  sizes.forEach((n, l) => {
    if (!Number.isInteger(n) || n < 1)
      throw new ArgumentError(`layer ${l} of the DBM must have a positive integer number of units, got ${describe(n)}`);
  });
  let weights = 0;
  let units = 0;
  for (let l = 0; l < sizes.length; l++) {
    units += sizes[l]!;
    if (l + 1 < sizes.length) weights += sizes[l]! * sizes[l + 1]!;
  }
  if (weights > MAX_WEIGHTS)
    throw new TooLargeError(
      `a ${sizes.join('-')} DBM has ${weights} weights, more than the ${MAX_WEIGHTS} (1 GiB of float32) a model may have`,
    );
  // Weights, their gradient and velocity, and the biases alike.
  const bytes = float32Bytes(3 * (weights + units));
  checkMemory(`a ${sizes.join('-')} DBM`, bytes, `${formatBytes(bytes)} for its weights, gradients and velocities`);
}

/** Checks that host parameters are consistent: sizes, lengths, finite values. */
export function checkDbmParameters(p: DbmParameters): void {
  if (p === null || typeof p !== 'object') throw new ArgumentError(`DBM parameters must be an object, got ${p}`);
  checkDbmSizes(p.sizes);
  const L = p.sizes.length - 1;
  if (!Array.isArray(p.weights) || p.weights.length !== L)
    throw new ShapeError(`a ${p.sizes.join('-')} DBM has ${L} weight matrices, got ${p.weights?.length}`);
  if (!Array.isArray(p.biases) || p.biases.length !== L + 1)
    throw new ShapeError(`a ${p.sizes.join('-')} DBM has ${L + 1} bias vectors, got ${p.biases?.length}`);
  const check = (x: Float32Array, n: number, what: string) => {
    if (!(x instanceof Float32Array)) throw new ArgumentError(`${what} must be a Float32Array`);
    if (x.length !== n) throw new ShapeError(`${what} has ${x.length} values, expected ${n}`);
    for (let i = 0; i < x.length; i++)
      if (!Number.isFinite(x[i]!)) throw new ArgumentError(`${what} has a non-finite value ${x[i]} at index ${i}`);
  };
  for (let l = 0; l < L; l++) check(p.weights[l]!, p.sizes[l]! * p.sizes[l + 1]!, `W_${l}`);
  for (let l = 0; l <= L; l++) check(p.biases[l]!, p.sizes[l]!, `b_${l}`);
}

/** N(0, scale^2) weights, zero hidden biases, visible biases at the data's log-odds (Hinton 2010, section 8). */
export function initialDbmParameters(options: DbmInitOptions): DbmParameters {
  checkDbmSizes(options.sizes);
  const scale = options.weightScale ?? 0.01;
  if (!(scale >= 0) || !Number.isFinite(scale)) throw new ArgumentError(`weightScale must be >= 0, got ${scale}`);
  const sizes = [...options.sizes];
  const rng = new RandomStream(options.seed ?? 0, Streams.init);
  const weights = sizes.slice(0, -1).map((n, l) => {
    const w = new Float32Array(n * sizes[l + 1]!);
    rng.normal(w);
    for (let i = 0; i < w.length; i++) w[i]! *= scale;
    return w;
  });
  const biases = sizes.map((n) => new Float32Array(n));
  if (options.means) {
    if (options.means.length !== sizes[0])
      throw new ShapeError(`means have ${options.means.length} values, the visible layer ${sizes[0]} units`);
    for (let i = 0; i < sizes[0]!; i++) {
      const m = Math.min(Math.max(options.means[i]!, 1e-3), 1 - 1e-3);
      biases[0]![i] = Math.log(m / (1 - m));
    }
  }
  return { sizes, weights, biases };
}

export interface DbmSampleOptions extends Watch {
  readonly chains?: number;
  readonly steps: number;
  readonly seed?: number;
}

/** Samples on the host: the last p(v | h_1) (means) and visible states of `rows` chains. */
export interface DbmSamples {
  readonly probabilities: HostArray;
  readonly states: HostArray;
  readonly rows: number;
}

export class DBM {
  readonly backend: Backend;
  /** [n_0, ..., n_L]. */
  readonly sizes: readonly number[];
  /** W_l, [n_l, n_{l+1}]. */
  readonly W: readonly Tensor[];
  /** b_l, [1, n_l]. */
  readonly b: readonly Tensor[];
  private readonly scratch = new Map<string, Tensor>();
  private disposed = false;

  private constructor(backend: Backend, p: DbmParameters) {
    checkDbmParameters(p);
    this.backend = assertBackend(backend);
    this.sizes = [...p.sizes];
    this.W = p.weights.map((w, l) => backend.tensor(p.sizes[l]!, p.sizes[l + 1]!, w));
    this.b = p.biases.map((b, l) => backend.tensor(1, p.sizes[l]!, b));
  }

  static create(backend: Backend, options: DbmInitOptions): DBM {
    return new DBM(backend, initialDbmParameters(options));
  }

  static fromParameters(backend: Backend, p: DbmParameters): DBM {
    return new DBM(backend, p);
  }

  /** Hidden layers L. */
  get depth(): number {
    return this.sizes.length - 1;
  }

  get numVisible(): number {
    return this.sizes[0]!;
  }

  private live(): void {
    if (this.disposed) throw new RbmError('DISPOSED', 'DBM used after dispose()');
  }

  async parameters(): Promise<DbmParameters> {
    this.live();
    const [weights, biases] = await Promise.all([
      Promise.all(this.W.map(async (w) => Float32Array.from(await this.backend.read(w)))),
      Promise.all(this.b.map(async (b) => Float32Array.from(await this.backend.read(b)))),
    ]);
    return { sizes: [...this.sizes], weights, biases };
  }

  setParameters(p: DbmParameters): void {
    this.live();
    checkDbmParameters(p);
    if (p.sizes.join() !== this.sizes.join())
      throw new ShapeError(`parameters are for a ${p.sizes.join('-')} DBM, the model is ${this.sizes.join('-')}`);
    for (const [l, w] of p.weights.entries()) this.backend.write(this.W[l]!, w);
    for (const [l, b] of p.biases.entries()) this.backend.write(this.b[l]!, b);
  }

  /** A scratch tensor owned by the model, reused per (rows, cols, slot). */
  scratchTensor(rows: number, cols: number, slot: string): Tensor {
    return memo(this.scratch, `${slot}:${rows}x${cols}`, () => this.backend.tensor(rows, cols));
  }

  /**
   * out = b_l + below s_{l-1} W_{l-1} + above s_{l+1} W_l^T: layer l's input from its neighbours (`s[l +- 1]`
   * may be undefined to leave a side out). The factors are 1 in the DBM; greedy pretraining doubles one side.
   */
  layerInput(out: Tensor, s: readonly (Tensor | undefined)[], l: number, below = 1, above = 1): void {
    const be = this.backend;
    be.fill(out, 0);
    const down = s[l - 1];
    const up = s[l + 1];
    if (l > 0 && down && below !== 0) be.matMul(out, down, this.W[l - 1]!, { alpha: below, beta: 1 });
    if (l < this.depth && up && above !== 0)
      be.matMul(out, up, this.W[l]!, { transposeB: true, alpha: above, beta: 1 });
    be.binary('add', out, out, this.b[l]!);
  }

  /**
   * Mean field in place: `mu[0]` holds v; mu[1..L] start from the bottom-up pass with doubled weights
   * below the top (Salakhutdinov & Hinton 2012, section 4: the pretrained stack's recognition model), then
   * `iterations` sweeps of mu_l = sigmoid(input_l) over l = 1..L, each using the latest neighbours. `x[l]`
   * is left holding the last input of layer l (so that mu_l = sigmoid(x_l) exactly, for the bound's entropy).
   * Each sweep is one fused unit.
   */
  meanField(mu: readonly Tensor[], x: readonly Tensor[], iterations: number): void {
    this.live();
    fused(this.backend, 'dbm-mean-field-start', () => this.meanFieldStart(mu, x));
    for (let t = 0; t < iterations; t++) fused(this.backend, 'dbm-mean-field', () => this.meanFieldSweep(mu, x));
  }

  /** The bottom-up start of {@link meanField} (ops only, for a caller's fused unit). */
  meanFieldStart(mu: readonly Tensor[], x: readonly Tensor[]): void {
    const L = this.depth;
    for (let l = 1; l <= L; l++) {
      this.layerInput(x[l]!, mu, l, l < L ? 2 : 1, 0);
      this.backend.unary('sigmoid', mu[l]!, x[l]!);
    }
  }

  /** One sweep of {@link meanField}'s fixed-point updates (ops only). */
  meanFieldSweep(mu: readonly Tensor[], x: readonly Tensor[]): void {
    for (let l = 1; l <= this.depth; l++) {
      this.layerInput(x[l]!, mu, l);
      this.backend.unary('sigmoid', mu[l]!, x[l]!);
    }
  }

  /**
   * out[B, 1] = the variational bound's -E_q + H(q) (before log Z): sum_l b_l.mu_l + sum_l mu_l W_l mu_{l+1} +
   * sum_{l >= 1} sum_j [softplus(x_lj) - mu_lj x_lj], with mu_l = sigmoid(x_l) (the entropy of a Bernoulli
   * of mean sigmoid(x) is softplus(x) - sigmoid(x) x, finite where mu rounds to 0 or 1).
   */
  boundTerms(out: Tensor, mu: readonly Tensor[], x: readonly Tensor[]): void {
    const be = this.backend;
    const B = out.rows;
    be.fill(out, 0);
    for (let l = 0; l <= this.depth; l++) {
      be.matMul(out, mu[l]!, this.b[l]!, { transposeB: true, beta: 1 });
      if (l < this.depth) {
        const t = this.scratchTensor(B, this.sizes[l + 1]!, 'bound-wm');
        be.matMul(t, mu[l]!, this.W[l]!);
        be.binary('mul', t, t, mu[l + 1]!);
        const s = this.scratchTensor(B, 1, 'bound-sum');
        be.sum(s, t, 1);
        be.axpby(out, 1, out, 1, s);
      }
      if (l >= 1) {
        const sp = this.scratchTensor(B, this.sizes[l]!, 'bound-h');
        const mx = this.scratchTensor(B, this.sizes[l]!, 'bound-mx');
        be.unary('softplus', sp, x[l]!);
        be.binary('mul', mx, mu[l]!, x[l]!);
        be.binary('sub', sp, sp, mx);
        const s = this.scratchTensor(B, 1, 'bound-sum');
        be.sum(s, sp, 1);
        be.axpby(out, 1, out, 1, s);
      }
    }
  }

  /**
   * One block Gibbs sweep per call (one fused unit) on the states `s` [B, n_l] of every layer: the odd layers
   * given the even ones, then the even ones (v included) given the odd. `pv` receives p(v = 1 | s_1).
   */
  gibbsSweeper(scope: Scope, s: readonly Tensor[], random: DeviceRandom, pv?: Tensor): () => void {
    const B = s[0]!.rows;
    const p = this.sizes.map((n) => scope.tensor(B, n));
    const u = this.sizes.map((n) => scope.tensor(B, n));
    return () =>
      fused(this.backend, 'dbm-gibbs', () => {
        this.gibbsSweep(s, p, u, random);
        if (pv) this.backend.copy(pv, p[0]!);
      });
  }

  /** One sweep (ops only): `p` and `u` are per-layer scratch of the states' shapes; p[0] ends as p(v | s_1). */
  gibbsSweep(s: readonly Tensor[], p: readonly Tensor[], u: readonly Tensor[], random: DeviceRandom): void {
    const be = this.backend;
    for (const parity of [1, 0]) {
      for (let l = parity; l <= this.depth; l += 2) {
        this.layerInput(p[l]!, s, l);
        be.unary('sigmoid', p[l]!, p[l]!);
        random.uniform(u[l]!);
        be.bernoulli(s[l]!, p[l]!, u[l]!);
      }
    }
  }

  /** Uploads host rows of the visible layer, checked to be in [0, 1]. */
  upload(scope: Scope, data: Dataset | HostArray, what: string): Tensor {
    const ds = asDataset(data, this.numVisible, what);
    assertUnitInterval(ds);
    return scope.tensor(ds.rows, this.numVisible, ds.data);
  }

  /**
   * Mean-field features of each row: the hidden layers' mu at the fixed point, read back as one array per
   * hidden layer ([rows, n_l]).
   */
  async meanFieldFeatures(data: Dataset | HostArray, iterations = DEFAULT_MEAN_FIELD_ITERATIONS): Promise<HostArray[]> {
    return this.withMeanField(data, iterations, 'meanFieldFeatures', (mu) =>
      Promise.all(mu.slice(1).map((m) => this.backend.read(m))),
    );
  }

  /** Uploads `data`, runs mean field to its fixed point, and hands mu and the last inputs x to `fn`. */
  private async withMeanField<R>(
    data: Dataset | HostArray,
    iterations: number,
    what: string,
    fn: (mu: Tensor[], x: Tensor[], scope: Scope) => Promise<R>,
  ): Promise<R> {
    this.live();
    checkIterations(iterations);
    return withScope(this.backend, async (scope) => {
      const v = this.upload(scope, data, what);
      const mu = [v, ...this.sizes.slice(1).map((n) => scope.tensor(v.rows, n))];
      const x = this.sizes.map((n) => scope.tensor(v.rows, n));
      this.meanField(mu, x, iterations);
      return fn(mu, x, scope);
    });
  }

  /**
   * The variational bound's terms of each row before log Z (subtract log Z for the bound on log p(v)), in
   * float64 on the host.
   */
  async variationalTerms(data: Dataset | HostArray, iterations = DEFAULT_MEAN_FIELD_ITERATIONS): Promise<Float64Array> {
    return (await this.meanFieldAndTerms(data, iterations)).terms;
  }

  /** {@link meanFieldFeatures} and {@link variationalTerms} from one mean-field run. */
  async meanFieldAndTerms(
    data: Dataset | HostArray,
    iterations = DEFAULT_MEAN_FIELD_ITERATIONS,
  ): Promise<{ features: HostArray[]; terms: Float64Array }> {
    return this.withMeanField(data, iterations, 'variationalTerms', async (mu, x, scope) => {
      const out = scope.tensor(mu[0]!.rows, 1);
      fused(this.backend, 'dbm-bound', () => this.boundTerms(out, mu, x));
      const features = await Promise.all(mu.slice(1).map((m) => this.backend.read(m)));
      return { features, terms: Float64Array.from(await this.backend.read(out)) };
    });
  }

  /**
   * Samples by block Gibbs sampling: `chains` chains with every layer started at random (p = 1/2), `steps`
   * sweeps. Returns the last p(v = 1 | h_1) and the visible states.
   */
  async sample(options: DbmSampleOptions): Promise<DbmSamples> {
    this.live();
    const steps = options.steps;
    if (!Number.isInteger(steps) || steps < 1)
      throw new ArgumentError(`steps must be a positive integer, got ${steps}`);
    const chains = options.chains ?? 1;
    if (!Number.isInteger(chains) || chains < 1)
      throw new ArgumentError(`chains must be a positive integer, got ${chains}`);
    const units = this.sizes.reduce((s, n) => s + n, 0);
    const bytes = float32Bytes(3 * units * chains);
    checkMemory(`chains: ${chains}`, bytes, `${formatBytes(bytes)} for the chains of every layer`);
    return withScope(this.backend, async (scope) => {
      const rnd = new DeviceRandom(this.backend, new RandomStream(options.seed ?? 0, Streams.sample));
      const s = this.sizes.map((n) => {
        const t = scope.tensor(chains, n);
        const half = scope.tensor(chains, n);
        this.backend.fill(half, 0.5);
        rnd.uniform(t);
        this.backend.bernoulli(t, half, t);
        return t;
      });
      const pv = scope.tensor(chains, this.numVisible);
      const sweep = this.gibbsSweeper(scope, s, rnd, pv);
      await steppedLoop('sampling', steps, sweep, options);
      const [probabilities, states] = await Promise.all([this.backend.read(pv), this.backend.read(s[0]!)]);
      return { probabilities, states, rows: chains };
    });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const t of [...this.W, ...this.b, ...this.scratch.values()]) this.backend.dispose(t);
    this.scratch.clear();
  }
}

export function checkIterations(iterations: number): void {
  if (!Number.isInteger(iterations) || iterations < 0 || iterations > 10000)
    throw new ArgumentError(`mean-field iterations must be an integer in [0, 10000], got ${iterations}`);
}
