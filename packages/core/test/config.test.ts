import { describe, expect, it } from 'vitest';
import { ArgumentError, barsAndStripes, createReferenceBackend, RBM, TRAINING_METHODS, train } from '../src/index.js';
import {
  parseTrainConfig,
  TRAIN_PARTS,
  type TrainOptions,
  trainConfig,
  trainOptionDeclarations,
} from '../src/train/config.js';

const backend = createReferenceBackend();
const data = barsAndStripes(3);

/** Options that switch on every part, one run each. */
const RUNS: TrainOptions[] = [
  { epochs: 2, batchSize: 4, method: 'pcd', chains: 5, l1: 1e-3, l2: 1e-3, sparsity: { target: 0.2 }, centering: true },
  { epochs: 2, batchSize: 4, method: 'pt', k: 2, tempering: { temperatures: 3, betaMin: 0.4 } },
  { epochs: 2, batchSize: 4, method: 'fpcd', momentum: { kind: 'piecewise', boundaries: [1], values: [0.5, 0.9] } },
  { epochs: 3, batchSize: 4, learningRate: { kind: 'linear', from: 0.2, to: 0.02 }, maxNorm: 0.5, seed: 7 },
];

async function weights(options: TrainOptions): Promise<Float32Array> {
  const model = RBM.create(backend, { numVisible: 9, numHidden: 4, seed: 1 });
  await train(model, data, options);
  const p = await model.parameters();
  model.dispose();
  return p.weights;
}

describe('the training config (trainConfig / parseTrainConfig)', () => {
  it("fills in every part's defaults and leaves out the parts that are off", () => {
    expect(trainConfig({ epochs: 3 })).toEqual({
      epochs: 3,
      batchSize: 100,
      learningRate: 0.1,
      k: 1,
      positivePhase: 'probabilities',
      shuffle: true,
      seed: 0,
      freeEnergySamples: 1000,
      maxParameter: 1e4,
      momentum: 0,
      method: 'cd',
      objective: 'generative',
      l1: 0,
      l2: 0,
    });
    // The ladder is drawn, the fast weights' rate taken from the first epoch's learning rate.
    expect(trainConfig({ epochs: 1, method: 'pt', tempering: { temperatures: 3, betaMin: 0.5 } }).tempering).toEqual({
      betas: [1, 0.75, 0.5],
    });
    expect(trainConfig({ epochs: 1, method: 'fpcd', learningRate: 0.3 }).fastWeights).toEqual({
      learningRate: 0.3,
      decay: 0.95,
    });
  });

  it('round-trips through JSON, and the parsed config trains bit for bit as the options it came from', async () => {
    for (const options of RUNS) {
      const config = trainConfig(options);
      const back = parseTrainConfig(JSON.stringify(config));
      expect(back).toEqual(config);
      expect(trainConfig(back)).toEqual(config);
      expect(Array.from(await weights(back))).toEqual(Array.from(await weights(options)));
    }
  });

  it('refuses unknown names, functions, run options and conflicts, with the caller’s spelling', () => {
    expect(() => parseTrainConfig({ epochs: 1, sparsityTarget: 0.1 })).toThrow(
      /unknown training option 'sparsityTarget'/,
    );
    expect(() => parseTrainConfig('{"epochs": 1,')).toThrow(ArgumentError);
    expect(() => parseTrainConfig([])).toThrow(/JSON object/);
    expect(() => parseTrainConfig({ epochs: 1, signal: null })).toThrow(/'signal' is not part of a training config/);
    expect(() => trainConfig({ epochs: 2, learningRate: (e) => 0.1 / (e + 1) })).toThrow(/learningRate is a function/);
    const flags = (path: string) => `--${path.replace(/[A-Z.]/g, (c) => (c === '.' ? '-' : `-${c.toLowerCase()}`))}`;
    expect(() => parseTrainConfig({ epochs: 1, chains: 3 }, { spell: flags })).toThrow(
      /^--chains needs --method pcd, fpcd, pt/,
    );
    expect(() => parseTrainConfig({ epochs: 1, sparsity: { cost: 0.1 } }, { spell: flags })).toThrow(
      '--sparsity-cost needs --sparsity-target',
    );
    expect(() => parseTrainConfig({ epochs: 1, objective: 'discriminative', method: 'pcd' })).toThrow(
      /objective discriminative is exact and has no negative phase: no method/,
    );
    expect(() => parseTrainConfig({ epochs: 1, learnVariance: true }, { units: 'bernoulli' })).toThrow(
      /learnVariance needs gaussian visible units/,
    );
  });

  it('declares every option once, in one table, and one list of methods', () => {
    const paths = trainOptionDeclarations().map((d) => d.path);
    expect(new Set(paths).size).toBe(paths.length);
    expect(TRAIN_PARTS.map((p) => p.name)).toContain('max-norm');
    const method = trainOptionDeclarations().find((d) => d.path === 'method')!;
    expect(method.value).toEqual({ kind: 'choice', choices: TRAINING_METHODS });
    // Every declared default is what the config holds when the option is not given (parts switched on).
    const on = trainConfig({ epochs: 1, method: 'fpcd', sparsity: { target: 0.1 }, centering: true });
    for (const d of trainOptionDeclarations()) {
      // Options given here, and those of parts that stay off (pt's ladder, hybrid, learned variances).
      if (d.default === undefined || d.path === 'method' || !(d.path.split('.')[0]! in on)) continue;
      const value = d.path.split('.').reduce<unknown>((x, k) => (x as Record<string, unknown>)?.[k], on);
      expect(value, d.path).toEqual(d.default);
    }
  });
});
