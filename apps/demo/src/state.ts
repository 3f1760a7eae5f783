/**
 * The demo's state, as a pure reducer (unit-tested without a browser): what the controls may do in each
 * status, the settings and their bounds, the backend actually running, and the learning curves.
 */

/**
 * A backend as the menu names it: `NAME` or `NAME:MODE` of the demo's backend table (session.ts builds the
 * menu from the table; core's `startBackend` refuses a name the table does not have).
 */
export type BackendChoice = string;

/** NAME or NAME:MODE, the shape of a backend's name. */
const BACKEND_NAME = /^[a-z][a-z0-9-]*(:[a-z][a-z0-9-]*)?$/;

export interface Settings {
  readonly backend: BackendChoice;
  readonly hidden: number;
  readonly learningRate: number;
  readonly k: number;
  readonly method: 'cd' | 'pcd';
  readonly batchSize: number;
}

export const DEFAULT_SETTINGS: Settings = {
  // The fastest backend measured on the visitor's machine (session.ts, fastestBackend).
  backend: 'auto',
  hidden: 64,
  learningRate: 0.05,
  k: 1,
  method: 'pcd',
  batchSize: 50,
};

/** Bounds of the numeric settings: [min, max, integer]. */
export const BOUNDS = {
  hidden: [1, 1024, true],
  learningRate: [1e-5, 1, false],
  k: [1, 50, true],
  batchSize: [1, 1000, true],
} as const;

export type Status = 'idle' | 'starting' | 'running' | 'paused' | 'error';
export type CurveName = 'reconstruction' | 'pseudoLikelihood' | 'logLikelihood' | 'freeEnergyGap';

export interface CurvePoint {
  readonly step: number;
  readonly value: number;
}

export interface DemoState {
  readonly status: Status;
  readonly settings: Settings;
  /** The backend that actually runs (after fallbacks), e.g. `gpujs:webgl2`, and what it says of itself. */
  readonly backendName: string | null;
  readonly backendDetails: string | null;
  /** Why the chosen backend is not the one running, or what failed. */
  readonly message: string | null;
  readonly step: number;
  readonly epoch: number;
  readonly curves: Readonly<Record<CurveName, readonly CurvePoint[]>>;
  /** The step at which each epoch after the first began (the curves mark them), at most MAX_POINTS. */
  readonly epochMarks: readonly number[];
  /**
   * Training's measured pace: milliseconds a step over the last window of at least PACE_WINDOW_MS of
   * running (progress reports' clock; time paused is not counted), null until one has passed.
   */
  readonly msPerStep: number | null;
  /** Where the current pace window began: a step and its time (ms), or null after a pause. */
  readonly paceFrom: { readonly step: number; readonly at: number } | null;
}

/** The demo measures its pace over windows of this long (ms): long enough to span several refreshes. */
export const PACE_WINDOW_MS = 2000;

/** Curves keep at most this many points: older halves are thinned, so memory and drawing stay bounded. */
export const MAX_POINTS = 400;

export type Action =
  | { type: 'settings'; patch: Partial<Settings> }
  | { type: 'start' }
  | { type: 'started'; backendName: string; details?: string; message?: string }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'reset' }
  | { type: 'progress'; step: number; epoch: number; at?: number }
  | { type: 'metric'; curve: CurveName; step: number; value: number }
  | { type: 'failed'; message: string };

const emptyCurves = (): DemoState['curves'] => ({
  reconstruction: [],
  pseudoLikelihood: [],
  logLikelihood: [],
  freeEnergyGap: [],
});

export function initialState(settings: Settings = DEFAULT_SETTINGS): DemoState {
  return {
    status: 'idle',
    settings,
    backendName: null,
    backendDetails: null,
    message: null,
    step: 0,
    epoch: 0,
    curves: emptyCurves(),
    epochMarks: [],
    msPerStep: null,
    paceFrom: null,
  };
}

