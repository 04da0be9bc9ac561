// The page's controller: which branch, commit, path and tab are shown (kept in the URL hash so
// a reload restores them), the branch switcher, the tree pane, the live watch and the token
// prompt. The tabs themselves are drawn by views.js; all store access goes through api.js, to
// the server or, in offline mode (offline.js), to a replica in the browser.

import * as api from './api.js';
import { h, clear, shortId } from './dom.js';
import { renderValue, renderHistory, renderDiff, renderMerge } from './views.js';
import { offlineMode } from './offline.js';

const $ = (id) => document.getElementById(id);

const state = {
  branches: [],
  branch: null,
  head: null, // the branch head as last seen
  at: null, // a commit being browsed, or null for the head
  path: null, // the selected value
  dir: '', // the directory a new value goes to
  tab: 'value',
  sel: null, // the commit selected in the history
  from: null, // diff: from REV
  to: null, // diff: to REV
  mergeFrom: null,
  open: new Set(), // expanded directories
  editing: false, // an edit is in progress: live updates do not replace the pane
  creating: false,
};

// ---- URL hash ------------------------------------------------------------------------------

const HASH_KEYS = { b: 'branch', at: 'at', p: 'path', tab: 'tab', sel: 'sel', from: 'from', to: 'to', m: 'mergeFrom' };

function readHash() {
  const q = new URLSearchParams(location.hash.slice(1));
  for (const [k, field] of Object.entries(HASH_KEYS)) state[field] = q.get(k) || (field === 'tab' ? 'value' : null);
  if (!['value', 'history', 'diff', 'merge'].includes(state.tab)) state.tab = 'value';
}

function writeHash() {
  const q = new URLSearchParams();
  for (const [k, field] of Object.entries(HASH_KEYS)) {
    if (state[field] && !(field === 'tab' && state[field] === 'value')) q.set(k, state[field]);
  }
  const hash = '#' + q.toString();
  if (hash !== location.hash) history.replaceState(null, '', hash);
}

// ---- notices -------------------------------------------------------------------------------

let noticeTimer = null;

function notice(text, { error = false } = {}) {
  const el = $('notice');
  el.textContent = text;
  el.classList.toggle('error', error);
  clearTimeout(noticeTimer);
  if (!error) noticeTimer = setTimeout(() => (el.textContent = ''), 6000);
}

function fail(e) {
  console.error(e);
  notice(e.message ?? String(e), { error: true });
}

// ---- branches ------------------------------------------------------------------------------

async function loadBranches() {
  state.branches = await api.listBranches();
  const select = $('branch');
  clear(select, state.branches.map((b) => h('option', { value: b.name }, b.name)));
  if (!state.branch || !state.branches.some((b) => b.name === state.branch)) {
    state.branch = state.branches.find((b) => b.name === 'main')?.name ?? state.branches[0]?.name ?? 'main';
  }
  select.value = state.branch;
  state.head = state.branches.find((b) => b.name === state.branch)?.head ?? null;
}

async function switchBranch(name) {
  if (name === state.branch) return;
  Object.assign(state, { branch: name, at: null, sel: null, path: null, from: null, to: null, mergeFrom: null });
  state.open.clear();
  state.editing = false;
  state.creating = false;
  state.head = state.branches.find((b) => b.name === name)?.head ?? null;
  $('branch').value = name;
  writeHash();
  startWatch();
  await refreshAll();
}

function newBranchForm() {
  const input = h('input', { placeholder: 'new branch name', 'aria-label': 'new branch name', size: 18 });
  const form = h(
    'form',
    {
      class: 'inline',
      onsubmit: async (ev) => {
        ev.preventDefault();
        const name = input.value.trim();
        if (!name) return;
        try {
          await api.createBranch(name, state.at ?? state.head ?? state.branch);
          form.remove();
          await loadBranches();
          await switchBranch(name);
          notice(`created branch ${name}`);
        } catch (e) {
          fail(e);
        }
      },
    },
    input,
    ' ',
    h('button', { type: 'submit' }, 'Create'),
    ' ',
    h('button', { type: 'button', onclick: () => form.remove() }, 'Cancel'),
  );
  $('new-branch').after(form);
  input.focus();
}

// ---- tree ----------------------------------------------------------------------------------

function renderAtBar() {
  const bar = $('at-bar');
  bar.classList.toggle('pinned', !!state.at);
  if (state.at) {
    clear(
      bar,
      'Browsing commit ',
      h('code', {}, shortId(state.at)),
      ' (read-only) ',
      h('button', { type: 'button', id: 'back-to-head', onclick: () => setAt(null) }, 'Back to head'),
    );
  } else {
    clear(bar, `Head of ${state.branch}: `, h('code', {}, shortId(state.head) || 'no commit'));
  }
  $('new-value').disabled = !!state.at;
}

