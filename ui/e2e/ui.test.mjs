// The UI end to end: the real corral with the UI embedded, real simulated agents,
// Debian's Chromium. Run by make test-ui (npm run e2e); UPDATE_SCREENSHOTS=1 also
// writes ui/screenshots/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { e2eSuite, newPage, uiLogin, noSeriousA11y, clean, shoot, waitFor, ADMIN_PASSWORD, XSS_NAME } from './harness.mjs';

const e2e = e2eSuite();
const pages = [];


async function page(opts) {
  const p = await newPage(e2e.browser, opts);
  pages.push(p);
  return p;
}

async function adminPage(opts) {
  const p = await page(opts);
  await uiLogin(p, e2e.fleet.base, 'admin', ADMIN_PASSWORD);
  return p;
}


const rowStatus = (p, id) => p.getByTestId(`row-${id}`).getAttribute('data-status');

test('the page and its assets carry the security and cache headers', async () => {
  const r = await fetch(`${e2e.fleet.base}/collectors/sim-0001`, { headers: { 'Accept-Encoding': 'gzip' } });
  assert.equal(r.status, 200);
  const csp = r.headers.get('content-security-policy');
  assert.match(csp, /script-src 'self'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(r.headers.get('cache-control'), 'no-cache');
  const html = await r.text();
  const nonce = csp.match(/'nonce-([^']+)'/)[1];
  assert.ok(html.includes(`content="${nonce}"`), 'the page carries the policy nonce');
  const asset = html.match(/src="(\/assets\/[^"]+\.js)"/)[1];
  const a = await fetch(e2e.fleet.base + asset, { headers: { 'Accept-Encoding': 'gzip' } });
  assert.equal(a.status, 200);
  assert.match(a.headers.get('cache-control'), /immutable/);
  assert.equal(a.headers.get('content-encoding'), 'gzip');
  assert.equal((await fetch(`${e2e.fleet.base}/assets/missing-123.js`)).status, 404);
});

test('login: the server’s message for a wrong password, then back to where the user was going', async () => {
  const p = await page();
  await p.goto(`${e2e.fleet.base}/collectors/sim-0001`);
  await p.waitForURL(/\/login\?next=/);
  await noSeriousA11y(p, 'login');
  await shoot(p, 'login');
  await p.locator('input[name=username]').fill('admin');
  await p.locator('input[name=password]').fill('wrong password');
  await p.getByRole('button', { name: 'Log in' }).click();
  const err = await p.getByTestId('login-error').textContent();
  assert.match(err, /invalid username or password|invalid credentials|wrong/i, err);
  await p.locator('input[name=password]').fill(ADMIN_PASSWORD);
  await p.getByRole('button', { name: 'Log in' }).click();
  await p.waitForURL(/\/collectors\/sim-0001$/);
  await p.getByRole('heading', { name: 'Collector: sim-0001' }).waitFor();
  // Logging out ends the session on the server: the cookie no longer reads.
  await p.getByRole('button', { name: 'Log out' }).click();
  await p.waitForURL(/\/login/);
  const me = await p.evaluate(async () => (await fetch('/api/v1/me')).status);
  assert.equal(me, 401);
  await clean(p);
});

