// The web UI's offline mode in a real Chromium: two browsers (two replicas in IndexedDB) go
// offline, lose the network, edit a counter and add notes through the UI, come back and sync;
// the counter merges by meaning (2 + 3), the merge commit is in the history with a line diff;
// offline mode survives a reload; a real conflict is resolved in the merge view and pushed; on
// a server with tokens the replica sends the page's token.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startServer, startBrowser, client, BIN } from './harness.mjs';

let server;
let rest;
let A;
let B;

before(async () => {
  server = await startServer();
  rest = client(server.url);
  await rest.put('main', '.gitattributes', 'counter merge=counter\n', 'counter merges by meaning');
  await rest.put('main', 'counter', '0', 'counter');
  await rest.put('main', 'notes/log', 'first line\n', 'a text value');
  A = await startBrowser();
  B = await startBrowser();
  for (const b of [A, B]) {
    await b.page.goto(`${server.url}/#b=main`);
    await b.page.waitForSelector('body[data-ready="true"]');
  }
});

after(async () => {
  await A?.close();
  await B?.close();
  await server?.stop();
});

const entry = (page, path) => page.locator(`#tree .entry[data-path="${path}"]`);

/** Clicks `path` in the tree, opening the directories above it. */
async function open(page, path) {
  const steps = path.split('/');
  for (let i = 1; i < steps.length; i++) {
    const dir = steps.slice(0, i).join('/');
    const closed = page.locator(`#tree li.dir[aria-expanded="false"] > .entry[data-path="${dir}"]`);
    await entry(page, dir).waitFor();
    if (await closed.count()) {
      await closed.click();
      await page.locator(`#tree li.dir[aria-expanded="true"] > .entry[data-path="${dir}"]`).waitFor();
    }
  }
  await entry(page, path).click();
}

/** Shows the value tab at `path` and waits for exactly `text` there. */
async function shows(page, path, text) {
  await page.click('.tabs button[data-tab="value"]');
  await open(page, path);
  await page.locator('#pane h2.value-path', { hasText: path }).waitFor();
  await page.waitForFunction(
    ([p, t]) => document.querySelector('#pane h2.value-path')?.textContent === p && document.querySelector('#pane pre.value')?.textContent === t,
    [path, text],
  );
}

/** Edits the value at `path` in the value editor and saves it. */
async function edit(page, path, text) {
  await page.click('.tabs button[data-tab="value"]');
  await open(page, path);
  await page.locator('#pane h2.value-path', { hasText: path }).waitFor();
  await page.click('#edit');
  await page.fill('#editor', text);
  await page.click('#save');
  await page.locator('#pane pre.value').filter({ hasText: text.trim() }).waitFor();
}

async function create(page, path, text) {
  await page.click('#new-value');
  await page.fill('#new-path', path);
  await page.fill('#new-text', text);
  await page.click('#create');
  await entry(page, path).waitFor();
}

/** Clicks `button` (Work offline, Sync, Online) and waits for it to finish without error. */
async function run(page, button) {
  await page.click(button);
  await page.waitForSelector('body:not([data-syncing])');
  const errors = await page.locator('#notice.error').allTextContents();
  assert.deepEqual(errors, []);
}

async function goOffline(page) {
  assert.equal(await page.locator('#offline-toggle').textContent(), 'Work offline');
  await run(page, '#offline-toggle');
  await page.locator('#offline-badge').waitFor({ state: 'visible' });
  await page.locator('#live', { hasText: 'local copy' }).waitFor();
  assert.equal(await page.locator('#offline-toggle').textContent(), 'Online');
}

test('two offline pages edit a counter and notes; syncing merges them', async () => {
  await goOffline(A.page);
  await goOffline(B.page);
  await A.context.setOffline(true);
  await B.context.setOffline(true);

  await edit(A.page, 'counter', '2');
  await create(A.page, 'notes/a', 'a line from A\n');
  await edit(B.page, 'counter', '3');
  await create(B.page, 'notes/b', 'a line from B\n');
  // Nothing reached the server.
  await A.context.setOffline(false);
  await B.context.setOffline(false);
  assert.equal(await rest.get('main', 'counter'), '0');

  // Offline mode survives a reload: the page comes back on its replica.
  await A.page.reload();
  await A.page.waitForSelector('body[data-ready="true"]');
  await A.page.locator('#offline-badge').waitFor({ state: 'visible' });
  await shows(A.page, 'counter', '2');
  await entry(A.page, 'notes/a').waitFor();

  await run(A.page, '#sync');
  assert.equal(await rest.get('main', 'counter'), '2');
  await run(B.page, '#sync');
  assert.equal(await rest.get('main', 'counter'), '5');
  await run(A.page, '#sync');

  for (const { page } of [A, B]) {
    await shows(page, 'counter', '5');
    await shows(page, 'notes/a', 'a line from A\n');
    await shows(page, 'notes/b', 'a line from B\n');
  }
  assert.equal(await rest.get('main', 'notes/a'), 'a line from A\n');
  assert.equal(await rest.get('main', 'notes/b'), 'a line from B\n');

  // The merge B made is in A's history, with two parents, and diffs against its first parent.
  const merge = await rest.head('main');
  const info = await rest.commit(merge);
  assert.equal(info.parents.length, 2);
  const page = A.page;
  await page.click('.tabs button[data-tab="history"]');
  const row = page.locator(`.commit-row[data-commit="${merge}"]`);
  await row.waitFor();
  assert.equal(await row.getAttribute('data-parents'), '2');
  assert.equal(await row.locator('.badge').textContent(), 'merge');
  assert.equal(await page.locator(`svg.graph path.edge[data-from="${merge}"]`).count(), 2);
  await row.click();
  await page.locator(`#commit-detail[data-commit="${merge}"]`).waitFor();
  await page.click('#diff-parent');
  const change = page.locator('#diff-result .change[data-path="counter"]');
  await change.waitFor();
  assert.equal(await change.getAttribute('data-status'), 'M');
  assert.equal(await change.locator('tr.del td.text').textContent(), '-3');
  assert.equal(await change.locator('tr.add td.text').textContent(), '+5');
  const added = page.locator('#diff-result .change[data-path="notes/a"]');
  assert.equal(await added.getAttribute('data-status'), 'A');
  assert.equal(await added.locator('tr.add td.text').textContent(), '+a line from A');
  // A fast-forwarded to the merge: its head, not a commit being browsed.
  await page.locator('#at-bar', { hasText: 'Head of main' }).waitFor();

  assert.deepEqual(A.problems, []);
  assert.deepEqual(B.problems, []);
});

