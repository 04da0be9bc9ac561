// The WebAssembly replica in a real Chromium page: IndexedDB persistence across reloads, a merge
// function written in JavaScript deciding a merge, a blobless clone fetching a value when read,
// and the figures BENCHMARKS.md quotes (printed with CANOPY_WEB_BENCH=1).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startServer, bundle } from '../../crates/canopy-wasm/tests/server.mjs';

const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

let browser;
let server;

// playwright starts Chromium with a new empty profile of its own; each test's replicas live in
// their own browser contexts (each its own IndexedDB).
before(async () => {
  server = await startServer();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ARGS,
  });
});

after(async () => {
  await browser?.close();
  server?.stop();
});

/** A page of canopy serve with the replica module loaded as `window.canopy`. */
async function replicaPage(context, origin = server.url) {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${origin}/`);
  await page.evaluate(async () => {
    const m = await import('/ui/wasm/canopy.mjs');
    await m.load();
    window.canopy = m;
  });
  page.errors = errors;
  return page;
}

test('a replica in IndexedDB survives a reload', async () => {
  const context = await browser.newContext();
  let page = await replicaPage(context);
  const head = await page.evaluate(async () => {
    const r = await canopy.Replica.open({ name: 'persist' });
    await r.set('main', 'greeting', 'hello');
    const h = await r.transaction('main', (tx) => { tx.set('a/1', 'one'); tx.set('a/2', 'two'); });
    r.close();
    return h;
  });
  await page.close();
  page = await replicaPage(context);
  const after = await page.evaluate(async () => {
    const r = await canopy.Replica.open({ name: 'persist' });
    return { head: r.head('main'), greeting: await r.getText('main', 'greeting'), paths: r.paths('main'), log: r.log('main').length };
  });
  assert.deepEqual(after, { head, greeting: 'hello', paths: ['a/1', 'a/2', 'greeting'], log: 2 });
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('a merge function written in JavaScript decides a merge in the page', async () => {
  const context = await browser.newContext();
  const page = await replicaPage(context);
  const result = await page.evaluate(async () => {
    const r = await canopy.Replica.open({ memory: true });
    r.registerMerge('max', ({ ours, theirs }) => String(Math.max(Number(ours), Number(theirs))), { text: true });
    await r.set('main', '.gitattributes', 'best merge=max\n');
    await r.set('main', 'best', '10');
    await r.createBranch('other', 'main');
    await r.set('main', 'best', '30');
    await r.set('other', 'best', '20');
    const m = await r.merge('main', 'other');
    return { outcome: m.outcome, best: await r.getText('main', 'best'), parents: r.log('main', 1)[0].parents.length };
  });
  assert.deepEqual(result, { outcome: 'merged', best: '30', parents: 2 });
  await context.close();
});

test('a blobless clone in the page fetches a value when it is read', async () => {
  const seed = await browser.newContext();
  const writer = await replicaPage(seed);
  await writer.evaluate(async (url) => {
    const r = await canopy.Replica.open({ memory: true });
    await r.set('main', 'doc', 'a large document '.repeat(500));
    await r.set('main', 'small', 'tiny');
    await r.addRemote('origin', url);
    const p = await r.push('main');
    if (!p.ok) throw new Error(JSON.stringify(p));
  }, `${server.url}/git`);
  await seed.close();

  const context = await browser.newContext();
  const page = await replicaPage(context);
  const requests = [];
  page.on('request', (r) => requests.push(r.url()));
  const result = await page.evaluate(async (url) => {
    const r = await canopy.Replica.open({ name: 'blobless' });
    await r.clone(url, { filter: 'blob:none' });
    let missing = null;
    try { r.getSync('main', 'doc'); } catch (e) { missing = e.missing; }
    const doc = await r.getText('main', 'doc');
    return { missing, length: doc.length, remotes: r.remotes() };
  }, `${server.url}/git`);
  assert.match(result.missing, /^[0-9a-f]{40}$/);
  assert.equal(result.length, 'a large document '.length * 500);
  assert.equal(result.remotes.origin.filter, 'blob:none');
  // Clone: advertisement, ls-refs and fetch; then the lazy fetch: advertisement and fetch.
  assert.ok(requests.filter((u) => u.endsWith('/git-upload-pack')).length >= 3, requests.join('\n'));
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('figures for BENCHMARKS.md', { skip: process.env.CANOPY_WEB_BENCH !== '1' }, async () => {
  const wasm = readFileSync(join(bundle, 'canopy_wasm_bg.wasm'));
  const gz = gzipSync(wasm, { level: 9 }).length;
  // A 1,000-commit store on a server of its own to clone.
  const benchServer = await startServer();
  const seedContext = await browser.newContext();
  const seeder = await replicaPage(seedContext, benchServer.url);
  await seeder.evaluate(async (url) => {
    const r = await canopy.Replica.open({ memory: true });
    for (let i = 0; i < 1000; i++) await r.set('main', `k/${i % 50}`, `v${i}`);
    await r.addRemote('origin', url);
    const p = await r.push('main');
    if (!p.ok) throw new Error(JSON.stringify(p));
  }, `${benchServer.url}/git`);
  await seedContext.close();

  const context = await browser.newContext();
  const page = await replicaPage(context, benchServer.url);
  const f = await page.evaluate(async (url) => {
    const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const out = {};
    // 10,000 keys in one commit, persisted; then opened from IndexedDB.
    let r = await canopy.Replica.open({ name: 'bench10k' });
    await r.transaction('main', (tx) => { for (let i = 0; i < 10000; i++) tx.set(`d${i % 100}/k${i}`, `value ${i}`); });
    r.close();
    const opens = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      r = await canopy.Replica.open({ name: 'bench10k' });
      opens.push(performance.now() - t0);
      if (i < 2) r.close();
    }
    out.open10kMs = median(opens);
    out.openSpread = [Math.min(...opens), Math.max(...opens)];
    let t0 = performance.now();
    let n = 0;
    while (performance.now() - t0 < 1000) {
      r.getSync('main', `d${n % 100}/k${n % 10000}`);
      n++;
    }
    out.readsPerSec = n / ((performance.now() - t0) / 1000);
    t0 = performance.now();
    for (let i = 0; i < 200; i++) await r.set('main', `c/${i % 20}`, `${i}`);
    out.commitsPerSec = 200 / ((performance.now() - t0) / 1000);
    r.close();
    const clones = [];
    for (let i = 0; i < 3; i++) {
      const c = await canopy.Replica.open({ name: `clone${i}` });
      t0 = performance.now();
      await c.clone(url);
      clones.push(performance.now() - t0);
      out.clonedCommits = c.log('main', 5000).length;
      c.close();
    }
    out.clone1000Ms = median(clones);
    out.cloneSpread = [Math.min(...clones), Math.max(...clones)];
    return out;
  }, `${benchServer.url}/git`);
  benchServer.stop();
  console.log(JSON.stringify({ wasmBytes: wasm.length, wasmGzipBytes: gz, ...f }, null, 1));
  assert.equal(f.clonedCommits, 1000);
  await context.close();
});