test('fleet: list, search, filter, sort and group, all in the URL', async () => {
  const p = await adminPage();
  await p.getByTestId('row-sim-0002').waitFor();
  await p.getByTestId('conn').filter({ hasText: 'Live' }).waitFor();
  const total = Number(await p.getByTestId('stat-total').textContent());
  assert.ok(total >= 7, `total ${total}`);
  await noSeriousA11y(p, 'fleet');
  await shoot(p, 'fleet');

  await p.getByRole('searchbox', { name: 'Search' }).fill('sim-0002');
  await p.waitForURL(/q=sim-0002/);
  await waitFor('one row', async () => (await p.locator('tbody tr[data-testid^=row-]').count()) === 1);

  await p.goto(`${e2e.fleet.base}/?status=error`);
  await p.locator('tbody tr[data-status=error]').first().waitFor();
  await p.waitForTimeout(500);
  const statuses = await p.locator('tbody tr[data-testid^=row-]').evaluateAll((rs) => rs.map((r) => r.getAttribute('data-status')));
  assert.ok(statuses.length >= 1 && statuses.every((s) => s === 'error'), JSON.stringify(statuses));

  await p.goto(`${e2e.fleet.base}/`);
  await p.getByTestId('sort-id').click();
  await p.waitForURL(/sort=id/);
  await p.locator('th[aria-sort=ascending]').waitFor();
  await p.getByTestId('sort-id').click();
  await p.waitForURL(/sort=-id/);
  const ids = () => p.locator('tbody tr[data-testid^=row-]').evaluateAll((rs) => rs.map((r) => r.getAttribute('data-testid').slice(4)));
  // The rows re-sort a moment after the URL changes: wait for the order, then check it.
  const sortedDesc = (xs) => xs.length >= 8 && JSON.stringify(xs) === JSON.stringify([...xs].sort().reverse());
  let desc = [];
  await waitFor('rows sorted by id, descending', async () => sortedDesc(desc = await ids()), 10_000, 100)
    .catch(() => assert.fail(`rows not sorted by id descending: ${JSON.stringify(desc)}`));
  await p.goBack();
  await p.waitForURL(/sort=id$/);
  await p.locator('th[aria-sort=ascending]').waitFor();
  let asc = [];
  await waitFor('rows sorted by id, ascending', async () => JSON.stringify(asc = await ids()) === JSON.stringify([...desc].reverse()), 10_000, 100)
    .catch(() => assert.fail(`rows not sorted back ascending: ${JSON.stringify(asc)} vs ${JSON.stringify(desc)}`));

  await p.goto(`${e2e.fleet.base}/?group_by=status`);
  await p.locator('tr.group-row', { hasText: 'online' }).waitFor();
  await shoot(p, 'fleet-grouped');

  // A row expands to its host, uptime, heartbeat, error and collection time.
  await p.goto(`${e2e.fleet.base}/`);
  await p.getByRole('button', { name: 'Expand sim-0001' }).click();
  const exp = await p.getByTestId('expanded-sim-0001').textContent();
  assert.match(exp, /Host:.*127\.0\.0\.1/);
  assert.match(exp, /Avg collection time/);
  // Selection survives live updates.
  await p.getByLabel('Select sim-0003').check();
  await p.waitForTimeout(2500);
  assert.ok(await p.getByLabel('Select sim-0003').isChecked());
  assert.equal(await p.getByTestId('selected').textContent(), 'Selected: 1');
  await clean(p);
});

test('detail: every section, and the agent’s /healthz on demand', async () => {
  const p = await adminPage();
  await p.getByRole('link', { name: 'sim-0001', exact: true }).click();
  await p.waitForURL(/\/collectors\/sim-0001$/);
  for (const s of ['Connection information', 'Performance', 'Collection statistics', 'Status history', 'Completeness and freshness', 'Commands', 'Audit', 'Latest scraped metrics']) {
    await p.getByRole('heading', { name: s }).waitFor();
  }
  await p.getByTestId('metrics').getByText(/corral_collector_/).first().waitFor();
  await shoot(p, 'detail');
  await p.getByRole('button', { name: 'Fetch /healthz now' }).click();
  // The body says "Asking the agent…" until the answer is in.
  await p.getByTestId('health-body').getByText(/HTTP \d+/).waitFor();
  const h = await p.getByTestId('health-body').textContent();
  assert.match(h, /HTTP 200/);
  await noSeriousA11y(p, 'detail');
  await shoot(p, 'detail-health');
  await clean(p);
});

async function runDialog(p, button, fill, submit) {
  await p.getByRole('button', { name: button, exact: true }).click();
  const dlg = p.getByRole('dialog');
  await dlg.waitFor();
  if (fill) await fill(dlg);
  await dlg.getByRole('button', { name: submit }).click();
  await dlg.getByTestId('outcome').waitFor();
  await waitFor(`${button} to finish`, async () => {
    const ph = await dlg.getByTestId('outcome').getAttribute('data-phase');
    return ['confirmed', 'failed', 'expired', 'error'].includes(ph) && ph;
  }, 40_000);
  return dlg;
}

