/**
 * @rbmjs/cli: the `rbm` command line, and its pieces for programs that want them.
 *
 * @packageDocumentation
 * @module @rbmjs/cli
 */

export { type BackendReport, CLI_BACKENDS, probeBackends, startBackend } from './backends.js';
export { buildProgram, main } from './cli.js';
export type { TrainJob } from './commands/train/job.js';
export { curvesSvg, type Panel, type Series } from './curves.js';
export {
  type Binarize,
  type DataSpec,
  loadAll,
  mnistPath,
  type OpenedData,
  openCsv,
  openData,
  openIdx,
  sliceSource,
} from './data.js';
export { CliExit, UsageError } from './errors.js';
export { filtersOf, tileImages } from './pictures.js';
