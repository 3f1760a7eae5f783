import { ArgumentError } from '../errors.js';
import { type CollaborativeParameters, checkCollaborativeParameters } from '../model/collaborative.js';
import { checkDbmParameters, type DbmParameters, DEFAULT_MEAN_FIELD_ITERATIONS } from '../model/dbm.js';
import { checkParameters, type RbmParameters } from '../model/parameters.js';
import { groupStarts } from '../model/units.js';
import { CHECKPOINT_KEY } from './checkpoint.js';
import { checkStack } from './model-file.js';
import { OnnxGraph } from './onnx-graph.js';
import { INT64 } from './onnx-proto.js';

/**
 * Export to ONNX for inference anywhere (ONNX Runtime in Python, C#, Java, C++ or the browser): a
 * self-contained model in the standard domain (opset 17, no custom ops), the weights as initializers, named
 * inputs and outputs with a dynamic first dimension `batch`, and the model's provenance in metadata_props.
 * Each output is the same formula rbmjs computes on its backends:
 *
 *   RBM (input `visible` [batch, nv]), with x = s(v) W + b and s(v) = v (v / sigma^2 for Gaussian units):
 *     features        E[h | v]: sigmoid(x) (Bernoulli), x (Gaussian hidden), max(0, x) (NReLU)   = rbm transform
 *     free_energy     F(v) = -(a.v or -sum (v - a)^2 / 2 sigma^2) - sum_j softplus(x_j) (Gaussian hidden: -x^2/2),
 *                     the constants left out as RBM.freeEnergy leaves them; NReLU has no closed form
 *     reconstruction  E[v | h = features]: sigmoid, the Gaussian mean, a softmax per one-hot group
 *   classification RBM (input `x` [batch, n_x], the label group last):
 *     p_y_given_x     softmax_k(d_k + sum_j softplus(b_j + (x W)_j + U_kj)) (Larochelle & Bengio 2008, exact)
 *     predicted_class argmax_k (int64)                                                          = rbm predict
 *   DBN: `features` through every layer (the up pass). DBM: `features`, mean field of every hidden layer side
 *   by side (Salakhutdinov & Hinton 2009; the bottom-up start with doubled weights, then a fixed number of
 *   sweeps, recorded in the metadata), and `mean_field_<l>` per layer.
 *   Collaborative RBM (Salakhutdinov, Mnih & Hinton 2007), one row a user (`item` orientation: an item), one
 *   column an item: inputs `ratings` (a level's value where rated), `mask` (1 where the rating is known) and,
 *   for the conditional RBM, `rated` (1 where rated, value known or not); outputs `predicted_ratings`, the
 *   mean-field prediction sum_k level_k p(v_i^k = 1 | p-hat), and `rating_distribution` [batch, items, K].
 */

export type OnnxOutput =
  | 'features'
  | 'free_energy'
  | 'reconstruction'
  | 'p_y_given_x'
  | 'predicted_class'
  | 'predicted_ratings'
  | 'rating_distribution';

/** A model as host data: what decodeAnyModel and decodeCollaborative return (or RBM.parameters(), ...). */
export type ExportableModel =
  | { readonly kind: 'rbm'; readonly parameters: RbmParameters; readonly metadata?: Readonly<Record<string, string>> }
  | {
      readonly kind: 'dbn';
      readonly layers: readonly RbmParameters[];
      readonly metadata?: Readonly<Record<string, string>>;
    }
  | { readonly kind: 'dbm'; readonly parameters: DbmParameters; readonly metadata?: Readonly<Record<string, string>> }
  | {
      readonly kind: 'collaborative';
      readonly parameters: CollaborativeParameters;
      readonly orientation?: 'user' | 'item';
      readonly users?: readonly string[];
      readonly items?: readonly string[];
      readonly metadata?: Readonly<Record<string, string>>;
    };

