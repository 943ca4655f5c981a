// The lifecycle dialogs and the log viewer end to end: the real corral with the UI
// embedded, real simulated agents, Debian's Chromium. Each dialog's effect is checked
// through the API (what the agent's scrape shows), not only on screen.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { e2eSuite, newPage, uiLogin, noSeriousA11y, clean, shoot, waitFor, sleep, ADMIN_PASSWORD } from './harness.mjs';

const e2e = e2eSuite();
const adminPage = (opts) => e2e.adminPage(opts);
const HTML = '<img src=x onerror=alert(1)>';




async function openDetail(p, id) {
  await p.goto(`${e2e.fleet.base}/collectors/${encodeURIComponent(id)}`);
  await p.getByRole('heading', { name: `Collector: ${id}` }).waitFor();
}

async function finalPhase(dlg, what) {
  await dlg.getByTestId('outcome').waitFor();
  return waitFor(`${what} to finish`, async () => {
    const ph = await dlg.getByTestId('outcome').getAttribute('data-phase');
    return ['confirmed', 'failed', 'expired', 'error', 'registered', 'unregistered'].includes(ph) && ph;
  }, 40_000);
}

async function pick(p, dlg, label, option) {
  await dlg.getByLabel(label, { exact: true }).click();
  await p.getByRole('option', { name: option, exact: true }).click();
}

/** Tab through the dialog and check focus never leaves it. */
async function focusStaysIn(p, dlg) {
  for (let i = 0; i < 25; i++) {
    await p.keyboard.press('Tab');
    const inside = await dlg.evaluate((d) => d.contains(document.activeElement));
    assert.ok(inside, `focus left the dialog after ${i + 1} Tab presses`);
  }
}

test('edit configuration: keys, a preview of the change, update-config confirmed by the scrape; a refused value shown as text', async () => {
  const p = await adminPage();
  const id = 'sim-0003';
  const before = (await e2e.fleet.api('GET', `/collectors/${id}`)).body;
  await openDetail(p, id);
  await p.getByRole('button', { name: 'Edit Configuration…' }).click();
  let dlg = p.getByRole('dialog');
  await dlg.waitFor();
  // The keys as the agent reports them now (its /healthz through corral), then tags and group.
  const health = (await e2e.fleet.api('GET', `/collectors/${id}/health`)).body;
  const agentCfg = Object.fromEntries(health.body.config.map((k) => [k.key === 'interval' ? 'collection_interval' : k.key, String(k.value)]));
  for (const k of ['collection_interval', 'rate', 'missing_ratio', 'lag', 'series']) assert.ok(k in agentCfg, `${k} not in the agent's config: ${JSON.stringify(health.body.config)}`);
  await waitFor('the agent’s keys', async () => (await dlg.getByTestId('cfg-collection_interval').inputValue()) === agentCfg.collection_interval);
  for (const [k, v] of Object.entries(agentCfg)) assert.equal(await dlg.getByTestId(`cfg-${k}`).inputValue(), v, k);
  for (const k of ['tags', 'group']) await dlg.getByTestId(`cfg-${k}`).waitFor();
  await focusStaysIn(p, dlg);
  await dlg.getByTestId('cfg-rate').fill('7');
  await dlg.getByTestId('cfg-tags').fill('e2e, edited');
  await noSeriousA11y(p, 'edit configuration dialog');
  await shoot(p, 'dialog-config');
  await dlg.getByRole('button', { name: 'Preview changes' }).click();
  const diff = dlg.getByTestId('config-diff');
  await diff.waitFor();
  const rows = await diff.locator('tbody tr').evaluateAll((rs) => rs.map((r) => [...r.cells].map((c) => c.textContent.replace(/^(old|new): /, ''))));
  assert.deepEqual(rows, [['rate', agentCfg.rate, '7'], ['tags', '', 'e2e, edited']].map(([k, o, n]) => [k, o || '(not set)', n]));
  await noSeriousA11y(p, 'edit configuration preview');
  await shoot(p, 'dialog-config-preview');
  await dlg.getByRole('button', { name: 'Apply 2 changes' }).click();
  assert.equal(await finalPhase(dlg, 'update-config'), 'confirmed', await dlg.textContent());
  await shoot(p, 'dialog-config-confirmed');
  const after = (await e2e.fleet.api('GET', `/collectors/${id}`)).body;
  assert.equal(after.desired.config.rate, 7, JSON.stringify(after.desired));
  assert.deepEqual(after.tags, ['e2e', 'edited']);
  assert.ok(after.collection.config_generation > (before.collection.config_generation ?? 0), `generation ${before.collection.config_generation} → ${after.collection.config_generation}`);
  await p.keyboard.press('Escape');
  await dlg.waitFor({ state: 'hidden' });

  // Reopened, the dialog shows the confirmed value; a value the agent refuses is a 409 with its reason, as text.
  await p.getByRole('button', { name: 'Edit Configuration…' }).click();
  dlg = p.getByRole('dialog');
  await dlg.waitFor();
  await waitFor('rate 7 shown', async () => (await dlg.getByTestId('cfg-rate').inputValue()) === '7');
  await dlg.getByTestId('cfg-lag').fill(HTML);
  await dlg.getByRole('button', { name: 'Preview changes' }).click();
  await dlg.getByRole('button', { name: 'Apply 1 change' }).click();
  assert.equal(await finalPhase(dlg, 'refused update-config'), 'failed');
  const text = await dlg.getByTestId('outcome').textContent();
  assert.match(text, /409/);
  assert.ok(text.includes(HTML), text);
  assert.equal(await dlg.locator('img').count(), 0);
  await p.keyboard.press('Escape');
  await dlg.waitFor({ state: 'hidden' });
  assert.equal((await e2e.fleet.api('GET', `/collectors/${id}`)).body.desired.config.lag, undefined);
  await clean(p);
});

