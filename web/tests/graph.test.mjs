// The history graph's layout, without a browser: lanes, merges, and commits listed out of
// topological order (same-second commits).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { layout, topoOrder } from '../../crates/canopy-server/ui/graph.js';

const c = (id, ...parents) => ({ id, parents });

test('a merge joins two lanes; each edge ends at its parent', () => {
  // m merges b (side branch) into a; both come from root r.
  const commits = [c('m', 'a', 'b'), c('b', 'r'), c('a', 'r'), c('r')];
  const { rows, edges, width } = layout(commits);
  const lane = Object.fromEntries(rows.map((r) => [r.id, r.lane]));
  assert.equal(width, 2);
  assert.equal(lane.m, 0);
  assert.notEqual(lane.a, lane.b);
  assert.equal(lane.r, 0);
  const from = (id) => edges.filter((e) => e.from === id).map((e) => [e.to, e.x2, e.y2]);
  assert.deepEqual(from('m').sort(), [['a', lane.a, 2], ['b', lane.b, 1]].sort());
  assert.deepEqual(from('b'), [['r', lane.r, 3]]);
  assert.deepEqual(from('a'), [['r', lane.r, 3]]);
});

test('a parent outside the list runs to the bottom', () => {
  const { edges } = layout([c('x', 'gone')]);
  assert.deepEqual(edges.map((e) => [e.to, e.y2]), [['gone', 0.5]]);
});

test('children come before their parents, otherwise in the given order', () => {
  const listed = [c('m', 'a', 'b'), c('r'), c('a', 'r'), c('b', 'r'), c('z')];
  assert.deepEqual(topoOrder(listed).map((x) => x.id), ['m', 'a', 'b', 'r', 'z']);
});
