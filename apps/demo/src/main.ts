import { curvePath, downsample, paintTiles } from './render.js';
import { startBackend, TrainingSession, type Visuals } from './session.js';
import {
  type Action,
  BACKEND_CHOICES,
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

const CURVES: Record<CurveName, string> = {
  reconstruction: 'reconstruction error (squared, per digit, this batch)',
  pseudoLikelihood: 'pseudo-log-likelihood of test digits (random bit, nats)',
  logLikelihood: 'exact log-likelihood of test digits (nats; 12 hidden units or fewer)',
  freeEnergyGap: 'free-energy gap, test - train (growing: overfitting)',
};

let state: DemoState = initialState();
let session: TrainingSession | null = null;
let subset: Subset | null = null;
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
  for (const choice of BACKEND_CHOICES) select.add(new Option(choice, choice));
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
    const allowFallbackAdapter = new URLSearchParams(location.search).get('allowFallbackAdapter') === '1';
    const { backend, message } = await startBackend(state.settings.backend, undefined, { allowFallbackAdapter });
    const s = new TrainingSession(backend, state.settings, subset.train, subset.test, {
      onProgress: (step, epoch) => dispatch({ type: 'progress', step, epoch }),
      onMetric: (curve, step, value) => dispatch({ type: 'metric', curve, step, value }),
      onVisuals: paintVisuals,
      onError: (error) => dispatch({ type: 'failed', message: error instanceof Error ? error.message : String(error) }),
    });
    session = s;
    const details = Object.entries(backend.details ?? {})
      .map(([k, v]) => `${k}: ${v}`)
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

function renderCurves(): void {
  const box = $('curves');
  const [w, h] = [440, 90];
  for (const [name, label] of Object.entries(CURVES) as [CurveName, string][]) {
    let svg = box.querySelector<SVGSVGElement>(`svg[data-curve="${name}"]`);
    if (!svg) {
      svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
      svg.dataset.curve = name;
      svg.setAttribute('viewBox', `-4 -16 ${w + 8} ${h + 22}`);
      svg.innerHTML = '<text x="0" y="-4"></text><polyline></polyline>';
      box.append(svg);
    }
    const points = state.curves[name];
    svg.dataset.points = String(points.length);
    const last = points[points.length - 1];
    svg.querySelector('text')!.textContent = `${label}${last ? `: ${last.value.toFixed(3)}` : ''}`;
    svg.querySelector('polyline')!.setAttribute('points', curvePath(points, w, h));
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
    const { reconstruction, freeEnergy } = await session.probe(downsample(alpha, pad.width, 28));
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
  subset = decodeSubset(await response.arrayBuffer(), url.pathname);
  $('message').textContent = `${subset.train.rows} training and ${subset.test.rows} test digits loaded`;
  render();
}

(window as unknown as { rbmDemo: unknown }).rbmDemo = { state: () => state };
main().catch((error) => {
  dispatch({ type: 'failed', message: error instanceof Error ? error.message : String(error) });
});
