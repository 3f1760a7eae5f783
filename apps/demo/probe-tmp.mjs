import { existsSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import { extname, join } from 'node:path';
import { chromium } from 'playwright-core';

const root = 'dist';
const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm' };
const server = http
  .createServer((req, res) => {
    let f = join(root, new URL(req.url, 'http://x').pathname);
    if (existsSync(f) && statSync(f).isDirectory()) f = join(f, 'index.html');
    if (!existsSync(f)) {
      res.writeHead(404);
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': types[extname(f)] ?? 'application/octet-stream' });
    res.end(readFileSync(f));
  })
  .listen(0);
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: [
    '--no-sandbox',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
    '--disable-quic',
    ...(process.env.FLAGS ?? '').split(' ').filter(Boolean),
  ],
});
const page = await browser.newPage();
page.on('console', (m) => {
  if (m.type() === 'error' || m.type() === 'warning') console.log('console', m.type(), m.text().slice(0, 200));
});
page.on('pageerror', (e) => console.log('pageerror', e.message));
await page.goto(`http://127.0.0.1:${server.address().port}/?allowFallbackAdapter=1`);
for (const backend of process.argv.slice(2)) {
  await page.waitForFunction(() => !document.getElementById('start').disabled);
  await page.selectOption('#backend', backend);
  await page.fill('#hidden', '8');
  await page.dispatchEvent('#hidden', 'change');
  await page.click('#start');
  await page
    .waitForFunction(
      () =>
        Number(document.getElementById('step').textContent) >= 50 ||
        document.getElementById('status').textContent === 'error',
      null,
      { timeout: 120000 },
    )
    .catch(() => console.log('timeout'));
  console.log(
    backend,
    '->',
    await page.textContent('#backend-name'),
    await page.textContent('#status'),
    await page.textContent('#step'),
    await page.textContent('#message'),
  );
  await page.click('#reset');
}
await browser.close();
server.close();
