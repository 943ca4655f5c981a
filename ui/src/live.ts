// One WebSocket per tab to /api/v1/ws: reconnects with backoff, tells its state,
// and hands events to listeners in batches, at most one per animation frame, so
// thousands of events a second cost a handful of renders.
import type { LiveEvent } from './types';

export type ConnState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** Backoff before reconnect attempt n (0-based): 1 s, 2 s, 4 s … 30 s, with ±20% jitter. */
export function backoff(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(30_000, 1000 * 2 ** Math.min(attempt, 10));
  return Math.round(base * (0.8 + 0.4 * random()));
}

type Schedule = (cb: () => void) => void;
const rafSchedule: Schedule = (cb) => {
  if (typeof requestAnimationFrame === 'function' && typeof document !== 'undefined' && document.visibilityState !== 'hidden') {
    requestAnimationFrame(() => cb());
  } else {
    setTimeout(cb, 50);
  }
};

/** Collects items and flushes them together once per scheduled tick. */
export class Coalescer<T> {
  private queue: T[] = [];
  private scheduled = false;
  constructor(private flush: (batch: T[]) => void, private schedule: Schedule = rafSchedule) {}
  push(item: T) {
    this.queue.push(item);
    if (this.scheduled) return;
    this.scheduled = true;
    this.schedule(() => {
      this.scheduled = false;
      const batch = this.queue;
      this.queue = [];
      if (batch.length) this.flush(batch);
    });
  }
  get pending(): number {
    return this.queue.length;
  }
}

export type BatchListener = (events: LiveEvent[]) => void;

export interface LiveOptions {
  url?: string;
  /** The socket closed for good: the credential ended (1008) and the user must log in. */
  onAuthEnd?: (reason: string) => void;
  WebSocketImpl?: typeof WebSocket;
  schedule?: Schedule;
}

export class Live {
  state: ConnState = 'connecting';
  /** When the socket last opened, and how many times it reconnected. */
  openedAt = 0;
  reconnects = 0;
  private ws: WebSocket | null = null;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;
  private batchListeners = new Set<BatchListener>();
  private stateListeners = new Set<(s: ConnState) => void>();
  private resyncListeners = new Set<() => void>();
  private subs: unknown[] = [];
  private coalescer: Coalescer<LiveEvent>;

  constructor(private opts: LiveOptions = {}) {
    this.coalescer = new Coalescer<LiveEvent>((batch) => this.batchListeners.forEach((l) => l(batch)), opts.schedule);
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.ws?.close(1000, 'bye');
    this.ws = null;
    this.setState('closed');
  }

  onBatch(l: BatchListener): () => void {
    this.batchListeners.add(l);
    return () => this.batchListeners.delete(l);
  }
  onState(l: (s: ConnState) => void): () => void {
    this.stateListeners.add(l);
    return () => this.stateListeners.delete(l);
  }
  /** Called after a reconnect or a resync message: reload what the REST API says. */
  onResync(l: () => void): () => void {
    this.resyncListeners.add(l);
    return () => this.resyncListeners.delete(l);
  }

  /** Extra subscriptions (e.g. a collector's log events), re-sent after a reconnect. */
  setSubscriptions(subs: unknown[]) {
    this.subs = subs;
    if (this.ws && this.ws.readyState === 1) this.sendSubs();
  }

  private sendSubs() {
    if (!this.ws) return;
    this.ws.send(JSON.stringify({ action: 'unsubscribe' }));
    for (const s of this.subs) this.ws.send(JSON.stringify({ action: 'subscribe', ...(s as object) }));
  }

  private setState(s: ConnState) {
    this.state = s;
    this.stateListeners.forEach((l) => l(s));
  }

  private url(): string {
    if (this.opts.url) return this.opts.url;
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    // batch=1: what waits for this tab on the server comes as one frame (a JSON
    // array), so a burst of thousands of events is a few tasks, not thousands.
    return `${proto}//${location.host}/api/v1/ws?batch=1`;
  }

  private connect() {
    if (this.stopped) return;
    const Impl = this.opts.WebSocketImpl ?? WebSocket;
    let ws: WebSocket;
    try {
      ws = new Impl(this.url());
    } catch {
      this.retry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      const wasReconnect = this.attempt > 0 || this.openedAt > 0;
      this.attempt = 0;
      this.openedAt = Date.now();
      if (this.subs.length) this.sendSubs();
      this.setState('open');
      if (wasReconnect) {
        this.reconnects++;
        this.resyncListeners.forEach((l) => l());
      }
    };
    ws.onmessage = (m) => {
      let msg: LiveEvent | LiveEvent[];
      try {
        msg = JSON.parse(String(m.data)) as LiveEvent | LiveEvent[];
      } catch {
        return;
      }
      // One message, or a batch of them in order (the server's ?batch=1).
      for (const ev of Array.isArray(msg) ? msg : [msg]) this.handle(ev);
    };
    ws.onclose = (c) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      if (c.code === 1008) {
        this.stopped = true;
        this.setState('closed');
        this.opts.onAuthEnd?.(c.reason || 'session ended');
        return;
      }
      this.retry();
    };
  }

  private handle(ev: LiveEvent) {
    if (!ev || typeof ev !== 'object') return;
    if (ev.type === 'resync') {
      this.resyncListeners.forEach((l) => l());
      return;
    }
    if (ev.type === 'subscribed' || ev.type === 'unsubscribed' || ev.type === 'error') return;
    this.coalescer.push(ev);
  }

  private retry() {
    if (this.stopped) return;
    this.setState('reconnecting');
    const wait = backoff(this.attempt++);
    this.timer = setTimeout(() => this.connect(), wait);
  }
}
