// The end-to-end harness: the real corral (built with the UI embedded) on SQLite in
// a temp dir, scraping real simulated agents (corral-agent simulate) on loopback,
// and Debian's Chromium driven by playwright-core. Never a downloaded browser.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { chromium } from 'playwright-core';
import { before, after } from 'node:test';
import assert from 'node:assert/strict';

const here = dirname(fileURLToPath(import.meta.url));
export const repo = resolve(here, '../..');
export const bin = process.env.CORRAL_BIN || join(repo, 'bin');
export const screenshotDir = join(repo, 'ui', 'screenshots');
export const updateScreenshots = process.env.UPDATE_SCREENSHOTS === '1';
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const ADMIN_PASSWORD = 'e2e-admin-' + Math.random().toString(36).slice(2);
export const VIEWER_PASSWORD = 'e2e-viewer-' + Math.random().toString(36).slice(2);
export const XSS_NAME = '<img src=x onerror=alert(1)>';

export function freePort() {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.unref();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); });
  });
}

function portFree(port) {
  return new Promise((res) => {
    const s = net.createServer();
    s.unref();
    s.once('error', () => res(false));
    s.listen(port, '127.0.0.1', () => s.close(() => res(true)));
  });
}

/** A base port such that base+o is free for every offset o, from 23000–32000. */
export async function freeBase(offsets, tries = 100) {
  for (let i = 0; i < tries; i++) {
    const base = 23000 + Math.floor(Math.random() * 9000);
    let ok = true;
    for (const o of offsets) if (!(await portFree(base + o))) { ok = false; break; }
    if (ok) return base;
  }
  throw new Error(`no free ports for the agents after ${tries} tries`);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(what, fn, timeoutMs = 30_000, every = 250) {
  const end = Date.now() + timeoutMs;
  let last;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) { last = e; }
    await sleep(every);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
}

function start(name, cmd, args, opts = {}) {
  const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  let out = '';
  const keep = (d) => { out += d; if (out.length > 200_000) out = out.slice(-100_000); };
  p.stdout.on('data', keep);
  p.stderr.on('data', keep);
  p.output = () => out;
  p.label = name;
  return p;
}

/** A running fleet: corral, the agents, a session cookie for API calls. */
export class Fleet {
  async start({ agents = 6, mix = 'online=4,slow=1,error=1', scrapeInterval = '1s' } = {}) {
    for (const b of ['corral', 'corral-agent']) {
      if (!existsSync(join(bin, b))) throw new Error(`${join(bin, b)} is missing: run make build first`);
    }
    this.dir = mkdtempSync(join(tmpdir(), 'corral-ui-e2e-'));
    mkdirSync(join(this.dir, 'sd'));
    this.port = await freePort();
    this.base = `http://127.0.0.1:${this.port}`;
    // Agents on ports found free, below the kernel's ephemeral range (where
    // the connections of anything else running take theirs): a run beside
    // another one, or beside a benchmark with thousands of sockets, must not collide.
    const agentBase = await freeBase([...Array(agents).keys(), 90]);
    writeFileSync(join(this.dir, 'corral.yml'), [
      'global:',
      `  scrape_interval: ${scrapeInterval}`,
      '  scrape_timeout: 900ms',
      '  thresholds:',
      '    offline_after: 6s',
      'scrape_configs:',
      '  - job_name: demo',
      '    file_sd_configs:',
      '      - files: [sd/*.yml]',
      '        refresh_interval: 1s',
      '  - job_name: registry',
      '    registry: true',
      'storage:',
      '  url: sqlite:corral.db',
      '',
    ].join('\n'));
    // A collector whose name is HTML (file_sd takes any collector label; the
    // registration API would refuse it): never there, so offline.
    writeFileSync(join(this.dir, 'sd', 'xss.yml'), `- targets: ['127.0.0.1:9']\n  labels: {collector: '${XSS_NAME}', team: '<b>bold</b>'}\n`);
    const cfg = join(this.dir, 'corral.yml');
    this.beforeStart?.(this.dir);
    const pub = execFileSync(join(bin, 'corral'), ['keys', 'show', '--config.file', cfg], { cwd: this.dir }).toString();
    writeFileSync(join(this.dir, 'server.pub'), pub);
    this.procs = [];
    this.corral = start('corral', join(bin, 'corral'), ['serve', '--config.file', cfg, '--web.listen-address', `127.0.0.1:${this.port}`, '--log.level', 'warn'], {
      cwd: this.dir, env: { ...process.env, CORRAL_ADMIN_PASSWORD: ADMIN_PASSWORD },
    });
    this.procs.push(this.corral);
    const agentArgs = (extra) => ['simulate', '--trusted-key-file', join(this.dir, 'server.pub'), '--log.level', 'error', '--interval', '1s', '--rate', '5', ...extra];
    this.sim = start('simulate', join(bin, 'corral-agent'), agentArgs(['--count', String(agents), '--mix', mix, '--base-port', String(agentBase), '--sd-file', join(this.dir, 'sd', 'fleet.yml'), '--state-dir', join(this.dir, 'state')]));
    this.procs.push(this.sim);
    // One agent in its own process, for the test that kills it.
    this.lone = start('lone', join(bin, 'corral-agent'), agentArgs(['--count', '1', '--first-index', '90', '--base-port', String(agentBase + 90), '--sd-file', join(this.dir, 'sd', 'lone.yml'), '--state-dir', join(this.dir, 'state-lone')]));
    this.procs.push(this.lone);
    this.loneId = 'sim-0090';
    await waitFor('corral to answer', async () => (await fetch(`${this.base}/-/healthy`)).ok, 30_000);
    this.cookie = await this.login('admin', ADMIN_PASSWORD);
    await waitFor(`${agents + 1} agents scraped`, async () => {
      const l = await this.api('GET', '/collectors?limit=1000&job=simulate');
      return l.body.data.filter((c) => c.last_seen).length >= agents + 1;
    }, 60_000);
    return this;
  }

