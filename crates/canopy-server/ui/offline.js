// Offline mode: the page keeps working on a replica of the store in the browser (IndexedDB)
// and syncs it with the server when asked.
//
// "Work offline" clones the server's store into the replica (or, when this origin already has
// one, fetches into it and merges the server's current branch) and switches api.js to the
// replica. "Sync" merges the server's branch into the local one, then pushes it; "Online" does
// the same and switches back to the server. A sync whose merge conflicts opens the merge view
// on the server's branch: committing the resolution finishes the sync (pull again, push).
// Offline mode survives a reload (localStorage remembers it; the replica is in IndexedDB).
// Only the current branch is synced; other local branches stay in the replica.

import * as api from './api.js';
import { openReplica, localBackend, remoteRef } from './local.js';

const KEY = 'canopy.offline';
const REMOTE = 'origin';
const $ = (id) => document.getElementById(id);

/** Wires the offline controls of the page to `app` (the controller of app.js). */
export function offlineMode(app) {
  let replica = null;
  // A sync waiting for its conflicts to be resolved: { branch, online }.
  let pending = null;

  const offline = () => api.backendName() === 'local';

  /** The replica, sending the page's token (if any) with every sync request. */
  async function open() {
    replica ??= await openReplica();
    const t = api.token();
    replica.headers = t ? { Authorization: `Bearer ${t}` } : {};
    return replica;
  }

  function show() {
    const on = offline();
    $('offline-badge').hidden = !on;
    $('sync').hidden = !on;
    $('offline-toggle').textContent = on ? 'Online' : 'Work offline';
    $('offline-toggle').title = on ? 'Sync this branch with the server and work on the server again' : 'Copy the store into this browser and work on the copy';
    document.body.dataset.mode = on ? 'offline' : 'online';
  }

  async function use(local) {
    api.useBackend(local ? localBackend(replica) : null);
    if (local) localStorage.setItem(KEY, '1');
    else localStorage.removeItem(KEY);
    show();
    await app.loadBranches();
    app.startWatch();
    await app.refreshAll();
  }

  /** Merges the server's `branch` (as last fetched) into the local one. */
  async function mergeServer(r, branch) {
    const theirs = remoteRef(branch, REMOTE);
    if (!r.refs(theirs).some((x) => x.name === theirs)) return { outcome: 'up-to-date' };
    return r.merge(branch, theirs, `Merge branch '${branch}' of ${r.remotes()[REMOTE].url}`);
  }

  async function goOffline() {
    // Asks for a token now if the server wants one: the replica's requests cannot ask.
    await api.listBranches();
    const r = await open();
    const branch = app.state.branch;
    if (r.remotes()[REMOTE]) await r.fetchRemote(REMOTE);
    else await r.clone(`${location.origin}/git`, { remote: REMOTE });
    // Every server branch, so that the branch switcher offers the same ones.
    const prefix = `refs/remotes/${REMOTE}/`;
    for (const { name, id } of r.refs(prefix)) {
      const b = name.slice(prefix.length);
      if (b !== 'HEAD' && r.head(b) === undefined) await r.createBranch(b, id);
    }
    const pulled = await mergeServer(r, branch);
    await use(true);
    if (pulled.outcome === 'conflicts') return conflicts(branch, false, pulled.conflicts.length);
    app.notice(`working offline on a copy of the store (${r.branches().length} branch(es))`);
  }

  /** Pull the server's branch into the local one, then push; `online`: then use the server. */
  async function sync({ online = false } = {}) {
    const r = await open();
    const branch = app.state.branch;
    for (let attempt = 1; ; attempt++) {
      const { pulled, pushed } = await r.sync(branch, REMOTE);
      if (pulled.outcome === 'conflicts') return conflicts(branch, online, pulled.conflicts.length);
      if (pushed.ok) break;
      // The server's branch moved between the pull and the push: pull again.
      const why = pushed.refs.map((x) => x.error).filter(Boolean).join('; ');
      if (attempt >= 3) throw new Error(`the server refused the push of ${branch}: ${why}`);
    }
    if (online) await use(false);
    else await app.refreshAll();
    app.notice(online ? `synced ${branch}; working on the server again` : `synced ${branch} with the server`);
  }

  function conflicts(branch, online, n) {
    pending = { branch, online };
    Object.assign(app.state, { mergeFrom: remoteRef(branch, REMOTE), at: null, sel: null, editing: false, creating: false });
    app.notice(`sync: ${n} path(s) conflict with the server; decide them and commit the merge to finish`, { error: true });
    return app.showTab('merge');
  }

  /** The merge view committed a merge of `from` into `branch`: the end of a conflicted sync. */
  async function merged(branch, from) {
    if (!pending || pending.branch !== branch || from !== remoteRef(branch, REMOTE)) return;
    const { online } = pending;
    pending = null;
    await guarded(() => sync({ online }))();
  }

  /** Runs a toggle or sync with the controls disabled; failures are shown. */
  function guarded(fn) {
    return async () => {
      const controls = [$('offline-toggle'), $('sync')];
      controls.forEach((b) => (b.disabled = true));
      document.body.dataset.syncing = 'true';
      try {
        await fn();
      } catch (e) {
        app.fail(new Error(`${offline() ? 'sync' : 'going offline'} failed: ${e.message ?? e}`));
      } finally {
        controls.forEach((b) => (b.disabled = false));
        delete document.body.dataset.syncing;
      }
    };
  }

  $('offline-toggle').addEventListener('click', guarded(() => (offline() ? sync({ online: true }) : goOffline())));
  $('sync').addEventListener('click', guarded(() => sync()));

  return {
    merged,
    /** At start: back to offline mode if the page was offline before a reload. */
    async resume() {
      if (localStorage.getItem(KEY) !== '1') return show();
      try {
        const r = await open();
        if (!r.remotes()[REMOTE]) throw new Error('the copy of the store in this browser is gone');
        api.useBackend(localBackend(r));
      } catch (e) {
        localStorage.removeItem(KEY);
        app.fail(new Error(`cannot work offline: ${e.message ?? e}`));
      }
      show();
    },
  };
}
