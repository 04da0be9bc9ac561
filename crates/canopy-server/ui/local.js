// The offline backend: every function of api.js answered from a replica of the store kept in
// the page (the WebAssembly replica, persisted in IndexedDB), with the shapes the REST API
// answers, so the views cannot tell which one they talk to.
//
// What it cannot match: tree entries carry no hashes (the replica lists names and kinds only);
// a conflict on a directory shows its sides as absent; a commit's changes have no modes.
// A merge preview runs the merge on a scratch branch that is deleted afterwards (the objects
// it wrote stay in the replica, unreferenced).

import { StoreError } from './api.js';
import { asText, fromBase64, toBase64 } from './dom.js';

/** The server branch `branch` as the replica tracks it. */
export const remoteRef = (branch, remote = 'origin') => `refs/remotes/${remote}/${branch}`;

/** Branches made for a merge preview; never listed. */
const SCRATCH = 'canopy-ui-preview-';

/** Values larger than this get no line diff (`patch: null`), as on the server. */
const MAX_PATCH_BYTES = 1 << 20;

/** Values up to this size are sent inline in a preview's conflicts, as on the server. */
const MAX_INLINE = 1 << 20;

const encoder = new TextEncoder();

/** Loads the replica module and opens the replica of the store at `origin` (one IndexedDB
 *  database per server origin). */
export async function openReplica(origin = location.origin) {
  const { load, Replica } = await import('./wasm/canopy.mjs');
  await load();
  const r = await Replica.open({ name: `canopy-ui ${origin}` });
  r.setIdentity('Canopy UI (offline)', `offline@${new URL(origin).hostname || 'localhost'}`);
  return r;
}

const notFound = (code, message) => new StoreError(404, code, message, null);

const summaryOf = (message) => message.split('\n')[0];

/** The replica's commit as the API shows it (`offset` is `offset_minutes` there). */
function commitJson(c) {
  const sig = (s) => ({ name: s.name, email: s.email, time: s.time, offset_minutes: s.offset });
  return {
    id: c.id,
    parents: c.parents,
    author: sig(c.author),
    committer: sig(c.committer),
    message: c.message,
    summary: summaryOf(c.message),
  };
}

const STATUS = { added: 'A', removed: 'D', changed: 'M' };

function changeJson(c) {
  const side = (id) => (id ? { hash: id, mode: null } : null);
  return { path: c.path, kind: c.kind, status: STATUS[c.kind], old: side(c.old), new: side(c.new) };
}

const under = (prefix) => (p) => !prefix || p === prefix || p.startsWith(prefix + '/');

/** The Git id of `bytes` as a blob, in the hash of the store (told by a commit id's length);
 *  '' where the page has no WebCrypto (a plain-HTTP origin other than localhost). */
