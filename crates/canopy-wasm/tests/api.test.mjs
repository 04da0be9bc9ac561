// The WebAssembly package's API in Node (in-memory replicas), and sync with a real `canopy serve`.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { load, Replica } from '../../canopy-server/ui/wasm/canopy.mjs';
import { startServer, wasmBytes } from './server.mjs';

const text = (b) => (b === undefined ? undefined : new TextDecoder().decode(b));

before(async () => {
  await load(wasmBytes());
});

test('values, directories, transactions and history', async () => {
  const r = await Replica.open({ memory: true });
  r.setIdentity('Ada', 'ada@example.com');
  const c1 = await r.set('main', 'config/name', 'canopy');
  await r.set('main', 'config/port', '8080');
  assert.equal(await r.getText('main', 'config/name'), 'canopy');
  assert.deepEqual(r.list('main', 'config'), [
    { name: 'name', kind: 'value' },
    { name: 'port', kind: 'value' },
  ]);
  assert.deepEqual(r.list('main', ''), [{ name: 'config', kind: 'tree' }]);
  const c3 = await r.transaction('main', (tx) => {
    tx.set('a/b', 'x');
    tx.remove('config/port');
  }, 'two changes');
  assert.equal(await r.getText('main', 'config/port'), undefined);
  assert.deepEqual(r.paths('main'), ['a/b', 'config/name']);
  const log = r.log('main', 10);
  assert.equal(log.length, 3);
  assert.equal(log[0].id, c3);
  assert.equal(log[0].message, 'two changes\n');
  assert.equal(log[0].author.name, 'Ada');
  assert.equal(log[2].id, c1);
  // Reads at an older commit see the older tree.
  assert.equal(await r.getText(c1, 'config/port'), undefined);
  assert.equal(await r.getText(log[1].id, 'config/port'), '8080');
  const diff = r.diff(c1, c3);
  assert.deepEqual(diff.map((d) => [d.path, d.kind]), [['a/b', 'added']]);
  assert.match(Replica.lineDiff('a\nb\n', 'a\nc\n'), /-b\n\+c\n/);
  // Bad input is refused with a clear error and changes nothing.
  await assert.rejects(r.set('main', '../x', '1'), /\.\./);
  await assert.rejects(r.set('main', 'a/.git/x', '1'), /\.git/);
  assert.equal(r.head('main'), c3);
  await assert.rejects(r.set('bad..branch', 'x', '1'), /invalid|branch/i);
});

test('branches, merges by value type, conflicts resolved by hand, watchers', async () => {
  const r = await Replica.open({ memory: true });
  const seen = [];
  const stop = r.watch((e) => seen.push(e.name));
  await r.set('main', '.gitattributes', 'hits merge=counter\n');
  await r.set('main', 'hits', '10');
  await r.set('main', 'note', 'base');
  await r.createBranch('other', 'main');
  await r.set('main', 'hits', '15');
  await r.set('other', 'hits', '12');
  await r.set('main', 'note', 'ours');
  await r.set('other', 'note', 'theirs');
  const m = await r.merge('main', 'other');
  assert.equal(m.outcome, 'conflicts');
  assert.deepEqual(m.conflicts.map((c) => c.path), ['note']);
  const sides = r.mergeSides('main', 'other', 'note');
  assert.deepEqual([text(sides.base), text(sides.ours), text(sides.theirs)], ['base', 'ours', 'theirs']);
  await assert.rejects(r.mergeResolved('main', 'other', {}), /not resolved/);
  const merged = await r.mergeResolved('main', 'other', { note: 'both' });
  assert.equal(r.log('main', 1)[0].parents.length, 2);
  assert.equal(r.head('main'), merged);
  assert.equal(await r.getText('main', 'note'), 'both');
  // The counter merged by meaning: 10 + 5 + 2.
  assert.equal(await r.getText('main', 'hits'), '17');
  assert.ok(seen.includes('refs/heads/main') && seen.includes('refs/heads/other'));
  stop();
  await r.deleteBranch('other');
  assert.deepEqual(r.branches().map((b) => b.name), ['main']);
});