test('rotate credentials: the agent answers, the command is confirmed', async () => {
  const p = await adminPage();
  const id = 'sim-0003';
  await openDetail(p, id);
  await p.getByRole('button', { name: 'Rotate Credentials…' }).click();
  const dlg = p.getByRole('dialog');
  await dlg.waitFor();
  await dlg.getByLabel('Reason (optional, in the audit trail)').fill('quarterly rotation');
  await noSeriousA11y(p, 'rotate dialog');
  await shoot(p, 'dialog-rotate');
  await dlg.getByRole('button', { name: 'Rotate Credentials' }).click();
  assert.equal(await finalPhase(dlg, 'rotate'), 'confirmed', await dlg.textContent());
  await dlg.getByTestId('result').waitFor();
  await shoot(p, 'dialog-rotate-confirmed');
  const cmds = (await e2e.fleet.api('GET', `/commands?collector=${id}&limit=5`)).body.data;
  const rot = cmds.find((c) => c.command === 'rotate_credentials');
  assert.equal(rot?.state, 'confirmed', JSON.stringify(cmds));
  assert.equal(rot.reason, 'quarterly rotation');
  await p.keyboard.press('Escape');
  await dlg.waitFor({ state: 'hidden' });
  await clean(p);
});

let firstToken;

test('register new collector: a 409 for a taken name, then the token and agent config shown once', async () => {
  const p = await adminPage();
  await p.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: e2e.fleet.base });
  await p.getByTestId('row-sim-0002').waitFor();
  await p.getByRole('button', { name: 'Register New Collector' }).click();
  let dlg = p.getByRole('dialog');
  await dlg.waitFor();
  await dlg.getByRole('textbox', { name: /^Name/ }).fill('sim-0000');
  await dlg.getByRole('textbox', { name: /^Agent URL/ }).fill('http://127.0.0.1:9');
  await dlg.getByRole('button', { name: 'Register Collector' }).click();
  assert.equal(await finalPhase(dlg, 'register a taken name'), 'error');
  assert.match(await dlg.getByTestId('outcome').textContent(), /409/);

  await dlg.getByRole('textbox', { name: /^Name/ }).fill('e2e-reg-1');
  await dlg.getByLabel('Labels', { exact: true }).fill('env=e2e\nregion=lab');
  await dlg.getByLabel('Offline after', { exact: true }).fill('2m');
  await focusStaysIn(p, dlg);
  await noSeriousA11y(p, 'register dialog');
  await shoot(p, 'dialog-register');
  await dlg.getByRole('button', { name: 'Register Collector' }).click();
  assert.equal(await finalPhase(dlg, 'register'), 'registered', await dlg.textContent());
  firstToken = await dlg.getByTestId('scrape-token').inputValue();
  assert.ok(firstToken.length >= 20, firstToken);
  const cfg = await dlg.getByTestId('agent-config').textContent();
  assert.match(cfg, /e2e-reg-1/);
  await dlg.getByRole('button', { name: 'Copy token' }).click();
  assert.equal(await p.evaluate(() => navigator.clipboard.readText()), firstToken);
  const [dl] = await Promise.all([p.waitForEvent('download'), dlg.getByRole('button', { name: 'Download e2e-reg-1.yml' }).click()]);
  assert.equal(dl.suggestedFilename(), 'e2e-reg-1.yml');
  assert.equal(readFileSync(await dl.path(), 'utf8'), cfg);
  await noSeriousA11y(p, 'register dialog, token shown');
  await shoot(p, 'dialog-register-token');
  await dlg.getByRole('button', { name: /Done/ }).click();
  await dlg.waitFor({ state: 'hidden' });
  // Never again: not on the page, not in the API.
  assert.ok(!(await p.content()).includes(firstToken));
  const d = await e2e.fleet.api('GET', '/collectors/e2e-reg-1');
  assert.equal(d.status, 200);
  assert.ok(!JSON.stringify(d.body).includes(firstToken));
  assert.equal(d.body.provider, 'registry');
  assert.equal(d.body.labels.env, 'e2e');
  await p.getByRole('button', { name: 'Register New Collector' }).click();
  dlg = p.getByRole('dialog');
  await dlg.waitFor();
  assert.equal(await dlg.getByTestId('scrape-token').count(), 0);
  await p.keyboard.press('Escape');
  await clean(p);
});

