// The admin API client. The session is the HttpOnly cookie the login sets: this page never
// sees the token; fetch, XMLHttpRequest and EventSource send the cookie (same origin).

export class ApiError extends Error {
  constructor(status, code, detail, retryAfter) {
    super(detail || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

const listeners = new Set();
/** Called with no arguments whenever a request answers 401 (the session is gone). */
export function onUnauthorized(fn) { listeners.add(fn); }

async function errorOf(res) {
  let body = {};
  try { body = await res.json(); } catch { /* not JSON */ }
  const retry = Number(res.headers.get('retry-after')) || null;
  return new ApiError(res.status, body.error, body.detail || res.statusText, retry);
}

/** One request to /api/v1`path`; resolves with {data, headers}. */
export async function request(method, path, body, { quiet401 = false } = {}) {
  const init = { method, credentials: 'same-origin', headers: { accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(`/api/v1${path}`, init);
  } catch (e) {
    throw new ApiError(0, 'network', `The server cannot be reached (${e.message}).`);
  }
  if (!res.ok) {
    const err = await errorOf(res);
    if (res.status === 401 && !quiet401) listeners.forEach((fn) => fn());
    throw err;
  }
  const type = res.headers.get('content-type') || '';
  const data = res.status === 204 ? null : type.includes('json') ? await res.json() : await res.text();
  return { data, headers: res.headers };
}

export const get = async (path, opts) => (await request('GET', path, undefined, opts)).data;
export const post = async (path, body = {}) => (await request('POST', path, body)).data;
export const put = async (path, body) => (await request('PUT', path, body)).data;
export const patch = async (path, body) => (await request('PATCH', path, body)).data;
export const del = async (path) => (await request('DELETE', path)).data;

/** The Prometheus text of /metrics. */
export async function metrics() {
  const res = await fetch('/metrics', { credentials: 'same-origin' });
  if (!res.ok) throw await errorOf(res);
  return res.text();
}

/**
 * Uploads `file` (multipart, field `file`, optional `folder`) with XMLHttpRequest, which
 * reports upload progress: onProgress(loaded, total). Returns {promise, abort}.
 */
export function upload(file, folder, onProgress) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    xhr.open('POST', '/api/v1/images');
    xhr.responseType = 'json';
    xhr.upload.addEventListener('progress', (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size));
    xhr.addEventListener('load', () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve(xhr.response);
      else {
        const b = xhr.response || {};
        if (xhr.status === 401) listeners.forEach((fn) => fn());
        reject(new ApiError(xhr.status, b.error, b.detail || `HTTP ${xhr.status}`));
      }
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, 'network', 'The upload was cut off.')));
    xhr.addEventListener('abort', () => reject(new ApiError(0, 'aborted', 'Upload cancelled.')));
    const form = new FormData();
    if (folder) form.append('folder', folder);
    form.append('file', file, file.name);
    xhr.send(form);
  });
  return { promise, abort: () => xhr.abort() };
}

/**
 * The live event stream (/api/v1/events), one per page: `on(kind, fn)` subscribes to
 * `boot`, `client`, `images`, `job`, `multicast`, `deploy`, `lagged`; `onState(fn)` hears
 * 'live' / 'offline'.
 */
export class Events {
  constructor() {
    this.handlers = new Map();
    this.stateHandlers = new Set();
    this.source = null;
  }

  start() {
    if (this.source) return;
    const src = new EventSource('/api/v1/events');
    this.source = src;
    src.addEventListener('open', () => this.setState('live'));
    src.addEventListener('error', () => {
      this.setState('offline');
      // Closed for good (e.g. 401 after the session expired): check the session, retry later.
      if (src.readyState === EventSource.CLOSED && this.source === src) {
        this.source = null;
        get('/me').then(() => setTimeout(() => this.start(), 3000), () => {});
      }
    });
    for (const kind of ['boot', 'client', 'images', 'job', 'multicast', 'deploy', 'lagged']) {
      src.addEventListener(kind, (e) => {
        let data;
        try { data = JSON.parse(e.data); } catch { return; }
        (this.handlers.get(kind) || []).forEach((fn) => fn(data));
      });
    }
  }

  stop() {
    this.source?.close();
    this.source = null;
    this.setState('offline');
  }

  setState(s) { this.state = s; this.stateHandlers.forEach((fn) => fn(s)); }
  onState(fn) { this.stateHandlers.add(fn); }

  /** Subscribes; returns the unsubscribe function. */
  on(kind, fn) {
    if (!this.handlers.has(kind)) this.handlers.set(kind, new Set());
    this.handlers.get(kind).add(fn);
    return () => this.handlers.get(kind).delete(fn);
  }
}
