// The main pane's tabs: a value (shown, edited, created, deleted), the history graph, the diff
// between two commits, and merging a branch with conflicts resolved in the page. Each
// `render*(app, pane)` fills `pane` from `app.state` and calls `app.api` for data.

import { h, clear, shortId, formatDate, formatSize, asText, fromBase64 } from './dom.js';
import { drawGraph, topoOrder, LANE } from './graph.js';

const encoder = new TextEncoder();

// ---- value ---------------------------------------------------------------------------------

function looksJson(path, text) {
  const t = text.trimStart();
  return path.endsWith('.json') || t.startsWith('{') || t.startsWith('[');
}

/** A value's bytes as the page shows them: JSON pretty-printed, text as is, else size + link. */
function showBytes(path, bytes) {
  const text = asText(bytes);
  if (text === null) {
    const url = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
    const name = path.split('/').pop();
    return h(
      'div',
      { class: 'binary' },
      h('p', {}, `Binary value, ${formatSize(bytes.length)}.`),
      h('a', { href: url, download: name, class: 'download' }, `Download ${name}`),
    );
  }
  if (looksJson(path, text)) {
    try {
      const pretty = JSON.stringify(JSON.parse(text), null, 2);
      return h('div', {}, h('span', { class: 'badge' }, 'JSON'), ' ', h('pre', { class: 'value json' }, pretty));
    } catch {
      // not JSON after all: shown as text
    }
  }
  return h('pre', { class: 'value text' }, text);
}

export async function renderValue(app, pane) {
  const { state, api } = app;
  if (state.creating && !state.at) return renderCreate(app, pane);
  if (!state.path) {
    pane.append(h('p', { class: 'empty' }, 'Pick a value in the tree, or create one with “New value”.'));
    return;
  }
  let value;
  try {
    value = await api.getValue(state.branch, state.path, state.at);
  } catch (e) {
    if (e.status === 404) {
      pane.append(h('h2', {}, state.path), h('p', { class: 'empty' }, 'No value at this path here.'));
      return;
    }
    throw e;
  }
  const where = state.at ? `at commit ${shortId(state.at)}` : `head of ${state.branch}`;
  pane.append(
    h('h2', { class: 'value-path' }, state.path),
    h('div', { class: 'meta' }, `${formatSize(value.bytes.length)} · ${where} · blob ${shortId(value.hash)}`),
  );
  const body = h('div', { class: 'value-body' }, showBytes(state.path, value.bytes));
  const tools = h('div', { class: 'toolbar' });
  pane.append(tools, body);
  if (state.at) {
    tools.append(h('span', { class: 'hint' }, 'Read-only: go back to the head to edit.'));
    return;
  }
  const text = asText(value.bytes);
  tools.append(
    h('button', { type: 'button', id: 'edit', disabled: text === null, onclick: () => edit() }, 'Edit'),
    h('button', { type: 'button', id: 'delete', class: 'danger', onclick: () => confirmDelete() }, 'Delete'),
  );

  function edit() {
    app.state.editing = true;
    const area = h('textarea', { class: 'editor', id: 'editor', spellcheck: false }, text);
    const message = h('input', { class: 'wide', id: 'message', placeholder: `set ${state.path}`, 'aria-label': 'commit message' });
    const error = h('div');
    const save = async (force) => {
      try {
        const r = await api.putValue(state.branch, state.path, encoder.encode(area.value), {
          message: message.value || undefined,
          ifMatch: force ? undefined : value.commit,
        });
        await app.wrote(r.commit, `saved ${state.path}`);
      } catch (e) {
        if (e.status === 412) {
          clear(
            error,
            h(
              'div',
              { class: 'error-box' },
              'The branch moved since this value was read; your text is kept. ',
              h('button', { type: 'button', onclick: () => save(true) }, 'Save anyway'),
            ),
          );
        } else clear(error, h('div', { class: 'error-box' }, e.message));
      }
    };
    clear(
      body,
      area,
      h('div', { class: 'toolbar' }, message),
      error,
      h(
        'div',
        { class: 'toolbar' },
        h('button', { type: 'button', class: 'primary', id: 'save', onclick: () => save(false) }, 'Save (commit)'),
        h('button', { type: 'button', onclick: () => ((app.state.editing = false), app.renderTab()) }, 'Cancel'),
      ),
    );
    tools.replaceChildren();
    area.focus();
  }

  function confirmDelete() {
    clear(
      tools,
      `Delete ${state.path} on ${state.branch}? `,
      h(
        'button',
        {
          type: 'button',
          class: 'danger',
          id: 'confirm-delete',
          onclick: async () => {
            try {
              const r = await api.deleteValue(state.branch, state.path, { message: `remove ${state.path}` });
              app.state.path = null;
              app.writeHash();
              await app.wrote(r.commit, 'deleted');
            } catch (e) {
              app.fail(e);
            }
          },
        },
        'Delete',
      ),
      h('button', { type: 'button', onclick: () => app.renderTab() }, 'Keep'),
    );
  }
}