test('a conflicting edit made offline is resolved in the merge view and pushed', async () => {
  await A.context.setOffline(true);
  await B.context.setOffline(true);
  await edit(A.page, 'notes/log', 'first line\nfrom A\n');
  await edit(B.page, 'notes/log', 'first line\nfrom B\n');
  await A.context.setOffline(false);
  await B.context.setOffline(false);

  await run(A.page, '#sync');
  assert.equal(await rest.get('main', 'notes/log'), 'first line\nfrom A\n');

  const page = B.page;
  await page.click('#sync');
  const card = page.locator('.conflict[data-path="notes/log"]');
  await card.waitFor();
  await page.waitForSelector('body:not([data-syncing])');
  assert.equal(await page.locator('#merge-from').inputValue(), 'refs/remotes/origin/main');
  assert.equal(await card.locator('.side.base pre').textContent(), 'first line\n');
  assert.equal(await card.locator('.side.ours pre').textContent(), 'first line\nfrom B\n');
  assert.equal(await card.locator('.side.theirs pre').textContent(), 'first line\nfrom A\n');
  // Still the server's text: nothing was pushed.
  assert.equal(await rest.get('main', 'notes/log'), 'first line\nfrom A\n');

  await card.locator('input[value="edit"]').check();
  await card.locator('textarea').fill('first line\nfrom A\nfrom B\n');
  await page.fill('#merge-message', 'Merge the server, both lines kept');
  await page.click('#merge-commit');
  await page.locator('#notice', { hasText: 'synced main' }).waitFor();
  await page.waitForSelector('body:not([data-syncing])');
  assert.equal(await rest.get('main', 'notes/log'), 'first line\nfrom A\nfrom B\n');
  const head = await rest.commit(await rest.head('main'));
  assert.equal(head.summary, 'Merge the server, both lines kept');
  assert.equal(head.parents.length, 2);

  // Both go back online: the pages show the server again, with the resolved text.
  for (const { page: p } of [B, A]) {
    await run(p, '#offline-toggle');
    await p.locator('#offline-badge').waitFor({ state: 'hidden' });
    await p.locator('#live', { hasText: '● live' }).waitFor();
    assert.equal(await p.evaluate(() => localStorage.getItem('canopy.offline')), null);
    await shows(p, 'notes/log', 'first line\nfrom A\nfrom B\n');
  }
  // Online again, an edit goes to the server directly.
  await edit(A.page, 'counter', '7');
  assert.equal(await rest.get('main', 'counter'), '7');

  assert.deepEqual(A.problems, []);
  assert.deepEqual(B.problems, []);
});

test('on a server with tokens, the replica syncs with the token the page was given', async () => {
  const secured = await startServer({
    setup: (store) => execFileSync(BIN, ['--root', store, 'token', 'create', 'ui', '--write', '*'], { encoding: 'utf8' }).trim(),
  });
  const token = secured.extra;
  const withToken = client(secured.url, token);
  const C = await startBrowser();
  try {
    await withToken.put('main', 'greeting', 'hello\n', 'seed');
    await C.page.goto(`${secured.url}/`);
    await C.page.locator('#token-dialog[open]').waitFor();
    await C.page.fill('#token-input', token);
    await C.page.click('#token-ok');
    await entry(C.page, 'greeting').waitFor();
    await goOffline(C.page);
    await edit(C.page, 'greeting', 'hello from a replica\n');
    assert.equal(await withToken.get('main', 'greeting'), 'hello\n');
    await run(C.page, '#offline-toggle');
    await C.page.locator('#offline-badge').waitFor({ state: 'hidden' });
    assert.equal(await withToken.get('main', 'greeting'), 'hello from a replica\n');
    assert.deepEqual(C.problems, []);
  } finally {
    await C.close();
    await secured.stop();
  }
});
