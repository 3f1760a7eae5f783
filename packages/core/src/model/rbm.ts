import { assertBackend } from '../backend/check.js';
import { memo, type Scope, withScope } from '../backend/scope.js';
import { fused } from '../backend/trace.js';
import type { Backend, HostArray, Tensor } from '../backend/types.js';
import { checkMemory, modelMemory } from '../budget.js';
import { assertUnitInterval, type Dataset } from '../data/dataset.js';
import { ArgumentError, RbmError, ShapeError } from '../errors.js';
import { steppedLoop } from '../progress.js';
import { DeviceRandom } from '../random/device.js';
import { RandomStream, Streams } from '../random/stream.js';
import { type HiddenUnits, type HiddenUnitType, hiddenUnitType } from './hidden-units.js';
import {
  asDataset,
  assertVisibleData,
  checkParameters,
  type InitOptions,
  initialParameters,
  type RbmParameters,
  type SampleOptions,
  type Samples,
} from './parameters.js';
import {
  SoftmaxUnits,
  type VisibleParameters,
  type VisibleUnits,
  type VisibleUnitType,
  visibleUnitType,
} from './units.js';

export type { HiddenUnits } from './hidden-units.js';
export {
  asDataset,
  assertBinaryHidden,
  assertBinaryUnits,
  assertVisibleData,
  checkParameters,
  energy,
  type InitOptions,
  initialParameters,
  MAX_WEIGHTS,
  type RbmParameters,
  type SampleOptions,
  type Samples,
} from './parameters.js';
export type { VisibleUnits } from './units.js';

/**
 * A restricted Boltzmann machine whose parameters live on a backend. Visible units: `bernoulli` (binary, in
 * [0, 1]):
 *
 *   E(v, h) = -a.v - b.h - v W h
 *   F(v)    = -a.v - sum_j softplus(b_j + (v W)_j)
 *   p(h_j = 1 | v) = sigmoid(b_j + (v W)_j),  p(v_i = 1 | h) = sigmoid(a_i + (W h)_i)
 *
 * or `gaussian` (real-valued, variances sigma_i^2 = exp(z_i); Cho, Ilin & Raiko 2011):
 *
 *   E(v, h) = sum_i (v_i - a_i)^2 / (2 sigma_i^2) - b.h - sum_ij (v_i / sigma_i^2) W_ij h_j
 *   p(h_j = 1 | v) = sigmoid(b_j + sum_i v_i W_ij / sigma_i^2),  p(v_i | h) = N(a_i + (W h)_i, sigma_i^2)
 *   F(v) = sum_i (v_i - a_i)^2 / (2 sigma_i^2) - sum_j softplus(b_j + sum_i v_i W_ij / sigma_i^2)
 *
 * With z = 0 (unit variances) this is the usual model for standardised data. What differs between the
 * types lives in ./units.ts. The device-level methods take an inverse temperature beta (default 1) for
 * p_beta(v, h) ∝ exp(-beta E(v, h)), which tempering and annealing use.
 */
export class RBM implements VisibleParameters {
  readonly backend: Backend;
  readonly numVisible: number;
  readonly numHidden: number;
  /** W, [numVisible, numHidden]. */
  readonly W: Tensor;
  /** Visible bias a, [1, numVisible]. */
  readonly a: Tensor;
  /** Hidden bias b, [1, numHidden]. */
  readonly b: Tensor;
  readonly visibleUnits: VisibleUnits;
  /** The visible units' conditionals, sampling and energy term. */
  readonly units: VisibleUnitType;
  /** Gaussian units: log variances z [1, nv], and the derived precisions exp(-z) and deviations exp(z / 2). */
  readonly z: Tensor | undefined;
  readonly precision: Tensor | undefined;
  readonly sigma: Tensor | undefined;
  /** Hidden units (./hidden-units.ts): their statistic, sampling and the hidden layer summed out. */
  readonly hiddenUnits: HiddenUnits;
  readonly hidden: HiddenUnitType;
  /** Scratch tensors of the Gaussian conditionals, by shape. */
  private readonly scratchTensors = new Map<string, Tensor>();
  /** NReLU units: the input x behind each tensor of hidden means, which sampling reads. */
  private readonly hiddenInputs = new Map<Tensor, Tensor>();
  private disposed = false;