/** The pace after a progress report at time `at` (ms): a new figure once the window is long enough. */
function paced(state: DemoState, step: number, at: number | undefined): Pick<DemoState, 'msPerStep' | 'paceFrom'> {
  if (at === undefined || state.status !== 'running') return { msPerStep: state.msPerStep, paceFrom: null };
  const from = state.paceFrom;
  if (!from || step < from.step) return { msPerStep: state.msPerStep, paceFrom: { step, at } };
  if (at - from.at < PACE_WINDOW_MS || step === from.step) return { msPerStep: state.msPerStep, paceFrom: from };
  return { msPerStep: (at - from.at) / (step - from.step), paceFrom: { step, at } };
}

/** Checks a settings patch; returns the problems, one message per bad field (empty when valid). */
export function settingsErrors(patch: Partial<Settings>): string[] {
  const errors: string[] = [];
  for (const [key, [min, max, integer]] of Object.entries(BOUNDS)) {
    const v = patch[key as keyof typeof BOUNDS];
    if (v === undefined) continue;
    if (!Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
      errors.push(`${key} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got ${v}`);
    }
  }
  if (patch.method !== undefined && patch.method !== 'cd' && patch.method !== 'pcd') {
    errors.push(`method must be cd or pcd, got ${String(patch.method)}`);
  }
  if (patch.backend !== undefined && (typeof patch.backend !== 'string' || !BACKEND_NAME.test(patch.backend))) {
    errors.push(`backend must be NAME or NAME:MODE of the backend table, got ${String(patch.backend)}`);
  }
  return errors;
}

/** Appends a point, thinning the curve to every other point when it is full. */
export function appendPoint(curve: readonly CurvePoint[], point: CurvePoint): CurvePoint[] {
  const next = curve.length >= MAX_POINTS ? curve.filter((_, i) => i % 2 === 1) : curve.slice();
  next.push(point);
  return next;
}

/** Whether the settings controls are editable: only before training starts (a reset goes back there). */
export const canEditSettings = (s: DemoState): boolean => s.status === 'idle' || s.status === 'error';

export function reduce(state: DemoState, action: Action): DemoState {
  switch (action.type) {
    case 'settings': {
      if (!canEditSettings(state) || settingsErrors(action.patch).length > 0) return state;
      return { ...state, settings: { ...state.settings, ...action.patch } };
    }
    case 'start':
      if (state.status !== 'idle' && state.status !== 'error') return state;
      return { ...initialState(state.settings), status: 'starting' };
    case 'started':
      if (state.status !== 'starting') return state;
      return {
        ...state,
        status: 'running',
        backendName: action.backendName,
        backendDetails: action.details ?? null,
        message: action.message ?? null,
      };
    case 'pause':
      return state.status === 'running' ? { ...state, status: 'paused', paceFrom: null } : state;
    case 'resume':
      return state.status === 'paused' ? { ...state, status: 'running', paceFrom: null } : state;
    case 'reset':
      return initialState(state.settings);
    case 'progress':
      if (state.status !== 'running' && state.status !== 'paused') return state;
      if (action.epoch > state.epoch && state.step > 0) {
        // Step `state.step` ended the previous epoch.
        const marks = [...state.epochMarks, state.step].slice(-MAX_POINTS);
        return {
          ...state,
          step: action.step,
          epoch: action.epoch,
          epochMarks: marks,
          ...paced(state, action.step, action.at),
        };
      }
      return { ...state, step: action.step, epoch: action.epoch, ...paced(state, action.step, action.at) };
    case 'metric': {
      if (state.status === 'idle' || !Number.isFinite(action.value)) return state;
      const curves = {
        ...state.curves,
        [action.curve]: appendPoint(state.curves[action.curve], { step: action.step, value: action.value }),
      };
      return { ...state, curves };
    }
    case 'failed':
      return { ...state, status: 'error', message: action.message };
  }
}