test('dialogs: stop, a refused collect, resume, restart, collect, test connection, backfill — each confirmed by a scrape', async () => {
  const p = await adminPage();
  const id = 'sim-0001';
  await p.goto(`${e2e.fleet.base}/collectors/${id}`);
  await p.getByRole('heading', { name: `Collector: ${id}` }).waitFor();

  let dlg = await runDialog(p, 'Stop Collector', async (d) => {
    await d.getByLabel('Stop reason (optional)').fill('maintenance window');
    await d.getByLabel('Estimated duration (minutes)').fill('120');
    await noSeriousA11y(p, 'stop dialog');
    await shoot(p, 'dialog-stop');
  }, 'Stop Collector (Send Signal)');
  assert.equal(await dlg.getByTestId('outcome').getAttribute('data-phase'), 'confirmed', await dlg.textContent());
  await shoot(p, 'dialog-stop-confirmed');
  let d = (await e2e.fleet.api('GET', `/collectors/${id}`)).body;
  assert.equal(d.agent_state, 'paused');
  assert.equal(d.desired.run_state, 'paused');
  assert.equal(d.desired.reason, 'maintenance window');
  await dlg.locator('form').getByRole('button', { name: 'Close' }).click();
  await dlg.waitFor({ state: 'hidden' });

  // The agent refuses to collect while paused: a 409 with its reason.
  dlg = await runDialog(p, 'Collect Now', null, 'Collect Now');
  assert.equal(await dlg.getByTestId('outcome').getAttribute('data-phase'), 'failed');
  assert.match(await dlg.getByTestId('outcome').textContent(), /409/);
  assert.match(await dlg.getByTestId('outcome').textContent(), /paused/i);
  await shoot(p, 'dialog-refused');
  await p.keyboard.press('Escape');
  await dlg.waitFor({ state: 'hidden' });

  dlg = await runDialog(p, 'Resume Collector', null, 'Resume Collector');
  assert.equal(await dlg.getByTestId('outcome').getAttribute('data-phase'), 'confirmed', await dlg.textContent());
  d = (await e2e.fleet.api('GET', `/collectors/${id}`)).body;
  assert.notEqual(d.agent_state, 'paused');
  await p.keyboard.press('Escape');

  const startBefore = (await e2e.fleet.api('GET', `/collectors/${id}`)).body.uptime_seconds;
  dlg = await runDialog(p, 'Restart Collector', null, 'Restart Collector');
  assert.equal(await dlg.getByTestId('outcome').getAttribute('data-phase'), 'confirmed', await dlg.textContent());
  const up = (await e2e.fleet.api('GET', `/collectors/${id}`)).body.uptime_seconds;
  assert.ok(up < startBefore || up < 10, `uptime after restart ${up}, before ${startBefore}`);
  await p.keyboard.press('Escape');

  dlg = await runDialog(p, 'Collect Now', null, 'Collect Now');
  assert.equal(await dlg.getByTestId('outcome').getAttribute('data-phase'), 'confirmed', await dlg.textContent());
  await p.keyboard.press('Escape');

  dlg = await runDialog(p, 'Test Connection', null, 'Test Connection');
  assert.equal(await dlg.getByTestId('outcome').getAttribute('data-phase'), 'confirmed', await dlg.textContent());
  await p.keyboard.press('Escape');

  dlg = await runDialog(p, 'Backfill…', null, 'Start Backfill');
  const phase = await dlg.getByTestId('outcome').getAttribute('data-phase');
  assert.equal(phase, 'confirmed', await dlg.textContent());
  await p.keyboard.press('Escape');

  // The commands are listed on the page with their state, live.
  const cmds = await p.getByTestId('commands').textContent();
  for (const c of ['pause', 'resume', 'restart', 'collect', 'test_connection', 'backfill']) assert.ok(cmds.includes(c), `${c} in ${cmds}`);
  const audit = (await e2e.fleet.api('GET', `/audit?collector=${id}`)).body.data.map((a) => a.action);
  assert.ok(audit.length >= 6, JSON.stringify(audit));
  await clean(p);
});

test('a viewer sees no action, and a direct API write gets 403', async () => {
  const v = await e2e.fleet.addViewer('viewer');
  const p = await page();
  await uiLogin(p, e2e.fleet.base, v.username, v.password);
  await p.getByTestId('row-sim-0002').waitFor();
  await p.getByRole('button', { name: 'Menu for sim-0002' }).click();
  await p.getByRole('menuitem', { name: 'View details' }).waitFor();
  for (const a of ['Stop', 'Restart', 'Collect now', 'Resume', 'Backfill…', 'Test connection', 'Edit Configuration…', 'Rotate Credentials…', 'Unregister…']) {
    assert.equal(await p.getByRole('menuitem', { name: a, exact: true }).count(), 0, `viewer sees ${a}`);
  }
  await p.getByRole('menuitem', { name: 'View Logs' }).waitFor();
  await p.keyboard.press('Escape');
  await p.goto(`${e2e.fleet.base}/collectors/sim-0002`);
  await p.getByRole('heading', { name: 'Connection information' }).waitFor();
  assert.equal(await p.getByRole('button', { name: /Stop|Restart|Collect|Resume|Backfill|Test Connection/ }).count(), 0);
  await shoot(p, 'detail-viewer');
  const status = await p.evaluate(async () => {
    const me = await (await fetch('/api/v1/me')).json();
    const r = await fetch('/api/v1/collectors/sim-0002/stop', { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token }, body: '{}' });
    return r.status;
  });
  assert.equal(status, 403);
  await clean(p);
});