  private constructor(backend: Backend, params: RbmParameters) {
    checkParameters(params);
    this.backend = assertBackend(backend);
    this.numVisible = params.numVisible;
    this.numHidden = params.numHidden;
    this.visibleUnits = params.visibleUnits ?? 'bernoulli';
    this.hiddenUnits = params.hiddenUnits ?? 'bernoulli';
    this.hidden = hiddenUnitType(this.hiddenUnits);
    this.units =
      this.visibleUnits === 'softmax'
        ? new SoftmaxUnits(backend, params.numVisible, params.softmaxGroups!)
        : visibleUnitType(this.visibleUnits);
    this.W = backend.tensor(params.numVisible, params.numHidden, params.weights);
    this.a = backend.tensor(1, params.numVisible, params.visibleBias);
    this.b = backend.tensor(1, params.numHidden, params.hiddenBias);
    if (this.visibleUnits === 'gaussian') {
      this.z = backend.tensor(1, params.numVisible, params.logVariance ?? new Float32Array(params.numVisible));
      this.precision = backend.tensor(1, params.numVisible);
      this.sigma = backend.tensor(1, params.numVisible);
      this.refreshVariance();
    }
  }

  get gaussian(): boolean {
    return this.visibleUnits === 'gaussian';
  }

  /** Softmax units: the group sizes that end the visible layer (else undefined). */
  get softmaxGroups(): readonly number[] | undefined {
    return this.units instanceof SoftmaxUnits ? this.units.groups : undefined;
  }

  /** Recomputes exp(-z) and exp(z / 2) after z changed. */
  refreshVariance(): void {
    if (!this.z) return;
    const be = this.backend;
    be.axpby(this.precision!, -1, this.z, 0, this.z);
    be.unary('exp', this.precision!, this.precision!);
    be.axpby(this.sigma!, 0.5, this.z, 0, this.z);
    be.unary('exp', this.sigma!, this.sigma!);
  }

  /** A scratch tensor owned by the model (reused across calls with the same shape and slot). */
  scratchTensor(rows: number, cols: number, slot: string): Tensor {
    return memo(this.scratchTensors, `${slot}:${rows}x${cols}`, () => this.backend.tensor(rows, cols));
  }

  /** v scaled by the precisions, v / sigma^2 (Gaussian units), or v itself. */
  scaledVisible(v: Tensor): Tensor {
    return this.units.scaled(this, v);
  }

  /**
   * Samples v given its conditional mean (p(v = 1 | h), or the Gaussian mean): Bernoulli against uniforms,
   * or mean + sigma / sqrt(beta) * N(0, 1). `noise` is a [B, nv] scratch tensor.
   */
  sampleVisible(out: Tensor, mean: Tensor, random: DeviceRandom, noise: Tensor, beta = 1): void {
    this.units.sample(this, out, mean, random, noise, beta);
  }

  /** A new RBM initialised as in Hinton's practical guide (see {@link initialParameters}). */
  static create(backend: Backend, options: InitOptions): RBM {
    return new RBM(backend, initialParameters(options));
  }

  static fromParameters(backend: Backend, params: RbmParameters): RBM {
    return new RBM(backend, params);
  }

  private live(): void {
    if (this.disposed) throw new RbmError('DISPOSED', 'RBM used after dispose()');
  }

  /** Copies the parameters to the host (float32). */
  async parameters(): Promise<RbmParameters> {
    this.live();
    const [w, a, b] = await Promise.all([
      this.backend.read(this.W),
      this.backend.read(this.a),
      this.backend.read(this.b),
    ]);
    const base = {
      numVisible: this.numVisible,
      numHidden: this.numHidden,
      weights: Float32Array.from(w),
      visibleBias: Float32Array.from(a),
      hiddenBias: Float32Array.from(b),
    };
    const hidden = this.hiddenUnits !== 'bernoulli' ? { hiddenUnits: this.hiddenUnits } : {};
    if (this.units instanceof SoftmaxUnits)
      return { ...base, visibleUnits: 'softmax', softmaxGroups: [...this.units.groups] };
    if (!this.z) return { ...base, ...hidden };
    return {
      ...base,
      ...hidden,
      visibleUnits: 'gaussian',
      logVariance: Float32Array.from(await this.backend.read(this.z)),
    };
  }