test('unregister: archive with a reason from the list, delete now with the name typed; re-register both at once, a new token shown once', async () => {
  const p = await adminPage();
  // Archive a discovered collector.
  const histBefore = (await e2e.fleet.api('GET', '/collectors/sim-0004/history?limit=200')).body.data;
  assert.ok(histBefore.length >= 1, 'sim-0004 has a status history');
  await openDetail(p, 'sim-0004');
  await p.getByRole('button', { name: 'Unregister…' }).click();
  let dlg = p.getByRole('dialog');
  await dlg.waitFor();
  await pick(p, dlg, 'Reason for unregistering', 'Migrated to new server');
  await dlg.getByLabel('Additional notes').fill('moving to the new rack');
  await dlg.getByLabel('Retention (days)').fill('30');
  await focusStaysIn(p, dlg);
  await noSeriousA11y(p, 'unregister dialog');
  await shoot(p, 'dialog-unregister');
  await dlg.getByRole('button', { name: 'Unregister & Archive' }).click();
  assert.equal(await finalPhase(dlg, 'unregister archive'), 'unregistered', await dlg.textContent());
  await dlg.getByTestId('confirmed').filter({ hasText: /Confirmed.*410/ }).waitFor();
  await shoot(p, 'dialog-unregister-done');
  assert.equal((await e2e.fleet.api('GET', '/collectors/sim-0004')).status, 410);
  await dlg.getByRole('button', { name: 'Close', exact: true }).last().click();
  await p.waitForURL(`${e2e.fleet.base}/`);

  // Delete the registered one now: the button waits for the name.
  await openDetail(p, 'e2e-reg-1');
  await p.getByRole('button', { name: 'Unregister…' }).click();
  dlg = p.getByRole('dialog');
  await dlg.waitFor();
  await dlg.getByLabel('Delete metrics immediately').check();
  await dlg.getByLabel('Additional notes').fill('lab closed');
  await pick(p, dlg, 'Reason for unregistering', 'Other (specify below)');
  const del = dlg.getByRole('button', { name: 'Unregister & Delete' });
  assert.ok(await del.isDisabled());
  await dlg.getByTestId('confirm-name').fill('e2e-reg');
  assert.ok(await del.isDisabled());
  await dlg.getByTestId('confirm-name').fill('e2e-reg-1');
  await noSeriousA11y(p, 'unregister dialog, delete');
  await shoot(p, 'dialog-unregister-delete');
  await del.click();
  assert.equal(await finalPhase(dlg, 'unregister delete'), 'unregistered', await dlg.textContent());
  assert.equal((await e2e.fleet.api('GET', '/collectors/e2e-reg-1')).status, 410);
  await p.keyboard.press('Escape');
  await p.waitForURL(`${e2e.fleet.base}/`);

  const arch = (await e2e.fleet.api('GET', '/collectors/archived')).body.data;
  const a4 = arch.find((a) => a.collector === 'sim-0004');
  const ar = arch.find((a) => a.collector === 'e2e-reg-1');
  assert.equal(a4.reason, 'Migrated to new server: moving to the new rack');
  assert.equal(a4.metrics_archived, true);
  assert.equal(ar.reason, 'lab closed');
  assert.equal(ar.metrics_archived, false);

  // Re-register both at once: new token, restore.
  await p.getByRole('button', { name: 'Re-register…' }).click();
  dlg = p.getByRole('dialog');
  await dlg.waitFor();
  await dlg.getByTestId('archived-sim-0004').waitFor();
  assert.match(await dlg.getByTestId('archived-sim-0004').textContent(), /Migrated to new server/);
  await dlg.getByTestId('archived-sim-0004').getByRole('checkbox').check();
  await dlg.getByTestId('archived-e2e-reg-1').getByRole('checkbox').check();
  await focusStaysIn(p, dlg);
  await noSeriousA11y(p, 're-register dialog');
  await shoot(p, 'dialog-reregister');
  await dlg.getByRole('button', { name: 'Re-register Selected (2)' }).click();
  const r1 = dlg.getByTestId('rereg-result-e2e-reg-1');
  await r1.getByTestId('scrape-token').waitFor();
  await dlg.getByTestId('rereg-result-sim-0004').waitFor();
  const token = await r1.getByTestId('scrape-token').inputValue();
  assert.ok(token.length >= 20 && token !== firstToken, 'a new token');
  await r1.getByTestId('agent-config').waitFor();
  assert.match(await dlg.getByTestId('rereg-result-sim-0004').textContent(), /re-registered/);
  await noSeriousA11y(p, 're-register results');
  await shoot(p, 'dialog-reregister-done');
  await dlg.getByRole('button', { name: 'Done' }).click();
  await dlg.waitFor({ state: 'hidden' });
  assert.ok(!(await p.content()).includes(token), 'the token is gone with the dialog');

  // Confirmed by the scrape: sim-0004 is scraped again with its history restored.
  const t0 = Date.now();
  await waitFor('sim-0004 scraped again', async () => {
    const d = await e2e.fleet.api('GET', '/collectors/sim-0004');
    return d.status === 200 && d.body.last_seen && Date.parse(d.body.last_seen) > t0;
  }, 30_000);
  const hist = (await e2e.fleet.api('GET', '/collectors/sim-0004/history?limit=200')).body.data;
  const at = new Set(hist.map((h) => `${h.at} ${h.to}`));
  assert.ok(histBefore.every((h) => at.has(`${h.at} ${h.to}`)), `history restored: ${JSON.stringify(histBefore)} in ${JSON.stringify(hist)}`);
  assert.equal((await e2e.fleet.api('GET', '/collectors/e2e-reg-1')).status, 200);
  // The dialog no longer lists them.
  await p.getByRole('button', { name: 'Re-register…' }).click();
  dlg = p.getByRole('dialog');
  await dlg.getByText(/No archived collector/).waitFor();
  await p.keyboard.press('Escape');
  await clean(p);
});

