import { memo, type Scope } from '../backend/scope.js';
import { fused } from '../backend/trace.js';
import type { Backend, Tensor } from '../backend/types.js';
import { checkMemory, float32Bytes, formatBytes } from '../budget.js';
import type { Dataset } from '../data/dataset.js';
import { type DataSource, datasetSource, isDataSource } from '../data/source.js';
import { ArgumentError, ShapeError } from '../errors.js';
import type { DBM } from '../model/dbm.js';
import type { DeviceRandom } from '../random/device.js';
import { Streams } from '../random/stream.js';
import { type Batches, EpochBatches } from './batches.js';
import { type DbmTrainOptions, dbmTrainConfig } from './dbm.js';
import type { BoundFamily, EpochSettings, LoopContext, ModelFamily, Stage } from './family.js';
import { momentumUpdate } from './optimizer.js';
import { scheduleValue } from './schedule.js';

/**
 * The deep Boltzmann machine as a model family (Salakhutdinov & Hinton 2009; Salakhutdinov & Larochelle 2010),
 * in L + 1 stages of the one {@link Trainer}:
 *
 * - stages `pretrain.l` (l < L): greedy pretraining, CD-1 of the RBM of layers (l, l + 1) on the layer below's
 *   mean-field activities, with the doubled-input trick: an RBM whose hidden layer will also hear from above
 *   sees its input twice (p(h | v) = sigmoid(2 v W + c)), one whose visible layer hears from below gets twice
 *   the top-down input (p(v | h) = sigmoid(2 h W^T + b)); S&H 2009 section 3.1 for two layers, the middle RBMs
 *   doubled both ways (S&H 2012). When pretraining ends, a middle layer's bias is the mean of its two RBMs'.
 * - stage `joint`: stochastic approximation, the data term from mean field (mu = argmax of the bound given v),
 *   the model term from persistent Gibbs chains over every layer (PCD):
 *     dW_l = <mu_l^T mu_{l+1}>_data - <s_l^T s_{l+1}>_chains,  db_l = <mu_l> - <s_l>,
 *   with momentum and weight decay on W. Each update is one fused unit (`dbm-step`, `dbm-pretrain-step`).
 *
 * The chains, the velocities and pretraining's visible biases are named state: they roll back on divergence
 * and travel in checkpoints as every family's state does.
 */

/** Per-batch-size workspace. */
interface Workspace {
  readonly v: Tensor;
  readonly mu: Tensor[];
  readonly x: Tensor[];
  readonly u: Tensor[];
  readonly pv: Tensor;
}

/** The DBM's stages: pretraining RBM l for l < L (0 epochs each when pretraining is off), then joint training. */
function dbmStages(depth: number, pretrainEpochs: number, epochs: number): Stage[] {
  return [
    ...Array.from({ length: depth }, (_, l) => ({ name: `pretrain.${l}`, epochs: pretrainEpochs })),
    { name: 'joint', epochs },
  ];
}