  /** Replaces the parameters (same sizes). */
  setParameters(params: RbmParameters): void {
    this.live();
    checkParameters(params);
    if (params.numVisible !== this.numVisible || params.numHidden !== this.numHidden) {
      throw new ShapeError(
        `parameters are ${params.numVisible}x${params.numHidden}, the model is ${this.numVisible}x${this.numHidden}`,
      );
    }
    if ((params.hiddenUnits ?? 'bernoulli') !== this.hiddenUnits)
      throw new ShapeError(
        `parameters are for ${params.hiddenUnits ?? 'bernoulli'} hidden units, the model has ${this.hiddenUnits}`,
      );
    if (
      (params.visibleUnits ?? 'bernoulli') !== this.visibleUnits ||
      JSON.stringify(params.softmaxGroups ?? null) !== JSON.stringify(this.softmaxGroups ?? null)
    )
      throw new ShapeError(
        `parameters are for ${params.visibleUnits ?? 'bernoulli'} visible units, the model has ${this.visibleUnits}`,
      );
    this.backend.write(this.W, params.weights);
    this.backend.write(this.a, params.visibleBias);
    this.backend.write(this.b, params.hiddenBias);
    if (this.z) {
      this.backend.write(this.z, params.logVariance ?? new Float32Array(this.numVisible));
      this.refreshVariance();
    }
  }

  // ---- device-level conditionals: out and v/h are tensors on this model's backend ----

  /**
   * out[B, nh] = p_beta(h = 1 | v) = sigmoid(beta (v W + b)) (Gaussian units: v / sigma^2 in place of v); for
   * other hidden units E[h | v] as their type defines it (nrelu: max(0, x), gaussian: x).
   */
  hiddenProbabilities(out: Tensor, v: Tensor, beta = 1): void {
    this.live();
    this.backend.matMul(out, this.scaledVisible(v), this.W);
    this.backend.binary('add', out, out, this.b);
    if (beta !== 1) this.backend.axpby(out, beta, out, 0, out);
    const input = this.hidden.needsInput
      ? memo(this.hiddenInputs, out, () => this.backend.tensor(out.rows, out.cols))
      : undefined;
    // Only NReLU units need a scratch (for max(0, x)); the others allocate nothing here.
    const scratch = input ? this.scratchTensor(out.rows, out.cols, 'hidden-mean') : undefined;
    this.hidden.mean(this.backend, out, input, scratch);
  }

  /**
   * h ~ p(h | v), given `mean` as {@link hiddenProbabilities} left it (Bernoulli: against uniforms; NReLU: from
   * the input kept beside `mean`); `noise` is scratch of h's shape.
   */
  sampleHidden(h: Tensor, mean: Tensor, random: DeviceRandom, noise: Tensor): void {
    this.hidden.sample(this.backend, h, mean, this.hiddenInputs.get(mean), random, noise);
  }

  /** out[B, nv] = E_beta[v | h]: p(v = 1 | h) = sigmoid(beta (h W^T + a)), or the Gaussian mean h W^T + a. */
  visibleProbabilities(out: Tensor, h: Tensor, beta = 1): void {
    this.live();
    this.backend.matMul(out, h, this.W, { transposeB: true });
    this.backend.binary('add', out, out, this.a);
    this.units.conditionalMean(this, out, beta);
  }

  /**
   * out[B, 1] = -F(v) = a.v + sum_j softplus(b_j + (v W)_j) (Gaussian units: see the class comment).
   * `scratch` is [B, nh] and is overwritten.
   */
  negativeFreeEnergy(out: Tensor, v: Tensor, scratch: Tensor): void {
    this.live();
    const be = this.backend;
    if (!this.hidden.logSumOverHidden)
      throw new ArgumentError(
        `the free energy of ${this.hiddenUnits} hidden units has no closed form (exact values, AIS, the free-energy gap and pseudo-likelihood need it)`,
      );
    be.matMul(scratch, this.scaledVisible(v), this.W);
    be.binary('add', scratch, scratch, this.b);
    this.hidden.logSumOverHidden(be, out, scratch);
    this.units.addVisibleTerm(this, out, v);
  }

  /** Whether F(v) has a closed form (not for NReLU hidden units): what needs it is skipped or refused without. */
  get hasFreeEnergy(): boolean {
    return this.hidden.logSumOverHidden !== undefined;
  }