export interface OnnxExportOptions {
  /** The outputs (default: {@link onnxOutputs}' `defaults`). */
  readonly what?: readonly OnnxOutput[];
  /** DBM: mean-field sweeps after the bottom-up start (default 30, as `rbm transform`). */
  readonly meanFieldIterations?: number;
  /** Added to metadata_props (the CLI adds its version and the source file). */
  readonly metadata?: Readonly<Record<string, string>>;
  /** producer_version (the rbmjs version). */
  readonly producerVersion?: string;
}

/** The outputs a model can export, and those exported when none are named. */
export function onnxOutputs(model: ExportableModel): {
  readonly available: readonly OnnxOutput[];
  readonly defaults: readonly OnnxOutput[];
} {
  switch (model.kind) {
    case 'rbm': {
      const p = model.parameters;
      const closed = p.hiddenUnits !== 'nrelu';
      const visible: OnnxOutput[] = ['features', ...(closed ? (['free_energy'] as const) : []), 'reconstruction'];
      if (isClassifier(p))
        return { available: [...visible, 'p_y_given_x', 'predicted_class'], defaults: LABEL_OUTPUTS };
      return { available: visible, defaults: visible };
    }
    case 'dbn':
    case 'dbm':
      return { available: ['features'], defaults: ['features'] };
    case 'collaborative':
      return { available: RATING_OUTPUTS, defaults: RATING_OUTPUTS };
  }
}

const LABEL_OUTPUTS: readonly OnnxOutput[] = ['p_y_given_x', 'predicted_class'];
const RATING_OUTPUTS: readonly OnnxOutput[] = ['predicted_ratings', 'rating_distribution'];

/** A classification RBM: Bernoulli inputs, Bernoulli hidden units, a label group last. */
function isClassifier(p: RbmParameters): boolean {
  return (p.softmaxGroups?.length ?? 0) > 0 && (p.hiddenUnits ?? 'bernoulli') === 'bernoulli';
}

function describe(model: ExportableModel): string {
  if (model.kind !== 'rbm')
    return model.kind === 'collaborative' ? 'a collaborative RBM' : `a ${model.kind.toUpperCase()}`;
  const p = model.parameters;
  return `an RBM with ${p.visibleUnits ?? 'bernoulli'} visible and ${p.hiddenUnits ?? 'bernoulli'} hidden units`;
}

/** The requested outputs, checked: each available for the model, and one input set for all of them. */
export function checkOnnxOutputs(model: ExportableModel, what: readonly OnnxOutput[] | undefined): OnnxOutput[] {
  const { available, defaults } = onnxOutputs(model);
  const list = [...new Set(what ?? defaults)];
  if (list.length === 0) throw new ArgumentError('export: no outputs asked for');
  for (const w of list) {
    if (available.includes(w)) continue;
    const why =
      w === 'free_energy' && model.kind === 'rbm' && model.parameters.hiddenUnits === 'nrelu'
        ? ' (the free energy of NReLU hidden units has no closed form)'
        : LABEL_OUTPUTS.includes(w) && model.kind === 'rbm' && model.parameters.softmaxGroups?.length
          ? ' (a classifier needs Bernoulli hidden units)'
          : '';
    throw new ArgumentError(
      `export: ${w} is not an output of ${describe(model)}${why}; it has ${available.join(', ')}`,
    );
  }
  const labels = list.filter((w) => LABEL_OUTPUTS.includes(w));
  if (labels.length > 0 && labels.length < list.length)
    throw new ArgumentError(
      `export: ${labels.join(', ')} take the inputs alone (x), ${list.filter((w) => !labels.includes(w)).join(', ')} the whole visible layer: export them to separate files`,
    );
  return list;
}

