// The web UI of `canopy serve` in a real Chromium: branches, the tree, values, editing, the
// history graph, diffs, merging with a conflict resolved in the page, live updates, the URL
// hash, and the token prompt.
//
// CANOPY_UI_SCREENSHOT=1 also writes docs/ui.png (or the .png path it names).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { startServer, startBrowser, client, ROOT, BIN } from './harness.mjs';

let server;
let rest;
let browser;
let page;
const seeded = {};

before(async () => {
  server = await startServer();
  rest = client(server.url);
  await rest.put('main', 'config/app.json', '{"name":"canopy","replicas":3,"tags":["a","b"]}', 'app config');
  await rest.put('main', 'config/db/host', 'db1.example.com\n', 'db host');
  await rest.put('main', 'notes.txt', 'line one\nline two\nline three\n', 'notes');
  await rest.put('main', 'blob.bin', new Uint8Array([0, 1, 2, 3, 255]), 'a binary value');
  await rest.branch('feature', 'main');
  await rest.put('feature', 'extra.txt', 'only on feature\n', 'feature: extra');
  await rest.put('main', 'config/db/port', '5432\n', 'db port');
  const merged = await rest.json('POST', 'branches/main/merge', { from: 'feature', message: 'Merge feature', no_ff: true });
  seeded.merge = merged.commit;
  await rest.branch('topic', 'main');
  await rest.put('topic', 'config/db/host', 'db-topic.example.com\n', 'topic: host');
  await rest.put('main', 'config/db/host', 'db-main.example.com\n', 'main: host');
  browser = await startBrowser();
  page = browser.page;
  await page.goto(`${server.url}/#b=main`);
  await page.waitForSelector('body[data-ready="true"]');
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const entry = (path) => page.locator(`#tree .entry[data-path="${path}"]`);

/** Expands the directories above `path` in the tree (those not open yet), then clicks it. */
async function open(path) {
  const steps = path.split('/');
  for (let i = 1; i < steps.length; i++) {
    const dir = steps.slice(0, i).join('/');
    const closed = page.locator(`#tree li.dir[aria-expanded="false"] > .entry[data-path="${dir}"]`);
    await entry(dir).waitFor();
    if (await closed.count()) {
      await closed.click();
      await page.locator(`#tree li.dir[aria-expanded="true"] > .entry[data-path="${dir}"]`).waitFor();
    }
  }
  await entry(path).click();
}

test('the page loads under its CSP without errors', async () => {
  assert.equal(await page.title(), 'Canopy');
  assert.deepEqual(browser.problems, []);
  const live = page.locator('#live');
  await live.filter({ hasText: 'live' }).waitFor();
});

test('switch branch', async () => {
  const options = await page.locator('#branch option').allTextContents();
  assert.deepEqual(options, ['feature', 'main', 'topic']);
  assert.equal(await page.locator('#branch').inputValue(), 'main');
  await page.selectOption('#branch', 'feature');
  await entry('extra.txt').waitFor();
  assert.match(page.url(), /#b=feature/);
  await page.selectOption('#branch', 'main');
  await entry('notes.txt').waitFor();
  assert.equal(await entry('extra.txt').count(), 1, 'main has merged feature');
});

test('browse the tree and open a JSON value pretty-printed', async () => {
  await entry('config').click();
  await entry('config/db').click();
  await entry('config/db/port').waitFor();
  await entry('config/app.json').click();
  const pre = page.locator('#pane pre.value.json');
  await pre.waitFor();
  assert.equal(await pre.textContent(), JSON.stringify({ name: 'canopy', replicas: 3, tags: ['a', 'b'] }, null, 2));
  assert.equal(await page.locator('#pane h2').textContent(), 'config/app.json');
});

test('a binary value shows its size and a download link', async () => {
  await entry('blob.bin').click();
  await page.locator('#pane .binary').waitFor();
  assert.match(await page.locator('#pane .binary').textContent(), /Binary value, 5 B/);
  const link = page.locator('#pane a.download');
  assert.equal(await link.getAttribute('download'), 'blob.bin');
  assert.match(await link.getAttribute('href'), /^blob:/);
});

test('edit a value; the new commit is in the history', async () => {
  await entry('notes.txt').click();
  await page.locator('#pane pre.value.text').waitFor();
  await page.click('#edit');
  await page.fill('#editor', 'line one\nline 2, edited\nline three\n');
  await page.fill('#message', 'edit notes from the UI');
  await page.click('#save');
  await page.locator('#pane pre.value.text', { hasText: 'line 2, edited' }).waitFor();
  assert.equal(await rest.get('main', 'notes.txt'), 'line one\nline 2, edited\nline three\n');
  await page.click('.tabs button[data-tab="history"]');
  const first = page.locator('.commit-row').first();
  await first.waitFor();
  assert.match(await first.locator('.summary').textContent(), /edit notes from the UI/);
  assert.equal(await first.getAttribute('data-commit'), await rest.head('main'));
});

test('the history graph draws a merge commit joining its two parents', async () => {
  const merge = seeded.merge;
  const info = await rest.commit(merge);
  assert.equal(info.parents.length, 2);
  const node = page.locator(`svg.graph circle[data-commit="${merge}"]`);
  await node.waitFor();
  assert.equal(await node.getAttribute('data-parents'), '2');
  const edges = page.locator(`svg.graph path.edge[data-from="${merge}"]`);
  assert.equal(await edges.count(), 2);
  const targets = await edges.evaluateAll((els) => els.map((e) => e.dataset.to).sort());
  assert.deepEqual(targets, [...info.parents].sort());
  // The two parents sit in different lanes.
  const xs = await Promise.all(info.parents.map((p) => page.locator(`svg.graph circle[data-commit="${p}"]`).getAttribute('cx')));
  assert.notEqual(xs[0], xs[1]);
  assert.equal(await page.locator(`.commit-row[data-commit="${merge}"] .badge`).textContent(), 'merge');
});

test('clicking a commit shows it and its tree', async () => {
  const row = page.locator('.commit-row', { hasText: 'db port' });
  const id = await row.getAttribute('data-commit');
  await row.click();
  await page.locator(`#commit-detail[data-commit="${id}"]`).waitFor();
  assert.match(await page.locator('#commit-detail').textContent(), /config\/db\/port/);
  await page.locator('#at-bar', { hasText: 'Browsing commit' }).waitFor();
  // Before feature was merged: no extra.txt in the tree at that commit.
  await entry('notes.txt').waitFor();
  assert.equal(await entry('extra.txt').count(), 0);
  await page.click('#back-to-head');
  await entry('extra.txt').waitFor();
});

test('diff two commits picked in the history, with a line diff', async () => {
  await page.click('.tabs button[data-tab="history"]');
  const rows = page.locator('.commit-row');
  await rows.first().waitFor();
  await rows.nth(0).locator('input.pick').check();
  await rows.nth(1).locator('input.pick').check();
  await page.click('#compare');
  const change = page.locator('#diff-result .change[data-path="notes.txt"]');
  await change.waitFor();
  assert.equal(await change.getAttribute('data-status'), 'M');
  assert.equal(await change.locator('tr.del td.text').textContent(), '-line two');
  assert.equal(await change.locator('tr.add td.text').textContent(), '+line 2, edited');
  const added = await change.locator('tr.add td.text').evaluate((td) => getComputedStyle(td).color);
  const removed = await change.locator('tr.del td.text').evaluate((td) => getComputedStyle(td).color);
  assert.notEqual(added, removed, 'added and removed lines are coloured differently');
  assert.equal(await page.locator('#diff-result .change').count(), 1);
});

test('merge a branch with a conflict, resolved in the page', async () => {
  const ours = await rest.head('main');
  const theirs = await rest.head('topic');
  await page.click('.tabs button[data-tab="merge"]');
  await page.selectOption('#merge-from', 'topic');
  const card = page.locator('.conflict[data-path="config/db/host"]');
  await card.waitFor();
  assert.equal(await card.locator('.side.base pre').textContent(), 'db1.example.com\n');
  assert.equal(await card.locator('.side.ours pre').textContent(), 'db-main.example.com\n');
  assert.equal(await card.locator('.side.theirs pre').textContent(), 'db-topic.example.com\n');
  assert.equal(await page.locator('#merge-commit').isDisabled(), true);
  await card.locator('input[value="edit"]').check();
  await card.locator('textarea').fill('db-merged.example.com\n');
  await page.fill('#merge-message', 'Merge topic, host settled');
  await page.click('#merge-commit');
  await page.locator('.tabs button[data-tab="history"][aria-selected="true"]').waitFor();
  const head = await rest.head('main');
  const info = await rest.commit(head);
  assert.deepEqual(info.parents, [ours, theirs]);
  assert.equal(info.summary, 'Merge topic, host settled');
  assert.equal(await rest.get('main', 'config/db/host'), 'db-merged.example.com\n');
  const first = page.locator('.commit-row').first();
  await page.locator(`.commit-row[data-commit="${head}"]`).waitFor();
  assert.equal(await first.getAttribute('data-parents'), '2');
  assert.equal(await page.locator(`svg.graph path.edge[data-from="${head}"]`).count(), 2);
});

test('live updates: a write by someone else appears without reloading', async () => {
  assert.equal(await page.locator('#back-to-head').count(), 0, 'at the head');
  await rest.put('main', 'from-elsewhere.txt', 'hello\n', 'written elsewhere');
  await entry('from-elsewhere.txt').waitFor({ timeout: 10000 });
  await page.locator('#notice', { hasText: 'written elsewhere' }).waitFor();
  // The history tab (shown) refreshed too.
  await page.locator('.commit-row').first().filter({ hasText: 'written elsewhere' }).waitFor();
});

test('the URL hash restores the view on reload', async () => {
  await page.click('.tabs button[data-tab="value"]');
  await open('config/db/host');
  await page.locator('#pane pre.value', { hasText: 'db-merged' }).waitFor();
  await page.click('.tabs button[data-tab="history"]');
  await page.locator('.commit-row').first().waitFor();
  if (process.env.CANOPY_UI_SCREENSHOT) await screenshot();
  await page.reload();
  await page.waitForSelector('body[data-ready="true"]');
  assert.equal(await page.locator('.tabs button[aria-selected="true"]').textContent(), 'History');
  assert.equal(await page.locator('#branch').inputValue(), 'main');
  await page.locator('.commit-row').first().waitFor();
  await page.click('.tabs button[data-tab="value"]');
  await page.locator('#pane h2', { hasText: 'config/db/host' }).waitFor();
  assert.equal(await entry('config/db/host').getAttribute('class'), 'entry selected');
});

test('create and delete a value on the branch head', async () => {
  await page.click('#new-value');
  await page.fill('#new-path', 'made/in/page.txt');
  await page.fill('#new-text', 'new\n');
  await page.click('#create');
  await entry('made/in/page.txt').waitFor();
  assert.equal(await rest.get('main', 'made/in/page.txt'), 'new\n');
  await page.locator('#pane h2', { hasText: 'made/in/page.txt' }).waitFor();
  await page.click('#delete');
  await page.click('#confirm-delete');
  await entry('made/in/page.txt').waitFor({ state: 'detached' });
  await assert.rejects(rest.get('main', 'made/in/page.txt'), /404/);
  assert.deepEqual(browser.problems, []);
});

test('a server with tokens: the page asks for one and keeps it for the tab', async () => {
  const secured = await startServer({
    setup: (store) =>
      execFileSync(BIN, ['--root', store, 'token', 'create', 'ui', '--write', '*'], { encoding: 'utf8' }).trim(),
  });
  const token = secured.extra;
  const other = await startBrowser();
  try {
    await client(secured.url, token).put('main', 'secret.txt', 'hidden\n', 'seed');
    await other.page.goto(secured.url + '/');
    const dialog = other.page.locator('#token-dialog[open]');
    await dialog.waitFor();
    await other.page.fill('#token-input', 'wrong');
    await other.page.click('#token-ok');
    // A wrong token is refused and asked again.
    await dialog.waitFor();
    await other.page.fill('#token-input', token);
    await other.page.click('#token-ok');
    await other.page.locator('#tree .entry[data-path="secret.txt"]').waitFor();
    await other.page.locator('#live', { hasText: 'live' }).waitFor();
    const kept = await other.page.evaluate(() => sessionStorage.getItem('canopy.token'));
    assert.equal(kept, token);
    assert.deepEqual(other.problems, []);
  } finally {
    await other.close();
    await secured.stop();
  }
});

async function screenshot() {
  const env = process.env.CANOPY_UI_SCREENSHOT;
  const file = env.endsWith('.png') ? resolve(env) : join(ROOT, 'docs/ui.png');
  mkdirSync(dirname(file), { recursive: true });
  await page.screenshot({ path: file });
}