function renderCreate(app, pane) {
  const { state, api } = app;
  const path = h('input', { class: 'wide', id: 'new-path', dataset: { focus: '' }, value: state.dir ? state.dir + '/' : '', 'aria-label': 'path', placeholder: 'dir/name' });
  const area = h('textarea', { class: 'editor', id: 'new-text', spellcheck: false, 'aria-label': 'value' });
  const error = h('div');
  pane.append(
    h('h2', {}, `New value on ${state.branch}`),
    h('div', { class: 'toolbar' }, 'Path ', path),
    area,
    error,
    h(
      'div',
      { class: 'toolbar' },
      h(
        'button',
        {
          type: 'button',
          class: 'primary',
          id: 'create',
          onclick: async () => {
            const p = path.value.trim().replace(/^\/+|\/+$/g, '');
            if (!p) return;
            try {
              const r = await api.putValue(state.branch, p, encoder.encode(area.value), { message: `set ${p}` });
              state.path = p;
              app.openParents(p);
              app.writeHash();
              await app.wrote(r.commit, `created ${p}`);
            } catch (e) {
              clear(error, h('div', { class: 'error-box' }, e.message));
            }
          },
        },
        'Create (commit)',
      ),
      h('button', { type: 'button', onclick: () => ((state.creating = false), app.renderTab()) }, 'Cancel'),
    ),
  );
}

// ---- history -------------------------------------------------------------------------------

const picked = new Set(); // commits ticked for comparison

export async function renderHistory(app, pane) {
  const { state, api } = app;
  const commits = topoOrder(await api.log(state.branch, { limit: 300 }));
  if (!commits.length) {
    pane.append(h('p', { class: 'empty' }, 'No commits yet.'));
    return;
  }
  for (const id of [...picked]) if (!commits.some((c) => c.id === id)) picked.delete(id);
  const compare = h(
    'button',
    {
      type: 'button',
      id: 'compare',
      disabled: picked.size !== 2,
      onclick: () => {
        // Older first: the log is newest first.
        const [newer, older] = commits.filter((c) => picked.has(c.id)).map((c) => c.id);
        state.from = older;
        state.to = newer;
        app.showTab('diff');
      },
    },
    'Compare the two ticked commits',
  );
  pane.append(h('div', { class: 'toolbar' }, compare, h('span', { class: 'hint' }, 'Tick two commits to diff them; click one to see it and browse its tree.')));
  if (state.sel) pane.append(await commitDetail(app, state.sel));

  const graph = drawGraph(commits, new Set([state.sel].filter(Boolean)));
  const gutter = Number(graph.getAttribute('width')) + LANE / 2;
  const list = h('div', { class: 'history' }, graph);
  for (const c of commits) {
    const tick = h('input', {
      type: 'checkbox',
      class: 'pick',
      checked: picked.has(c.id),
      'aria-label': `compare ${shortId(c.id)}`,
      onclick: (ev) => {
        ev.stopPropagation();
        if (ev.target.checked) picked.add(c.id);
        else picked.delete(c.id);
        compare.disabled = picked.size !== 2;
      },
    });
    list.append(
      h(
        'div',
        {
          class: c.id === state.sel ? 'commit-row selected' : 'commit-row',
          style: `padding-left:${gutter}px`,
          dataset: { commit: c.id, parents: String(c.parents.length) },
          onclick: () => selectCommit(app, c.id),
        },
        tick,
        h('span', { class: 'summary' }, c.parents.length > 1 ? h('span', { class: 'badge' }, 'merge') : null, ' ', c.summary),
        h('span', { class: 'who' }, c.author.name),
        h('span', { class: 'when' }, formatDate(c.author.time)),
        h('span', { class: 'id' }, shortId(c.id)),
      ),
    );
  }
  pane.append(list);
}