test('log viewer: follows live, filters, loads more, exports; a line with HTML renders as text', async () => {
  const p = await adminPage();
  const errored = (await e2e.fleet.api('GET', '/collectors?status=error&job=simulate')).body.data.map((c) => c.id);
  const id = 'sim-0003'; // edited above: its refused config is a record whose attribute is HTML
  await openDetail(p, id);
  await p.getByRole('link', { name: 'View Logs' }).click();
  await p.waitForURL(/\/collectors\/sim-0003\/logs$/);
  await p.getByRole('heading', { name: `Collector Logs: ${id}` }).waitFor();
  await p.getByTestId('log-row').first().waitFor();
  const htmlRow = p.getByTestId('log-row').filter({ hasText: HTML });
  await htmlRow.first().waitFor();
  assert.equal(await p.getByTestId('log-scroll').locator('img').count(), 0);
  const shown = await p.getByTestId('log-showing').textContent();
  assert.match(shown, /^Showing 1–\d+ of \d+ entries$/);

  // Follow live: a command the agent logs shows up without a reload, at the bottom, in view.
  const n0 = await p.getByTestId('log-row').count();
  const nav = await p.evaluate(() => performance.getEntriesByType('navigation').length);
  const r = await e2e.fleet.api('POST', `/collectors/${id}/collect?wait=ack`, { reason: 'live log check' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  await waitFor('the live record', async () => (await p.getByTestId('log-row').count()) > n0, 20_000);
  const last = p.getByTestId('log-row').last();
  await waitFor('the command record at the bottom', async () => /command handled/.test(await p.getByTestId('log-row').last().textContent()), 20_000);
  assert.ok(await last.isVisible());
  const atBottom = await p.getByTestId('log-scroll').evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight < 4);
  assert.ok(atBottom, 'auto-scrolled to the newest record');
  assert.equal(await p.evaluate(() => performance.getEntriesByType('navigation').length), nav);
  await noSeriousA11y(p, 'log viewer');
  await shoot(p, 'logs');


  // Search, in the URL.
  await p.getByTestId('log-search').fill('command handled');
  await p.waitForURL(/q=command\+handled/);
  await waitFor('only matching rows', async () => {
    const t = await p.getByTestId('log-row').allTextContents();
    return t.length > 0 && t.every((x) => x.includes('command handled'));
  });

  // Export what the filter matches, as the server makes it.
  const csvHref = await p.getByTestId('export-csv').getAttribute('href');
  const jsonHref = await p.getByTestId('export-json').getAttribute('href');
  assert.match(csvHref, /format=csv/);
  assert.match(csvHref, /q=command\+handled/);
  const exp = await p.evaluate(async ([c, j]) => {
    const a = await fetch(c);
    const b = await fetch(j);
    return { cs: a.status, csv: await a.text(), disp: a.headers.get('content-disposition'), js: b.status, json: await b.text() };
  }, [csvHref, jsonHref]);
  assert.equal(exp.cs, 200);
  assert.match(exp.disp, /attachment/);
  assert.equal(exp.csv.split('\n')[0].trim(), 'time,level,msg,attrs,stream,cursor,received_at');
  const recs = JSON.parse(exp.json);
  const list = Array.isArray(recs) ? recs : recs.data;
  assert.ok(list.length >= 1 && list.every((x) => x.msg === 'command handled'), exp.json.slice(0, 300));

  // Level: warnings and above only, on an agent that fails its collections.
  assert.ok(errored.length >= 1, 'an erroring agent in the mix');
  await p.goto(`${e2e.fleet.base}/collectors/${errored[0]}/logs?level=warn`);
  await p.getByTestId('log-row').first().waitFor();
  const levels = await p.getByTestId('log-row').evaluateAll((rs) => rs.map((x) => x.getAttribute('data-level')));
  assert.ok(levels.every((l) => l === 'WARN' || l === 'ERROR'), JSON.stringify(levels));

  // Load more: 100 a page, "showing 1–100 of N"; the erroring agent logs a failure a second.
  await p.goto(`${e2e.fleet.base}/collectors/${errored[0]}/logs?follow=0`);
  await waitFor('over 100 records', async () => (await e2e.fleet.api('GET', `/collectors/${errored[0]}/logs?limit=1`)).body.total > 110, 150_000, 2000);
  await p.reload();
  await p.getByTestId('log-showing').filter({ hasText: /^Showing 1–100 of / }).waitFor();
  assert.equal(await p.getByTestId('log-row').count(), 100);
  await p.getByRole('button', { name: /Load more/ }).click();
  await waitFor('the next page', async () => (await p.getByTestId('log-row').count()) > 100);
  assert.match(await p.getByTestId('log-showing').textContent(), /^Showing 1–(1\d\d|200) of /);
  await clean(p);
});

test('log viewer: a record logged while the socket was down shows after the reconnect', async () => {
  const p = await newPage(e2e.browser);
  // The page's sockets, and a switch that sends its reconnects to a path that
  // refuses them: the connection stays down until the test lets it back.
  await p.addInitScript(() => {
    const WS = window.WebSocket;
    window.__sockets = [];
    window.__hold = false;
    window.WebSocket = class extends WS {
      constructor(url, ...rest) {
        super(window.__hold ? String(url).replace('/api/v1/ws', '/api/v1/ws-held') : url, ...rest);
        window.__sockets.push(this);
      }
    };
  });
  await uiLogin(p, e2e.fleet.base, 'admin', ADMIN_PASSWORD);
  const id = 'sim-0003';
  await p.goto(`${e2e.fleet.base}/collectors/${id}/logs`);
  await p.getByTestId('log-row').first().waitFor();
  await waitFor('live', async () => (await p.getByTestId('conn').textContent()) === 'Live');
  await p.evaluate(() => { window.__hold = true; window.__sockets.forEach((w) => w.close()); });
  await waitFor('the socket to drop', async () => /Reconnecting/.test(await p.getByTestId('conn').textContent()));
  const r = await e2e.fleet.api('POST', `/collectors/${id}/collect?wait=ack`, { reason: 'while the socket was down' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const cid = r.body.command?.id; // the agent logs "command handled" with it
  assert.ok(cid, JSON.stringify(r.body));
  const handled = async () => p.getByTestId('log-row').filter({ hasText: cid }).count();
  await waitFor('the record in the store', async () => (await e2e.fleet.api('GET', `/collectors/${id}/logs?q=${encodeURIComponent(cid)}`)).body.total > 0, 20_000);
  await sleep(300);
  assert.equal(await handled(), 0, 'nothing arrives while the socket is down');
  await waitFor('a reconnect refused', () => p.evaluate(() => window.__sockets.some((w) => w.url.includes('/ws-held'))), 20_000);
  const nav = await p.evaluate(() => performance.getEntriesByType('navigation').length);
  await p.evaluate(() => { window.__hold = false; });
  await waitFor('the record logged while the socket was down', async () => (await handled()) > 0, 40_000);
  assert.equal(await p.getByTestId('conn').textContent(), 'Live');
  assert.equal(await p.evaluate(() => performance.getEntriesByType('navigation').length), nav, 'no reload');
  // The refused reconnects the test caused are the only console errors allowed.
  p.problems.splice(0, p.problems.length, ...p.problems.filter((x) => !x.includes('/api/v1/ws-held')));
  await clean(p);
});

test('a viewer sees the logs but no lifecycle action, and its writes get 403', async () => {
  const v = await e2e.fleet.addViewer('viewer2');
  const p = await newPage(e2e.browser);
  await uiLogin(p, e2e.fleet.base, v.username, v.password);
  await p.getByTestId('row-sim-0002').waitFor();
  assert.equal(await p.getByRole('button', { name: /Register New Collector|Re-register/ }).count(), 0);
  await openDetail(p, 'sim-0002');
  assert.equal(await p.getByRole('button', { name: /Edit Configuration|Rotate Credentials|Unregister/ }).count(), 0);
  await p.getByRole('link', { name: 'View Logs' }).click();
  await p.getByTestId('log-row').first().waitFor();
  const statuses = await p.evaluate(async () => {
    const me = await (await fetch('/api/v1/me')).json();
    const h = { 'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token };
    const a = await fetch('/api/v1/collectors/sim-0002/update-config', { method: 'POST', headers: h, body: '{"rate":3}' });
    const b = await fetch('/api/v1/collectors/register', { method: 'POST', headers: h, body: '{"name":"v-1","url":"http://127.0.0.1:9"}' });
    const c = await fetch('/api/v1/collectors/sim-0002', { method: 'DELETE', headers: h, body: '{"reason":"x"}' });
    return [a.status, b.status, c.status];
  });
  assert.deepEqual(statuses, [403, 403, 403]);
  await clean(p);
});

test('dark theme: the new dialogs and the log viewer', async () => {
  const p = await adminPage({ colorScheme: 'dark' });
  await openDetail(p, 'sim-0005');
  await p.waitForTimeout(800);
  for (const [button, name] of [['Edit Configuration…', 'dialog-config'], ['Rotate Credentials…', 'dialog-rotate'], ['Unregister…', 'dialog-unregister']]) {
    await p.getByRole('button', { name: button }).click();
    const dlg = p.getByRole('dialog');
    await dlg.waitFor();
    await p.waitForTimeout(300);
    await noSeriousA11y(p, `${name} (dark)`);
    await shoot(p, name);
    await p.keyboard.press('Escape');
    await dlg.waitFor({ state: 'hidden' });
  }
  await p.goto(`${e2e.fleet.base}/`);
  await p.getByTestId('row-sim-0002').waitFor();
  for (const [button, name] of [['Register New Collector', 'dialog-register'], ['Re-register…', 'dialog-reregister']]) {
    await p.getByRole('button', { name: button }).click();
    const dlg = p.getByRole('dialog');
    await dlg.waitFor();
    await p.waitForTimeout(300);
    await noSeriousA11y(p, `${name} (dark)`);
    await shoot(p, name);
    await p.keyboard.press('Escape');
    await dlg.waitFor({ state: 'hidden' });
  }
  await p.goto(`${e2e.fleet.base}/collectors/sim-0003/logs`);
  await p.getByTestId('log-row').first().waitFor();
  await p.waitForTimeout(500);
  await noSeriousA11y(p, 'log viewer (dark)');
  await shoot(p, 'logs');
  await clean(p);
});
