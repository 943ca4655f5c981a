import { afterEach, describe, expect, it, vi } from 'vitest';
import { backoff, Coalescer, Live } from './live';
import type { LiveEvent } from './types';

describe('backoff', () => {
  it('doubles from 1 s to 30 s, jittered ±20%', () => {
    expect(backoff(0, () => 0.5)).toBe(1000);
    expect(backoff(3, () => 0.5)).toBe(8000);
    expect(backoff(20, () => 0.5)).toBe(30000);
    expect(backoff(0, () => 0)).toBe(800);
    expect(backoff(0, () => 1)).toBe(1200);
  });
});

describe('Coalescer', () => {
  it('flushes everything pushed before the tick as one batch', () => {
    const ticks: (() => void)[] = [];
    const batches: number[][] = [];
    const co = new Coalescer<number>((b) => batches.push(b), (cb) => ticks.push(cb));
    for (let i = 0; i < 2000; i++) co.push(i);
    expect(ticks.length).toBe(1);
    expect(co.pending).toBe(2000);
    ticks.shift()!();
    expect(batches.length).toBe(1);
    expect(batches[0]!.length).toBe(2000);
    co.push(1);
    expect(ticks.length).toBe(1);
  });
});

class FakeWS {
  static all: FakeWS[] = [];
  readyState = 0;
  sent: string[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((m: { data: string }) => void) | null = null;
  onclose: ((c: { code: number; reason: string }) => void) | null = null;
  constructor(public url: string) { FakeWS.all.push(this); }
  send(s: string) { this.sent.push(s); }
  close() { this.readyState = 3; }
  open() { this.readyState = 1; this.onopen?.(); }
  msg(o: unknown) { this.onmessage?.({ data: JSON.stringify(o) }); }
  drop(code = 1006, reason = '') { this.readyState = 3; this.onclose?.({ code, reason }); }
}

describe('Live', () => {
  afterEach(() => { vi.useRealTimers(); FakeWS.all = []; });
  it('batches events, reconnects with backoff and asks for a resync', () => {
    vi.useFakeTimers();
    const ticks: (() => void)[] = [];
    const live = new Live({ url: 'ws://x/api/v1/ws', WebSocketImpl: FakeWS as unknown as typeof WebSocket, schedule: (cb) => ticks.push(cb) });
    const states: string[] = [];
    const got: LiveEvent[][] = [];
    let resyncs = 0;
    live.onState((s) => states.push(s));
    live.onBatch((b) => got.push(b));
    live.onResync(() => resyncs++);
    live.start();
    FakeWS.all[0]!.open();
    FakeWS.all[0]!.msg({ type: 'collector:heartbeat', collector: 'a', time: 't' });
    FakeWS.all[0]!.msg({ type: 'collector:heartbeat', collector: 'b', time: 't' });
    ticks.shift()!();
    expect(got).toHaveLength(1);
    expect(got[0]!.map((e) => e.collector)).toEqual(['a', 'b']);
    FakeWS.all[0]!.msg({ type: 'resync', time: 't' });
    expect(resyncs).toBe(1);
    FakeWS.all[0]!.drop();
    expect(live.state).toBe('reconnecting');
    vi.advanceTimersByTime(1300);
    expect(FakeWS.all).toHaveLength(2);
    FakeWS.all[1]!.open();
    expect(resyncs).toBe(2);
    expect(states).toEqual(['open', 'reconnecting', 'open']);
    live.stop();
  });
  it('takes batches (JSON arrays, as ?batch=1 sends them) in order, a resync among them too', () => {
    const ticks: (() => void)[] = [];
    const live = new Live({ url: 'ws://x/api/v1/ws?batch=1', WebSocketImpl: FakeWS as unknown as typeof WebSocket, schedule: (cb) => ticks.push(cb) });
    const got: LiveEvent[][] = [];
    let resyncs = 0;
    live.onBatch((b) => got.push(b));
    live.onResync(() => resyncs++);
    live.start();
    FakeWS.all[0]!.open();
    FakeWS.all[0]!.msg([
      { type: 'collector:heartbeat', collector: 'a', time: 't' },
      { type: 'subscribed', time: 't' },
      { type: 'collector:status-changed', collector: 'b', time: 't', data: { new: 'offline' } },
    ]);
    FakeWS.all[0]!.msg({ type: 'collector:heartbeat', collector: 'c', time: 't' });
    FakeWS.all[0]!.msg([{ type: 'resync', time: 't' }, null, 7]);
    ticks.shift()!();
    expect(got.map((b) => b.map((e) => e.collector))).toEqual([['a', 'b', 'c']]);
    expect(resyncs).toBe(1);
    live.stop();
  });
  it('asks the server for batches', () => {
    const live = new Live({ WebSocketImpl: FakeWS as unknown as typeof WebSocket });
    live.start();
    expect(new URL(FakeWS.all[0]!.url).searchParams.get('batch')).toBe('1');
    live.stop();
  });
  it('stops for good and reports when the server ends the credential (1008)', () => {
    const reasons: string[] = [];
    const live = new Live({ url: 'ws://x', WebSocketImpl: FakeWS as unknown as typeof WebSocket, onAuthEnd: (r) => reasons.push(r) });
    live.start();
    FakeWS.all[0]!.open();
    FakeWS.all[0]!.drop(1008, 'session expired');
    expect(reasons).toEqual(['session expired']);
    expect(live.state).toBe('closed');
  });
  it('re-sends its subscriptions after a reconnect', () => {
    vi.useFakeTimers();
    const live = new Live({ url: 'ws://x', WebSocketImpl: FakeWS as unknown as typeof WebSocket });
    live.setSubscriptions([{ collectors: ['pg-1'], types: ['collector:log'] }]);
    live.start();
    FakeWS.all[0]!.open();
    expect(FakeWS.all[0]!.sent.map((s) => JSON.parse(s).action)).toEqual(['unsubscribe', 'subscribe']);
    FakeWS.all[0]!.drop();
    vi.advanceTimersByTime(1300);
    FakeWS.all[1]!.open();
    expect(JSON.parse(FakeWS.all[1]!.sent[1]!)).toEqual({ action: 'subscribe', collectors: ['pg-1'], types: ['collector:log'] });
    live.stop();
  });
});
