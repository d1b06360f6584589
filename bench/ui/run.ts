// UI budget: JavaScript shipped (gzipped), and the traffic view with 1,000 rows in Chromium:
// long tasks while rows load, and frame times while scrolling through them.
//   bin/heimdall-node bench/ui/run.ts
import { readdirSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { launchBrowser, startFilledServer } from '../../test/helpers/browser.ts';

const ASSETS = fileURLToPath(new URL('../../ui/dist/assets/', import.meta.url));

/** Frame intervals (sorted) over `ms`, optionally scrolling the table top to bottom meanwhile. */
function frameTimes(page: Page, ms: number, scroll: boolean): Promise<number[]> {
  return page.evaluate(
    ([ms, scroll]) =>
      new Promise<number[]>((resolve) => {
        const el = document.querySelector('.table-wrap') as HTMLElement;
        if (scroll) el.scrollTop = 0;
        const out: number[] = [];
        let last = performance.now();
        const start = last;
        const step = (t: number) => {
          out.push(t - last);
          last = t;
          if (scroll) el.scrollTop = ((t - start) / ms) * el.scrollHeight;
          if (t - start < ms) requestAnimationFrame(step);
          else resolve(out.slice(1).sort((a, b) => a - b));
        };
        requestAnimationFrame(step);
      }),
    [ms, scroll] as const,
  );
}

async function main() {
  const js = readdirSync(ASSETS).filter((f) => f.endsWith('.js'));
  const gz = js.reduce((a, f) => a + gzipSync(readFileSync(ASSETS + f)).length, 0);
  const raw = js.reduce((a, f) => a + readFileSync(ASSETS + f).length, 0);

  const { base, server } = await startFilledServer(1200);
  const browser = await launchBrowser();
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  await page.addInitScript(() => {
    const w = window as unknown as { __long: number[] };
    w.__long = [];
    new PerformanceObserver((list) => list.getEntries().forEach((e) => w.__long.push(e.duration))).observe({ type: 'longtask', buffered: true });
  });
  const t0 = Date.now();
  await page.goto(base);
  await page.waitForSelector('[data-testid="traffic-table"] tbody tr[data-id]');
  const firstPaintMs = Date.now() - t0;
  // Pause live updates so the measurement sees only our rows.
  await page.focus('.table-wrap');
  await page.keyboard.press('Space');
  await page.waitForSelector('text=paused');
  const rows = async () => Number(/(\d+) shown/.exec(await page.locator('.table-meta').innerText())?.[1] ?? 0);
  const tLoad = Date.now();
  while ((await rows()) < 1000) {
    const before = await rows();
    await page.evaluate(() => document.querySelector('.sentinel')?.scrollIntoView());
    await page.waitForFunction((n) => Number(/(\d+) shown/.exec(document.querySelector('.table-meta')?.textContent ?? '')?.[1] ?? 0) > n, before, { timeout: 10_000 });
  }
  const loadMs = Date.now() - tLoad;
  const count = await rows();
  const longTasks = await page.evaluate(() => (window as unknown as { __long: number[] }).__long);
  // The frame rate this browser reaches doing nothing is the floor for the scroll figures.
  const idle = await frameTimes(page, 1000, false);
  const frames = await frameTimes(page, 2000, true);
  const domRows = await page.locator('[data-testid="traffic-table"] tbody tr[data-id]').count();
  await browser.close();
  await server.stop();
  const p = (q: number) => frames[Math.min(frames.length - 1, Math.floor(q * frames.length))];
  console.log('\n== bench/ui ==');
  console.log(`JavaScript: ${(raw / 1024).toFixed(0)} KiB, ${(gz / 1024).toFixed(1)} KiB gzipped   (target < 500 KB gzipped)`);
  console.log(`traffic view: first 200 rows in ${firstPaintMs} ms; grew to ${count} rows in ${loadMs} ms (4 pages of 200); ${domRows} rows in the DOM`);
  console.log(`long tasks (> 50 ms) while loading: ${longTasks.length}${longTasks.length ? `, longest ${Math.max(...longTasks).toFixed(0)} ms` : ''}`);
  console.log(`idle page: p50 ${idle[Math.floor(idle.length / 2)].toFixed(1)} ms per frame (this headless, GPU-less browser's floor)`);
  console.log(`scrolling ${count} rows: ${frames.length} frames, p50 ${p(0.5).toFixed(1)} ms, p95 ${p(0.95).toFixed(1)} ms, max ${frames[frames.length - 1].toFixed(1)} ms per frame (16.7 ms = 60 fps)`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
