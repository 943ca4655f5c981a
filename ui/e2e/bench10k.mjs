// The fleet page with 10,000 collectors on the real server: first load to a
// rendered table, rows in the DOM (virtualised), and long tasks while scrolling.
// Not a timed test: it prints the figures. node e2e/bench10k.mjs (after make build)
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Fleet, launchBrowser, newPage, uiLogin, ADMIN_PASSWORD, waitFor } from './harness.mjs';

const N = Number(process.env.N || 10000);
const f = new Fleet();
f.beforeStart = (dir) => {
  // N collectors at addresses nothing listens on: each scrape is refused at once.
  const lines = [];
  for (let i = 0; i < N; i++) lines.push(`- targets: ['127.0.0.1:${1 + (i % 50)}']\n  labels: {collector: 'bench-${String(i).padStart(5, '0')}', bench: '${i}'}`);
  writeFileSync(join(dir, 'sd', 'bench.yml'), lines.join('\n') + '\n');
};
await f.start({ agents: 2, mix: 'online=2', scrapeInterval: '30s' });
try {
  await waitFor(`${N} collectors listed`, async () => (await f.api('GET', '/collectors?limit=1')).body.total >= N, 120_000, 1000);
  const b = await launchBrowser();
  const p = await newPage(b);
  await uiLogin(p, f.base, 'admin', ADMIN_PASSWORD);
  const runs = [];
  for (let i = 0; i < 3; i++) {
    const t0 = Date.now();
    await p.goto(`${f.base}/?sort=id`);
    await p.getByTestId('row-bench-00000').waitFor();
    await waitFor('total', async () => Number((await p.getByTestId('stat-total').textContent()).replace(/,/g, '')) >= N, 30_000, 50);
    runs.push(Date.now() - t0);
  }
  const domRows = await p.locator('tbody tr[data-testid^=row-]').count();
  await p.evaluate(() => {
    window.__long = [];
    new PerformanceObserver((l) => l.getEntries().forEach((e) => window.__long.push(e.duration))).observe({ type: 'longtask', buffered: false });
  });
  const scroller = p.getByTestId('fleet-scroll');
  for (let i = 0; i < 40; i++) {
    await scroller.evaluate((el, y) => { el.scrollTop = y; }, i * 9000);
    await p.waitForTimeout(50);
  }
  await p.getByTestId('row-bench-09999').waitFor({ timeout: 10_000 }).catch(() => {});
  const long = await p.evaluate(() => window.__long);
  console.log(JSON.stringify({ collectors: N, first_load_ms: runs, rows_in_dom: domRows, longtasks_while_scrolling: long.length, longest_task_ms: Math.max(0, ...long) }));
  await b.close();
} finally {
  await f.stop();
}
