// The embedded UI in a real browser against a real server. Screenshots of every page are
// written to test-artifacts/screenshots/.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { BROWSER_SKIP, launchBrowser, startFilledServer } from './helpers/browser.ts';
import type { Running } from './helpers/process.ts';

const SHOTS = fileURLToPath(new URL('../test-artifacts/screenshots/', import.meta.url));
let browser: Browser;
let page: Page;
let base = '';
let server: Running;

before(async () => {
  if (BROWSER_SKIP) return;
  mkdirSync(SHOTS, { recursive: true });
  const s = await startFilledServer(300);
  base = s.base;
  server = s.server;
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1440, height: 900 }, colorScheme: 'light' });
  page.on('pageerror', (err) => {
    throw err;
  });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const opts = { skip: BROWSER_SKIP, timeout: 60_000 };

test('traffic table shows the rows', opts, async () => {
  await page.goto(base);
  await page.waitForSelector('[data-testid="traffic-table"] tbody tr[data-id]');
  assert.match(await page.locator('.table-meta').innerText(), /200 shown, more below · live/);
  // Only the rows in view (plus a margin) are in the DOM, however many are loaded.
  const rendered = await page.locator('[data-testid="traffic-table"] tbody tr[data-id]').count();
  assert.ok(rendered >= 25 && rendered < 200, `rendered ${rendered}`);
  assert.equal(await page.locator('[data-testid="traffic-table"] tbody tr[data-id]').first().locator('.tls').count(), 1, 'HTTPS rows are marked');
  assert.ok((await page.locator('[data-testid="traffic-table"] tbody .grpc').count()) > 0, 'failed gRPC calls are marked');
  await page.screenshot({ path: `${SHOTS}traffic.png` });
});

test('a filter narrows the rows and lands in the URL', opts, async () => {
  await page.selectOption('select[aria-label="Status"]', '5xx');
  await page.waitForURL(/status=5xx/);
  await page.waitForFunction(() => {
    const cells = [...document.querySelectorAll('[data-testid="traffic-table"] tbody tr[data-id] td:nth-child(6)')];
    return cells.length > 0 && cells.every((c) => c.textContent === '503');
  });
  const n = await page.locator('[data-testid="traffic-table"] tbody tr[data-id]').count();
  assert.equal(n, 18, '300 records, every 17th is a 503');
  await page.fill('input[aria-label="host"]', 'api.shop.local');
  await page.waitForURL(/host=api\.shop\.local/);
  // The filtered view can be shared: a fresh load of the URL shows the same rows.
  const url = page.url();
  await page.goto(url);
  await page.waitForSelector('[data-testid="traffic-table"] tbody tr[data-id]');
  const hosts = await page.locator('[data-testid="traffic-table"] tbody tr[data-id] td:nth-child(4)').allInnerTexts();
  assert.ok(hosts.length > 0 && hosts.every((h) => h.replace(/^TLS\s*/, '') === 'api.shop.local'), hosts.join(','));
  await page.screenshot({ path: `${SHOTS}traffic-filtered.png` });
});

test('the scheme filter keeps HTTPS rows only', opts, async () => {
  await page.goto(base);
  await page.waitForSelector('[data-testid="traffic-table"] tbody tr[data-id]');
  await page.selectOption('select[aria-label="Scheme"]', 'true');
  await page.waitForURL(/tls=true/);
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('[data-testid="traffic-table"] tbody tr[data-id]')];
    return rows.length > 0 && rows.every((r) => r.querySelector('.tls'));
  });
  assert.match(await page.locator('.table-meta').innerText(), /^75 shown/, '300 records, every 4th is HTTPS');
});

test('the process filter (a node without Kubernetes has processes, not pods)', opts, async () => {
  await page.goto(base);
  await page.waitForSelector('[data-testid="traffic-table"] tbody tr[data-id]');
  await page.fill('input[aria-label="process"]', 'cart');
  await page.keyboard.press('Enter');
  await page.waitForURL(/process=cart/);
  await page.waitForFunction(() => {
    const cells = [...document.querySelectorAll('[data-testid="traffic-table"] tbody tr[data-id] td:last-child')];
    return cells.length > 0 && cells.every((c) => c.textContent === 'cart');
  });
  assert.match(await page.locator('.table-meta').innerText(), /^150 shown/, '300 records, every other one by cart');
});

test('keyboard: arrows move, Enter opens the detail view', opts, async () => {
  await page.goto(base);
  await page.waitForSelector('[data-testid="traffic-table"] tbody tr[data-id]');
  await page.focus('.table-wrap');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowDown');
  const id = await page.locator('[data-testid="traffic-table"] tbody tr.selected').getAttribute('data-id');
  assert.equal(await page.locator('[data-testid="traffic-table"] tbody tr[data-id]').nth(2).getAttribute('data-id'), id);
  await page.keyboard.press('Enter');
  await page.waitForURL(new RegExp(`/requests/${id}$`));
  await page.waitForSelector('[data-testid="detail"]');
});

