import type { FromRecommender, ToRecommender } from './recommend-worker.js';

/**
 * "Rate a few items, get recommendations": a generated catalogue, a collaborative-filtering RBM trained on
 * generated users in a worker (src/recommend-worker.ts), and the visitor's ratings as one more user.
 */

const ITEMS = 40;
const ADJECTIVES = ['Silent', 'Crimson', 'Hidden', 'Last', 'Golden', 'Broken', 'Northern', 'Midnight'];
const NOUNS = ['Harbour', 'Engine', 'Garden', 'Signal', 'Orchard'];
/** Item i's title: a fixed pair of words, the same on every visit. */
export const title = (i: number) =>
  `${ADJECTIVES[i % ADJECTIVES.length]} ${NOUNS[Math.floor(i / ADJECTIVES.length) % NOUNS.length]}`;

const status = document.getElementById('status')!;
const catalogue = document.getElementById('catalogue')!;
const button = document.getElementById('recommend') as HTMLButtonElement;
const list = document.getElementById('recommendations')!;
const worker = new Worker(new URL('./recommend-worker.ts', import.meta.url), { type: 'module', name: 'rbm-recommend' });
const send = (m: ToRecommender) => worker.postMessage(m);

const selects: HTMLSelectElement[] = [];
for (let i = 0; i < ITEMS; i++) {
  const label = document.createElement('label');
  label.className = 'item';
  const select = document.createElement('select');
  select.dataset.item = String(i);
  select.append(
    new Option('-', ''),
    ...[1, 2, 3, 4, 5].map((r) => new Option(`${r} star${r > 1 ? 's' : ''}`, String(r))),
  );
  select.addEventListener('change', () => {
    button.disabled = !ready || !selects.some((s) => s.value !== '');
  });
  selects.push(select);
  const name = document.createElement('span');
  name.textContent = title(i);
  label.append(name, select);
  catalogue.append(label);
}

let ready = false;
let nextId = 1;
let means: number[] = [];
worker.onmessage = (event: MessageEvent<FromRecommender>) => {
  const m = event.data;
  switch (m.type) {
    case 'epoch':
      status.textContent = `training: epoch ${m.epoch} of at most ${m.epochs}, held-out RMSE ${m.rmse.toFixed(3)}`;
      break;
    case 'ready':
      ready = true;
      means = m.means;
      selects.forEach((s, i) => {
        s.title = `mean rating of the generated users: ${means[i]!.toFixed(2)}`;
      });
      status.textContent =
        `trained on ${m.ratings.toLocaleString('en')} generated ratings: held-out RMSE ${m.rmse.toFixed(3)} ` +
        `(each item's mean rating: ${m.itemMeanRmse.toFixed(3)}). Rate a few items, then ask.`;
      button.disabled = !selects.some((s) => s.value !== '');
      break;
    case 'recommended':
      list.replaceChildren(
        ...m.items.map((r) => {
          const li = document.createElement('li');
          li.textContent = `${title(r.item)}: expected ${r.score.toFixed(2)} stars (the crowd's mean ${means[r.item]!.toFixed(2)})`;
          li.dataset.item = String(r.item);
          return li;
        }),
      );
      button.disabled = false;
      break;
    case 'failed':
      status.textContent = `failed: ${m.message}`;
      button.disabled = false;
      break;
  }
};

button.addEventListener('click', () => {
  const ratings = selects.flatMap((s, i) => (s.value === '' ? [] : [[i, Number(s.value)] as [number, number]]));
  button.disabled = true;
  send({ type: 'recommend', id: nextId++, ratings, top: 5 });
});

send({ type: 'train', users: 1000, items: ITEMS, seed: 1 });
