// The fleet page with 10,000 collectors on the real server, in Chromium through
// playwright-core. Not a timed test: it prints one JSON line of figures (and
// writes it to $BENCH_OUT when set). node e2e/bench10k.mjs (after make build), or
// make bench-ui. Phases:
//  1. first load: navigation to the table showing its first row and the summary
//     counting every collector (RUNS times, 3 by default), with the time the
//     GET /collectors pages took (resource timing);
//  2. long tasks (PerformanceObserver 'longtask') while scrolling the whole list;
//  3. status change → row update: a collector stopped and resumed through the
//     API (the agent pauses, the next scrape sees it) and an agent process
//     killed (offline after the grace period); latency is from the server-side
//     time of the first event carrying the new status (a heartbeat's or a status
//     change's) to the MutationObserver seeing the row's data-status;
//  4. the storm: FLIP targets scraped every second, whose agents start only
//     now, so the server emits a status change per target, then a heartbeat
//     per good scrape — FLIP events/s if the server keeps up; on top of those,
//     INJECT (2,000) heartbeats a second dispatched on the page's own socket,
//     so the page handles at least 2,000 events/s whatever the machine lets the
//     real fleet produce; long tasks and row-update latency of the rows in view
//     while it lasts, and the event rates (real, injected) the page received.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import net from 'node:net';
import { Fleet, launchBrowser, newPage, uiLogin, ADMIN_PASSWORD, waitFor, sleep, bin } from './harness.mjs';

const N = Number(process.env.N || 10000);
const FLIP = Number(process.env.FLIP || 2000); // targets of the storm, scraped every second
const FLIP_AGENTS = Number(process.env.FLIP_AGENTS || 20); // agent processes' HTTP servers they share
const RUNS = Number(process.env.RUNS || 3);
const STORM_SECONDS = Number(process.env.STORM_SECONDS || 15);
const INJECT = Number(process.env.INJECT ?? 2000); // heartbeats a second added to the storm in the page (0: none)
const quiet = N - FLIP; // targets nothing listens on, scraped every 30 s

// FLIP_AGENTS free ports in a row, below the ephemeral range (32768+).
async function freeRun(n) {
  for (let tries = 0; tries < 50; tries++) {
    const base = 23000 + Math.floor(Math.random() * (9700 - n));
    const ok = await Promise.all(Array.from({ length: n }, (_, i) => new Promise((res) => {
      const s = net.createServer();
      s.once('error', () => res(false));
      s.listen(base + i, '127.0.0.1', () => s.close(() => res(true)));
    })));
    if (ok.every(Boolean)) return base;
  }
  throw new Error(`no ${n} free ports in a row`);
}
const flipBase = await freeRun(FLIP_AGENTS);
const f = new Fleet();
f.beforeStart = (dir) => {
  const lines = [];
  for (let i = 0; i < quiet; i++) {
    lines.push(`- targets: ['127.0.0.1:${1 + (i % 50)}']\n  labels: {collector: 'bench-${String(i).padStart(5, '0')}', bench: '${i}', __scrape_interval__: '30s'}`);
  }
  writeFileSync(join(dir, 'sd', 'bench.yml'), lines.join('\n') + '\n');
  const flips = [];
  for (let i = 0; i < FLIP; i++) {
    flips.push(`- targets: ['127.0.0.1:${flipBase + (i % FLIP_AGENTS)}']\n  labels: {collector: 'flip-${String(i).padStart(5, '0')}'}`);
  }
  writeFileSync(join(dir, 'sd', 'flip.yml'), flips.join('\n') + '\n');
};

const pct = (xs, p) => {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.floor((s.length - 1) * p))]);
};
const spread = (xs) => ({ n: xs.length, min: pct(xs, 0), p50: pct(xs, 0.5), p95: pct(xs, 0.95), max: pct(xs, 1) });

