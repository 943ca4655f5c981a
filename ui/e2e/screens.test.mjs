// The bulk, audit, discovery and administration screens end to end: the real
// corral with the UI embedded, real simulated agents, Debian's Chromium.
// UPDATE_SCREENSHOTS=1 also writes ui/screenshots/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { e2eSuite, newPage, uiLogin, noSeriousA11y, clean, shoot, waitFor, ADMIN_PASSWORD } from './harness.mjs';

// Collectors of org acme, team red (nothing listens there: offline), for the test of a
// team lead's scope.
const e2e = e2eSuite({
  beforeStart: (dir) => writeFileSync(join(dir, 'sd', 'acme.yml'),
    "- targets: ['127.0.0.1:9', '127.0.0.1:10']\n  labels: {org: acme, team: red}\n"),
});
const adminPage = (opts) => e2e.adminPage(opts);




/** Picks an option of a Mantine Select by its label. */
async function choose(p, testid, option) {
  await p.getByTestId(testid).click();
  await p.getByRole('option', { name: option, exact: true }).click();
}

const uptime = async (id) => (await e2e.fleet.api('GET', `/collectors/${id}`)).body.uptime_seconds;

test('bulk: the fleet selection, the dry run, then execute with per-item results confirmed by the agents', async () => {
  const p = await adminPage();
  await p.getByTestId('row-sim-0001').waitFor();
  await p.getByLabel('Select sim-0001').check();
  await p.getByLabel('Select sim-0002').check();
  await p.getByTestId('bulk-selected').click();
  await p.waitForURL(/\/bulk\?id=sim-0001&id=sim-0002$/);
  assert.match(await p.getByTestId('bulk-target').textContent(), /2 selected: sim-0001, sim-0002/);
  await p.getByLabel('Reason').fill('e2e bulk restart');
  await p.getByTestId('bulk-preview').click();
  const items = p.getByTestId('bulk-items');
  await items.waitFor();
  for (const id of ['sim-0001', 'sim-0002']) {
    const row = p.getByTestId(`item-${id}`);
    assert.equal(await row.getAttribute('data-phase'), 'would');
    assert.match(await row.textContent(), /would restart \(now \w+/);
  }
  await noSeriousA11y(p, 'bulk preview');
  await shoot(p, 'bulk-preview');
  const before = { 'sim-0001': await uptime('sim-0001'), 'sim-0002': await uptime('sim-0002') };
  await p.getByTestId('bulk-run').click();
  await p.waitForURL(/\/bulk\/[^/?]+$/);
  const opId = decodeURIComponent(new URL(p.url()).pathname.split('/').pop());
  // Each item turns done once the scrape confirms the restart.
  for (const id of ['sim-0001', 'sim-0002']) {
    await waitFor(`${id} confirmed`, async () => (await p.getByTestId(`item-${id}`).getAttribute('data-state')) === 'confirmed', 40_000);
    assert.equal(await p.getByTestId(`item-${id}`).getAttribute('data-phase'), 'done');
  }
  assert.match(await p.getByTestId('op-tally').textContent(), /^2 done · 0 failed · 0 in progress · of 2/);
  await noSeriousA11y(p, 'bulk operation');
  await shoot(p, 'bulk-results');
  // The agents did restart, and the server says so too.
  for (const id of ['sim-0001', 'sim-0002']) {
    const up = await uptime(id);
    assert.ok(up < before[id] || up < 15, `${id} uptime after ${up}, before ${before[id]}`);
  }
  const cmds = (await e2e.fleet.api('GET', `/commands?bulk_id=${encodeURIComponent(opId)}`)).body.data;
  assert.deepEqual(cmds.map((c) => [c.collector, c.command, c.state]).sort(), [['sim-0001', 'restart', 'confirmed'], ['sim-0002', 'restart', 'confirmed']]);

  // "All N matching this filter" takes exactly the fleet's filtered list.
  await p.goto(`${e2e.fleet.base}/?q=sim-000`);
  await p.getByTestId('row-sim-0003').waitFor();
  const shown = Number((await p.getByTestId('shown').textContent()).match(/\d+/)[0]);
  await p.getByTestId('bulk-all').click();
  await p.waitForURL(/match=all/);
  await waitFor('the count', async () => /\d+ collectors/.test(await p.getByTestId('bulk-target').textContent()));
  assert.match(await p.getByTestId('bulk-target').textContent(), new RegExp(`search “sim-000”\\): ${shown} collectors`));
  await clean(p);
});

test('bulk: schedule, see it listed, then cancel it', async () => {
  const p = await adminPage();
  await p.goto(`${e2e.fleet.base}/bulk?id=sim-0003`);
  await choose(p, 'bulk-action', 'Collect now');
  await p.getByTestId('bulk-preview').click();
  await p.getByTestId('item-sim-0003').waitFor();
  await choose(p, 'bulk-when', 'At a date and time');
  const at = await p.getByTestId('bulk-at').inputValue();
  assert.match(at, /^\d{4}-\d\d-\d\dT\d\d:\d\d$/);
  await p.getByTestId('bulk-run').click();
  await p.waitForURL(/\/bulk\/[^/?]+$/);
  const opId = decodeURIComponent(new URL(p.url()).pathname.split('/').pop());
  await p.getByTestId('op-state').filter({ hasText: 'scheduled' }).waitFor();
  const op = (await e2e.fleet.api('GET', `/bulk-actions/${opId}`)).body;
  assert.equal(op.state, 'scheduled');
  assert.equal(Math.round((Date.parse(op.schedule_at) - new Date(at).getTime()) / 1000), 0, `${op.schedule_at} vs ${at}`);
  await p.getByRole('link', { name: '← Bulk operations' }).click();
  const row = p.getByTestId('bulk-scheduled').getByTestId(`op-${opId}`);
  await row.waitFor();
  await noSeriousA11y(p, 'bulk list');
  await shoot(p, 'bulk');
  await row.getByRole('button', { name: `Cancel operation ${opId}` }).click();
  await p.getByText(`Operation ${opId} cancelled.`).waitFor();
  assert.equal((await e2e.fleet.api('GET', `/bulk-actions/${opId}`)).body.state, 'cancelled');
  await p.getByTestId('bulk-recent').getByTestId(`op-${opId}`).getByText('cancelled').waitFor();
  // The server's message, not swallowed: cancelling it again is a 409.
  const again = await e2e.fleet.api('POST', `/bulk-actions/${opId}/cancel`);
  assert.equal(again.status, 409);
  await clean(p);
});

test('bulk: update tags through the form; unregister needs a confirmation', async () => {
  const p = await adminPage();
  await p.goto(`${e2e.fleet.base}/bulk?id=sim-0004&id=sim-0005`);
  await choose(p, 'bulk-action', 'Update tags');
  const tags = p.getByRole('combobox', { name: 'Tags' });
  await tags.fill('e2e-a');
  await tags.press('Enter');
  await tags.fill('e2e-b');
  await tags.press('Enter');
  await p.getByTestId('bulk-preview').click();
  await p.getByTestId('item-sim-0005').waitFor();
  await p.getByTestId('bulk-run').click();
  await p.waitForURL(/\/bulk\/[^/?]+$/);
  await waitFor('both done', async () => /^2 done/.test(await p.getByTestId('op-tally').textContent()));
  for (const id of ['sim-0004', 'sim-0005']) assert.deepEqual((await e2e.fleet.api('GET', `/collectors/${id}`)).body.tags, ['e2e-a', 'e2e-b']);
  // The fleet list filters on them.
  await p.goto(`${e2e.fleet.base}/?tag=e2e-a`);
  await waitFor('two tagged rows', async () => (await p.locator('tbody tr[data-testid^=row-]').count()) === 2);

  await p.goto(`${e2e.fleet.base}/bulk?id=sim-0004`);
  await choose(p, 'bulk-action', 'Unregister ⚠');
  await p.getByText('Unregister stops scraping these collectors at once').waitFor();
  await p.getByTestId('bulk-preview').click();
  assert.match(await p.getByTestId('item-sim-0004').textContent(), /would unregister/);
  assert.ok(await p.getByTestId('bulk-run').isDisabled(), 'unregister runs without the confirmation');
  await p.getByLabel('Yes, unregister 1 collectors').check();
  assert.ok(await p.getByTestId('bulk-run').isEnabled());
  // Not run: the collector is still there.
  assert.equal((await e2e.fleet.api('GET', '/collectors/sim-0004')).status, 200);
  await clean(p);
});

test('audit: filters in the URL, and the CSV and JSON exports of what they match', async () => {
  const p = await adminPage();
  await p.goto(`${e2e.fleet.base}/audit`);
  await p.getByTestId('audit-row').first().waitFor();
  await p.getByLabel('Action').fill('bulk-restart');
  await p.getByTestId('audit-apply').click();
  await p.waitForURL(/\/audit\?action=bulk-restart$/);
  await waitFor('only bulk-restart rows', async () => {
    const a = await p.getByTestId('audit-row').evaluateAll((rs) => rs.map((r) => r.getAttribute('data-action')));
    return a.length >= 1 && a.every((x) => x === 'bulk-restart');
  });
  assert.match(await p.getByTestId('audit-showing').textContent(), /^showing 1–\d+ of \d+$/);
  // A link with the filters opens the same view.
  await p.goto(`${e2e.fleet.base}/audit?collector=sim-0001&action=restart`);
  await waitFor('sim-0001 restart rows', async () => {
    const rs = await p.getByTestId('audit-row').evaluateAll((rs) => rs.map((r) => [r.getAttribute('data-collector'), r.getAttribute('data-action')]));
    return rs.length >= 1 && rs.every(([c, a]) => c === 'sim-0001' && a === 'restart');
  });
  assert.equal(await p.getByLabel('Collector').inputValue(), 'sim-0001');
  await noSeriousA11y(p, 'audit');
  await shoot(p, 'audit');
  const [dl] = await Promise.all([p.waitForEvent('download'), p.getByTestId('audit-csv').click()]);
  assert.match(dl.suggestedFilename(), /^corral-audit-.*\.csv$/);
  const csv = readFileSync(await dl.path(), 'utf8').trim().split('\n');
  assert.match(csv[0], /^id,at,finished_at,actor_kind,actor,/);
  assert.ok(csv.length >= 2, csv.join('\n'));
  for (const line of csv.slice(1)) assert.match(line, /,restart,sim-0001,/);
  const json = await p.evaluate(async (href) => (await fetch(href)).json(), await p.getByTestId('audit-json').getAttribute('href'));
  assert.ok(Array.isArray(json) && json.length === csv.length - 1, `${json.length} JSON rows, ${csv.length - 1} CSV rows`);
  assert.ok(json.every((r) => r.collector === 'sim-0001' && r.action === 'restart'));
  // A bad filter: the server's message is shown.
  await p.goto(`${e2e.fleet.base}/audit?since=yesterday-ish`);
  assert.match(await p.getByTestId('audit-error').textContent(), /since/);
  // That 400 was asked for; anything else is a problem.
  p.problems = p.problems.filter((x) => !/status of 400/.test(x));
  await clean(p);
});

test('discovery: targets, each file_sd file with its error, a dropped target with its reason, a conflict', async () => {
  const sd = join(e2e.fleet.dir, 'sd');
  writeFileSync(join(sd, 'broken.yml'), "- targets: ['127.0.0.1:9\n  labels: {oops\n");
  writeFileSync(join(sd, 'dropping.yml'), "- targets: ['http://127.0.0.1:9/metrics']\n  labels: {collector: dropped-one}\n- targets: ['127.0.0.1:12']\n  labels: {collector: gone-1}\n");
  writeFileSync(join(sd, 'zz-dup.yml'), "- targets: ['127.0.0.1:11']\n  labels: {collector: sim-0005}\n");
  try {
    const p = await adminPage();
    await p.goto(`${e2e.fleet.base}/discovery`);
    await p.getByTestId('active-targets').getByRole('link', { name: 'sim-0001', exact: true }).waitFor();
    const broken = p.locator(`[data-testid=sd-file][data-file$="broken.yml"]`);
    await broken.waitFor({ timeout: 15_000 });
    assert.equal(await broken.getAttribute('data-error'), 'yes');
    assert.match(await broken.getByTestId('sd-file-error').textContent(), /yaml|line|broken/i);
    const dropping = p.locator(`[data-testid=sd-file][data-file$="dropping.yml"]`);
    await dropping.getByTestId('sd-file-dropped').waitFor();
    const reason = await dropping.getByTestId('sd-file-dropped').textContent();
    assert.match(reason, /http:\/\/127\.0\.0\.1:9\/metrics/);
    // The file that lists the fleet shows its scraped targets.
    await p.locator(`[data-testid=sd-file][data-file$="fleet.yml"]`).getByRole('link', { name: 'sim-0002', exact: true }).waitFor();
    await p.getByTestId('conflicts').getByText('sim-0005').waitFor({ timeout: 15_000 });
    await noSeriousA11y(p, 'discovery');
    const api = (await e2e.fleet.api('GET', '/conflicts')).body.data;
    assert.ok(api.some((c) => c.collector === 'sim-0005' && c.dropped.source.includes('zz-dup.yml')), JSON.stringify(api));
    // Only the dropped targets, with the files and the conflicts below them.
    // A collector unregistered while its file still lists it: dropped, with why.
    await waitFor('gone-1 discovered', async () => (await e2e.fleet.api('GET', '/collectors/gone-1')).status === 200);
    const del = await e2e.fleet.api('DELETE', '/collectors/gone-1', { reason: 'e2e: decommissioned' });
    assert.equal(del.status, 200, JSON.stringify(del.body));
    await p.locator('label', { hasText: /^Dropped/ }).click();
    await p.waitForURL(/show=dropped/);
    // The active table leaves a moment after the URL changes.
    await waitFor('the active targets hidden', async () => (await p.getByTestId('active-targets').count()) === 0, 10_000, 100);
    await p.getByTestId('sd-file-error').waitFor();
    const gone = p.getByTestId('dropped-row').filter({ hasText: 'collector="gone-1"' });
    await gone.waitFor({ timeout: 15_000 });
    assert.match(await gone.textContent(), /unregistered at .* by admin; ignored until re-registered/);
    await noSeriousA11y(p, 'discovery, dropped');
    await shoot(p, 'discovery-files');
    await clean(p);
  } finally {
    for (const f of ['broken.yml', 'dropping.yml', 'zz-dup.yml']) rmSync(join(sd, f), { force: true });
  }
});

test('administration: create a team and a user, bind a role; that user logs in and sees only its scope', async () => {
  const p = await adminPage();
  await p.goto(`${e2e.fleet.base}/admin`);
  await p.waitForURL(/\/admin\/users$/);
  await p.getByTestId('users').waitFor();
  await noSeriousA11y(p, 'admin users');
  await shoot(p, 'admin-users');
  // Org acme and its team red.
  await p.getByRole('tab', { name: 'Orgs and teams' }).click();
  await p.waitForURL(/\/admin\/orgs$/);
  await p.getByLabel('New org ID').fill('acme');
  await p.getByTestId('org-create').click();
  const acme = p.getByTestId('org-acme');
  await acme.getByLabel('New team in acme').fill('red');
  await acme.getByRole('button', { name: 'Create team' }).click();
  await acme.getByText('red', { exact: true }).first().waitFor();
  // Renamed through the UI: the org's and the team's names (their IDs stay).
  await acme.getByRole('button', { name: 'Rename org acme' }).click();
  await acme.getByTestId('rename-org acme').fill('Acme Corp');
  await acme.getByRole('button', { name: 'Save' }).click();
  await acme.getByText('Acme Corp', { exact: true }).waitFor();
  await acme.getByRole('button', { name: 'Rename team acme/red' }).click();
  await acme.getByTestId('rename-team acme/red').fill('Red team');
  await acme.getByRole('button', { name: 'Save' }).click();
  await acme.getByText('Red team', { exact: true }).waitFor();
  assert.equal((await e2e.fleet.api('GET', '/orgs/acme')).body.name, 'Acme Corp');
  assert.equal((await e2e.fleet.api('GET', '/orgs/acme/teams/red')).body.name, 'Red team');
  // ana, made up a password, viewer of default at first.
  await p.getByRole('tab', { name: 'Users and roles' }).click();
  await p.getByTestId('user-add').click();
  const dlg = p.getByRole('dialog', { name: 'Add user' });
  await dlg.getByLabel('Username').fill('ana');
  await dlg.getByLabel('Email').fill('ana@example.com');
  await noSeriousA11y(p, 'add user dialog');
  await dlg.getByTestId('user-create').click();
  const password = await dlg.getByTestId('secret-value').textContent();
  assert.ok(password.length >= 16, password);
  await shoot(p, 'admin-user-created');
  await p.keyboard.press('Escape');
  await dlg.waitFor({ state: 'hidden' });
  const row = p.getByTestId('user-ana');
  await row.getByText('viewer of default').waitFor();
  // Take viewer of default, bind team_lead of acme/red.
  await row.getByRole('button', { name: 'Take viewer of default from ana' }).click();
  await p.getByText('Took viewer of default from ana.').waitFor();
  await row.getByRole('button', { name: 'Bind role for ana' }).click();
  const bind = p.getByRole('dialog', { name: 'Bind a role to ana' });
  await choose(p, 'role-select', 'team_lead');
  await choose(p, 'org-select', 'acme');
  await bind.getByLabel('Team (optional)').fill('red');
  await bind.getByTestId('bind-submit').click();
  await bind.waitFor({ state: 'hidden' });
  await row.getByText('team_lead of acme/red').waitFor();
  const u = (await e2e.fleet.api('GET', '/users/ana')).body;
  assert.deepEqual(u.bindings, [{ role: 'team_lead', org: 'acme', team: 'red' }]);
  // A display name, through the edit dialog.
  await row.getByRole('button', { name: 'Edit ana' }).click();
  const edit = p.getByRole('dialog', { name: 'Edit ana' });
  await edit.getByLabel('Display name').fill('Ana Lima');
  await edit.getByTestId('edit-submit').click();
  await edit.waitFor({ state: 'hidden' });
  await row.getByText('Ana Lima').waitFor();
  assert.equal((await e2e.fleet.api('GET', '/users/ana')).body.display_name, 'Ana Lima');

  // ana sees the two collectors of acme/red and nothing else; no user administration.
  const a = await newPage(e2e.browser);
  await uiLogin(a, e2e.fleet.base, 'ana', password);
  await waitFor('acme collectors', async () => (await a.getByTestId('stat-total').textContent()) === '2');
  const ids = await a.locator('tbody tr[data-testid^=row-]').evaluateAll((rs) => rs.map((r) => r.getAttribute('data-testid')));
  assert.deepEqual(ids.sort(), ['row-demo/127.0.0.1:10', 'row-demo/127.0.0.1:9']);
  await a.goto(`${e2e.fleet.base}/admin/users`);
  await a.getByTestId('admin-forbidden').waitFor();
  assert.equal(await a.getByTestId('user-add').count(), 0);
  await clean(a);
  await clean(p);
});

test('API tokens: the secret is shown once, and it works', async () => {
  const p = await adminPage();
  await p.goto(`${e2e.fleet.base}/admin/tokens`);
  await p.getByLabel('Token name').fill('e2e-ci');
  await p.getByTestId('token-create').click();
  const secret = await p.getByTestId('secret-value').textContent();
  assert.match(secret, /^corral_/);
  await p.getByTestId('token-e2e-ci').waitFor();
  await noSeriousA11y(p, 'tokens');
  await shoot(p, 'admin-tokens');
  const me = await fetch(`${e2e.fleet.base}/api/v1/me`, { headers: { Authorization: `Bearer ${secret}` } });
  assert.equal(me.status, 200);
  // Shown once: after a reload it is nowhere on the page or in the list's answer.
  await p.reload();
  await p.getByTestId('token-e2e-ci').waitFor();
  assert.equal(await p.getByTestId('secret-once').count(), 0);
  assert.ok(!(await p.content()).includes(secret));
  assert.ok(!JSON.stringify((await e2e.fleet.api('GET', '/tokens')).body).includes(secret));
  await p.getByRole('button', { name: 'Revoke token e2e-ci' }).click();
  await p.getByTestId('token-e2e-ci').getByText('revoked').waitFor();
  assert.equal((await fetch(`${e2e.fleet.base}/api/v1/me`, { headers: { Authorization: `Bearer ${secret}` } })).status, 401);
  // The server key and its rotation, for a super admin.
  await p.getByRole('tab', { name: 'Server key' }).click();
  await p.getByTestId('key-active').waitFor();
  assert.equal(await p.getByTestId('key-active').textContent(), (await e2e.fleet.api('GET', '/keys')).body.active.kid);
  await noSeriousA11y(p, 'server key');
  await shoot(p, 'admin-keys');
  await clean(p);
});

test('a viewer sees no action on the new screens, and a direct API write gets 403', async () => {
  const created = await e2e.fleet.api('POST', '/users', { username: 'vera', password: 'vera-password-123', bindings: [{ role: 'viewer', org: 'default' }] });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const p = await newPage(e2e.browser);
  await uiLogin(p, e2e.fleet.base, 'vera', 'vera-password-123');
  const nav = await p.getByRole('navigation', { name: 'Main' }).textContent();
  assert.ok(!nav.includes('Audit'), nav);
  await p.getByTestId('row-sim-0002').waitFor();
  await p.getByLabel('Select sim-0002').check();
  assert.equal(await p.getByTestId('bulk-selected').count(), 0);
  await p.goto(`${e2e.fleet.base}/bulk?id=sim-0002`);
  await p.getByText('Read only').waitFor();
  assert.equal(await p.getByTestId('bulk-preview').count(), 0);
  await noSeriousA11y(p, 'bulk as viewer');
  for (const s of ['users', 'orgs', 'keys']) {
    await p.goto(`${e2e.fleet.base}/admin/${s}`);
    await p.getByTestId('admin-forbidden').waitFor();
    assert.equal(await p.getByRole('button', { name: /Add user|Create org|Create team|Rotate|Delete|Disable|Bind/ }).count(), 0, s);
  }
  await noSeriousA11y(p, 'admin as viewer');
  await shoot(p, 'admin-viewer');
  await p.goto(`${e2e.fleet.base}/audit`);
  await p.getByTestId('audit-error').waitFor();
  const statuses = await p.evaluate(async () => {
    const me = await (await fetch('/api/v1/me')).json();
    const post = (path, body) => fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token }, body: JSON.stringify(body) }).then((r) => r.status);
    return [
      await post('/api/v1/collectors/bulk-action', { action: 'restart', collector_ids: ['sim-0002'] }),
      await post('/api/v1/users', { username: 'mallory', bindings: [{ role: 'viewer', org: 'default' }] }),
      await post('/api/v1/orgs', { id: 'evil' }),
      await post('/api/v1/keys/rotate', {}),
    ];
  });
  assert.deepEqual(statuses, [403, 403, 403, 403]);
  await clean(p);
});

