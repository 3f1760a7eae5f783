import { type Scope, withScope } from '../backend/scope.js';
import type { Dataset } from '../data/dataset.js';
import { AbortedError } from '../errors.js';
import type { DBM } from '../model/dbm.js';
import { DeviceRandom } from '../random/device.js';
import { RandomStream, Streams } from '../random/stream.js';
import { checkDbmChainsMemory, dbmAnnealingBase, dbmAnnealingPath, largestOddInput } from './dbm-anneal.js';
import { type SmcEstimate, type SmcOptions, smcEstimate, smcLoop, smcSettings } from './smc.js';

export interface DbmSmcOptions extends Omit<SmcOptions, 'baseData' | 'data' | 'baseVisibleBias'> {
  /** Data for the base model (see `DbmAisOptions.baseData`); without it the base is uniform. */
  readonly baseData?: Dataset;
}

/**
 * log Z of a DBM by sequential Monte Carlo (smc.ts) on the DBM's annealing path (dbm-anneal.ts, the odd layers
 * summed out): the adaptive schedule steps by the slope
 *
 *   g = d/dbeta log p*_beta(e) = sum_{l odd} sum_j x_lj sigmoid(beta x_lj) + sum_{l even} (b_l - a_l).s_l,
 *
 * and resampling moves the even layers' states. The device draws on DBM AIS's stream: with no resampling and
 * a fixed schedule it is `dbmAnnealedImportanceSampling`, number for number.
 */
export async function dbmSequentialMonteCarlo(model: DBM, options: DbmSmcOptions = {}): Promise<SmcEstimate> {
  const settings = smcSettings(options);
  const { runs } = settings;
  checkDbmChainsMemory(model, runs, `DBM SMC with runs: ${runs}`);
  const label = 'DBM SMC';
  if (options.signal?.aborted) throw new AbortedError(label, 0, 1000);
  const base = await dbmAnnealingBase(model, options.baseData);
  const maxAbsInput = await largestOddInput(model);
  const be = model.backend;
  const seed = options.seed ?? 0;
  return withScope(be, async (scope: Scope) => {
    const rnd = new DeviceRandom(be, new RandomStream(seed, Streams.dbmAis));
    const path = dbmAnnealingPath(model, scope, base, runs, rnd, maxAbsInput);
    const run = await smcLoop(
      be,
      scope,
      {
        states: path.s.filter((_, l) => l % 2 === 0),
        logw: path.logw,
        scratch: path.scratch,
        drawBase: path.drawBase,
        prepare: path.oddInput,
        accumulate: path.accumulate,
        transition: path.transition,
        sweep: path.sweep,
        slope: path.slope,
        units: { start: 'dbm-smc-start', step: 'dbm-smc-step', slope: 'dbm-smc-slope' },
      },
      settings,
      new RandomStream(seed, Streams.smc),
      label,
      options,
    );
    return smcEstimate(run, base.logZBase, 0);
  });
}