async function blobId(bytes, commit) {
  if (!globalThis.crypto?.subtle || !commit) return '';
  const header = encoder.encode(`blob ${bytes.length}\0`);
  const all = new Uint8Array(header.length + bytes.length);
  all.set(header);
  all.set(bytes, header.length);
  const digest = await crypto.subtle.digest(commit.length === 64 ? 'SHA-256' : 'SHA-1', all);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** A backend for api.js's `useBackend` over replica `r`. */
export function localBackend(r) {
  /** The commit `rev` names, or a 404 like the server's. */
  const resolve = (rev) => {
    try {
      return r.resolve(rev);
    } catch (e) {
      throw notFound('no_such_rev', `no such revision '${rev}': ${e.message ?? e}`);
    }
  };

  const requireBranch = (branch) => {
    const head = r.head(branch);
    if (head === undefined) throw notFound('no_such_branch', `branch '${branch}' does not exist`);
    return head;
  };

  const checkHead = (branch, ifMatch) => {
    const head = r.head(branch);
    if (ifMatch && head !== ifMatch) {
      throw new StoreError(412, 'precondition_failed', `branch '${branch}' is at ${head ?? 'no commit'}, not the commit in If-Match`, null);
    }
  };

  /** What one side of a conflict holds, as the server's preview shows it. */
  const sideJson = async (bytes, commit) => {
    if (bytes === null || bytes === undefined) return null;
    const side = { kind: 'value', hash: await blobId(bytes, commit), mode: '100644', size: bytes.length };
    if (bytes.length <= MAX_INLINE) {
      const text = asText(bytes);
      if (text !== null) side.value = text;
      else side.value_base64 = toBase64(bytes);
    }
    return side;
  };

  /** Each change with its unified line diff, as `GET /diff?patch=true` answers. */
  const withPatch = async (from, to, c) => {
    let old;
    let neu;
    try {
      old = c.old ? await r.get(from, c.path) : new Uint8Array();
      neu = c.new ? await r.get(to, c.path) : new Uint8Array();
    } catch {
      return { ...changeJson(c), binary: false, patch: null };
    }
    if (old === undefined || neu === undefined) return { ...changeJson(c), binary: false, patch: null };
    if (asText(old) === null || asText(neu) === null) return { ...changeJson(c), binary: true, patch: null };
    if (Math.max(old.length, neu.length) > MAX_PATCH_BYTES) return { ...changeJson(c), binary: false, patch: null };
    return { ...changeJson(c), binary: false, patch: r.constructor.lineDiff(old, neu) };
  };

  return {
    name: 'local',
    replica: r,

    async listBranches() {
      return r.branches().filter((b) => !b.name.startsWith(SCRATCH));
    },

    async createBranch(name, from) {
      if (r.head(name) !== undefined) throw new StoreError(409, 'branch_exists', `branch '${name}' already exists`, null);
      const start = from ? resolve(from) : requireBranch('main');
      await r.createBranch(name, start);
      return { name, head: start };
    },

    async deleteBranch(name) {
      const head = requireBranch(name);
      await r.deleteBranch(name);
      return { name, head };
    },

    async getTree(branch, path = '', at = null) {
      const rev = at ? resolve(at) : requireBranch(branch);
      let listing = [];
      try {
        listing = r.list(rev, path);
      } catch {
        // a value, not a directory: nothing to list, as below
      }
      if (path && listing.length === 0) {
        // The replica lists neither a value nor a missing path: both are "nothing here".
        throw notFound('no_such_path', `nothing at '${path}'`);
      }
      const mode = { value: '100644', tree: '40000', gitlink: '160000' };
      const entries = listing.map((e) => ({
        name: e.name,
        path: path ? `${path}/${e.name}` : e.name,
        kind: e.kind,
        hash: null,
        mode: mode[e.kind],
      }));
      return { commit: rev, path, entries };
    },

    async getValue(branch, path, at = null) {
      const rev = at ? resolve(at) : requireBranch(branch);
      const bytes = await r.get(rev, path);
      if (bytes === undefined) throw notFound('no_such_path', `no value at '${path}'`);
      return { bytes, hash: await blobId(bytes, rev), commit: rev };
    },

    async putValue(branch, path, bytes, { message, ifMatch } = {}) {
      checkHead(branch, ifMatch);
      return { commit: await r.set(branch, path, bytes, message) };
    },

    async deleteValue(branch, path, { message, ifMatch } = {}) {
      checkHead(branch, ifMatch);
      if (r.paths(requireBranch(branch), path).length === 0) throw notFound('no_such_path', `nothing at '${path}'`);
      return { commit: await r.remove(branch, path, message) };
    },

    async log(branch, { limit = 200, path } = {}) {
      const head = requireBranch(branch);
      if (!path) return r.log(head, limit).map(commitJson);
      // Commits whose change against their first parent touches `path`.
      const out = [];
      for (const c of r.log(head, 10000)) {
        if (out.length >= limit) break;
        if (r.diff(c.parents[0] ?? null, c.id).some((ch) => under(path)(ch.path))) out.push(commitJson(c));
      }
      return out;
    },

    async getCommit(rev) {
      const id = resolve(rev);
      const [c] = r.log(id, 1);
      return { ...commitJson(c), changes: r.diff(c.parents[0] ?? null, id).map(changeJson) };
    },

    async diff(from, to, { path } = {}) {
      const a = resolve(from);
      const b = resolve(to);
      const changes = r.diff(a, b).filter((c) => under(path)(c.path));
      return { from: a, to: b, changes: await Promise.all(changes.map((c) => withPatch(a, b, c))) };
    },

    async mergePreview(branch, from) {
      const theirs = resolve(from);
      const ours = r.head(branch) ?? null;
      const answer = (outcome, changes = [], conflicts = []) => ({ ours, theirs, outcome, changes, conflicts });
      if (!ours) return answer('fast_forward', r.diff(null, theirs).map(changeJson));
      // A trial merge on a scratch branch tells what merging would do.
      const scratch = SCRATCH + Math.random().toString(36).slice(2);
      await r.createBranch(scratch, ours);
      try {
        const m = await r.merge(scratch, theirs, `preview: merge ${from} into ${branch}`);
        if (m.outcome === 'up-to-date') return answer('up_to_date');
        if (m.outcome === 'fast-forward') return answer('fast_forward', r.diff(ours, theirs).map(changeJson));
        if (m.outcome === 'merged') return answer('clean', r.diff(ours, m.commit).map(changeJson));
        const conflicts = [];
        for (const c of m.conflicts) {
          let sides = { base: null, ours: null, theirs: null };
          try {
            sides = r.mergeSides(ours, theirs, c.path);
          } catch {
            // a directory on some side: shown as absent
          }
          conflicts.push({
            path: c.path,
            reason: c.reason,
            base: await sideJson(sides.base, ours),
            ours: await sideJson(sides.ours, ours),
            theirs: await sideJson(sides.theirs, ours),
          });
        }
        return answer('conflicts', [], conflicts);
      } finally {
        await r.deleteBranch(scratch);
      }
    },

    async merge(branch, from, { resolutions, ifMatch, message } = {}) {
      checkHead(branch, ifMatch);
      const theirs = resolve(from);
      const msg = message || `Merge ${from} into ${branch}`;
      if (!resolutions?.length) {
        const m = await r.merge(branch, theirs, msg);
        if (m.outcome === 'conflicts') {
          const paths = m.conflicts.map((c) => c.path).join(', ');
          throw new StoreError(409, 'conflicts', `merging ${from} into '${branch}' conflicts at ${paths}`, { error: { conflicts: m.conflicts } });
        }
        return { commit: m.commit, outcome: m.outcome.replaceAll('-', '_') };
      }
      const chosen = new Map();
      for (const res of resolutions) {
        if (res.take) chosen.set(res.path, r.mergeSides(branch, theirs, res.path)[res.take] ?? null);
        else if (res.delete) chosen.set(res.path, null);
        else if (res.value_base64 !== undefined) chosen.set(res.path, fromBase64(res.value_base64));
        else chosen.set(res.path, res.value);
      }
      return { commit: await r.mergeResolved(branch, theirs, chosen, msg), outcome: 'merged' };
    },

    /** Follows `branch` in the replica: its writes, merges and pulls. */
    watch(branch, { onEvent, onState = () => {} }) {
      const ref = `refs/heads/${branch}`;
      const stop = r.watch((change) => {
        if (change.name !== ref) return;
        // After the write's own caller has seen its result (as a server event would arrive).
        setTimeout(() => {
          if (change.value === null) return onEvent('deleted', { branch }, null);
          let summary = '';
          try {
            summary = summaryOf(r.log(change.value, 1)[0]?.message ?? '');
          } catch {
            // a commit the replica no longer has: no summary
          }
          onEvent('change', { id: change.value, before: change.before, summary }, null);
        }, 0);
      });
      onState('local');
      return () => {
        stop();
        onState('closed');
      };
    },
  };
}
