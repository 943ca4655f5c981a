// The API client: same origin, the session cookie, and the CSRF token on writes.

export class ApiError extends Error {
  status: number;
  code: string;
  details: Record<string, unknown>;
  constructor(status: number, code: string, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
  /** The server's message, with its reason when it gave one. */
  get full(): string {
    const reason = this.details['reason'];
    return typeof reason === 'string' && reason && !this.message.includes(reason) ? `${this.message}: ${reason}` : this.message;
  }
}

let csrfToken = '';
export function setCsrfToken(t: string | undefined) {
  csrfToken = t ?? '';
}

type Listener = () => void;
const unauthListeners = new Set<Listener>();
/** Called when the server answers 401: the session ended or expired. */
export function onUnauthenticated(l: Listener): () => void {
  unauthListeners.add(l);
  return () => unauthListeners.delete(l);
}

export interface Answer<T> { status: number; body: T }

export async function request<T>(method: string, path: string, body?: unknown, opts: { signal?: AbortSignal; quiet401?: boolean } = {}): Promise<Answer<T>> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  let resp: Response;
  try {
    resp = await fetch(`/api/v1${path}`, {
      method,
      headers,
      credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: opts.signal,
    });
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', `cannot reach corral: ${(e as Error).message}`);
  }
  const text = await resp.text();
  let parsed: unknown = undefined;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
  }
  if (!resp.ok && resp.status !== 202) {
    const e = (parsed && typeof parsed === 'object' ? parsed : {}) as { error?: string; code?: string; details?: Record<string, unknown> };
    const err = new ApiError(resp.status, e.code ?? 'http_' + resp.status, e.error ?? (typeof parsed === 'string' ? parsed : resp.statusText), e.details ?? {});
    if (resp.status === 401 && !opts.quiet401) unauthListeners.forEach((l) => l());
    throw err;
  }
  return { status: resp.status, body: parsed as T };
}

export async function get<T>(path: string, signal?: AbortSignal): Promise<T> {
  return (await request<T>('GET', path, undefined, { signal })).body;
}

export async function getText(path: string): Promise<string> {
  const resp = await fetch(`/api/v1${path}`, { credentials: 'same-origin' });
  const text = await resp.text();
  if (!resp.ok) {
    let msg = text;
    try {
      msg = (JSON.parse(text) as { error: string }).error;
    } catch { /* text as it is */ }
    if (resp.status === 401) unauthListeners.forEach((l) => l());
    throw new ApiError(resp.status, 'http_' + resp.status, msg);
  }
  return text;
}

export function qs(params: Record<string, string | string[] | number | undefined | null>): string {
  const sp = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v == null || v === '') continue;
    if (Array.isArray(v)) v.forEach((x) => x !== '' && sp.append(k, x));
    else sp.set(k, String(v));
  }
  const s = sp.toString();
  return s ? `?${s}` : '';
}

export const enc = encodeURIComponent;
