// Canopy in a web page or in Node: a replica persisted in IndexedDB (in memory where there is
// none), synced with any Canopy or Git smart-HTTP server through fetch().
//
//   import { load, Replica } from './canopy.mjs';
//   await load();                                   // in Node: await load(bytesOfTheWasmFile)
//   const r = await Replica.open({ name: 'notes' });
//   await r.set('main', 'todo/1', 'buy milk');
//   await r.clone('http://localhost:8080/git');     // or pull / push / sync
//
// Every write resolves once its objects and references are committed to IndexedDB, and only
// then are watchers told. See crates/canopy-wasm/src/lib.rs for the Rust side.

import init, { initSync, Store } from './canopy_wasm.js';

let loaded = null;

/** Loads the WebAssembly module: from `source` (bytes, a URL or a Response) or, by default,
 *  from `canopy_wasm_bg.wasm` beside this file. */
export async function load(source) {
  if (!loaded) {
    loaded = (async () => {
      if (source instanceof Uint8Array || source instanceof ArrayBuffer) {
        initSync({ module: source });
      } else {
        await init(source === undefined ? undefined : { module_or_path: source });
      }
    })();
  }
  return loaded;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const bytes = (v) => (typeof v === 'string' ? encoder.encode(v) : v);

/** Opens (or creates) the IndexedDB database `name` with object stores for objects, refs, meta. */
function openDatabase(idb, name) {
  return new Promise((resolve, reject) => {
    const req = idb.open(name, 1);
    req.onupgradeneeded = () => {
      const db = req.result;
      db.createObjectStore('objects');
      db.createObjectStore('refs');
      db.createObjectStore('meta');
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
    req.onblocked = () => reject(new Error(`IndexedDB database '${name}' is held open elsewhere`));
  });
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error('IndexedDB transaction aborted'));
  });
}

function all(store) {
  return new Promise((resolve, reject) => {
    const keys = store.getAllKeys();
    const values = store.getAll();
    values.onsuccess = () => resolve(keys.result.map((k, i) => [k, values.result[i]]));
    values.onerror = () => reject(values.error);
  });
}

/** A replica of a Canopy store. */
export class Replica {
  #raw;
  #db;
  #meta;
  #queue = Promise.resolve();
  #watchers = new Set();

  constructor(raw, db, meta) {
    this.#raw = raw;
    this.#db = db;
    this.#meta = meta;
    this.headers = {};
    this.fetch = (...args) => globalThis.fetch(...args);
  }

  /** Opens the replica kept in IndexedDB database `name` (made on first use), or an in-memory one
   *  when there is no IndexedDB (Node) or `memory: true`. `hash`: 'sha1' (default) or 'sha256'
   *  for a new store. */
  static async open({ name = 'canopy', hash, memory = false, indexedDB = globalThis.indexedDB } = {}) {
    await load();
    if (memory || !indexedDB) {
      return new Replica(new Store(hash, undefined), null, { remotes: {} });
    }
    const db = await openDatabase(indexedDB, name);
    const tx = db.transaction(['objects', 'refs', 'meta'], 'readonly');
    const [objects, refs, metaRows] = await Promise.all([
      all(tx.objectStore('objects')),
      all(tx.objectStore('refs')),
      all(tx.objectStore('meta')),
    ]);
    const meta = Object.fromEntries(metaRows);
    const raw = new Store(meta.hash || hash, meta.replica);
    for (const [, o] of objects) raw.loadObject(o.kind, o.data);
    for (const [n, v] of refs) raw.loadRef(n, v);
    if (meta.shallow) raw.loadShallow(JSON.stringify(meta.shallow));
    const r = new Replica(raw, db, { remotes: {}, ...meta });
    if (!meta.replica) {
      r.#meta.replica = raw.replicaId();
      r.#meta.hash = raw.hashKind();
      await r.#saveMeta();
    }
    return r;
  }

  /** The replica's id (part of every commit it writes). */
  get replicaId() {
    return this.#raw.replicaId();
  }

  /** Sets who commits; the time zone is the page's. */
  setIdentity(name, email) {
    this.#raw.setIdentity(name, email, -new Date().getTimezoneOffset());
  }

  /** Closes the database (the replica is unusable afterwards). */
  close() {
    this.#db?.close();
    this.#raw.free();
  }

  // ---- reading ----------------------------------------------------------------------------

  /** The value at `path` in `rev` (a branch, commit id, …) as bytes, or undefined. A value a
   *  blobless clone left out is fetched from its remote first. */
  async get(rev, path) {
    return this.#lazily(() => this.#raw.get(rev, path), true);
  }

  /** `get` decoded as UTF-8 text. */
  async getText(rev, path) {
    const v = await this.get(rev, path);
    return v === undefined ? undefined : decoder.decode(v);
  }

  /** The value without fetching: throws (with `err.missing` set) for a value left out. */
  getSync(rev, path) {
    try {
      return this.#raw.get(rev, path);
    } catch (e) {
      throw this.#annotate(e);
    }
  }