/** Checks the model, data and options, and describes the DBM's training to the {@link Trainer}. */
export function dbmFamily(
  model: DBM,
  data: Dataset | DataSource,
  options: DbmTrainOptions = {},
): ModelFamily<DBM, Batches<Workspace>> {
  const c = dbmTrainConfig(options);
  const source = isDataSource(data) ? data : datasetSource(data);
  if (source.cols !== model.numVisible)
    throw new ShapeError(`data have ${source.cols} columns, the DBM's visible layer ${model.numVisible} units`);
  if (source.rows < 1) throw new ArgumentError('training data have no rows');
  const sizes = model.sizes;
  const L = model.depth;
  const units = sizes.reduce((t, n) => t + n, 0);
  const weights = sizes.slice(0, -1).reduce((t, n, l) => t + n * sizes[l + 1]!, 0);
  const bytes = float32Bytes(3 * units * (c.chains + Math.min(c.batchSize, source.rows)) + 2 * weights);
  checkMemory(
    `DBM training (batch ${c.batchSize}, ${c.chains} chains)`,
    bytes,
    `${formatBytes(bytes)} for chains, mean-field workspace, velocities and gradients`,
  );
  // Stage l < L pretrains the RBM of layers (l, l + 1); stage L is joint training.
  const stages = dbmStages(L, c.pretrainEpochs, c.epochs);
  return {
    kind: 'dbm',
    model,
    backend: model.backend,
    parameters: [
      ...model.W.map((tensor, l) => ({ name: `weights.${l}`, tensor })),
      ...model.b.map((tensor, l) => ({ name: `biases.${l}`, tensor })),
    ],
    stages,
    seed: c.seed,
    gibbsStream: Streams.dbmChains,
    binaryStates: true,
    maxParameter: 1e4,
    settings(stage, epoch): EpochSettings {
      const joint = stage === L;
      const epochs = stages[stage]!.epochs;
      return {
        learningRate: joint ? scheduleValue(c.learningRate, epoch, epochs) : c.pretrainLearningRate,
        momentum: scheduleValue(c.momentum, epoch, epochs),
      };
    },
    bind: (ctx) => new DbmSteps(model, source, c, ctx),
  };
}

type Config = ReturnType<typeof dbmTrainConfig>;

/** The DBM's state, workspace and two steps, bound to a trainer. */
class DbmSteps implements BoundFamily<Batches<Workspace>> {
  readonly batches: EpochBatches<Workspace>;
  readonly epochError: Tensor;
  private readonly model: DBM;
  private readonly be: Backend;
  private readonly c: Config;
  private readonly scope: Scope;
  private readonly random: DeviceRandom;
  private readonly chains: Tensor[];
  private readonly chainP: Tensor[];
  private readonly chainU: Tensor[];
  /** Velocities of W_l and b_l, and pretraining's RBM visible biases c_l (l = 1..L-1). */
  private readonly dW: Tensor[];
  private readonly db: Tensor[];
  private readonly c_: Tensor[];
  private readonly grad: Tensor[];
  private readonly errorCol: Tensor;
  private readonly workspaces = new Map<number, Workspace>();
  private readonly rowScratch = new Map<string, Tensor>();
  private readonly examples: number;

  constructor(model: DBM, source: DataSource, c: Config, ctx: LoopContext) {
    this.model = model;
    this.be = ctx.backend;
    this.c = c;
    this.scope = ctx.scope;
    this.random = ctx.random;
    this.examples = source.rows;
    const sizes = model.sizes;
    const s = ctx.scope;
    const st = ctx.state;
    this.chains = sizes.map((n, l) => st.tensor(`chains.${l}`, c.chains, n, 'states'));
    this.chainP = sizes.map((n) => s.tensor(c.chains, n));
    this.chainU = sizes.map((n) => s.tensor(c.chains, n));
    this.dW = sizes.slice(0, -1).map((n, l) => st.tensor(`velocity.weights.${l}`, n, sizes[l + 1]!));
    this.db = sizes.map((n, l) => st.tensor(`velocity.biases.${l}`, 1, n));
    this.c_ = sizes.map((n, l) => st.tensor(`pretrain_bias.${l}`, 1, n));
    this.grad = sizes.slice(0, -1).map((n, l) => s.tensor(n, sizes[l + 1]!));
    this.epochError = s.tensor(1, 1);
    this.errorCol = s.tensor(1, 1);
    this.batches = new EpochBatches(source, {
      batchSize: c.batchSize,
      chunk: 1,
      checkInterval: Number.MAX_SAFE_INTEGER,
      check: source.checks === 'bernoulli' ? undefined : 'bernoulli',
      workspace: (size) => this.workspace(size),
    });
    // The chains start at random (p = 1/2 in every layer); a resumed run's state overwrites them.
    this.chains.forEach((t, l) => {
      this.be.fill(this.chainP[l]!, 0.5);
      this.random.uniform(t);
      this.be.bernoulli(t, this.chainP[l]!, t);
    });
  }