// Records long tasks and, for the rows in the DOM, when their data-status changed.
function instrument() {
  performance.setResourceTimingBufferSize(100000);
  performance.clearResourceTimings();
  window.__long = [];
  window.__status = [];
  new PerformanceObserver((l) => l.getEntries().forEach((e) => window.__long.push(Math.round(e.duration)))).observe({ type: 'longtask' });
  const seen = new Map(); // id → the status last seen in its row
  new MutationObserver((ms) => {
    const t = Date.now();
    const rows = new Set();
    for (const m of ms) {
      const el = m.target.nodeType === 1 ? m.target : m.target.parentElement;
      const row = el?.closest('[data-testid^=row-]');
      if (row) rows.add(row);
      for (const n of m.addedNodes) if (n.nodeType === 1) n.querySelectorAll('[data-testid^=row-]').forEach((r) => rows.add(r));
    }
    for (const e of rows) {
      const st = e.dataset.status;
      const id = e.dataset.testid.slice(4);
      if (!st || seen.get(id) === st) continue;
      seen.set(id, st);
      window.__status.push({ id, status: st, t });
    }
  }).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
}
const takeLong = (p) => p.evaluate(() => window.__long.splice(0));

let out;
await f.start({ agents: 2, mix: 'online=2', scrapeInterval: '1s' }).catch(async (e) => { console.error(f.logs()); await f.stop(); throw e; });
const procs = [];
try {
  await waitFor(`${N} collectors listed`, async () => (await f.api('GET', '/collectors?limit=1')).body.total >= N, 180_000, 1000);
  const total = (await f.api('GET', '/collectors?limit=1')).body.total;
  const b = await launchBrowser();
  const p = await newPage(b);
  // Status-changed events as the page's socket receives them, in the page (the
  // DevTools protocol's frame events reach this process seconds late in a storm):
  // their server time and when they arrived.
  await p.addInitScript(() => {
    window.__events = [];
    window.__last = new Map();
    window.__frames = 0;
    const WS = window.WebSocket;
    window.WebSocket = class extends WS {
      constructor(...a) {
        super(...a);
        window.__ws = this;
        this.addEventListener('message', (m) => {
          if (typeof m.data !== 'string') return;
          // Events, not frames: the page asks for batches (a JSON array a frame).
          for (let i = m.data.indexOf('"type":'); i >= 0; i = m.data.indexOf('"type":', i + 7)) window.__frames++;
          // A status reaches the page in a status change or in a heartbeat (data.status,
          // sent just before the change): the first event naming it. Heartbeats are
          // read only for the sim-* and flip-* rows the phases watch (the injected ones
          // carry no status).
          if (!(m.data.includes('status-changed') || ((m.data.includes('"collector":"sim-') || m.data.includes('"collector":"flip-')) && m.data.includes('"status"')))) return;
          const recv = Date.now();
          const msg = JSON.parse(m.data);
          for (const e of Array.isArray(msg) ? msg : [msg]) {
            const st = e.type === 'collector:status-changed' ? e.data.new : e.type === 'collector:heartbeat' ? e.data?.status : null;
            if (!st || window.__last.get(e.collector) === st) continue;
            window.__last.set(e.collector, st);
            window.__events.push({ id: e.collector, status: st, t: Date.parse(e.time), recv });
          }
        });
      }
    };
  });
  const frameCount = () => p.evaluate(() => window.__frames);
  await uiLogin(p, f.base, 'admin', ADMIN_PASSWORD);

  // 1. First load.
  const loads = [];
  const fetchSpan = [];
  const phases = []; // where each first load's time went, from the page's own clock
  // PROFILE_LOAD=file: a CPU profile of the page (DevTools format) during the last first load.
  const loadCdp = process.env.PROFILE_LOAD ? await p.context().newCDPSession(p) : null;
  const fetchDetail = []; // per run, per GET /collectors page: its resource timing
  for (let i = 0; i < RUNS; i++) {
    if (loadCdp && i === RUNS - 1) { await loadCdp.send('Profiler.enable'); await loadCdp.send('Profiler.setSamplingInterval', { interval: 200 }); await loadCdp.send('Profiler.start'); }
    const t0 = Date.now();
    // sort=-id: sim-*, then flip-*, then bench-* — the rows the later phases watch are in view.
    await p.goto(`${f.base}/?sort=-id`);
    await p.getByTestId('row-sim-0000').waitFor({ timeout: 60_000 });
    await waitFor('total', async () => Number((await p.getByTestId('stat-total').textContent()).replace(/,/g, '')) >= total, 60_000, 20);
    loads.push(Date.now() - t0);
    if (loadCdp && i === RUNS - 1) writeFileSync(process.env.PROFILE_LOAD, JSON.stringify((await loadCdp.send('Profiler.stop')).profile));
    phases.push(await p.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      const rs = performance.getEntriesByType('resource').filter((r) => r.name.includes('/api/v1/collectors?'));
      const r = (x) => Math.round(x);
      return {
        document: r(nav.responseEnd), scripts_run: r(nav.domContentLoadedEventEnd),
        collectors_first_request: rs.length ? r(Math.min(...rs.map((x) => x.startTime))) : null,
        collectors_last_response: rs.length ? r(Math.max(...rs.map((x) => x.responseEnd))) : null,
        table_shown: r(performance.now()),
      };
    }));
    const [span, reqs] = await p.evaluate(() => {
      const rs = performance.getEntriesByType('resource').filter((r) => r.name.includes('/api/v1/collectors?'));
      const t0 = rs.length ? Math.min(...rs.map((r) => r.startTime)) : 0;
      // Per request, from the first one's start: when it started, the wait for a
      // connection (startTime→requestStart), the server's (requestStart→responseStart),
      // the transfer (responseStart→responseEnd), and the body's size on the wire.
      const reqs = rs.map((r) => ({
        page: Number(new URL(r.name).searchParams.get('page') || 1), start: Math.round(r.startTime - t0),
        queue: Math.round(r.requestStart - r.startTime), server: Math.round(r.responseStart - r.requestStart),
        transfer: Math.round(r.responseEnd - r.responseStart), kb: Math.round(r.encodedBodySize / 1024),
      })).sort((a, b) => a.page - b.page);
      return [rs.length ? Math.round(Math.max(...rs.map((r) => r.responseEnd)) - t0) : null, reqs];
    });
    fetchSpan.push(span);
    fetchDetail.push(reqs);
  }
  const domRows = await p.locator('tbody tr[data-testid^=row-]').count();
  // Where the server's time goes, from the page (its session cookie), PROBES rounds
  // of 10 requests at once each: GET /me is authentication alone; limit=1 adds the
  // walk, filter, summary and sort of every collector; limit=1000 adds a page of
  // 1,000 rows to marshal and send. The server's wait (requestStart→responseStart) of each.
  const probes = {};
  for (const [name, path] of [['me', '/api/v1/me'], ['walk', '/api/v1/collectors?limit=1&sort=-id&page='], ['page', '/api/v1/collectors?limit=1000&sort=-id&page=']]) {
    const waits = [];
    for (let round = 0; round < Number(process.env.PROBES || 5); round++) {
      waits.push(...await p.evaluate(async (path) => {
        performance.clearResourceTimings();
        const urls = Array.from({ length: 10 }, (_, i) => path + (path.endsWith('=') ? i + 1 : ''));
        await Promise.all(urls.map((u) => fetch(u, { cache: 'no-store' }).then((r) => r.arrayBuffer())));
        const mine = new Set(urls.map((u) => new URL(u, location.href).href));
        return performance.getEntriesByType('resource').filter((r) => mine.has(r.name)).map((r) => Math.round(r.responseStart - r.requestStart));
      }, path));
    }
    probes[name] = spread(waits);
  }
  await p.evaluate(instrument);
  // PROFILE=file: a CPU profile of the page (DevTools format) for phases 2–4.
  // PROFILE_FROM=storm: only phase 4; PROFILE_FROM=scroll: only phase 2.
  const cdp = process.env.PROFILE ? await p.context().newCDPSession(p) : null;
  const profile = async () => { await cdp.send('Profiler.enable'); await cdp.send('Profiler.setSamplingInterval', { interval: 500 }); await cdp.send('Profiler.start'); };
  if (cdp && process.env.PROFILE_FROM !== 'storm') await profile();

  // 2. Scrolling the whole list.
  const scroller = p.getByTestId('fleet-scroll');
  const height = await scroller.evaluate((el) => el.scrollHeight);
  for (let y = 0; y <= height; y += Math.ceil(height / 40)) {
    await scroller.evaluate((el, v) => { el.scrollTop = v; }, y);
    await p.waitForTimeout(50);
  }
  const scrollLong = await takeLong(p);
  if (cdp && process.env.PROFILE_FROM === 'scroll') { writeFileSync(process.env.PROFILE, JSON.stringify((await cdp.send('Profiler.stop')).profile)); }
  await scroller.evaluate((el) => { el.scrollTop = 0; });
  await p.getByTestId('row-sim-0000').waitFor();

  const received = []; // from the socket's receipt of the event (in this process) to the row
  const latency = async (id, status, what) => {
    const ev = await waitFor(`${what}: the status-changed event of ${id} to ${status}`, () => p.evaluate(([i, s]) => window.__events.find((e) => e.id === i && e.status === s), [id, status]), 60_000, 50);
    const dom = await waitFor(`${what}: the row of ${id} showing ${status}`, () => p.evaluate(([i, s]) => window.__status.find((x) => x.id === i && x.status === s), [id, status]), 30_000, 50)
      .catch(async (e) => {
        const now = await p.evaluate((i) => [document.querySelector(`[data-testid="row-${i}"]`)?.dataset.status, JSON.stringify([window.__status.length, window.__status.filter((x) => x.id.startsWith("sim")), window.__long.length])], id);
        throw new Error(`${e.message} (row shows ${now[0]}, last changes seen ${now[1]})`);
      });
    await p.evaluate(([i, s]) => {
      window.__status = window.__status.filter((x) => !(x.id === i && x.status === s));
      window.__events = window.__events.filter((x) => !(x.id === i && x.status === s));
    }, [id, status]);
    received.push(dom.t - ev.recv);
    return dom.t - ev.t;
  };

  // 3. Status changes through real paths, on a quiet fleet. What the page saw
  // before is dropped: an 'online' it recorded at load would otherwise pair with
  // the row's first recorded 'online' and count as the first resume's latency.
  await p.evaluate(() => { window.__status = []; window.__events = []; });
  const commandLatency = [];
  for (let i = 0; i < RUNS; i++) {
    for (const [cmd, status] of [['stop', 'paused'], ['resume', 'online']]) {
      const r = await f.api('POST', '/collectors/sim-0000/' + cmd, { reason: 'bench' });
      if (r.status >= 300) throw new Error(`${cmd}: ${r.status} ${JSON.stringify(r.body)}`);
      commandLatency.push(await latency('sim-0000', status, cmd));
    }
  }
  f.lone.kill('SIGKILL');
  const killLatency = await latency(f.loneId, 'offline', 'kill');
  const quietLong = await takeLong(p);

  // 4. The storm: the flip targets' agents start; every target turns online, then beats once a second.
  await p.evaluate(() => { window.__status = []; window.__events = []; });
  const storm = spawn(join(bin, 'corral-agent'), ['simulate', '--log.level', 'error', '--interval', '1s', '--rate', '5',
    '--count', String(FLIP_AGENTS), '--first-index', '500', '--mix', `online=${FLIP_AGENTS}`, '--base-port', String(flipBase),
    '--sd-file', join(f.dir, 'storm-unused.yml'), '--state-dir', join(f.dir, 'state-storm')], { stdio: 'ignore' });
  procs.push(storm);
  const stormStart = Date.now();
  await waitFor('the storm to turn the first flip row online', () => p.evaluate(() => window.__status.some((x) => x.id.startsWith('flip-') && x.status === 'online')), 60_000, 100);
  await takeLong(p); // the ramp (2,000 status changes at once) is reported apart
  const ramp = Date.now() - stormStart;
  if (cdp && process.env.PROFILE_FROM === 'storm') await profile();
  const f0 = await frameCount();
  const tStorm = Date.now();
  // The server alone may not reach 2,000 events/s on a small machine (each is a
  // real scrape), so the page's socket also gets INJECT heartbeats a second for
  // the flip rows (the rows in view), dispatched on the page's own WebSocket so
  // they take the app's path from onmessage on: the page handles the real
  // storm plus these, never less than INJECT a second. They carry no status, so
  // the row-update latencies below stay those of the real events.
  await p.evaluate((rate) => {
    const ids = Array.from({ length: 2000 }, (_, i) => `flip-${String(i).padStart(5, '0')}`);
    const t0 = performance.now();
    let sent = 0;
    window.__injected = 0;
    window.__inject = setInterval(() => {
      const due = Math.floor(((performance.now() - t0) / 1000) * rate);
      const time = new Date().toISOString();
      for (; sent < due; sent++) {
        const data = JSON.stringify({ type: 'collector:heartbeat', collector: ids[sent % ids.length], time, data: { freshness_seconds: sent % 7, samples: 40 } });
        window.__ws.dispatchEvent(new MessageEvent('message', { data }));
      }
      window.__injected = sent;
    }, 10);
  }, INJECT);
  await sleep(STORM_SECONDS * 1000);
  const injected = await p.evaluate(() => { clearInterval(window.__inject); return window.__injected; });
  const stormLong = await takeLong(p);
  const stormSeconds = (Date.now() - tStorm) / 1000;
  const rate = Math.round(((await frameCount()) - f0 - injected) / stormSeconds);
  const allDoms = await p.evaluate(() => window.__status.filter((x) => x.id.startsWith('flip-')));
  const doms = allDoms.filter((x) => x.status === 'online');
  const outliers = [];
  const events = await p.evaluate(() => window.__events);
  const stormLatency = [];
  const stormReceived = [];
  for (const d of doms) {
    // The event that caused it: the last one naming this status received before the row changed.
    const ev = events.filter((e) => e.id === d.id && e.status === 'online' && e.recv <= d.t).pop();
    if (ev) {
      stormLatency.push(d.t - ev.t);
      stormReceived.push(d.t - ev.recv);
      // Over a second: what the page saw of that row, to tell a slow page from a pairing gone wrong.
      if (d.t - ev.t > 1000 && outliers.length < 3) {
        const rel = (x) => x - ev.recv;
        outliers.push({ id: d.id, row_online_at: rel(d.t), events: events.filter((e) => e.id === d.id).map((e) => [e.status, rel(e.recv), e.t - ev.t]), rows: allDoms.filter((x) => x.id === d.id).map((x) => [x.status, rel(x.t)]) });
      }
    }
  }
  if (cdp && process.env.PROFILE_FROM !== 'scroll') writeFileSync(process.env.PROFILE, JSON.stringify((await cdp.send('Profiler.stop')).profile));
  const load = (await import('node:os')).loadavg().map((x) => Math.round(x * 10) / 10);
  out = {
    collectors: total, first_load_ms: loads, collectors_fetch_ms: fetchSpan, first_load_phases_ms: phases,
    collectors_fetch: fetchDetail.map((rs) => ({
      server_ms: spread(rs.map((r) => r.server)), transfer_ms: spread(rs.map((r) => r.transfer)),
      queue_ms: spread(rs.map((r) => r.queue)), kb: rs.reduce((n, r) => n + r.kb, 0), requests: rs,
    })),
    server_probe_ms: probes, rows_in_dom: domRows,
    scroll: { longtasks: scrollLong.length, longest_ms: Math.max(0, ...scrollLong) },
    update_ms: { command: spread(commandLatency), command_each: commandLatency, kill_offline: killLatency, storm_rows_in_view: spread(stormLatency), from_receipt: spread(received), storm_from_receipt: spread(stormReceived), storm_outliers: outliers },
    quiet: { longtasks: quietLong.length, longest_ms: Math.max(0, ...quietLong) },
    storm: { targets: FLIP, ws_messages_per_s: rate, injected_per_s: Math.round(injected / stormSeconds), events_per_s: rate + Math.round(injected / stormSeconds), seconds: STORM_SECONDS, ramp_ms: ramp, longtasks: stormLong.length, longest_ms: Math.max(0, ...stormLong), over_100ms: stormLong.filter((d) => d > 100).length },
    // How often the page loaded the list again after the first loads (a periodic
    // refresh every 30 s, a resync, a collector it did not know).
    list_reloads: await p.evaluate(() => performance.getEntriesByType('resource').filter((r) => /\/api\/v1\/collectors\?.*page=1(&|$)/.test(r.name) && r.name.includes('limit=1000')).length),
    // The server's side of it: resyncs sent (a client that fell behind its queue) and events dropped.
    ws_server: await fetch(`${f.base}/metrics`).then((r) => r.text()).then((t) => Object.fromEntries(
      ['corral_ws_resyncs_total', 'corral_ws_dropped_total'].map((m) => [m, Number((t.match(new RegExp(`^${m} (\\S+)$`, 'm')) || [])[1])]))).catch((e) => String(e)),
    loadavg: load, page_problems: p.problems.slice(0, 5),
  };
  console.log(JSON.stringify(out));
  if (process.env.BENCH_OUT) writeFileSync(process.env.BENCH_OUT, JSON.stringify(out) + '\n', { flag: 'a' });
  await b.close();
} finally {
  // Gone before the fleet's directory is removed: it writes its state there.
  await Promise.all(procs.filter((s) => s.exitCode == null).map((s) => new Promise((res) => { s.once('exit', res); s.kill('SIGTERM'); setTimeout(() => { s.kill('SIGKILL'); res(); }, 3000); })));
  await f.stop();
}
