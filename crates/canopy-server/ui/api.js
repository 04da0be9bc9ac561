// Every access to the store goes through this module. The functions below are the UI's whole
// view of Canopy; today they call the server's REST API under /api/v1, and an offline mode can
// provide the same functions over a local replica (installed with `useBackend`) without the
// rest of the UI noticing.
//
// Requests are same-origin `fetch`es: JSON bodies go as `application/json` (the server refuses
// other content types for them), and when the server asks for a token (401) the page is asked
// for one (`setTokenPrompt`); it is kept in sessionStorage and sent as `Authorization: Bearer`.

const API = '/api/v1';
const TOKEN_KEY = 'canopy.token';

/** An error answer from the store: HTTP status, the API's error code and message, the body. */
export class StoreError extends Error {
  constructor(status, code, message, body) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

let promptForToken = null;

/** Registers `async (reason) => token | null`, called when the server wants a token. */
export function setTokenPrompt(fn) {
  promptForToken = fn;
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(t) {
  if (t) sessionStorage.setItem(TOKEN_KEY, t);
  else sessionStorage.removeItem(TOKEN_KEY);
}

function headers(extra = {}) {
  const h = { ...extra };
  const t = token();
  if (t) h.Authorization = `Bearer ${t}`;
  return h;
}

const seg = (s) => encodeURIComponent(s);
const pathUrl = (p) => p.split('/').map(encodeURIComponent).join('/');

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== false) q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** Sends a request; on 401 asks for a token and tries again. Returns the Response (2xx/304). */
async function send(method, url, { body, json, extraHeaders } = {}) {
  for (let attempt = 0; ; attempt++) {
    const sent = token();
    const init = { method, headers: headers(extraHeaders), cache: 'no-store', credentials: 'same-origin' };
    if (json !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(json);
    } else if (body !== undefined) {
      init.headers['Content-Type'] = 'application/octet-stream';
      init.body = body;
    }
    const r = await fetch(url, init);
    if (r.ok || r.status === 304) return r;
    let payload = null;
    try {
      payload = await r.json();
    } catch {
      payload = null;
    }
    const err = payload?.error ?? {};
    if (r.status === 401 && promptForToken && attempt < 3) {
      // Another request's prompt may have got a token while this one was on its way: use it
      // rather than asking again.
      const now = token();
      if (now && now !== sent) continue;
      const t = await promptForToken(err.message ?? 'a token is required');
      if (t) {
        setToken(t);
        continue;
      }
    }
    throw new StoreError(r.status, err.code ?? 'http_' + r.status, err.message ?? r.statusText, payload);
  }
}

async function getJson(url) {
  return (await send('GET', url)).json();
}

const server = {
  name: 'server',

  async listBranches() {
    return getJson(`${API}/branches`);
  },

  async createBranch(name, from) {
    return (await send('POST', `${API}/branches`, { json: from ? { name, from } : { name } })).json();
  },

  async deleteBranch(name) {
    return (await send('DELETE', `${API}/branches/${seg(name)}`)).json();
  },

  /** Entries of the directory `path` ('' = root) at `at` (a REV; default the head). */
  async getTree(branch, path = '', at = null) {
    const rest = path ? `/${pathUrl(path)}` : '';
    return getJson(`${API}/branches/${seg(branch)}/tree${rest}${query({ at })}`);
  },

  /** The bytes of the value at `path`: { bytes: Uint8Array, hash, commit }. */
  async getValue(branch, path, at = null) {
    const r = await send('GET', `${API}/branches/${seg(branch)}/values/${pathUrl(path)}${query({ at })}`);
    const bytes = new Uint8Array(await r.arrayBuffer());
    return {
      bytes,
      hash: (r.headers.get('ETag') ?? '').replaceAll('"', ''),
      commit: r.headers.get('X-Canopy-Commit'),
    };
  },

  /** Sets a value in one commit; `ifMatch`: the head it must replace. Returns { commit }. */
  async putValue(branch, path, bytes, { message, ifMatch } = {}) {
    const extraHeaders = ifMatch ? { 'If-Match': `"${ifMatch}"` } : {};
    const url = `${API}/branches/${seg(branch)}/values/${pathUrl(path)}${query({ message })}`;
    return (await send('PUT', url, { body: bytes, extraHeaders })).json();
  },

  async deleteValue(branch, path, { message, ifMatch } = {}) {
    const extraHeaders = ifMatch ? { 'If-Match': `"${ifMatch}"` } : {};
    const url = `${API}/branches/${seg(branch)}/values/${pathUrl(path)}${query({ message })}`;
    return (await send('DELETE', url, { extraHeaders })).json();
  },

  /** Commits of the branch, newest first (every parent followed), with their parents. */
  async log(branch, { limit = 200, path } = {}) {
    return getJson(`${API}/branches/${seg(branch)}/log${query({ limit, path })}`);
  },

  /** A commit and the paths it changed against its first parent. */
  async getCommit(rev) {
    return getJson(`${API}/commits/${seg(rev)}`);
  },

  /** Changed paths between two revisions, each with its unified line diff (`patch`). */
  async diff(from, to, { path } = {}) {
    return getJson(`${API}/diff${query({ from, to, path, patch: true })}`);
  },

  /** What merging `from` into `branch` would do: outcome, changes, conflicts with their sides. */
  async mergePreview(branch, from) {
    return getJson(`${API}/branches/${seg(branch)}/merge/preview${query({ from })}`);
  },

  /** Merges `from` into `branch`; `resolutions` settle conflicting paths; `ifMatch`: the head. */
  async merge(branch, from, { resolutions, ifMatch, message } = {}) {
    const json = { from };
    if (message) json.message = message;
    if (resolutions?.length) json.resolutions = resolutions;
    const extraHeaders = ifMatch ? { 'If-Match': `"${ifMatch}"` } : {};
    return (await send('POST', `${API}/branches/${seg(branch)}/merge`, { json, extraHeaders })).json();
  },

  /**
   * Follows `branch`: `onEvent(type, data, id)` for `ready`, `change`, `deleted`, `error`;
   * `onState('live' | 'retrying' | 'closed')`. Reconnects (resuming after the last event) until
   * the returned function is called. A fetch stream rather than EventSource, which cannot send
   * the Authorization header.
   */
  watch(branch, { onEvent, onState = () => {} }) {
    const abort = new AbortController();
    let lastId = null;
    let stopped = false;
    const run = async () => {
      while (!stopped) {
        try {
          const extraHeaders = { Accept: 'text/event-stream' };
          if (lastId) extraHeaders['Last-Event-ID'] = lastId;
          const sent = token();
          const r = await fetch(`${API}/branches/${seg(branch)}/watch`, {
            headers: headers(extraHeaders),
            signal: abort.signal,
            cache: 'no-store',
          });
          if (!r.ok) {
            // Refused for want of a token the page has been given since: watch with it.
            if (r.status === 401 && token() && token() !== sent) continue;
            // Refused (no right, no such branch): retrying will not help; a 503 (too many
            // watches) or a server error might pass.
            if (r.status >= 400 && r.status < 500) {
              onEvent('error', { status: r.status }, null);
              break;
            }
            throw new StoreError(r.status, 'watch', r.statusText, null);
          }
          onState('live');
          const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
          let buffer = '';
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buffer += value.replaceAll('\r\n', '\n');
            let end;
            while ((end = buffer.indexOf('\n\n')) >= 0) {
              const block = buffer.slice(0, end);
              buffer = buffer.slice(end + 2);
              const ev = parseEvent(block);
              if (!ev) continue;
              if (ev.id) lastId = ev.id;
              let data = null;
              try {
                data = ev.data ? JSON.parse(ev.data) : null;
              } catch {
                data = ev.data;
              }
              onEvent(ev.event, data, ev.id);
              if (ev.event === 'deleted' || ev.event === 'error') {
                stopped = true;
              }
            }
          }
        } catch (e) {
          if (stopped || e.name === 'AbortError') break;
        }
        if (stopped) break;
        onState('retrying');
        await new Promise((res) => setTimeout(res, 1000));
      }
      onState('closed');
    };
    run();
    return () => {
      stopped = true;
      abort.abort();
    };
  },
};

