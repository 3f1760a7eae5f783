import { CHECKS, type CheckResult, runChecks } from '@rbmjs/conformance/checks';
import { backendChoices, loadBackend } from './session.js';
import type { BackendChoice } from './state.js';

/**
 * check.html: the conformance suite (the same checks vitest runs in Node, from `@rbmjs/conformance/checks`)
 * on the chosen backend, in this browser, against core's float64 reference. No fallback: a backend that
 * cannot start is reported as such. `?backend=NAME` runs at once; `?allowFallbackAdapter=1` accepts
 * software WebGPU; `?check=TEXT` runs the checks whose name holds TEXT. The outcome is also left on `window.rbmCheck` for the browser tests.
 */

const select = document.getElementById('backend') as HTMLSelectElement;
const status = document.getElementById('status')!;
const table = document.getElementById('results') as HTMLTableElement;
const params = new URLSearchParams(location.search);

interface Outcome {
  readonly backend: string;
  readonly started: boolean;
  readonly results: CheckResult[];
  readonly error?: string;
}

function header(): void {
  table.innerHTML = '';
  const row = table.insertRow();
  for (const text of ['group', 'check', 'result', 'worst error / tolerance', 'detail', 's']) {
    const th = document.createElement('th');
    th.textContent = text;
    row.appendChild(th);
  }
}

function addRow(r: CheckResult): void {
  const row = table.insertRow();
  const result = r.status === 'pass' ? 'ok' : r.status === 'skip' ? 'skipped' : 'FAIL';
  for (const text of [r.group, r.name, result, r.worst.toPrecision(3), r.detail, r.seconds.toFixed(2)]) {
    row.insertCell().textContent = text;
  }
}

function show(outcome: Outcome): void {
  (window as unknown as { rbmCheck: Outcome }).rbmCheck = outcome;
  if (!outcome.started) {
    status.textContent = `${outcome.backend} did not start: ${outcome.error}`;
    return;
  }
  const failed = outcome.results.filter((r) => r.status === 'fail').length;
  const skipped = outcome.results.filter((r) => r.status === 'skip').length;
  status.textContent =
    `${outcome.backend}: ${failed === 0 ? 'agrees with the float64 reference' : `${failed} checks DISAGREE with the float64 reference`}` +
    ` (${outcome.results.length} checks${skipped ? `, ${skipped} skipped` : ''})`;
}

async function run(choice: BackendChoice): Promise<void> {
  status.textContent = `checking ${choice}...`;
  header();
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
  // `?check=TEXT`: only the checks whose name holds TEXT (one check, while a backend is being worked on).
  const only = params.get('check');
  const results = await runChecks(backend, {
    ...(only ? { checks: CHECKS.filter((c) => c.name.includes(only)) } : {}),
    onResult: (r) => {
      addRow(r);
      status.textContent = `checking ${choice}: ${r.name}`;
    },
  });
  show({ backend: backend.name, started: true, results });
  backend.destroy();
}

document.getElementById('run')!.addEventListener('click', () => void run(select.value as BackendChoice));
// The menu comes from the backend table; `?backend=NAME` runs at once (a name the table lacks is reported).
void backendChoices().then((choices) => {
  for (const choice of choices) select.add(new Option(choice, choice));
  const requested = params.get('backend');
  if (!requested) return;
  if (!choices.includes(requested)) select.add(new Option(requested, requested));
  select.value = requested;
  void run(requested);
});