async function selectCommit(app, id) {
  app.state.sel = id;
  await app.setAt(id);
}

async function commitDetail(app, id) {
  const { state, api } = app;
  const c = await api.getCommit(id);
  const box = h(
    'div',
    { class: 'commit-detail', id: 'commit-detail', dataset: { commit: c.id } },
    h('div', {}, h('strong', {}, 'Commit '), h('code', {}, c.id)),
    h('div', { class: 'meta' }, `${c.author.name} <${c.author.email}> · ${formatDate(c.author.time)}`),
    h('pre', {}, c.message),
    h(
      'div',
      { class: 'meta' },
      c.parents.length ? 'Parents: ' : 'Root commit',
      c.parents.map((p, i) => [i ? ', ' : '', h('a', { href: '#', onclick: (ev) => (ev.preventDefault(), selectCommit(app, p)) }, shortId(p))]),
    ),
    h(
      'ul',
      { class: 'changes compact' },
      c.changes.map((ch) => h('li', {}, h('span', { class: `status ${ch.status}` }, ch.status), ' ', ch.path)),
    ),
    h(
      'div',
      { class: 'toolbar' },
      c.parents.length
        ? h('button', { type: 'button', id: 'diff-parent', onclick: () => ((state.from = c.parents[0]), (state.to = c.id), app.showTab('diff')) }, 'Diff with parent')
        : null,
      h('button', { type: 'button', id: 'diff-head', onclick: () => ((state.from = c.id), (state.to = state.head), app.showTab('diff')) }, 'Diff with head'),
      h('button', { type: 'button', onclick: () => ((state.sel = null), app.setAt(null)) }, 'Close'),
    ),
  );
  return box;
}

// ---- diff ----------------------------------------------------------------------------------

/** A unified diff (`@@` hunks) as a table of old/new line numbers and coloured lines. */
function patchTable(patch) {
  const table = h('table', { class: 'patch' });
  let a = 0;
  let b = 0;
  for (const line of patch.split('\n')) {
    if (line === '') continue;
    const m = /^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@/.exec(line);
    if (m) {
      a = Number(m[1]);
      b = Number(m[2]);
      table.append(h('tr', { class: 'hunk' }, h('td', { class: 'ln' }), h('td', { class: 'ln' }), h('td', { class: 'text' }, line)));
      continue;
    }
    const kind = line[0];
    const text = line.slice(1);
    if (kind === '+') table.append(h('tr', { class: 'add' }, h('td', { class: 'ln' }), h('td', { class: 'ln' }, b++), h('td', { class: 'text' }, '+' + text)));
    else if (kind === '-') table.append(h('tr', { class: 'del' }, h('td', { class: 'ln' }, a++), h('td', { class: 'ln' }), h('td', { class: 'text' }, '-' + text)));
    else if (kind === '\\') table.append(h('tr', { class: 'note' }, h('td', { class: 'ln' }), h('td', { class: 'ln' }), h('td', { class: 'text' }, line)));
    else table.append(h('tr', { class: 'ctx' }, h('td', { class: 'ln' }, a++), h('td', { class: 'ln' }, b++), h('td', { class: 'text' }, ' ' + text)));
  }
  return table;
}

export function changeList(changes, { patches = true } = {}) {
  if (!changes.length) return h('p', { class: 'empty' }, 'No changes.');
  return h(
    'ul',
    { class: 'changes' },
    changes.map((c) =>
      h(
        'li',
        { class: 'change', dataset: { path: c.path, status: c.status } },
        h('header', {}, h('span', { class: `status ${c.status}` }, c.status), h('code', {}, c.path), h('span', { class: 'badge' }, c.kind)),
        !patches
          ? null
          : c.binary
            ? h('div', { class: 'meta', style: 'padding:6px 10px' }, 'Binary value changed.')
            : c.patch === null || c.patch === undefined
              ? h('div', { class: 'meta', style: 'padding:6px 10px' }, 'No line diff (too large).')
              : c.patch === ''
                ? h('div', { class: 'meta', style: 'padding:6px 10px' }, 'Empty value.')
                : patchTable(c.patch),
      ),
    ),
  );
}