  private workspace(B: number): Workspace {
    return memo(this.workspaces, B, () => {
      const sizes = this.model.sizes;
      const s = this.scope;
      return {
        v: s.tensor(B, sizes[0]!),
        mu: sizes.map((n) => s.tensor(B, n)),
        x: sizes.map((n) => s.tensor(B, n)),
        u: sizes.map((n) => s.tensor(B, n)),
        pv: s.tensor(B, sizes[0]!),
      };
    });
  }

  run(read: Batches<Workspace>, _count: number, stage: number, s: EpochSettings) {
    const ws = read.ws;
    const rows = read.rows[0]!;
    this.be.write(ws.v, rows);
    const l = stage;
    const scratch = { scratch: this.scratchOf(ws) };
    if (l === this.model.depth)
      fused(this.be, 'dbm-step', () => this.jointStep(ws, s.learningRate, s.momentum), scratch);
    else fused(this.be, 'dbm-pretrain-step', () => this.pretrainStep(ws, l, s.learningRate, s.momentum), scratch);
    return { size: ws.v.rows, uploadBytes: 4 * rows.length };
  }

  /** After pretraining RBM l: velocities restart; after the last, a middle layer's bias is the mean of its two RBMs'. */
  endStage(stage: number): void {
    const L = this.model.depth;
    const b = this.model.b;
    if (stage + 1 === L) for (let l = 1; l < L; l++) this.be.axpby(b[l]!, 0.5, b[l]!, 0.5, this.c_[l]!);
    for (const t of [...this.dW, ...this.db]) this.be.fill(t, 0);
  }

  async figures(errorSum: number, stage: number) {
    const l = stage;
    const N = this.examples;
    return {
      reconstructionError: errorSum / (N * this.model.sizes[l === this.model.depth ? 0 : l]!),
      ...(l < this.model.depth ? { layer: l } : {}),
    };
  }

  /**
   * What a step writes and nobody reads before writing it again (the workspace, gradients, the chains'
   * conditionals and uniforms): a compiling backend need not copy them out of the unit.
   */
  private scratchOf(ws: Workspace): Tensor[] {
    return [
      ...ws.mu.slice(1),
      ...ws.x,
      ...ws.u,
      ws.pv,
      ...this.grad,
      ...this.chainP,
      ...this.chainU,
      ...this.rowScratch.values(),
      this.errorCol,
    ];
  }

  private update(param: Tensor, velocity: Tensor, g: Tensor, lr: number, momentum: number, decay: number): void {
    momentumUpdate(this.be, param, velocity, g, lr, momentum, decay);
  }

  /** Adds sum (v - pv)^2 of the batch to the epoch's error; `scratch` is of v's shape. */
  private addError(v: Tensor, pv: Tensor, scratch: Tensor): void {
    const be = this.model.backend;
    be.binary('sub', scratch, v, pv);
    be.unary('square', scratch, scratch);
    be.sum(this.errorCol, this.sumRows(scratch), 1);
    be.axpby(this.epochError, 1, this.epochError, 1, this.errorCol);
  }

  /** A [1, n] scratch row per width and slot. */
  private row(n: number, slot: string): Tensor {
    return memo(this.rowScratch, `${slot}:${n}`, () => this.scope.tensor(1, n));
  }

  /** [1, n] column sums of x (scratch). */
  private sumRows(x: Tensor): Tensor {
    const t = this.row(x.cols, 'sum');
    this.model.backend.sum(t, x, 0);
    return t;
  }