test('dark theme: every new screen, without a serious accessibility violation', async () => {
  const p = await adminPage({ colorScheme: 'dark' });
  const screens = [
    ['/bulk?id=sim-0004', 'bulk', async () => { await p.getByTestId('bulk-preview').click(); await p.getByTestId('item-sim-0004').waitFor(); }],
    ['/audit', 'audit', () => p.getByTestId('audit-row').first().waitFor()],
    ['/discovery', 'discovery', () => p.getByTestId('sd-file').first().waitFor()],
    ['/admin/users', 'admin-users', () => p.getByTestId('users').waitFor()],
    ['/admin/tokens', 'admin-tokens', () => p.getByLabel('Token name').waitFor()],
    ['/admin/keys', 'admin-keys', () => p.getByTestId('key-active').waitFor()],
  ];
  for (const [path, name, ready] of screens) {
    await p.goto(e2e.fleet.base + path);
    await ready();
    await noSeriousA11y(p, `${name} (dark)`);
    await shoot(p, name === 'bulk' ? 'bulk-preview' : name);
  }
  const ops = (await e2e.fleet.api('GET', '/bulk-actions')).body.data;
  const done = ops.find((o) => o.state === 'done');
  if (done) {
    await p.goto(`${e2e.fleet.base}/bulk/${encodeURIComponent(done.id)}`);
    await p.getByTestId('op-tally').waitFor();
    await noSeriousA11y(p, 'bulk operation (dark)');
    await shoot(p, 'bulk-results');
  }
  await clean(p);
});