  /** The constant of -F(v) that {@link negativeFreeEnergy} leaves out (Gaussian hidden units: nh log(2 pi) / 2). */
  get hiddenConstant(): number {
    return this.numHidden * this.hidden.constantPerUnit;
  }

  /** out[B, 1] = E(v, h) of each row. `scratch` is [B, nh] and is overwritten. */
  energy(out: Tensor, v: Tensor, h: Tensor, scratch: Tensor): void {
    this.live();
    const be = this.backend;
    be.matMul(scratch, this.scaledVisible(v), this.W);
    be.binary('mul', scratch, scratch, h);
    be.sum(out, scratch, 1);
    this.units.addVisibleTerm(this, out, v);
    be.matMul(out, h, this.b, { transposeB: true, beta: 1 });
    this.hidden.addHiddenTerm?.(be, out, h, scratch, this.scratchTensor(out.rows, 1, 'hidden-term'));
    be.axpby(out, -1, out, 0, out);
  }

  // ---- host-level conveniences: upload, compute, read back ----

  /**
   * Validates host rows and uploads them into `scope`: visible rows must suit the visible units (finite; in
   * [0, 1] for Bernoulli units), hidden rows must be in [0, 1]. Errors name `what`.
   */
  upload(scope: Scope, data: Dataset | HostArray, layer: 'visible' | 'hidden', what: string): Tensor {
    const cols = layer === 'visible' ? this.numVisible : this.numHidden;
    const ds = asDataset(data, cols, what);
    if (layer === 'visible') assertVisibleData(ds, this.units);
    else assertUnitInterval(ds);
    return scope.tensor(ds.rows, cols, ds.data);
  }

  /** Free energy F(v) of each row of `data`, in float64 on the host. */
  async freeEnergy(data: Dataset | HostArray): Promise<Float64Array> {
    this.live();
    return withScope(this.backend, async (scope) => {
      const v = this.upload(scope, data, 'visible', 'freeEnergy');
      const out = scope.tensor(v.rows, 1);
      this.negativeFreeEnergy(out, v, scope.tensor(v.rows, this.numHidden));
      const negF = await this.backend.read(out);
      return Float64Array.from(negF, (x) => -x);
    });
  }

  /** p(h = 1 | v) for each row of `v`. */
  async hiddenGivenVisible(v: Dataset | HostArray): Promise<HostArray> {
    return this.conditional(v, 'visible', 'hiddenGivenVisible');
  }

  /** p(v = 1 | h) for each row of `h` (the mean of v given h). */
  async visibleGivenHidden(h: Dataset | HostArray): Promise<HostArray> {
    return this.conditional(h, 'hidden', 'visibleGivenHidden');
  }

  /** One layer's conditional given the other's rows, read back. */
  private async conditional(x: Dataset | HostArray, given: 'visible' | 'hidden', what: string): Promise<HostArray> {
    this.live();
    return withScope(this.backend, async (scope) => {
      const xt = this.upload(scope, x, given, what);
      const visible = given === 'visible';
      const out = scope.tensor(xt.rows, visible ? this.numHidden : this.numVisible);
      if (visible) this.hiddenProbabilities(out, xt);
      else this.visibleProbabilities(out, xt);
      return this.backend.read(out);
    });
  }

  /**
   * Reconstruction: h ~ p(h | v), then p(v = 1 | h). With `meanField`, h = p(h = 1 | v) instead of a sample.
   */
  async reconstruct(v: Dataset | HostArray, options: { seed?: number; meanField?: boolean } = {}): Promise<HostArray> {
    this.live();
    return withScope(this.backend, async (scope) => {
      const vt = this.upload(scope, v, 'visible', 'reconstruct');
      const ph = scope.tensor(vt.rows, this.numHidden);
      this.hiddenProbabilities(ph, vt);
      if (!options.meanField) {
        const u = scope.tensor(vt.rows, this.numHidden);
        const h = scope.tensor(vt.rows, this.numHidden);
        this.sampleHidden(
          h,
          ph,
          new DeviceRandom(this.backend, new RandomStream(options.seed ?? 0, Streams.sample)),
          u,
        );
        this.backend.copy(ph, h);
      }
      const pv = scope.tensor(vt.rows, this.numVisible);
      this.visibleProbabilities(pv, ph);
      return this.backend.read(pv);
    });
  }

