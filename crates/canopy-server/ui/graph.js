// The history graph: commits (newest first, as the log lists them) placed in lanes, so that a
// line of development keeps its column and a merge shows its parents joining. Pure layout
// (`layout`) and SVG drawing (`drawGraph`) are separate so the layout can be tested alone.

import { s } from './dom.js';

export const ROW = 30;
export const LANE = 16;
const PALETTE = ['#2f6fde', '#d9480f', '#2b8a3e', '#ae3ec9', '#e67700', '#0c8599', '#c2255c', '#5c940d'];

/**
 * The commits in an order where every commit comes before its parents, otherwise keeping the
 * given (date) order: commits made in the same second may be listed with a parent first.
 */
export function topoOrder(commits) {
  const listed = new Map(commits.map((c) => [c.id, c]));
  const children = new Map(commits.map((c) => [c.id, 0]));
  for (const c of commits) for (const p of c.parents) if (listed.has(p)) children.set(p, children.get(p) + 1);
  const out = [];
  const done = new Set();
  while (out.length < commits.length) {
    // The first commit in date order whose children are all placed (n is small: a scan will do).
    const next = commits.find((c) => !done.has(c.id) && children.get(c.id) === 0);
    done.add(next.id);
    out.push(next);
    for (const p of next.parents) if (listed.has(p)) children.set(p, children.get(p) - 1);
  }
  return out;
}

/**
 * Places commits (`{id, parents}`, newest first) in lanes. Returns `{rows, edges, width}`:
 * each row `{id, lane}`, each edge `{from, to, x1, y1, x2, y2, lane}` in row/lane units (an
 * edge from a commit to a parent outside the list runs to the bottom).
 */
export function layout(commits) {
  const lanes = []; // lanes[k] = id of the commit expected next in lane k, or null
  const rows = [];
  const edges = [];
  const pending = []; // open edges: {from, lane, x1, y1} waiting for their lane's next commit
  let width = 1;
  // A lane is free when no commit is expected in it and no edge still runs down it.
  const freeLane = () => {
    const k = lanes.findIndex((id, k) => id === null && !pending.some((e) => e.via === k));
    if (k >= 0) return k;
    lanes.push(null);
    return lanes.length - 1;
  };
  commits.forEach((c, row) => {
    let lane = lanes.indexOf(c.id);
    if (lane < 0) lane = freeLane();
    // Every lane waiting for this commit ends here (branches forking from it).
    for (let k = 0; k < lanes.length; k++) {
      if (lanes[k] === c.id) lanes[k] = null;
    }
    for (let i = pending.length - 1; i >= 0; i--) {
      const e = pending[i];
      if (e.to === c.id) {
        edges.push({ ...e, x2: lane, y2: row });
        pending.splice(i, 1);
      }
    }
    rows.push({ id: c.id, lane });
    c.parents.forEach((p, i) => {
      let target;
      const waiting = lanes.indexOf(p);
      if (i === 0 && (waiting < 0 || waiting > lane)) {
        // The first parent continues this commit's lane, the leftmost of those waiting for it;
        // edges already running down another lane bend into it at the parent.
        if (waiting >= 0) lanes[waiting] = null;
        target = lane;
      } else if (waiting >= 0) target = waiting;
      else target = freeLane();
      lanes[target] = p;
      pending.push({ from: c.id, to: p, lane: target, x1: lane, y1: row, via: target });
    });
    width = Math.max(width, lanes.length);
  });
  for (const e of pending) {
    // Parents beyond the list: run down to the bottom edge.
    edges.push({ ...e, x2: e.via, y2: commits.length - 0.5 });
  }
  return { rows, edges, width };
}

const cx = (lane) => LANE / 2 + lane * LANE;
const cy = (row) => ROW / 2 + row * ROW;

/**
 * An edge: from the commit, sideways into the lane it runs in (a merge's other parent), down
 * that lane, and sideways into the parent's lane at the end (a fork closing).
 */
function edgePath(e) {
  const [x1, y1, xv, x2, y2] = [cx(e.x1), cy(e.y1), cx(e.via), cx(e.x2), cy(e.y2)];
  const curve = (ax, ay, bx, by) => `C${ax} ${(ay + by) / 2} ${bx} ${(ay + by) / 2} ${bx} ${by}`;
  if (e.y2 - e.y1 <= 1) return `M${x1} ${y1} ${curve(x1, y1, x2, y2)}`;
  let d = `M${x1} ${y1}`;
  let y = y1;
  if (xv !== x1) {
    y = y1 + ROW;
    d += ` ${curve(x1, y1, xv, y)}`;
  }
  const bottom = x2 !== xv ? y2 - ROW : y2;
  if (bottom > y) d += ` L${xv} ${bottom}`;
  if (x2 !== xv) d += ` ${curve(xv, bottom, x2, y2)}`;
  return d;
}

/** The SVG of `layout(commits)`; `selected` ids are drawn highlighted. */
export function drawGraph(commits, selected = new Set()) {
  const { rows, edges, width } = layout(commits);
  const svg = s('svg', {
    class: 'graph',
    width: width * LANE,
    height: Math.max(1, commits.length) * ROW,
    'aria-hidden': 'true',
  });
  for (const e of edges) {
    svg.append(
      s('path', {
        d: edgePath(e),
        stroke: PALETTE[e.lane % PALETTE.length],
        class: 'edge',
        'data-from': e.from,
        'data-to': e.to,
      }),
    );
  }
  const parentsOf = new Map(commits.map((c) => [c.id, c.parents.length]));
  rows.forEach((r, row) => {
    const merge = parentsOf.get(r.id) > 1;
    svg.append(
      s('circle', {
        cx: cx(r.lane),
        cy: cy(row),
        r: merge ? 5.5 : 4.5,
        fill: selected.has(r.id) ? '#111' : merge ? '#fff' : PALETTE[r.lane % PALETTE.length],
        stroke: PALETTE[r.lane % PALETTE.length],
        class: merge ? 'node merge' : 'node',
        'data-commit': r.id,
        'data-parents': String(parentsOf.get(r.id)),
      }),
    );
  });
  return svg;
}
