// A page replica syncing with a Git server that is not Canopy: git's own `git http-backend`,
// on another origin than the page's, allowing it by CORS. The page clones a history git made
// (full, shallow and blobless with a value fetched when read), commits, pushes, and git sees a
// sound repository with the page's commit; a server that does not allow the page's origin is
// refused by the browser with a clear error and the replica keeps working.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { bundle } from '../../crates/canopy-wasm/tests/server.mjs';
import { git, startGitHttp, startStatic } from './githttp.mjs';

const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

let dir;
let pageServer;
let open;
let closed;
let browser;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'canopy-foreign-'));
  // A history made by git: three commits on main, one value large enough to matter lazily.
  const work = join(dir, 'work');
  git(dir, 'init', '-q', '-b', 'main', work);
  writeFileSync(join(work, 'README'), 'made by git\n');
  git(work, 'add', '.');
  git(work, 'commit', '-q', '-m', 'first');
  writeFileSync(join(work, 'doc'), 'a document git wrote\n'.repeat(400));
  git(work, 'add', '.');
  git(work, 'commit', '-q', '-m', 'second');
  writeFileSync(join(work, 'counter'), '1');
  git(work, 'add', '.');
  git(work, 'commit', '-q', '-m', 'third');
  const repos = join(dir, 'repos');
  git(dir, 'clone', '-q', '--bare', work, join(repos, 'data.git'));
  const bare = join(repos, 'data.git');
  git(bare, 'config', 'http.receivepack', 'true');
  git(bare, 'config', 'uploadpack.allowFilter', 'true');
  git(bare, 'config', 'uploadpack.allowAnySHA1InWant', 'true');

  pageServer = await startStatic(bundle);
  open = await startGitHttp(repos, { cors: pageServer.url });
  closed = await startGitHttp(repos);
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ARGS });
});

after(async () => {
  await browser?.close();
  await open?.stop();
  await closed?.stop();
  await pageServer?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function replicaPage() {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${pageServer.url}/`);
  await page.evaluate(async () => {
    const m = await import('/wasm/canopy.mjs');
    await m.load();
    window.canopy = m;
  });
  page.errors = errors;
  return { page, context };
}

test('a page clones from git http-backend on another origin, commits and pushes back', async () => {
  const { page, context } = await replicaPage();
  const url = `${open.url}/data.git`;
  const result = await page.evaluate(async (url) => {
    const r = await canopy.Replica.open({ name: 'foreign' });
    r.setIdentity('Page', 'page@example.com');
    const cloned = await r.clone(url);
    const before = { branch: cloned.branch, log: r.log('main').map((c) => c.message.trim()), readme: await r.getText('main', 'README') };
    await r.set('main', 'counter', '2', 'from the page');
    const pushed = await r.push('main');
    return { before, pushed, head: r.head('main') };
  }, url);
  assert.deepEqual(result.before, { branch: 'main', log: ['third', 'second', 'first'], readme: 'made by git\n' });
  assert.equal(result.pushed.ok, true, JSON.stringify(result.pushed));
  // The requests really went to git, across origins (with CORS preflights).
  assert.ok(open.requests.some((r) => r.startsWith('OPTIONS ')), open.requests.join('\n'));
  assert.ok(open.requests.some((r) => r.startsWith('POST /data.git/git-receive-pack')), open.requests.join('\n'));
  const bare = join(dir, 'repos', 'data.git');
  assert.equal(git(bare, 'rev-parse', 'main').trim(), result.head);
  assert.equal(git(bare, 'show', 'main:counter'), '2');
  assert.equal(git(bare, 'log', '-1', '--format=%an <%ae>%n%s', 'main').trim(), 'Page <page@example.com>\nfrom the page');
  git(bare, 'fsck', '--strict');
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('shallow and blobless clones from git http-backend, a value fetched when read', async () => {
  const { page, context } = await replicaPage();
  const url = `${open.url}/data.git`;
  const result = await page.evaluate(async (url) => {
    const shallow = await canopy.Replica.open({ memory: true });
    await shallow.clone(url, { depth: 1 });
    const lazy = await canopy.Replica.open({ memory: true });
    await lazy.clone(url, { filter: 'blob:none' });
    let missing = null;
    try { lazy.getSync('main', 'doc'); } catch (e) { missing = e.missing; }
    const doc = await lazy.getText('main', 'doc');
    return {
      shallowLog: shallow.log('main', 10).length,
      shallowCounter: await shallow.getText('main', 'counter'),
      missing,
      docLines: doc.split('\n').length - 1,
    };
  }, url);
  assert.equal(result.shallowLog, 1);
  assert.equal(result.shallowCounter, '2');
  assert.match(result.missing, /^[0-9a-f]{40}$/);
  assert.equal(result.docLines, 400);
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('a Git server that does not allow the page by CORS is refused clearly; nothing changes', async () => {
  const { page, context } = await replicaPage();
  const result = await page.evaluate(async (url) => {
    const r = await canopy.Replica.open({ memory: true });
    await r.set('main', 'mine', 'kept');
    const head = r.head('main');
    let error = null;
    try {
      await r.clone(url, { remote: 'elsewhere' });
    } catch (e) {
      error = String(e.message ?? e);
    }
    await r.set('main', 'after', 'still works');
    return { error, same: r.log('main', 2)[1].id === head, mine: await r.getText('main', 'mine'), branches: r.branches().map((b) => b.name) };
  }, `${closed.url}/data.git`);
  assert.match(result.error ?? "", /cannot reach http:\/\/127\.0\.0\.1:\d+: .*CORS/);
  assert.deepEqual({ same: result.same, mine: result.mine, branches: result.branches }, { same: true, mine: 'kept', branches: ['main'] });
  await context.close();
});