  list(rev, path = '') { return JSON.parse(this.#raw.list(rev, path)); }
  paths(rev, path = '') { return JSON.parse(this.#raw.paths(rev, path)); }
  branches() { return JSON.parse(this.#raw.branches()); }
  refs(prefix = 'refs/') { return JSON.parse(this.#raw.refs(prefix)); }
  head(branch) { return this.#raw.head(branch); }
  resolve(rev) { return this.#raw.resolve(rev); }
  log(rev, limit = 100) { return JSON.parse(this.#raw.log(rev, limit)); }
  diff(from, to) { return JSON.parse(this.#raw.diff(from ?? '', to)); }
  static lineDiff(oldValue, newValue, context = 3) {
    return Store.lineDiff(bytes(oldValue ?? ''), bytes(newValue ?? ''), context);
  }

  // ---- writing ----------------------------------------------------------------------------

  /** Sets `path` on `branch` in one commit; resolves to the new head once durable. */
  set(branch, path, value, message) {
    return this.#write(() => this.#raw.set(branch, path, bytes(value), message));
  }

  remove(branch, path, message) {
    return this.#write(() => this.#raw.remove(branch, path, message));
  }

  /** Runs `fn(tx)` (tx.set(path, value), tx.remove(path)) and commits it as one commit. */
  transaction(branch, fn, message) {
    return this.#write(() => {
      const tx = this.#raw.transaction(branch);
      try {
        fn({ set: (p, v) => tx.set(p, bytes(v)), remove: (p) => tx.remove(p) });
        return this.#raw.commitTransaction(tx, message);
      } finally {
        tx.free();
      }
    });
  }

  createBranch(name, rev) { return this.#write(() => this.#raw.createBranch(name, rev)); }
  deleteBranch(name) { return this.#write(() => this.#raw.deleteBranch(name)); }

  /** Registers a merge function for paths whose `.gitattributes` say `merge=<name>`:
   *  `fn({path, base, ours, theirs})` with Uint8Array-or-null sides (strings with `{text: true}`)
   *  returns the merged value, null (absent), or `{conflict: reason}`. */
  registerMerge(name, fn, { text = false } = {}) {
    const wrapped = text
      ? (a) => fn({
          path: a.path,
          base: a.base && decoder.decode(a.base),
          ours: a.ours && decoder.decode(a.ours),
          theirs: a.theirs && decoder.decode(a.theirs),
        })
      : fn;
    this.#raw.registerMerge(name, wrapped);
  }

  /** Merges `from` (a revision) into `branch`: `{outcome, commit}` or `{outcome: 'conflicts',
   *  conflicts: [{path, reason}]}` with the branch unchanged. */
  merge(branch, from, message) {
    return this.#write(() => JSON.parse(this.#raw.merge(branch, from, message)), true);
  }

  /** The base, ours and theirs values of a conflicting path (Uint8Array or null). */
  mergeSides(branch, from, path) {
    return this.#raw.mergeSides(branch, from, path);
  }

  /** Finishes a conflicted merge: `resolutions` maps each conflicting path to its value (string,
   *  Uint8Array, or null to remove). Resolves to the merge commit. */
  mergeResolved(branch, from, resolutions, message) {
    const map = new Map();
    for (const [p, v] of resolutions instanceof Map ? resolutions : Object.entries(resolutions)) {
      map.set(p, v === null ? null : bytes(v));
    }
    return this.#write(() => this.#raw.mergeResolved(branch, from, map, message), true);
  }

  /** Calls `fn({name, before, value})` after each reference change is durable; returns a
   *  function that stops it. */
  watch(fn) {
    this.#watchers.add(fn);
    return () => this.#watchers.delete(fn);
  }

  // ---- remotes and sync -------------------------------------------------------------------

  remotes() { return { ...this.#meta.remotes }; }

  async addRemote(name, url, { filter } = {}) {
    this.#meta.remotes = { ...this.#meta.remotes, [name]: { url, filter } };
    await this.#saveMeta();
  }

  /** Clones `url` into this (empty) replica: remote `origin`, every branch under
   *  refs/remotes/origin/, the remote's default branch as a local branch. `depth` makes it
   *  shallow; `filter: 'blob:none'` leaves values to be fetched when read. */
  async clone(url, { remote = 'origin', depth, filter } = {}) {
    await this.addRemote(remote, url, { filter });
    const result = await this.fetchRemote(remote, { depth });
    const tracking = result.head || `refs/remotes/${remote}/main`;
    const branch = tracking.slice(`refs/remotes/${remote}/`.length);
    const id = this.refs(tracking).find((r) => r.name === tracking)?.id;
    if (id && this.head(branch) === undefined) await this.createBranch(branch, id);
    return { ...result, branch };
  }

  /** Fetches every branch of remote `name` into refs/remotes/<name>/. */
  fetchRemote(name = 'origin', { depth } = {}) {
    const r = this.#remote(name);
    return this.#sync(r.url, { op: 'fetch', remote: name, depth, filter: r.filter });
  }

  /** Fetches, then merges the remote's `branch` into the local one. */
  async pull(branch = 'main', remote = 'origin') {
    await this.fetchRemote(remote);
    const theirs = `refs/remotes/${remote}/${branch}`;
    if (!this.refs(theirs).some((r) => r.name === theirs)) return { outcome: 'up-to-date' };
    return this.merge(branch, theirs, `Merge branch '${branch}' of ${this.#remote(remote).url}`);
  }

  /** Pushes local `branch` to the remote's branch of the same name. */
  push(branch = 'main', remote = 'origin', { force = false } = {}) {
    return this.#sync(this.#remote(remote).url, { op: 'push', remote, branch, force });
  }

  /** pull, then push what was merged: the two replicas converge. */
  async sync(branch = 'main', remote = 'origin') {
    const pulled = await this.pull(branch, remote);
    if (pulled.outcome === 'conflicts') return { pulled };
    const pushed = await this.push(branch, remote);
    return { pulled, pushed };
  }

  // ---- internals --------------------------------------------------------------------------

  #remote(name) {
    const r = this.#meta.remotes[name];
    if (!r) throw new Error(`no remote '${name}'`);
    return r;
  }

  #annotate(e) {
    const missing = this.#raw.lastMissing();
    if (missing) e.missing = missing;
    return e;
  }

  /** Runs `read`; a value it needs that a blobless clone left out is fetched from the promisor
   *  remote (after earlier writes when `queued`, else at once: the caller is queued itself)
   *  and `read` runs again. */
  async #lazily(read, queued) {
    for (let i = 0; i < 1000; i++) {
      try {
        return read();
      } catch (e) {
        const missing = this.#raw.lastMissing();
        const promisor = Object.entries(this.#meta.remotes).find(([, r]) => r.filter);
        if (!missing || !promisor) throw this.#annotate(e);
        const [, r] = promisor;
        const op = { op: 'missing', ids: [missing], filter: r.filter };
        await (queued ? this.#sync(r.url, op) : this.#syncNow(r.url, op));
      }
    }
    throw new Error('too many values had to be fetched; clone without a filter');
  }

  /** Runs `op` (a closure over the raw store) after every earlier write, then persists the
   *  journal; `lazy`: values it needs that a blobless clone left out are fetched first. */
  #write(op, lazy = false) {
    const run = this.#queue.then(async () => {
      try {
        return lazy ? await this.#lazily(op, false) : op();
      } finally {
        await this.#persist();
      }
    });
    this.#queue = run.catch(() => {});
    return run;
  }

  #sync(url, op) {
    const run = this.#queue.then(() => this.#syncNow(url, op));
    this.#queue = run.catch(() => {});
    return run;
  }

  /** Runs sync operation `op` against `url` to the end, fetching each request it needs. */
  async #syncNow(url, op) {
    try {
      this.#raw.syncStart(url, JSON.stringify(op));
      for (let step = 0; step < 100; step++) {
        const r = this.#raw.syncRun();
        if (r.done !== undefined) return JSON.parse(r.done);
        const n = r.need;
        let resp;
        try {
          resp = await this.fetch(n.url, {
            method: n.method,
            headers: { ...n.headers, ...this.headers },
            body: n.body,
          });
        } catch (e) {
          // fetch() says only "Failed to fetch" for a refused connection and for a server that
          // does not allow this page's origin (CORS); name the server and both causes.
          throw new Error(
            `cannot reach ${new URL(n.url).origin}: ${e.message ?? e} (the server is down, or it does not allow this page's origin by CORS)`,
            { cause: e },
          );
        }
        const body = new Uint8Array(await resp.arrayBuffer());
        this.#raw.syncProvide(n.key, resp.status, resp.headers.get('content-type') ?? undefined, body);
      }
      throw new Error(`${url}: the exchange did not finish in 100 requests`);
    } finally {
      this.#raw.syncCancel();
      await this.#persist();
      const shallow = JSON.parse(this.#raw.shallow());
      if (JSON.stringify(shallow) !== JSON.stringify(this.#meta.shallow ?? [])) {
        this.#meta.shallow = shallow;
        await this.#saveMeta();
      }
    }
  }

  async #persist() {
    const j = this.#raw.drainJournal();
    if (j.objects.length === 0 && j.refs.length === 0) return;
    if (this.#db) {
      const tx = this.#db.transaction(['objects', 'refs'], 'readwrite');
      const objects = tx.objectStore('objects');
      const refs = tx.objectStore('refs');
      for (const o of j.objects) objects.put({ kind: o.kind, data: o.data }, o.id);
      for (const r of j.refs) {
        if (r.value === null) refs.delete(r.name);
        else refs.put(r.value, r.name);
      }
      await done(tx);
    }
    for (const r of j.refs) {
      for (const w of this.#watchers) {
        try {
          w(r);
        } catch (e) {
          console.error('canopy watcher failed', e);
        }
      }
    }
  }

  async #saveMeta() {
    if (!this.#db) return;
    const tx = this.#db.transaction(['meta'], 'readwrite');
    const meta = tx.objectStore('meta');
    for (const [k, v] of Object.entries(this.#meta)) meta.put(v, k);
    await done(tx);
  }
}