/** Exports a model as the bytes of an ONNX file. Unsupported outputs are refused by name (ArgumentError). */
export function exportOnnx(model: ExportableModel, options: OnnxExportOptions = {}): Uint8Array {
  const what = checkOnnxOutputs(model, options.what);
  const g = new OnnxGraph();
  const meta: Record<string, string> = {
    ...withoutTrainerState(model.metadata ?? {}),
    ...(options.metadata ?? {}),
    rbmjs_model: model.kind,
    rbmjs_outputs: what.join(','),
  };
  let doc: string;
  switch (model.kind) {
    case 'rbm': {
      checkParameters(model.parameters);
      if (LABEL_OUTPUTS.includes(what[0]!)) {
        classifierGraph(g, model.parameters, what);
        doc = 'classification RBM: p(y | x) and the predicted class';
      } else {
        rbmGraph(g, model.parameters, what);
        doc = 'RBM: hidden features, free energy, reconstruction';
      }
      break;
    }
    case 'dbn':
      checkStack(model.layers, 'export: ');
      g.output(
        'features',
        dbnFeatures(g, model.layers),
        [model.layers.at(-1)!.numHidden],
        "the top layer's E[h | v], through every layer",
      );
      doc = `DBN of ${model.layers.length} layers: the top layer's features`;
      break;
    case 'dbm': {
      const iterations = options.meanFieldIterations ?? DEFAULT_MEAN_FIELD_ITERATIONS;
      if (!Number.isInteger(iterations) || iterations < 0 || iterations > 1000)
        throw new ArgumentError(`export: meanFieldIterations must be a whole number in 0..1000, got ${iterations}`);
      checkDbmParameters(model.parameters);
      dbmGraph(g, model.parameters, iterations);
      meta.rbmjs_mean_field_iterations = String(iterations);
      doc = `DBM ${model.parameters.sizes.join('-')}: mean-field features of every hidden layer (${iterations} sweeps)`;
      break;
    }
    case 'collaborative': {
      const orientation = model.orientation ?? 'user';
      checkCollaborativeParameters(model.parameters, 'export: ');
      collaborativeGraph(g, model.parameters, what, orientation);
      meta.rbmjs_levels = JSON.stringify(model.parameters.levels);
      meta.rbmjs_orientation = orientation;
      // The ids of the columns (items; users for the I-RBM): predictions speak the data's ids.
      const columns = orientation === 'user' ? model.items : model.users;
      if (columns) meta.rbmjs_column_ids = JSON.stringify(columns);
      doc = `collaborative RBM (${orientation} orientation): mean-field predicted ratings`;
      break;
    }
  }
  return g.encode(`rbmjs_${model.kind}`, doc, options.producerVersion ?? '', meta);
}

/** A model file's metadata less a checkpoint's trainer state: the provenance and hyperparameters stay. */
function withoutTrainerState(metadata: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(metadata)) if (k !== CHECKPOINT_KEY && k !== 'dbm_state') out[k] = v;
  return out;
}

/**
 * x = s(v) W + b of one RBM, s(v) = v / sigma^2 for Gaussian visible units; returns x with the names of the
 * layer's weights and precisions.
 */
function hiddenInput(g: OnnxGraph, p: RbmParameters, v: string, prefix: string) {
  const W = g.weight(`${prefix}W`, [p.numVisible, p.numHidden], p.weights);
  const b = g.weight(`${prefix}b`, [p.numHidden], p.hiddenBias);
  const precisions =
    p.visibleUnits === 'gaussian' ? g.weight(`${prefix}precision`, [p.numVisible], precision(p)) : undefined;
  return { x: g.affine(precisions ? g.mul(v, precisions) : v, W, b), W, precisions };
}

/** exp(-z) in float32, z the log variances (0 where absent). */
function precision(p: RbmParameters): Float32Array {
  return Float32Array.from({ length: p.numVisible }, (_, i) => Math.exp(-(p.logVariance?.[i] ?? 0)));
}

/** E[h | v] from the input x, by hidden-unit type. */
function hiddenMean(g: OnnxGraph, p: RbmParameters, x: string): string {
  const units = p.hiddenUnits ?? 'bernoulli';
  if (units === 'gaussian') return x;
  if (units === 'nrelu') return g.op('Relu', [x]);
  return g.sigmoid(x);
}