test("a row's menu has the seed's actions: edit configuration, rotate, unregister, view logs", async () => {
  const p = await adminPage();
  await p.getByTestId('row-sim-0003').waitFor();
  const menu = async (item) => {
    await p.getByRole('button', { name: 'Menu for sim-0003' }).click();
    await p.getByRole('menuitem', { name: item, exact: true }).click();
  };
  await p.getByRole('button', { name: 'Menu for sim-0003' }).click();
  await p.getByRole('menuitem', { name: 'Unregister…' }).waitFor();
  await noSeriousA11y(p, 'fleet row menu');
  await shoot(p, 'fleet-menu');
  await p.keyboard.press('Escape');
  // Edit configuration loads the collector's detail, then the agent's keys.
  await menu('Edit Configuration…');
  const cfg = p.getByRole('dialog', { name: /Edit Configuration: sim-0003/ });
  await cfg.waitFor();
  const rate = String((await e2e.fleet.api('GET', '/collectors/sim-0003/health')).body.body.config.find((k) => k.key === 'rate').value);
  await waitFor('the agent’s keys in the dialog', async () => (await cfg.getByTestId('cfg-rate').inputValue()) === rate);
  await p.keyboard.press('Escape');
  await cfg.waitFor({ state: 'detached' });
  await menu('Rotate Credentials…');
  const rot = p.getByRole('dialog', { name: 'Rotate Credentials' });
  await rot.waitFor();
  await rot.getByRole('button', { name: 'Close' }).click();
  await rot.waitFor({ state: 'detached' });
  await menu('Unregister…');
  const un = p.getByRole('dialog', { name: 'Unregister Collector' });
  await un.waitFor();
  await un.getByText('Unregistering collector sim-0003').waitFor();
  await p.keyboard.press('Escape');
  await un.waitFor({ state: 'detached' });
  assert.equal((await e2e.fleet.api('GET', '/collectors/sim-0003')).status, 200, 'still registered');
  await menu('View Logs');
  await p.waitForURL(/\/collectors\/sim-0003\/logs/);
  await clean(p);
});

test('a collector named with HTML renders as text', async () => {
  const p = await adminPage();
  const link = p.getByRole('link', { name: XSS_NAME, exact: true });
  await link.waitFor();
  assert.equal(await link.textContent(), XSS_NAME);
  assert.equal(await p.locator('table img, table b').count(), 0);
  assert.ok((await p.getByTestId(`row-${XSS_NAME}`).textContent()).includes('<b>bold</b>'));
  await link.click();
  await p.getByRole('heading', { name: `Collector: ${XSS_NAME}` }).waitFor();
  assert.equal(await p.locator('main img').count(), 0);
  await p.waitForTimeout(500);
  await clean(p);
});

test('an agent that dies turns offline in the list without a reload', async () => {
  const p = await adminPage();
  const id = e2e.fleet.loneId;
  await p.getByTestId(`row-${id}`).waitFor();
  assert.notEqual(await rowStatus(p, id), 'offline');
  const nav = await p.evaluate(() => performance.getEntriesByType('navigation').length);
  e2e.fleet.lone.kill('SIGKILL');
  const t0 = Date.now();
  await waitFor(`${id} offline`, async () => (await rowStatus(p, id)) === 'offline', 30_000);
  console.log(`# ${id}: offline in the list ${((Date.now() - t0) / 1000).toFixed(1)} s after the kill (offline_after 6 s)`);
  assert.equal(await p.evaluate(() => performance.getEntriesByType('navigation').length), nav);
  assert.match(await p.getByTestId(`row-${id}`).locator('[data-status]').first().textContent(), /Offline/);
  await clean(p);
});

test('dark theme: the screens follow the system', async () => {
  const p = await page({ colorScheme: 'dark' });
  await p.goto(`${e2e.fleet.base}/login`);
  assert.equal(await p.evaluate(() => document.documentElement.getAttribute('data-mantine-color-scheme')), 'dark');
  await shoot(p, 'login');
  await uiLogin(p, e2e.fleet.base, 'admin', ADMIN_PASSWORD);
  await p.getByTestId('row-sim-0002').waitFor();
  await p.waitForTimeout(1500);
  await noSeriousA11y(p, 'fleet (dark)');
  await shoot(p, 'fleet');
  await p.goto(`${e2e.fleet.base}/collectors/sim-0002`);
  await p.getByRole('heading', { name: 'Latest scraped metrics' }).waitFor();
  await p.waitForTimeout(1000);
  await noSeriousA11y(p, 'detail (dark)');
  await shoot(p, 'detail');
  await p.getByRole('button', { name: 'Stop Collector', exact: true }).click();
  await p.getByRole('dialog').waitFor();
  await shoot(p, 'dialog-stop');
  await clean(p);
});