test('a merge function written in JavaScript decides a merge', async () => {
  const r = await Replica.open({ memory: true });
  const calls = [];
  r.registerMerge('max', ({ path, base, ours, theirs }) => {
    calls.push(path);
    return String(Math.max(Number(ours ?? 0), Number(theirs ?? 0)));
  }, { text: true });
  r.registerMerge('refuse', () => ({ conflict: 'never merged' }));
  await r.set('main', '.gitattributes', 'best merge=max\nlocked merge=refuse\n');
  await r.set('main', 'best', '10');
  await r.set('main', 'locked', 'a');
  await r.createBranch('other', 'main');
  await r.set('main', 'best', '30');
  await r.set('other', 'best', '20');
  const m = await r.merge('main', 'other');
  assert.equal(m.outcome, 'merged');
  assert.equal(await r.getText('main', 'best'), '30');
  assert.deepEqual(calls, ['best']);
  await r.set('main', 'locked', 'b');
  await r.set('other', 'locked', 'c');
  const refused = await r.merge('main', 'other');
  assert.equal(refused.outcome, 'conflicts');
  assert.match(refused.conflicts[0].reason, /never merged/);
  assert.throws(() => r.registerMerge('bad name', () => null), /cannot name/);
});

test('two replicas edit offline and converge through canopy serve', async () => {
  const server = await startServer();
  try {
    const origin = await Replica.open({ memory: true });
    await origin.set('main', '.gitattributes', 'counter merge=counter\n');
    await origin.set('main', 'counter', '0');
    await origin.set('main', 'lines', 'first\n');
    await origin.addRemote('origin', `${server.url}/git`);
    const pushed = await origin.push('main');
    assert.equal(pushed.ok, true, JSON.stringify(pushed));

    const a = await Replica.open({ memory: true });
    const b = await Replica.open({ memory: true });
    const ca = await a.clone(`${server.url}/git`);
    await b.clone(`${server.url}/git`);
    assert.equal(ca.branch, 'main');
    assert.equal(await a.getText('main', 'counter'), '0');
    // Offline: each changes the counter and adds a line.
    await a.set('main', 'counter', '2');
    await a.set('main', 'a-line', 'from a');
    await b.set('main', 'counter', '3');
    await b.set('main', 'b-line', 'from b');
    // Back online.
    const sa = await a.sync('main');
    assert.equal(sa.pushed.ok, true);
    const sb = await b.sync('main');
    assert.equal(sb.pulled.outcome, 'merged');
    assert.equal(sb.pushed.ok, true);
    await a.pull('main');
    for (const r of [a, b]) {
      assert.equal(await r.getText('main', 'counter'), '5');
      assert.equal(await r.getText('main', 'a-line'), 'from a');
      assert.equal(await r.getText('main', 'b-line'), 'from b');
    }
    assert.equal(a.head('main'), b.head('main'));
    // The server holds the merge, and git agrees the store is sound.
    assert.equal(server.canopy('get', 'counter').trim(), '5');
    assert.equal(server.canopy('log', '--limit', '1').includes('Merge'), true);
  } finally {
    server.stop();
  }
});

test('a blobless clone fetches a value when it is read; a shallow clone has one commit', async () => {
  const server = await startServer({});
  try {
    const origin = await Replica.open({ memory: true });
    await origin.set('main', 'big', 'x'.repeat(10000));
    await origin.set('main', 'small', 'y');
    await origin.addRemote('origin', `${server.url}/git`);
    await origin.push('main');

    const lazy = await Replica.open({ memory: true });
    const fetched = [];
    const realFetch = lazy.fetch;
    lazy.fetch = (url, init) => {
      fetched.push(url);
      return realFetch(url, init);
    };
    await lazy.clone(`${server.url}/git`, { filter: 'blob:none' });
    const before = fetched.length;
    assert.throws(() => lazy.getSync('main', 'big'), (e) => typeof e.missing === 'string');
    assert.equal(await lazy.getText('main', 'big'), 'x'.repeat(10000));
    assert.ok(fetched.length > before, 'the value was fetched');
    assert.equal(lazy.getSync('main', 'big').length, 10000);

    const shallow = await Replica.open({ memory: true });
    await shallow.clone(`${server.url}/git`, { depth: 1 });
    assert.equal(await shallow.getText('main', 'small'), 'y');
    assert.equal(shallow.log('main', 10).length, 1);
  } finally {
    server.stop();
  }
});

test('sync errors are clear and change nothing', async () => {
  const r = await Replica.open({ memory: true });
  await r.set('main', 'a', '1');
  const head = r.head('main');
  await r.addRemote('nowhere', 'http://127.0.0.1:9/git');
  await assert.rejects(r.push('main', 'nowhere'), /cannot reach http:\/\/127\.0\.0\.1:9: fetch failed/);
  await r.addRemote('ssh', 'ssh://host/repo');
  await assert.rejects(r.fetchRemote('ssh'), /only http/);
  assert.equal(r.head('main'), head);
  // The replica still works after failed syncs.
  await r.set('main', 'b', '2');
  assert.equal(await r.getText('main', 'b'), '2');
});