  /**
   * Samples by block Gibbs sampling: `chains` chains started from `init` rows (or from p(v) = 1/2, or
   * N(a, sigma^2) for Gaussian units), `steps` full sweeps v -> h -> v. Returns the final visible
   * probabilities p(v = 1 | h) (the usual way to show samples) and the states. Parallel tempering:
   * `temperedSample` (sample/tempering.ts).
   */
  async sample(options: SampleOptions): Promise<Samples> {
    this.live();
    if ((options as { tempering?: unknown }).tempering !== undefined)
      throw new ArgumentError('RBM.sample: parallel tempering moved to temperedSample(model, options)');
    return withScope(this.backend, async (scope) => {
      const rnd = new DeviceRandom(this.backend, new RandomStream(options.seed ?? 0, Streams.sample));
      const v = this.startStates(scope, options, rnd);
      const pv = scope.tensor(v.rows, this.numVisible);
      const sweeps = this.gibbsSweeper(scope, v, rnd, pv);
      await steppedLoop('sampling', options.steps, sweeps, options);
      const [probabilities, states] = await Promise.all([this.backend.read(pv), this.backend.read(v)]);
      return { probabilities, states, rows: v.rows };
    });
  }

  /**
   * `steps` block Gibbs sweeps v -> h -> v in place on the chains `v` [B, nv], each sweep one fused unit;
   * returns the last p(v | h) [B, nv] (allocated in `scope`).
   */
  gibbsSweeps(scope: Scope, v: Tensor, steps: number, random: DeviceRandom): Tensor {
    const pv = scope.tensor(v.rows, this.numVisible);
    const sweep = this.gibbsSweeper(scope, v, random, pv);
    for (let t = 0; t < steps; t++) sweep();
    return pv;
  }

  /** One block Gibbs sweep on the chains `v` per call (one fused unit), leaving p(v | h) in `pv`. */
  gibbsSweeper(scope: Scope, v: Tensor, random: DeviceRandom, pv: Tensor): () => void {
    const B = v.rows;
    const h = scope.tensor(B, this.numHidden);
    const ph = scope.tensor(B, this.numHidden);
    const uh = scope.tensor(B, this.numHidden);
    const uv = scope.tensor(B, this.numVisible);
    return () =>
      fused(this.backend, 'gibbs-sweep', () => {
        this.hiddenProbabilities(ph, v);
        this.sampleHidden(h, ph, random, uh);
        this.visibleProbabilities(pv, h);
        this.sampleVisible(v, pv, random, uv);
      });
  }

  /**
   * The chains' first states for {@link sample}: `init` rows, or `chains` draws from p(v) = 1/2 (Gaussian
   * units: N(a, sigma^2)). Checks `steps` too.
   */
  startStates(scope: Scope, options: SampleOptions, random: DeviceRandom): Tensor {
    const steps = options.steps;
    if (!Number.isInteger(steps) || steps < 1)
      throw new ArgumentError(`steps must be a positive integer, got ${steps}`);
    if (options.init) return this.upload(scope, options.init, 'visible', 'sample init');
    const chains = options.chains ?? 1;
    if (!Number.isInteger(chains) || chains < 1)
      throw new ArgumentError(`chains must be a positive integer, got ${chains}`);
    const need = modelMemory(this.numVisible, this.numHidden, chains);
    checkMemory(`chains: ${chains}`, need.bytes, need.detail);
    const v = scope.tensor(chains, this.numVisible);
    const start = scope.tensor(chains, this.numVisible);
    // Binary units: the conditional at zero input, 1/2 per Bernoulli unit, uniform in a softmax group.
    if (this.units.binary) this.units.conditionalMean(this, start, 1);
    else this.backend.binary('add', start, start, this.a);
    this.sampleVisible(v, start, random, scope.tensor(chains, this.numVisible));
    return v;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const t of [
      this.W,
      this.a,
      this.b,
      this.z,
      this.precision,
      this.sigma,
      ...this.scratchTensors.values(),
      ...this.hiddenInputs.values(),
    ]) {
      if (t) this.backend.dispose(t);
    }
    this.scratchTensors.clear();
    this.hiddenInputs.clear();
    this.units.dispose?.();
  }
}