export async function renderDiff(app, pane) {
  const { state, api } = app;
  const from = h('input', { id: 'diff-from', value: state.from ?? (state.head ? `${state.branch}~1` : ''), 'aria-label': 'from', size: 24 });
  const to = h('input', { id: 'diff-to', value: state.to ?? state.head ?? state.branch, 'aria-label': 'to', size: 24 });
  const out = h('div', { id: 'diff-result' });
  const run = async () => {
    state.from = from.value.trim();
    state.to = to.value.trim();
    app.writeHash();
    if (!state.from || !state.to) return;
    clear(out, h('p', { class: 'meta' }, 'Comparing…'));
    try {
      const d = await api.diff(state.from, state.to);
      clear(
        out,
        h('p', { class: 'meta' }, `${d.changes.length} changed path(s) from `, h('code', {}, shortId(d.from)), ' to ', h('code', {}, shortId(d.to))),
        changeList(d.changes),
      );
    } catch (e) {
      clear(out, h('div', { class: 'error-box' }, e.message));
    }
  };
  pane.append(
    h(
      'form',
      { class: 'toolbar', onsubmit: (ev) => (ev.preventDefault(), run()) },
      'From ',
      from,
      ' to ',
      to,
      h('button', { type: 'submit', id: 'diff-run' }, 'Compare'),
      h('span', { class: 'hint' }, 'Any revision: a branch, a commit id, main~2…'),
    ),
    out,
  );
  if (from.value && to.value) await run();
}

// ---- merge ---------------------------------------------------------------------------------

function sideText(side) {
  if (!side) return null;
  if (side.kind !== 'value') return null;
  if (side.value !== undefined) return side.value;
  if (side.value_base64 !== undefined) return asText(fromBase64(side.value_base64));
  return null;
}

function describeSide(side) {
  if (!side) return h('em', { class: 'meta' }, '(absent)');
  if (side.kind === 'tree') return h('em', { class: 'meta' }, '(a directory)');
  if (side.kind === 'gitlink') return h('em', { class: 'meta' }, `(submodule ${shortId(side.hash)})`);
  const text = sideText(side);
  if (text === null) return h('em', { class: 'meta' }, `(binary, ${formatSize(side.size ?? 0)})`);
  return h('pre', {}, text);
}