  /** One joint update: mean field on the batch, Gibbs on the chains, the stochastic-approximation step. */
  private jointStep(ws: Workspace, lr: number, momentum: number): void {
    const m = this.model;
    const be = m.backend;
    const c = this.c;
    const L = m.depth;
    const B = ws.v.rows;
    const mu = [ws.v, ...ws.mu.slice(1)];
    m.meanFieldStart(mu, ws.x);
    for (let t = 0; t < c.meanFieldIterations; t++) m.meanFieldSweep(mu, ws.x);
    for (let t = 0; t < c.gibbsSteps; t++) m.gibbsSweep(this.chains, this.chainP, this.chainU, this.random);
    // The error: v against p(v | mu_1).
    m.layerInput(ws.pv, mu, 0);
    be.unary('sigmoid', ws.pv, ws.pv);
    this.addError(ws.v, ws.pv, ws.u[0]!);
    const M = c.chains;
    for (let l = 0; l < L; l++) {
      const g = this.grad[l]!;
      be.matMul(g, mu[l]!, mu[l + 1]!, { transposeA: true, alpha: 1 / B });
      be.matMul(g, this.chains[l]!, this.chains[l + 1]!, { transposeA: true, alpha: -1 / M, beta: 1 });
      this.update(m.W[l]!, this.dW[l]!, g, lr, momentum, c.weightDecay);
    }
    for (let l = 0; l <= L; l++) {
      const g = this.row(m.sizes[l]!, 'grad');
      const t = this.sumRows(this.chains[l]!);
      be.sum(g, mu[l]!, 0);
      be.axpby(g, 1 / B, g, -1 / M, t);
      this.update(m.b[l]!, this.db[l]!, g, lr, momentum, 0);
    }
  }

  /**
   * One CD-1 update of the RBM of layers (l, l + 1), on the batch's bottom-up activities mu_l (doubled
   * weights below the top, as in mean field's start): visible bias b_0 (l = 0) or c_l, hidden bias b_{l+1}.
   */
  private pretrainStep(ws: Workspace, l: number, lr: number, momentum: number): void {
    const m = this.model;
    const be = m.backend;
    const L = m.depth;
    const B = ws.v.rows;
    const mu = [ws.v, ...ws.mu.slice(1)];
    for (let k = 1; k <= l; k++) {
      m.layerInput(ws.x[k]!, mu, k, 2, 0);
      be.unary('sigmoid', mu[k]!, ws.x[k]!);
    }
    const up = l + 1 < L ? 2 : 1;
    const down = l > 0 ? 2 : 1;
    const W = m.W[l]!;
    const hb = m.b[l + 1]!;
    const vb = l === 0 ? m.b[0]! : this.c_[l]!;
    const x = mu[l]!;
    const nh = m.sizes[l + 1]!;
    const ph0 = ws.mu[l + 1]!;
    const ph1 = ws.x[l + 1]!;
    const h0 = ws.u[l + 1]!;
    const pv1 = ws.x[l]!;
    // ph0 = sigmoid(up x W + c), h0 ~ ph0, pv1 = sigmoid(down h0 W^T + b), ph1 = sigmoid(up pv1 W + c).
    be.matMul(ph0, x, W, { alpha: up });
    be.binary('add', ph0, ph0, hb);
    be.unary('sigmoid', ph0, ph0);
    this.random.uniform(h0);
    be.bernoulli(h0, ph0, h0);
    be.matMul(pv1, h0, W, { transposeB: true, alpha: down });
    be.binary('add', pv1, pv1, vb);
    be.unary('sigmoid', pv1, pv1);
    be.matMul(ph1, pv1, W, { alpha: up });
    be.binary('add', ph1, ph1, hb);
    be.unary('sigmoid', ph1, ph1);
    this.addError(x, pv1, ws.u[l]!);
    const g = this.grad[l]!;
    be.matMul(g, x, ph0, { transposeA: true, alpha: 1 / B });
    be.matMul(g, pv1, ph1, { transposeA: true, alpha: -1 / B, beta: 1 });
    this.update(W, this.dW[l]!, g, lr, momentum, this.c.weightDecay);
    const gv = this.row(m.sizes[l]!, 'grad-visible');
    be.sum(gv, x, 0);
    be.axpby(gv, 1 / B, gv, -1 / B, this.sumRows(pv1));
    this.update(vb, this.db[l]!, gv, lr, momentum, 0);
    const gh = this.row(nh, 'grad-hidden');
    be.sum(gh, ph0, 0);
    be.axpby(gh, 1 / B, gh, -1 / B, this.sumRows(ph1));
    this.update(hb, this.db[l + 1]!, gh, lr, momentum, 0);
  }
}