test('server key: a rotation’s progress per agent, then the switch', async () => {
  const p = await adminPage();
  await p.goto(`${e2e.fleet.base}/admin/keys`);
  const before = await p.getByTestId('key-active').textContent();
  // One agent cannot answer for now: the rotation waits for it.
  e2e.fleet.lone.kill('SIGSTOP');
  try {
    await p.getByTestId('key-rotate').click();
    await p.getByTestId('key-progress').waitFor();
    for (const id of ['sim-0001', 'sim-0002', 'sim-0003']) {
      await waitFor(`${id} acknowledged`, async () => (await p.getByTestId(`key-agent-${id}`).getAttribute('data-state')) === 'acknowledged', 30_000);
    }
    assert.equal(await p.getByTestId(`key-agent-${e2e.fleet.loneId}`).getAttribute('data-state'), 'pending');
    assert.match(await p.getByTestId('key-progress').textContent(), /^Rotation: \d+ acknowledged · [1-9]\d* pending · 0 missed$/);
    const rot = (await e2e.fleet.api('GET', '/keys')).body;
    assert.ok(rot.in_progress && rot.acknowledged >= 3 && rot.pending >= 1, JSON.stringify(rot));
    await noSeriousA11y(p, 'key rotation');
    await shoot(p, 'admin-keys-rotation');
    // Switching now needs force, and the server says why.
    await p.getByTestId('key-complete').click();
    const refused = await p.getByTestId('admin-error').textContent();
    assert.ok(refused.includes(`not acknowledged the next key (${e2e.fleet.loneId})`), refused);
  } finally {
    e2e.fleet.lone.kill('SIGCONT');
  }
  // Once the last agent takes it, the server switches on its own.
  await p.getByTestId('key-finished').waitFor({ timeout: 60_000 });
  const after = await p.getByTestId('key-active').textContent();
  assert.notEqual(after, before);
  assert.equal((await e2e.fleet.api('GET', '/keys')).body.active.kid, after);
  // The agents are steered with the new key.
  const r = await e2e.fleet.api('POST', `/collectors/${e2e.fleet.loneId}/collect?wait=ack`, {});
  assert.equal(r.status, 200, JSON.stringify(r.body));
  await clean(p);
});