function rbmGraph(g: OnnxGraph, p: RbmParameters, what: readonly OnnxOutput[]): void {
  const v = g.input('visible', [p.numVisible], 'visible units, one row per example (as rbm transform reads them)');
  const { x, W, precisions } = hiddenInput(g, p, v, '');
  const h = hiddenMean(g, p, x);
  const a = g.weight('a', [p.numVisible], p.visibleBias);
  if (what.includes('features')) g.output('features', h, [p.numHidden], 'E[h | v] (p(h = 1 | v) for Bernoulli units)');
  if (what.includes('free_energy')) {
    const hidden =
      (p.hiddenUnits ?? 'bernoulli') === 'gaussian'
        ? g.mul(g.scalar(0.5), g.sum(g.mul(x, x), 1))
        : g.sum(g.softplus(x), 1);
    let visible: string;
    if (precisions) {
      const d = g.op('Sub', [v, a]);
      visible = g.mul(g.scalar(-0.5), g.sum(g.mul(g.mul(d, d), precisions), 1));
    } else visible = g.sum(g.mul(v, a), 1);
    g.output('free_energy', g.op('Neg', [g.add(visible, hidden)]), [], 'F(v), as RBM.freeEnergy');
  }
  if (what.includes('reconstruction'))
    g.output(
      'reconstruction',
      visibleMean(g, p, g.affine(h, W, a, { transB: true })),
      [p.numVisible],
      'E[v | h = features]',
    );
}

/** E[v | h] from the input y = h W^T + a: sigmoid, the Gaussian mean, or sigmoid then a softmax per group. */
function visibleMean(g: OnnxGraph, p: RbmParameters, y: string): string {
  if (p.visibleUnits === 'gaussian') return y;
  const groups = p.softmaxGroups ?? [];
  if (groups.length === 0) return g.sigmoid(y);
  const starts = groupStarts(p.numVisible, groups);
  const parts: string[] = [];
  if (starts[0]! > 0) parts.push(g.sigmoid(g.columns(y, 0, starts[0]!)));
  groups.forEach((k, i) => {
    parts.push(g.op('Softmax', [g.columns(y, starts[i]!, starts[i]! + k)], [{ name: 'axis', int: 1 }]));
  });
  return parts.length === 1 ? parts[0]! : g.op('Concat', parts, [{ name: 'axis', int: 1 }]);
}

function classifierGraph(g: OnnxGraph, p: RbmParameters, what: readonly OnnxOutput[]): void {
  const C = p.softmaxGroups!.at(-1)!;
  const nx = p.numVisible - C;
  const H = p.numHidden;
  const x = g.input('x', [nx], 'the inputs, without the label units');
  const Wx = g.weight('W_x', [nx, H], p.weights.subarray(0, nx * H));
  const U = g.weight('U', [C, H], p.weights.subarray(nx * H));
  const d = g.weight('d', [C], p.visibleBias.subarray(nx));
  // o_kj = b_j + (x W)_j + U_kj: [batch, 1, H] + [C, H] -> [batch, C, H].
  const o = g.add(g.op('Unsqueeze', [g.affine(x, Wx, g.weight('b', [H], p.hiddenBias)), g.ints([1])]), U);
  const logits = g.add(g.sum(g.softplus(o), 2), d);
  if (what.includes('p_y_given_x'))
    g.output('p_y_given_x', g.op('Softmax', [logits], [{ name: 'axis', int: 1 }]), [C], 'p(y = k | x), exact');
  if (what.includes('predicted_class'))
    g.output(
      'predicted_class',
      g.op(
        'ArgMax',
        [logits],
        [
          { name: 'axis', int: 1 },
          { name: 'keepdims', int: 0 },
        ],
      ),
      [],
      'the most probable class (0-based, as rbm predict)',
      INT64,
    );
}

function dbnFeatures(g: OnnxGraph, layers: readonly RbmParameters[]): string {
  let h = g.input('visible', [layers[0]!.numVisible], 'visible units of the bottom layer');
  layers.forEach((p, l) => {
    h = hiddenMean(g, p, hiddenInput(g, p, h, `layer${l}_`).x);
  });
  return h;
}

