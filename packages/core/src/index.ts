/**
 * @rbmjs/core: Restricted Boltzmann Machines defined against a small backend interface.
 * Isomorphic (no Node-only imports). What users need is exported here, by name; what backend authors
 * need (the interface's helpers, validation, the reference backend's math, WebGPU setup) is in
 * `@rbmjs/core/backend`; file helpers for Node are in `@rbmjs/core/node`.
 *
 * @packageDocumentation
 * @module @rbmjs/core
 */

// Backends: the interface's types, the reference backend, choosing and starting one from a table.
export { resolveBackend } from './backend/check.js';
export { MAX_QUEUED_UNITS, MAX_QUEUED_UPLOAD_BYTES, QueuePacer } from './backend/pace.js';
export { createReferenceBackend, referenceFamily } from './backend/reference.js';
export { Scope, withScope } from './backend/scope.js';
export {
  type BackendEntry,
  type BackendFamily,
  type BackendReport,
  backendEntry,
  backendFactories,
  type CommonBackendOptions,
  lazyBackendEntry,
  probeBackends,
  startBackend,
} from './backend/table.js';
export type {
  Backend,
  BackendFactory,
  BackendInfo,
  HostArray,
  Precision,
  RandomnessMode,
  Tensor,
} from './backend/types.js';
// The up-front memory budget every entry point checks its request against.
export {
  checkMemory,
  DEFAULT_MEMORY_BUDGET,
  float32Bytes,
  formatBytes,
  memoryBudget,
  modelMemory,
  ROW_COPIES,
  setMemoryBudget,
  TRAINING_WEIGHT_COPIES,
  trainingMemory,
} from './budget.js';
// Data.
export { barsAndStripes, createDataset, type Dataset } from './data/dataset.js';
export {
  type LongTailedRatingsOptions,
  longTailedRatings,
  NETFLIX_SHAPE,
} from './data/long-tailed-ratings.js';
export {
  alignRatings,
  checkLevels,
  holdoutSplit,
  IdIndex,
  type IdLookup,
  inferLevels,
  levelCounts,
  levelOf,
  MAX_LEVELS,
  mergeRatings,
  parseLevels,
  type Ratings,
  ratingCount,
  ratingsFromIndices,
  ratingValue,
  selectRatings,
  transposeRatings,
} from './data/ratings.js';
// Ratings (collaborative filtering): the formats people have, splits, generated data.
export {
  parseRatings,
  RatingsReader,
  type RatingsReadOptions,
  type RatingTriple,
  ratingsFromTriples,
} from './data/ratings-reader.js';
export {
  checkBatch,
  type DataSource,
  datasetSource,
  GAUSSIAN_MAX_VALUE,
  readHead,
  sourceColumnMeans,
} from './data/source.js';
export {
  formatRatings,
  type SyntheticRatings,
  type SyntheticRatingsOptions,
  syntheticRatings,
} from './data/synthetic-ratings.js';
// Errors.
export {
  AbortedError,
  ArgumentError,
  type BackendFailure,
  BackendUnavailableError,
  DataError,
  DivergenceError,
  describeFailure,
  FileError,
  ModelFormatError,
  RbmError,
  type RbmErrorCode,
  ShapeError,
  TooLargeError,
  TrainingAbortedError,
  UnknownBackendError,
} from './errors.js';
// Evaluation.
export {
  type AisCheckOptions,
  type AisEstimate,
  type AisOptions,
  type AisSchedule,
  aisBetas,
  aisScheduleSteps,
  aisWarnings,
  annealedImportanceSampling,
  checkAisScheduleMemory,
  type EstimatedLogLikelihood,
  estimatedLogLikelihood,
  logMeanExp,
} from './evaluate/ais.js';
export { type AnnealingBase, annealingBase, modelSamplesForBase } from './evaluate/anneal.js';
export { type BoundsOptions, type BoundsRound, type LikelihoodBounds, likelihoodBounds } from './evaluate/bounds.js';
// Deep Boltzmann machines: exact values on tiny models, AIS with the odd layers summed out, the mean-field bound.
export {
  type DbmAisOptions,
  type DbmBoundOptions,
  type DbmBounds,
  dbmAnnealedImportanceSampling,
  dbmVariationalBound,
  exactDbmLogLikelihood,
  exactDbmLogPartition,
  MAX_DBM_ENUMERABLE,
} from './evaluate/dbm.js';
export { type DbmRaiseEstimate, type DbmRaiseOptions, dbmRaise } from './evaluate/dbm-raise.js';
export { type DbmSmcOptions, dbmSequentialMonteCarlo } from './evaluate/dbm-smc.js';
export {
  type ExactLogLikelihood,
  type ExactOptions,
  empiricalDistribution,
  exactGradient,
  exactKL,
  exactLogLikelihood,
  exactLogPartition,
  exactSamples,
  type Gradient,
  type LogPartition,
} from './evaluate/exact.js';
export {
  type PseudoLikelihood,
  type PseudoLikelihoodOptions,
  pseudoLogLikelihood,
} from './evaluate/pseudo-likelihood.js';
export {
  DEFAULT_RAISE_ROWS_PER_PASS,
  DEFAULT_RAISE_SWEEPS,
  type RaiseEstimate,
  type RaiseOptions,
  raise,
  raiseExamplesPerPass,
  reverseAnnealedImportanceSampling,
} from './evaluate/raise.js';
export { HOST_FLOP_COST, predictionPass, predictQueries, ratingErrors } from './evaluate/ratings.js';
export { type ReplayedRun, type ReplayOptions, replayForwardRun } from './evaluate/replay.js';
export { nextBeta, type SmcEstimate, type SmcOptions, sequentialMonteCarlo } from './evaluate/smc.js';
export {
  EarlyStopping,
  exactlyEnumerable,
  figureIncreases,
  VALIDATION_FIGURES,
  type ValidationFigure,
  type ValidationFigures,
  type ValidationOptions,
  validationFigures,
} from './evaluate/validation.js';
export {
  ClassificationRBM,
  type ClassifierHistory,
  type FitOptions as ClassifierFitOptions,
  type LabelledInputs,
  type LabelledRows,
} from './fit/classifier.js';
// Recommendations: the collaborative-filtering RBM (Salakhutdinov, Mnih & Hinton 2007).
export {
  type CollaborativeFitOptions,
  type CollaborativeFitResult,
  CollaborativeRBM,
  type CollaborativeRbmOptions,
  type Orientation,
  type PredictionMethod,
  type Recommendation,
  resolveOrientation,
  type UserRecommendations,
} from './fit/collaborative.js';
export { DbmEstimator, type DbmEstimatorOptions } from './fit/dbm.js';
// The estimator: fit, partialFit, transform, scoreSamples, gibbs (scikit-learn's vocabulary).
export {
  type EstimatorOptions,
  type FitOptions,
  type FitResult,
  RbmEstimator,
  type ScoreKind,
} from './fit/estimator.js';
export { type GreedyOptions, type LayerSpec, trainGreedy } from './fit/greedy.js';
export {
  canonicalOptions,
  DEPRECATED_OPTION_NAMES,
  type Estimator,
  type SampleScores,
} from './fit/interface.js';
// Files.
export {
  CHECKPOINT_KEY,
  type Checkpoint,
  type CheckpointModel,
  decodeCheckpoint,
  encodeCheckpoint,
} from './io/checkpoint.js';
export {
  COLLABORATIVE_MODEL_TYPE,
  type CollaborativeFile,
  collaborativeTensors,
  decodeCollaborative,
  encodeCollaborative,
  readCollaborativeTensors,
} from './io/collaborative-file.js';
export { DBM_MODEL_TYPE, type DbmFile, decodeDbm, encodeDbm } from './io/dbm-file.js';
export {
  type AnyModelFile,
  checkStack,
  DBN_MODEL_TYPE,
  type DbnFile,
  decodeAnyModel,
  decodeDbn,
  decodeModel,
  encodeDbn,
  encodeModel,
  loadModel,
  type ModelFile,
  saveModel,
} from './io/model-file.js';
export { decodeNpy, encodeNpy, type NpyArray, type NpyType, npyBytes, npyHeader } from './io/npy.js';
export {
  checkOnnxOutputs,
  type ExportableModel,
  exportOnnx,
  type OnnxExportOptions,
  type OnnxOutput,
  onnxOutputs,
} from './io/onnx-export.js';
export { EXPORT_OPSET } from './io/onnx-graph.js';
export {
  type DecodeOptions,
  decodeSafetensors,
  encodeSafetensors,
  type SafeTensor,
  type SafeTensorData,
  type SafetensorsDtype,
} from './io/safetensors.js';
export { decodeSklearnRbm, encodeSklearnRbm, SKLEARN_ARRAYS } from './io/sklearn.js';
export {
  type CollaborativeInitOptions,
  CollaborativeModel,
  type CollaborativeParameters,
  checkCollaborativeParameters,
  collaborativeNames,
  exactDistribution,
  expectedValue,
  hiddenFeatures,
  hiddenInput,
  initialCollaborativeParameters,
  meanFieldDistribution,
  type UserEvidence,
} from './model/collaborative.js';
export {
  exactPredictions,
  expectedRatings,
  hiddenMeans,
  hostPredictions,
  ServingBatch,
  servingBatches,
  topIndices,
} from './model/collaborative-predict.js';
export {
  checkDbmParameters,
  checkDbmSizes,
  DBM,
  type DbmInitOptions,
  type DbmParameters,
  type DbmSampleOptions,
  type DbmSamples,
  DEFAULT_MEAN_FIELD_ITERATIONS,
  initialDbmParameters,
} from './model/dbm.js';
export { DBN } from './model/dbn.js';
export {
  bernoulliHidden,
  gaussianHidden,
  HIDDEN_UNITS,
  type HiddenUnits,
  type HiddenUnitType,
  hiddenUnitType,
  nreluHidden,
} from './model/hidden-units.js';
export {
  argmaxRows,
  type ClassificationReport,
  checkClassCount,
  checkLabels,
  classificationReport,
  classLogProbabilities,
  jointRows,
  type LabelLayout,
  LabelScorer,
  labelLayout,
  labelledSource,
  labelsOfRows,
  MAX_CLASSES,
} from './model/labels.js';
// The model.
export {
  energy,
  type InitOptions,
  initialParameters,
  RBM,
  type RbmParameters,
  type SampleOptions,
  type Samples,
} from './model/rbm.js';
export {
  bernoulliUnits,
  gaussianUnits,
  groupStarts,
  SoftmaxUnits,
  type VisibleParameters,
  type VisibleUnits,
  type VisibleUnitType,
} from './model/units.js';
// Long loops a caller can watch and stop.
export { SWEEPS_PER_CHECK, type Watch } from './progress.js';
// Randomness: counter-based streams, so that runs replay exactly.
export { DeviceRandom } from './random/device.js';
export { type RandomState, RandomStream, Streams } from './random/stream.js';
// Sampling.
export { type ConditionalSampleOptions, checkMask, conditionalSample } from './sample/conditional.js';
export { ParallelTempering, type TemperingOptions, temperatureLadder, temperedSample } from './sample/tempering.js';
export { CHUNK_ROWS, chunkSteps, MAX_CHUNK } from './train/batches.js';
export {
  type BatchLayout,
  COLLABORATIVE_DEFAULTS,
  COLLABORATIVE_OPTIONS,
  type CollaborativeEpoch,
  type CollaborativeTrainOptions,
  collaborativeFamily,
  defaultBatchSize,
  resolveBatchLayout,
  SPARSE_DENSITY,
} from './train/collaborative.js';
// Training: the loop, its parts, and the config they declare.
export {
  type ConfigContext,
  parseTrainConfig,
  TRAIN_PARTS,
  type TrainConfig,
  type TrainOptions,
  trainConfig,
  trainOptionDeclarations,
} from './train/config.js';
export {
  DBM_DEFAULTS,
  DBM_OPTIONS,
  type DbmTrainOptions,
  dbmTrainConfig,
} from './train/dbm.js';
export { dbmFamily } from './train/dbm-family.js';
export {
  type OptionDeclaration,
  type PartDeclaration,
  type ResolveContext,
  type ValueKind,
  valueAt,
} from './train/declare.js';
export type {
  BoundFamily,
  EpochSettings,
  FamilyBatches,
  Issued,
  LoopContext,
  ModelFamily,
  Monitor,
  NamedParameter,
  Stage,
} from './train/family.js';
export { type GradientEstimate, type GradientOptions, gradientEstimate } from './train/gradient.js';
export { MaxNorm, type MaxNormOptions } from './train/max-norm.js';
export { BestEpoch } from './train/monitor.js';
export {
  ContrastiveDivergence,
  FastPersistentChains,
  type FastWeightsOptions,
  PersistentChains,
  SAMPLERS,
  type SamplerOptions,
  TemperedChains,
  TRAINING_METHODS,
  type TrainingMethod,
} from './train/negative-phase.js';
export { Momentum, type MomentumOptions, momentumUpdate } from './train/optimizer.js';
export {
  type BatchEvent,
  type EpochMetrics,
  type LoopOptions,
  type RunOptions,
  trainingError,
} from './train/options.js';
export type {
  GradientStep,
  GradientTerm,
  NegativePhase,
  NegativeStatistics,
  PartContext,
  PositivePhase,
} from './train/parts.js';
export { checkTrainingData, rbmFamily } from './train/rbm-family.js';
export { checkSchedule, type Schedule, scheduleValue } from './train/schedule.js';
export {
  type MonitorState,
  type StateArray,
  StateRegistry,
  type StateValues,
  type TrainerState,
} from './train/state.js';
export {
  Centering,
  type CenteringOptions,
  Discriminative,
  LearnedVariance,
  type ObjectiveOptions,
  Sparsity,
  type SparsityOptions,
  type SparsityTarget,
  type TrainingObjective,
  type VarianceOptions,
  WeightDecay,
  type WeightDecayOptions,
} from './train/terms.js';
export { type LoopRunOptions, Trainer, train } from './train/trainer.js';