// Renders run concurrently (a click, a live update); only the latest one is shown.
let treeSeq = 0;
let tabSeq = 0;

async function renderTree() {
  const seq = ++treeSeq;
  renderAtBar();
  const fresh = h('ul', { class: 'tree', id: 'tree', role: 'tree' });
  try {
    await fillDir(fresh, '');
  } catch (e) {
    if (e.status === 404) fresh.append(h('li', { class: 'empty' }, 'empty'));
    else throw e;
  }
  if (seq === treeSeq) $('tree').replaceWith(fresh);
}

async function fillDir(ul, path) {
  const listing = await api.getTree(state.branch, path, state.at);
  if (!listing.entries.length && path === '') ul.append(h('li', { class: 'empty' }, 'No values yet'));
  const dirs = listing.entries.filter((e) => e.kind === 'tree');
  const values = listing.entries.filter((e) => e.kind !== 'tree');
  for (const e of [...dirs, ...values]) {
    if (e.kind === 'tree') {
      const open = state.open.has(e.path);
      const li = h('li', { class: 'dir', role: 'treeitem', 'aria-expanded': String(open) });
      const row = h(
        'div',
        { class: 'entry', dataset: { path: e.path, kind: 'tree' }, onclick: () => toggleDir(e.path) },
        h('span', { class: 'twisty' }, open ? '▼' : '▶'),
        h('span', { class: 'name' }, e.name + '/'),
      );
      li.append(row);
      if (open) {
        const sub = h('ul', { role: 'group' });
        li.append(sub);
        await fillDir(sub, e.path);
      }
      ul.append(li);
    } else {
      const selected = e.path === state.path;
      ul.append(
        h(
          'li',
          { role: 'treeitem' },
          h(
            'div',
            {
              class: selected ? 'entry selected' : 'entry',
              dataset: { path: e.path, kind: e.kind },
              onclick: () => selectPath(e.path),
            },
            h('span', { class: 'twisty' }),
            h('span', { class: 'name' }, e.name),
          ),
        ),
      );
    }
  }
}

async function toggleDir(path) {
  if (state.open.has(path)) state.open.delete(path);
  else state.open.add(path);
  state.dir = path;
  await renderTree().catch(fail);
}

function openParents(path) {
  const steps = path.split('/');
  for (let i = 1; i < steps.length; i++) state.open.add(steps.slice(0, i).join('/'));
}

async function selectPath(path) {
  state.path = path;
  state.editing = false;
  state.creating = false;
  state.dir = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
  state.tab = 'value';
  writeHash();
  for (const el of document.querySelectorAll('#tree .entry')) {
    el.classList.toggle('selected', el.dataset.path === path);
  }
  await renderTab();
}

async function setAt(commit) {
  state.at = commit && commit !== state.head ? commit : null;
  state.editing = false;
  writeHash();
  await Promise.all([renderTree(), renderTab()]).catch(fail);
}

// ---- tabs ----------------------------------------------------------------------------------

async function renderTab() {
  for (const b of document.querySelectorAll('.tabs button')) {
    b.setAttribute('aria-selected', String(b.dataset.tab === state.tab));
  }
  const seq = ++tabSeq;
  const fresh = h('div', { class: 'pane', id: 'pane', dataset: { tab: state.tab } });
  try {
    if (state.tab === 'value') await renderValue(app, fresh);
    else if (state.tab === 'history') await renderHistory(app, fresh);
    else if (state.tab === 'diff') await renderDiff(app, fresh);
    else await renderMerge(app, fresh);
  } catch (e) {
    fresh.append(h('div', { class: 'error-box' }, e.message ?? String(e)));
  }
  if (seq !== tabSeq) return;
  $('pane').replaceWith(fresh);
  fresh.querySelector('[data-focus]')?.focus();
}

async function showTab(tab) {
  state.tab = tab;
  writeHash();
  await renderTab();
}

async function refreshHead() {
  const branches = await api.listBranches();
  state.branches = branches;
  state.head = branches.find((b) => b.name === state.branch)?.head ?? null;
}

async function refreshAll() {
  try {
    await refreshHead();
    await Promise.all([renderTree(), renderTab()]);
  } catch (e) {
    fail(e);
  }
}