function parseEvent(block) {
  const ev = { event: 'message', data: '', id: null };
  let any = false;
  for (const line of block.split('\n')) {
    if (!line || line.startsWith(':')) continue;
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
    any = true;
    if (field === 'event') ev.event = value;
    else if (field === 'data') ev.data += (ev.data ? '\n' : '') + value;
    else if (field === 'id') ev.id = value;
  }
  return any ? ev : null;
}

let backend = server;

/** Replaces the store the UI talks to (an object with the functions above); `null`: the
 *  server again. */
export function useBackend(b) {
  backend = b ?? server;
}

export function backendName() {
  return backend.name;
}

export const listBranches = (...a) => backend.listBranches(...a);
export const createBranch = (...a) => backend.createBranch(...a);
export const deleteBranch = (...a) => backend.deleteBranch(...a);
export const getTree = (...a) => backend.getTree(...a);
export const getValue = (...a) => backend.getValue(...a);
export const putValue = (...a) => backend.putValue(...a);
export const deleteValue = (...a) => backend.deleteValue(...a);
export const log = (...a) => backend.log(...a);
export const getCommit = (...a) => backend.getCommit(...a);
export const diff = (...a) => backend.diff(...a);
export const mergePreview = (...a) => backend.mergePreview(...a);
export const merge = (...a) => backend.merge(...a);
export const watch = (...a) => backend.watch(...a);