export async function renderMerge(app, pane) {
  const { state, api } = app;
  const others = app.branchNames().filter((b) => b !== state.branch);
  // A branch as the server has it (offline, after a sync conflicted), not a local branch.
  if (state.mergeFrom?.startsWith('refs/remotes/') && !others.includes(state.mergeFrom)) others.push(state.mergeFrom);
  if (state.at) {
    pane.append(h('p', { class: 'hint' }, 'Merges go into the branch head; go back to the head first.'));
    return;
  }
  if (!others.length) {
    pane.append(h('p', { class: 'empty' }, 'There is no other branch to merge.'));
    return;
  }
  const select = h('select', { id: 'merge-from', 'aria-label': 'merge from' }, h('option', { value: '' }, '— pick a branch —'), others.map((b) => h('option', { value: b }, b)));
  select.value = others.includes(state.mergeFrom) ? state.mergeFrom : '';
  const out = h('div', { id: 'merge-result' });
  select.addEventListener('change', () => {
    state.mergeFrom = select.value || null;
    app.writeHash();
    preview();
  });
  pane.append(h('div', { class: 'toolbar' }, `Merge into ${state.branch} from `, select), out);

  async function preview() {
    const from = state.mergeFrom;
    if (!from) return out.replaceChildren();
    clear(out, h('p', { class: 'meta' }, 'Checking…'));
    let p;
    try {
      p = await api.mergePreview(state.branch, from);
    } catch (e) {
      return clear(out, h('div', { class: 'error-box' }, e.message));
    }
    const message = h('input', { class: 'wide', id: 'merge-message', value: `Merge ${from} into ${state.branch}`, 'aria-label': 'merge message' });
    const error = h('div');
    const commit = async (resolutions) => {
      try {
        const r = await api.merge(state.branch, from, { resolutions, ifMatch: p.ours, message: message.value });
        const what = r.outcome === 'merged' ? 'merged' : r.outcome.replace('_', ' ');
        state.mergeFrom = null;
        await app.wrote(r.commit, `${what} ${from} into ${state.branch}`);
        app.state.sel = r.commit;
        await app.showTab('history');
        // Offline, merging the server's branch finishes a sync: it is pushed.
        await app.merged(state.branch, from);
      } catch (e) {
        const msg = e.status === 412 ? 'The branch moved since this preview; check again.' : e.message;
        clear(error, h('div', { class: 'error-box' }, msg));
      }
    };
    if (p.outcome === 'up_to_date') {
      return clear(out, h('p', { class: 'outcome', dataset: { outcome: p.outcome } }, `${state.branch} already contains ${from}.`));
    }
    if (p.outcome !== 'conflicts') {
      const label = p.outcome === 'fast_forward' ? 'Fast-forward' : 'Merge';
      return clear(
        out,
        h('p', { class: 'outcome', dataset: { outcome: p.outcome } }, p.outcome === 'fast_forward' ? `${state.branch} can fast-forward to ${from}.` : `${from} merges cleanly.`),
        h('div', { class: 'toolbar' }, message, h('button', { type: 'button', class: 'primary', id: 'merge-go', onclick: () => commit([]) }, label)),
        error,
        h('h3', {}, 'What changes'),
        changeList(p.changes, { patches: false }),
      );
    }
    const decisions = new Map();
    const go = h('button', { type: 'button', class: 'primary', id: 'merge-commit', disabled: true }, 'Commit merge');
    const update = () => (go.disabled = decisions.size !== p.conflicts.length);
    go.addEventListener('click', () => {
      const resolutions = p.conflicts.map((c) => decisions.get(c.path)());
      commit(resolutions);
    });
    const cards = p.conflicts.map((c, i) => conflictCard(c, i, decisions, update));
    clear(
      out,
      h('p', { class: 'outcome', dataset: { outcome: p.outcome } }, `${p.conflicts.length} conflicting path(s). Decide each, then commit the merge.`),
      cards,
      h('div', { class: 'toolbar' }, message, go),
      error,
    );
  }

  if (state.mergeFrom) await preview();
}

/** One conflict: its three sides, and the choice of resolution (recorded in `decisions`). */
function conflictCard(c, i, decisions, update) {
  const name = `resolve-${i}`;
  const edit = h('textarea', { class: 'editor', hidden: true, spellcheck: false, 'aria-label': `edit ${c.path}` }, sideText(c.ours) ?? sideText(c.theirs) ?? '');
  const choice = (value, label, make) =>
    h(
      'label',
      {},
      h('input', {
        type: 'radio',
        name,
        value,
        onchange: () => {
          edit.hidden = value !== 'edit';
          decisions.set(c.path, make);
          update();
        },
      }),
      ' ',
      label,
    );
  const textual = [c.ours, c.theirs].every((s) => !s || sideText(s) !== null);
  return h(
    'section',
    { class: 'conflict', dataset: { path: c.path } },
    h('header', {}, h('code', {}, c.path), h('span', { class: 'meta' }, c.reason)),
    h('div', { class: 'sides' }, ['base', 'ours', 'theirs'].map((k) => h('div', { class: `side ${k}` }, h('h4', {}, k), describeSide(c[k])))),
    h(
      'div',
      { class: 'choices' },
      choice('ours', 'Keep ours', () => ({ path: c.path, take: 'ours' })),
      choice('theirs', 'Take theirs', () => ({ path: c.path, take: 'theirs' })),
      c.base ? choice('base', 'Back to base', () => ({ path: c.path, take: 'base' })) : null,
      textual ? choice('edit', 'Edit', () => ({ path: c.path, value: edit.value })) : null,
      choice('delete', 'Delete', () => ({ path: c.path, delete: true })),
    ),
    edit,
  );
}