/** After this page wrote `commit`: show it and everything that depends on the head. */
async function wrote(commit, what) {
  // The watch reports this commit too; it is not news to this page.
  ownCommits.add(commit);
  notice(`${what}: commit ${shortId(commit)}`);
  state.editing = false;
  state.creating = false;
  await refreshAll();
}

// ---- live updates --------------------------------------------------------------------------

let stopWatch = null;
const ownCommits = new Set();
let refreshTimer = null;

let watchSeq = 0;

function startWatch() {
  stopWatch?.();
  const live = $('live');
  const branch = state.branch;
  // A stopped watch may still report its closing: only the latest one is shown.
  const seq = ++watchSeq;
  stopWatch = api.watch(branch, {
    onState: (s) => {
      if (seq !== watchSeq) return;
      live.textContent = { live: '● live', local: '● local copy', retrying: '○ reconnecting' }[s] ?? '○ offline';
      live.classList.toggle('on', s === 'live' || s === 'local');
    },
    onEvent: (type, data) => {
      if (branch !== state.branch) return;
      if (type === 'change' && data?.id && data.id !== state.head && !ownCommits.has(data.id)) {
        // The event of this page's own write may arrive before the write's answer does: look
        // again when the timer fires, and leave the page as it is if the commit was ours.
        clearTimeout(refreshTimer);
        refreshTimer = setTimeout(() => {
          if (branch !== state.branch || data.id === state.head || ownCommits.has(data.id)) return;
          notice(`${branch} moved to ${shortId(data.id)}: ${data.summary ?? ''}`);
          liveRefresh();
        }, 150);
      } else if (type === 'deleted') {
        notice(`branch ${branch} was deleted`, { error: true });
      }
    },
  });
}

async function liveRefresh() {
  try {
    await refreshHead();
    const jobs = [];
    if (!state.at) jobs.push(renderTree());
    else renderAtBar();
    if (!state.editing && !state.creating && state.tab !== 'merge') jobs.push(renderTab());
    await Promise.all(jobs);
  } catch (e) {
    fail(e);
  }
}

// ---- token ---------------------------------------------------------------------------------

function askToken(reason) {
  const dialog = $('token-dialog');
  $('token-reason').textContent = `This server needs an access token: ${reason}`;
  $('token-input').value = '';
  return new Promise((resolve) => {
    const done = (value) => {
      $('token-ok').onclick = null;
      $('token-cancel').onclick = null;
      dialog.close();
      resolve(value);
    };
    $('token-ok').onclick = (ev) => {
      ev.preventDefault();
      done($('token-input').value.trim() || null);
    };
    $('token-cancel').onclick = () => done(null);
    if (!dialog.open) dialog.showModal();
    $('token-input').focus();
  });
}

// Only one prompt at a time: concurrent requests that get 401 share the answer.
let pendingPrompt = null;
api.setTokenPrompt((reason) => {
  pendingPrompt ??= askToken(reason).finally(() => setTimeout(() => (pendingPrompt = null), 0));
  return pendingPrompt;
});

// ---- what views get ------------------------------------------------------------------------

const app = {
  state,
  api,
  notice,
  fail,
  wrote,
  showTab,
  setAt,
  selectPath,
  renderTab,
  writeHash,
  openParents,
  refreshAll,
  loadBranches,
  startWatch,
  branchNames: () => state.branches.map((b) => b.name),
  merged: async () => {},
};

// ---- start ---------------------------------------------------------------------------------

async function start() {
  readHash();
  const offline = offlineMode(app);
  app.merged = offline.merged;
  await offline.resume();
  for (const b of document.querySelectorAll('.tabs button')) b.addEventListener('click', () => showTab(b.dataset.tab));
  $('branch').addEventListener('change', (ev) => switchBranch(ev.target.value).catch(fail));
  $('new-branch').addEventListener('click', newBranchForm);
  $('refresh').addEventListener('click', () => refreshAll());
  $('new-value').addEventListener('click', () => {
    state.creating = true;
    state.tab = 'value';
    writeHash();
    renderTab();
  });
  $('token-button').addEventListener('click', async () => {
    const t = await askToken(api.token() ? 'replace the current one (empty: forget it)' : 'enter one');
    api.setToken(t);
    refreshAll();
  });
  window.addEventListener('hashchange', () => {
    const before = state.branch;
    readHash();
    if (state.branch !== before) startWatch();
    refreshAll();
  });
  try {
    await loadBranches();
  } catch (e) {
    fail(e);
    return;
  }
  if (state.path) openParents(state.path);
  writeHash();
  startWatch();
  await refreshAll();
  document.body.dataset.ready = 'true';
}

start();