function dbmGraph(g: OnnxGraph, p: DbmParameters, iterations: number): void {
  const L = p.sizes.length - 1;
  const v = g.input('visible', [p.sizes[0]!], 'visible units');
  const W = p.weights.map((w, l) => g.weight(`W${l}`, [p.sizes[l]!, p.sizes[l + 1]!], w));
  const b = p.biases.map((x, l) => g.weight(`b${l}`, [p.sizes[l]!], x));
  const mu: string[] = [v];
  // The start: a bottom-up pass, weights doubled below the top (DBM.meanFieldStart).
  for (let l = 1; l <= L; l++) mu[l] = g.sigmoid(g.affine(mu[l - 1]!, W[l - 1]!, b[l]!, { alpha: l < L ? 2 : 1 }));
  // Sweeps over l = 1..L, each with the latest neighbours (DBM.meanFieldSweep):
  // x_l = mu_{l-1} W_{l-1} + b_l (+ mu_{l+1} W_l^T below the top).
  for (let t = 0; t < iterations; t++)
    for (let l = 1; l <= L; l++) {
      const x = g.affine(mu[l - 1]!, W[l - 1]!, b[l]!);
      mu[l] = g.sigmoid(l < L ? g.affine(mu[l + 1]!, W[l]!, x, { transB: true }) : x);
    }
  for (let l = 1; l <= L; l++) g.output(`mean_field_${l}`, mu[l]!, [p.sizes[l]!], `mean field of hidden layer ${l}`);
  const all = mu.slice(1);
  g.output(
    'features',
    all.length === 1 ? all[0]! : g.op('Concat', all, [{ name: 'axis', int: 1 }]),
    [p.sizes.slice(1).reduce((s, n) => s + n, 0)],
    "the hidden layers' mean field side by side (as rbm transform)",
  );
}

function collaborativeGraph(
  g: OnnxGraph,
  p: CollaborativeParameters,
  what: readonly OnnxOutput[],
  orientation: 'user' | 'item',
): void {
  const { numItems: M, numHidden: H } = p;
  const K = p.levels.length;
  const [row, column] = orientation === 'user' ? ['user', 'item'] : ['item', 'user'];
  const ratings = g.input(
    'ratings',
    [M],
    `one row a ${row}, one column a ${column}: the rating where known (any value elsewhere)`,
  );
  const mask = g.input('mask', [M], '1 where the rating is known, 0 elsewhere');
  const levels = g.weight('levels', [K], Float32Array.from(p.levels));
  // One-hot V [batch, M, K]: the level whose value the rating equals, where the mask says it is known.
  const onehot = g.mul(
    g.op('Cast', [g.op('Equal', [g.op('Unsqueeze', [ratings, g.ints([2])]), levels])], [{ name: 'to', int: 1 }]),
    g.op('Unsqueeze', [mask, g.ints([2])]),
  );
  const W = g.weight('W', [M * K, H], p.weights);
  // p-hat = sigmoid(b + sum_i sum_k v_i^k W_i^k (+ r D)).
  let x = g.affine(g.op('Reshape', [onehot, g.ints([-1, M * K])]), W, g.weight('b', [H], p.hiddenBias));
  if (p.ratedWeights) {
    const rated = g.input('rated', [M], `conditional RBM: 1 where the ${row} rated the ${column}, value known or not`);
    x = g.add(x, g.op('MatMul', [rated, g.weight('D', [M, H], p.ratedWeights)]));
  }
  const phat = g.sigmoid(x);
  // p(v_i^k = 1 | p-hat) = softmax_k(a_i^k + p-hat W_i^k).
  const logits = g.affine(phat, W, g.weight('a', [M * K], p.visibleBias), { transB: true });
  const dist = g.op('Softmax', [g.op('Reshape', [logits, g.ints([-1, M, K])])], [{ name: 'axis', int: 2 }]);
  if (what.includes('predicted_ratings'))
    g.output(
      'predicted_ratings',
      g.sum(g.mul(dist, levels), 2),
      [M],
      'the expected rating of every column, mean field',
    );
  if (what.includes('rating_distribution'))
    g.output('rating_distribution', dist, [M, K], 'p(rating = level k) for every column, mean field');
}
