import { CurveChart } from './charts.js';
import { runsInWorker } from './protocol.js';
import { RemoteSession } from './remote.js';
import { downsample, paintTiles } from './render.js';
import { backendChoices, type SessionHooks, startBackend, TrainingSession, type Visuals } from './session.js';
import {
  type Action,
  type CurveName,
  canEditSettings,
  type DemoState,
  initialState,
  reduce,
  type Settings,
  settingsErrors,
} from './state.js';
import { decodeSubset, type Subset } from './subset.js';

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}`);
  return el as T;
};

/** Each curve: its title, what its y axis measures, its colour. */
const CURVES: Record<CurveName, [string, string, string]> = {
  reconstruction: ['reconstruction error (this batch, squared, per digit)', 'squared error', '#5fa8ff'],
  pseudoLikelihood: ['pseudo-log-likelihood of test digits (random bit)', 'nats', '#7ddc8a'],
  logLikelihood: ['exact log-likelihood of test digits (12 hidden units or fewer)', 'nats', '#f0c060'],
  freeEnergyGap: ['free-energy gap, test - train (growing: overfitting)', 'nats', '#ff7f7f'],
};

let state: DemoState = initialState();
/** A run in the training worker, or in the page itself (`?worker=0`, or a browser without workers). */
type Run = Pick<TrainingSession, 'pause' | 'unpause' | 'isPaused' | 'stop' | 'probe'>;
let session: Run | null = null;
let subset: Subset | null = null;
/** The subset file as fetched (338 KiB, bit-packed): the worker decodes its own copy. */
let subsetBytes: ArrayBuffer | null = null;
let framePending = false;

function dispatch(action: Action): void {
  state = reduce(state, action);
  if (!framePending) {
    framePending = true;
    requestAnimationFrame(() => {
      framePending = false;
      render();
    });
  }
}

// ---- controls ----
const numeric = ['hidden', 'learningRate', 'k', 'batchSize'] as const;

function readSettings(): Partial<Settings> {
  const patch: Record<string, unknown> = {
    backend: $<HTMLSelectElement>('backend').value,
    method: $<HTMLSelectElement>('method').value,
  };
  for (const id of numeric) patch[id] = Number($<HTMLInputElement>(id).value);
  return patch as Partial<Settings>;
}

function writeSettings(s: Settings): void {
  $<HTMLSelectElement>('backend').value = s.backend;
  $<HTMLSelectElement>('method').value = s.method;
  for (const id of numeric) $<HTMLInputElement>(id).value = String(s[id]);
}

function setupControls(): void {
  const select = $<HTMLSelectElement>('backend');
  // The chosen backend is there at once; the rest of the menu comes from the backend table.
  select.add(new Option(state.settings.backend, state.settings.backend));
  void backendChoices().then((choices) => {
    for (const choice of ['auto', ...choices])
      if (choice !== state.settings.backend) select.add(new Option(choice, choice));
  });
  writeSettings(state.settings);
  for (const id of ['backend', 'method', ...numeric]) {
    $(id).addEventListener('change', () => {
      const patch = readSettings();
      const errors = settingsErrors(patch);
      $('message').textContent = errors.join('; ');
      dispatch({ type: 'settings', patch });
    });
  }
  $('start').addEventListener('click', () => void start());
  $('pause').addEventListener('click', () => {
    if (!session) return;
    if (state.status === 'running') {
      // 'paused' is shown once the loop has parked: the step in flight has reported its progress by then.
      const s = session;
      void s.pause().then(() => {
        if (session === s && s.isPaused) dispatch({ type: 'pause' });
      });
    } else if (state.status === 'paused') {
      session.unpause();
      dispatch({ type: 'resume' });
    }
  });
  $('reset').addEventListener('click', () => void reset());
}

async function start(): Promise<void> {
  if (!subset || !canEditSettings(state)) return;
  dispatch({ type: 'start' });
  try {
    const params = new URLSearchParams(location.search);
    const load = {
      allowFallbackAdapter: params.get('allowFallbackAdapter') === '1',
      wasmPaths: new URL('./tfjs-wasm/', document.baseURI).href,
      onnxruntimeWasmPaths: new URL('./ort-wasm/', document.baseURI).href,
    };
    const hooks: SessionHooks = {
      onProgress: (step, epoch) => dispatch({ type: 'progress', step, epoch, at: performance.now() }),
      onMetric: (curve, step, value) => dispatch({ type: 'metric', curve, step, value }),
      onVisuals: paintVisuals,
      onError: (error) => dispatch({ type: 'failed', message: error instanceof Error ? error.message : String(error) }),
    };
    const choice = state.settings.backend;
    if (params.get('worker') !== '0' && typeof Worker !== 'undefined' && runsInWorker(choice)) {
      // Training in a Web Worker: the page only paints what the worker sends.
      const r = await RemoteSession.start(state.settings, subsetBytes!, hooks, load);
      session = r.session;
      const details = [r.details, 'in a Web Worker'].filter(Boolean).join(', ');
      dispatch({ type: 'started', backendName: r.backendName, details, ...(r.message ? { message: r.message } : {}) });
      return;
    }
    const { backend, message } = await startBackend(choice, undefined, load, state.settings);
    const s = new TrainingSession(backend, state.settings, subset.train, subset.test, hooks);
    session = s;
    const details = Object.entries(backend.details ?? {})
      .map(([k, v]) => `${k}: ${v}`)
      .concat(['on the page'])
      .join(', ');
    dispatch({ type: 'started', backendName: backend.name, details, ...(message ? { message } : {}) });
    s.start();
  } catch (error) {
    dispatch({ type: 'failed', message: error instanceof Error ? error.message : String(error) });
  }
}

async function reset(): Promise<void> {
  const s = session;
  session = null;
  dispatch({ type: 'reset' });
  await s?.stop();
}

// ---- pictures ----
function paintVisuals(v: Visuals): void {
  const shown = Math.min(v.numHidden, 100);
  const side = 28;
  paintTiles(
    $<HTMLCanvasElement>('filters'),
    { count: shown, tileHeight: side, tileWidth: side, columns: 10, gap: 1 },
    (t, p) => v.weights[p * v.numHidden + t]!,
    'minmax',
  );
  const rowsOf = (data: Float32Array) => (t: number, p: number) => data[t * side * side + p]!;
  paintTiles(
    $<HTMLCanvasElement>('fantasy'),
    { count: v.fantasyCount, tileHeight: side, tileWidth: side, columns: 8, gap: 1 },
    rowsOf(v.fantasy),
    'unit',
  );
  const strip = { count: v.reconstructionCount, tileHeight: side, tileWidth: side, columns: 16, gap: 1 };
  paintTiles($<HTMLCanvasElement>('originals'), strip, rowsOf(v.originals), 'unit');
  paintTiles($<HTMLCanvasElement>('reconstructions'), strip, rowsOf(v.reconstructions), 'unit');
}

const charts = new Map<CurveName, CurveChart>();

function renderCurves(): void {
  const box = $('curves');
  for (const [name, [title, unit, color]] of Object.entries(CURVES) as [CurveName, [string, string, string]][]) {
    let chart = charts.get(name);
    let holder = box.querySelector<HTMLElement>(`[data-curve="${name}"]`);
    if (!holder) {
      holder = document.createElement('div');
      holder.dataset.curve = name;
      holder.className = 'chart';
      box.append(holder);
    }
    if (!chart) {
      chart = new CurveChart(holder, title, unit, color);
      charts.set(name, chart);
    }
    const points = state.curves[name];
    holder.dataset.points = String(points.length);
    chart.update(points, state.epochMarks);
  }
}

function render(): void {
  const editable = canEditSettings(state);
  for (const id of ['backend', 'method', ...numeric]) $<HTMLInputElement>(id).disabled = !editable;
  $<HTMLButtonElement>('start').disabled = !editable || !subset;
  $<HTMLButtonElement>('pause').disabled = state.status !== 'running' && state.status !== 'paused';
  $('pause').textContent = state.status === 'paused' ? 'Resume' : 'Pause';
  $('status').textContent = state.status;
  $('backend-name').textContent = state.backendName ?? 'none';
  $('backend-details').textContent = state.backendDetails ?? '';
  $('step').textContent = String(state.step);
  $('epoch').textContent = String(state.epoch);
  $('pace').textContent = state.msPerStep === null ? '' : ` · ${state.msPerStep.toFixed(1)} ms a step`;
  if (state.message !== null || state.status !== 'idle') $('message').textContent = state.message ?? '';
  renderCurves();
}

// ---- the drawing pad ----
function setupPad(): void {
  const pad = $<HTMLCanvasElement>('pad');
  const ctx = pad.getContext('2d', { willReadFrequently: true })!;
  ctx.lineWidth = 22;
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  ctx.strokeStyle = '#fff';
  let drawing = false;
  const at = (e: PointerEvent): [number, number] => {
    const r = pad.getBoundingClientRect();
    return [((e.clientX - r.left) * pad.width) / r.width, ((e.clientY - r.top) * pad.height) / r.height];
  };
  pad.addEventListener('pointerdown', (e) => {
    drawing = true;
    pad.setPointerCapture(e.pointerId);
    ctx.beginPath();
    ctx.moveTo(...at(e));
  });
  pad.addEventListener('pointermove', (e) => {
    if (!drawing) return;
    ctx.lineTo(...at(e));
    ctx.stroke();
  });
  const finish = () => {
    if (!drawing) return;
    drawing = false;
    void probe();
  };
  pad.addEventListener('pointerup', finish);
  pad.addEventListener('pointercancel', finish);
  // Inpainting: the half kept as drawn (mask 1); the model samples the other half given it.
  const mode = $<HTMLSelectElement>('pad-mode');
  const padMask = (): Float32Array | undefined => {
    if (mode.value === 'reconstruct') return undefined;
    return Float32Array.from({ length: 28 * 28 }, (_, i) => ((mode.value === 'top' ? i / 28 : i % 28) < 14 ? 1 : 0));
  };
  mode.addEventListener('change', () => {
    pad.dataset.keep = mode.value;
    void probe();
  });
  $('clear').addEventListener('click', () => {
    ctx.clearRect(0, 0, pad.width, pad.height);
    $('free-energy').textContent = '–';
    $<HTMLCanvasElement>('probe').getContext('2d')?.clearRect(0, 0, 28, 28);
  });

  async function probe(): Promise<void> {
    if (!session) {
      $('free-energy').textContent = 'start training first';
      return;
    }
    const rgba = ctx.getImageData(0, 0, pad.width, pad.height).data;
    const alpha = new Uint8ClampedArray(pad.width * pad.height);
    for (let i = 0; i < alpha.length; i++) alpha[i] = rgba[i * 4 + 3]!;
    const { reconstruction, freeEnergy } = await session.probe(downsample(alpha, pad.width, 28), padMask());
    paintTiles(
      $<HTMLCanvasElement>('probe'),
      { count: 1, tileHeight: 28, tileWidth: 28, columns: 1, gap: 0 },
      (_, p) => reconstruction[p]!,
      'unit',
    );
    $('free-energy').textContent = freeEnergy.toFixed(2);
  }
}

// ---- start-up ----
async function main(): Promise<void> {
  setupControls();
  setupPad();
  render();
  const url = new URL('./mnist-subset.bin', document.baseURI);
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url.pathname}: HTTP ${response.status}`);
  subsetBytes = await response.arrayBuffer();
  subset = decodeSubset(subsetBytes, url.pathname);
  $('message').textContent = `${subset.train.rows} training and ${subset.test.rows} test digits loaded`;
  render();
}

(window as unknown as { rbmDemo: unknown }).rbmDemo = { state: () => state };
main().catch((error) => {
  dispatch({ type: 'failed', message: error instanceof Error ? error.message : String(error) });
});
