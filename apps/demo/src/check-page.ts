import { type CheckResult, checkBackend } from './check.js';
import { loadBackend } from './session.js';
import { BACKEND_CHOICES, type BackendChoice } from './state.js';

/**
 * check.html: runs `checkBackend` on the chosen backend (no fallback: a backend that cannot start is
 * reported as such). `?backend=NAME` runs at once; `?allowFallbackAdapter=1` accepts software WebGPU.
 * The outcome is also left on `window.rbmCheck` for the browser tests.
 */

const select = document.getElementById('backend') as HTMLSelectElement;
const status = document.getElementById('status')!;
const table = document.getElementById('results') as HTMLTableElement;
const params = new URLSearchParams(location.search);
for (const choice of BACKEND_CHOICES) select.add(new Option(choice, choice));

interface Outcome {
  readonly backend: string;
  readonly started: boolean;
  readonly results: CheckResult[];
  readonly error?: string;
}

function show(outcome: Outcome): void {
  (window as unknown as { rbmCheck: Outcome }).rbmCheck = outcome;
  if (!outcome.started) {
    status.textContent = `${outcome.backend} did not start: ${outcome.error}`;
    return;
  }
  const ok = outcome.results.every((r) => r.ok);
  status.textContent = `${outcome.backend}: ${ok ? 'agrees with the float64 reference' : 'DISAGREES with the float64 reference'}`;
  table.innerHTML = '<tr><th>check</th><th>result</th><th>worst error / tolerance</th><th>where</th></tr>';
  for (const r of outcome.results) {
    const row = table.insertRow();
    for (const text of [r.name, r.ok ? 'ok' : 'FAIL', r.worst.toPrecision(3), r.detail]) {
      row.insertCell().textContent = text;
    }
  }
}

async function run(choice: BackendChoice): Promise<void> {
  status.textContent = `checking ${choice}...`;
  table.innerHTML = '';
  let backend: Awaited<ReturnType<typeof loadBackend>>;
  try {
    backend = await loadBackend(choice, { allowFallbackAdapter: params.get('allowFallbackAdapter') === '1' });
  } catch (error) {
    show({
      backend: choice,
      started: false,
      results: [],
      error: error instanceof Error ? error.message : String(error),
    });
    return;
  }
  const results = await checkBackend(backend);
  show({ backend: backend.name, started: true, results });
  backend.destroy();
}

document.getElementById('run')!.addEventListener('click', () => void run(select.value as BackendChoice));
const requested = params.get('backend');
if (requested && (BACKEND_CHOICES as readonly string[]).includes(requested)) {
  select.value = requested;
  void run(requested as BackendChoice);
}