test('detail view: fields, samples as text and hex, a curl line', opts, async () => {
  await page.goto(base);
  await page.locator('[data-testid="traffic-table"] tbody tr[data-id]').first().click();
  await page.waitForSelector('[data-testid="detail"]');
  const text = await page.locator('[data-testid="detail"]').innerText();
  assert.match(text, /Destination\s+10\.1\.0\.2:9000/);
  assert.match(text, /TLS\s+yes \(HTTPS/);
  assert.match(text, /gRPC status\s+14 UNAVAILABLE/);
  assert.match(await page.locator('[data-testid="request-sample"]').innerText(), /^GET \/items\//);
  assert.match(await page.locator('[data-testid="curl"]').innerText(), /^curl (-X POST )?'https:\/\/(api|web)\.shop\.local\/api\//);
  await page.locator('.sample').first().getByRole('tab', { name: 'Hex' }).click();
  assert.match(await page.locator('[data-testid="request-sample"]').innerText(), /^00000000 {2}47 45 54 20/);
  await page.screenshot({ path: `${SHOTS}detail.png`, fullPage: true });
});

test('overview charts render with data and endpoints click through', opts, async () => {
  await page.goto(`${base}/overview`);
  await page.waitForSelector('[data-testid="chart-rate"] polyline');
  for (const id of ['chart-rate', 'chart-errors', 'chart-latency']) {
    const pts = await page.locator(`[data-testid="${id}"] polyline`).first().getAttribute('points');
    assert.ok(pts && pts.split(' ').length >= 2, `${id} has points`);
  }
  // Every minute of the hour is on the time axis, quiet ones included (the fixture's traffic
  // covers its last 10 minutes): gaps are not closed up.
  const rate = await page.locator('[data-testid="chart-rate"] polyline').first().getAttribute('points');
  assert.ok(rate!.split(' ').length >= 60, `one point per minute: ${rate!.split(' ').length}`);
  const rows = page.locator('[data-testid="endpoints-table"] tbody tr');
  assert.ok((await rows.count()) >= 3);
  await page.screenshot({ path: `${SHOTS}overview.png`, fullPage: true });
  // Half of the fixture's 300 records are server side: one side counts each call once.
  assert.match(await page.getByTestId('overview-summary').innerText(), /^300 records \(a call seen by both ends counts twice\)/);
  await page.selectOption('select[aria-label="Role"]', 'server');
  await page.waitForURL(/role=server/);
  await page.waitForFunction(() => document.querySelector('[data-testid="overview-summary"]')?.textContent?.startsWith('150 requests'));
  await page.getByRole('button', { name: /p95/ }).click();
  await rows.filter({ hasText: '/api/orders' }).first().click();
  await page.waitForURL(/endpoint=%2Fapi%2Forders/);
  await page.waitForSelector('[data-testid="traffic-table"] tbody tr[data-id]');
  const paths = await page.locator('[data-testid="traffic-table"] tbody tr[data-id] td:nth-child(5)').allInnerTexts();
  assert.ok(paths.every((p) => p.startsWith('/api/orders')));
  // The side chosen on the overview comes along.
  assert.match(page.url(), /role=server/);
  const roles = await page.locator('[data-testid="traffic-table"] tbody tr[data-id] td:nth-child(2)').allInnerTexts();
  assert.ok(roles.length > 0 && roles.every((r) => r.toLowerCase() === 'server'), roles.join());
});

test('service map shows the expected edge', opts, async () => {
  await page.goto(`${base}/map?window=1h`);
  await page.waitForSelector('[data-testid="service-map"]');
  assert.equal(await page.locator('[data-edge="frontend->cart"]').count(), 1);
  assert.equal(await page.locator('[data-node="frontend"]').count(), 1);
  await page.locator('[data-edge="frontend->cart"] path.hit').hover({ force: true });
  await page.waitForSelector('.map-tip');
  assert.match(await page.locator('.map-tip').innerText(), /frontend → cart/);
  await page.screenshot({ path: `${SHOTS}service-map.png` });
});

test('data health shows the agent and warns about losses', opts, async () => {
  await page.goto(`${base}/health`);
  await page.waitForSelector('[data-testid="agent-card"]');
  const card = await page.locator('[data-testid="agent-card"]').first().innerText();
  assert.match(card, /node-a/);
  assert.match(card, /running/);
  assert.match(await page.locator('[data-testid="data-loss-warning"]').innerText(), /3 records dropped/);
  await page.screenshot({ path: `${SHOTS}health.png`, fullPage: true });
});

test('dark mode and the empty state', opts, async () => {
  await page.goto(`${base}/?host=nothing.here`);
  await page.getByRole('button', { name: 'Toggle light and dark' }).click();
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark');
  await page.screenshot({ path: `${SHOTS}empty-filter.png` });
  await page.waitForSelector('text=No exchanges match these filters');
  await page.goto(base);
  await page.waitForSelector('[data-testid="traffic-table"] tbody tr[data-id]');
  await page.screenshot({ path: `${SHOTS}traffic-dark.png` });
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.equal(bg, 'rgb(15, 18, 23)');
});