  async login(username, password) {
    const r = await fetch(`${this.base}/api/v1/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username, password }) });
    if (!r.ok) throw new Error(`login ${username}: ${r.status} ${await r.text()}`);
    const body = await r.json();
    return { cookie: r.headers.get('set-cookie').split(';')[0], csrf: body.csrf_token };
  }

  async api(method, path, body, session = this.cookie) {
    const headers = { Cookie: session.cookie };
    if (method !== 'GET') headers['X-CSRF-Token'] = session.csrf;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const r = await fetch(`${this.base}/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    let parsed = text;
    try { parsed = JSON.parse(text); } catch { /* text */ }
    return { status: r.status, body: parsed };
  }

  /** A user with one role (a viewer of org default by default), made through the users API. */
  async addUser(username, { role = 'viewer', org = 'default', team, password = VIEWER_PASSWORD } = {}) {
    const binding = { role, ...(role === 'super_admin' ? {} : { org }), ...(team ? { team } : {}) };
    const r = await this.api('POST', '/users', { username, password, bindings: [binding] });
    if (r.status !== 201) throw new Error(`POST /users ${username}: ${r.status} ${JSON.stringify(r.body)}`);
    return { username, password };
  }

  /** A viewer of org default. */
  addViewer(username = 'viewer') {
    return this.addUser(username);
  }

  async stop() {
    for (const p of this.procs ?? []) if (p.exitCode == null) p.kill('SIGTERM');
    await sleep(300);
    for (const p of this.procs ?? []) if (p.exitCode == null) p.kill('SIGKILL');
    if (this.dir && !process.env.KEEP_E2E_DIR) rmSync(this.dir, { recursive: true, force: true });
  }

  logs() {
    return (this.procs ?? []).map((p) => `--- ${p.label}\n${p.output().slice(-4000)}`).join('\n');
  }
}

export async function launchBrowser() {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: .ci/install-deps installs Debian's chromium`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run',
      '--disable-component-update', '--disable-sync'],
  });
}

/** A page that records CSP violations, page errors and alert() calls. */
export async function newPage(browser, { colorScheme = 'light', viewport = { width: 1440, height: 900 } } = {}) {
  const ctx = await browser.newContext({ colorScheme, viewport });
  const page = await ctx.newPage();
  page.problems = [];
  page.dialogs = [];
  await page.addInitScript(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}:${e.columnNumber} ${e.sample} at ${location.pathname}`));
  });
  page.on('pageerror', (e) => page.problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error' && !/status of 40[1349]|status of 410|status of 50[234]/.test(m.text())) page.problems.push(`console: ${m.text()}`); });
  page.on('dialog', (d) => { page.dialogs.push(d.message()); d.dismiss(); });
  return page;
}

export async function cspViolations(page) {
  return page.evaluate(() => window.__csp ?? []);
}

const axeSource = readFileSync(join(repo, 'ui', 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');

/** axe-core's serious and critical violations of the page as it is. */
export async function axeSerious(page) {
  // Through the DevTools protocol, which the page's CSP does not govern.
  await page.evaluate(axeSource);
  const res = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  return res.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

export async function shoot(page, name) {
  if (!updateScreenshots) return;
  mkdirSync(screenshotDir, { recursive: true });
  const scheme = await page.evaluate(() => (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light'));
  await page.screenshot({ path: join(screenshotDir, `${name}-${scheme}.png`) });
}

export async function uiLogin(page, base, username, password) {
  await page.goto(`${base}/login`);
  await page.locator('input[name=username]').fill(username);
  await page.locator('input[name=password]').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByTestId('whoami').waitFor();
}

/**
 * The hooks of an e2e test file: the real corral and its simulated fleet started before
 * the tests (beforeStart writes files into its folder first), a browser, both stopped
 * after, with the server's log printed when a test failed. Returns their holder: fleet
 * and browser are set once the tests run.
 */
export function e2eSuite({ beforeStart } = {}) {
  const s = {
    fleet: null,
    browser: null,
    async adminPage(opts) {
      const p = await newPage(s.browser, opts);
      await uiLogin(p, s.fleet.base, 'admin', ADMIN_PASSWORD);
      return p;
    },
  };
  before(async () => {
    s.fleet = new Fleet();
    if (beforeStart) s.fleet.beforeStart = beforeStart;
    await s.fleet.start();
    s.browser = await launchBrowser();
  }, { timeout: 120_000 });
  after(async () => {
    await s.browser?.close();
    if (process.exitCode && s.fleet) console.error(s.fleet.logs());
    await s.fleet?.stop();
  });
  return s;
}

/** Fails when axe-core finds a serious or critical violation on the page. */
export async function noSeriousA11y(p, screen) {
  const v = await axeSerious(p);
  assert.deepEqual(v, [], `${screen}: axe-core found serious violations: ${JSON.stringify(v, null, 1)}`);
}

/** Fails on a CSP violation, a page error or an alert() the page met. */
export async function clean(p) {
  assert.deepEqual(await cspViolations(p), [], 'CSP violations');
  assert.deepEqual(p.problems, [], 'page errors');
  assert.deepEqual(p.dialogs, [], 'alert() ran');
}
