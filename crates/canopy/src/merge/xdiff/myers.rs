//! Myers' diff as xdiff runs it.
//!
//! Before the search, the common prefix and suffix are set aside, and lines that cannot be part
//! of a match are marked changed without searching: lines with no equal line on the other side,
//! and lines with very many equal lines (at least `bogosqrt(n)`) when they sit in a run of such
//! unmatched lines. The remaining lines go through the divide-and-conquer middle-snake search of
//! "An O(ND) Difference Algorithm and its Variations" (Myers, 1986), with xdiff's cut-offs for
//! expensive inputs, so that large inputs take the same (suboptimal) path git takes.

const MAX_EQ_LIMIT: usize = 1024;
const SIMILAR_SCAN_WINDOW: isize = 100;
const KEEP_DISCARD_RUN: isize = 4;
const MAX_COST_MIN: isize = 256;
const HEURISTIC_MIN_COST: isize = 256;
const SNAKE_COUNT: isize = 20;
const K_HEURISTIC: isize = 4;

/// Which lines of `a` and `b` are changed (before sliding).
pub(super) fn diff(a: &[u32], b: &[u32], classes: usize) -> (Vec<bool>, Vec<bool>) {
    let (n1, n2) = (a.len(), b.len());
    let mut changed_a = vec![false; n1];
    let mut changed_b = vec![false; n2];

    // Common prefix and suffix.
    let shorter = n1.min(n2);
    let mut start = 0;
    while start < shorter && a[start] == b[start] {
        start += 1;
    }
    let mut tail = 0;
    while tail < shorter - start && a[n1 - 1 - tail] == b[n2 - 1 - tail] {
        tail += 1;
    }
    let (end1, end2) = (n1 - tail, n2 - tail);

    // How often each line occurs in each whole side.
    let mut count_a = vec![0usize; classes];
    let mut count_b = vec![0usize; classes];
    for &x in a {
        count_a[x as usize] += 1;
    }
    for &x in b {
        count_b[x as usize] += 1;
    }

    let (rindex_a, keep_a) = keep_lines(a, start, end1, &count_b, &mut changed_a);
    let (rindex_b, keep_b) = keep_lines(b, start, end2, &count_a, &mut changed_b);

    let mut search = Search::new(&keep_a, &keep_b);
    search.compare(0, keep_a.len() as isize, 0, keep_b.len() as isize, false);
    for (i, &changed) in search.changed_a.iter().enumerate() {
        if changed {
            changed_a[rindex_a[i]] = true;
        }
    }
    for (i, &changed) in search.changed_b.iter().enumerate() {
        if changed {
            changed_b[rindex_b[i]] = true;
        }
    }
    (changed_a, changed_b)
}

/// xdiff's integer square-root estimate: the smallest power of two `p` with `p*p >= n` roughly.
pub(super) fn bogosqrt(mut n: usize) -> usize {
    let mut i = 1;
    while n > 0 {
        i <<= 1;
        n >>= 2;
    }
    i
}

/// Decides which lines of `side[start..end]` take part in the search; the others are marked
/// changed. Returns the kept lines' original indices and ids.
fn keep_lines(
    side: &[u32],
    start: usize,
    end: usize,
    other_counts: &[usize],
    changed: &mut [bool],
) -> (Vec<usize>, Vec<u32>) {
    let limit = bogosqrt(side.len()).min(MAX_EQ_LIMIT);
    // 0: no match on the other side, 1: some, 2: very many.
    let mut kind = vec![0u8; side.len()];
    for i in start..end {
        let matches = other_counts[side[i] as usize];
        kind[i] = if matches == 0 {
            0
        } else if matches >= limit {
            2
        } else {
            1
        };
    }
    let mut rindex = Vec::with_capacity(end.saturating_sub(start));
    let mut kept = Vec::with_capacity(end.saturating_sub(start));
    for i in start..end {
        let keep = kind[i] == 1
            || (kind[i] == 2 && !discard_multimatch(&kind, i as isize, start as isize, end as isize - 1));
        if keep {
            rindex.push(i);
            kept.push(side[i]);
        } else {
            changed[i] = true;
        }
    }
    (rindex, kept)
}

/// Whether a line with very many matches is discarded: only when it sits inside a run of lines
/// that are unmatched or also very common, with unmatched ones on both sides of it and making up
/// more than a quarter of the run (scanning at most 100 lines each way).
fn discard_multimatch(kind: &[u8], i: isize, start: isize, end: isize) -> bool {
    let s = if i - start > SIMILAR_SCAN_WINDOW {
        i - SIMILAR_SCAN_WINDOW
    } else {
        start
    };
    let e = if end - i > SIMILAR_SCAN_WINDOW {
        i + SIMILAR_SCAN_WINDOW
    } else {
        end
    };

    let (mut unmatched_before, mut common_before) = (0isize, 1isize);
    let mut r = 1;
    while i - r >= s {
        match kind[(i - r) as usize] {
            0 => unmatched_before += 1,
            2 => common_before += 1,
            _ => break,
        }
        r += 1;
    }
    if unmatched_before == 0 {
        return false;
    }
    let (mut unmatched_after, mut common_after) = (0isize, 1isize);
    r = 1;
    while i + r <= e {
        match kind[(i + r) as usize] {
            0 => unmatched_after += 1,
            2 => common_after += 1,
            _ => break,
        }
        r += 1;
    }
    if unmatched_after == 0 {
        return false;
    }
    let unmatched = unmatched_after + unmatched_before;
    let common = common_after + common_before;
    common * KEEP_DISCARD_RUN < common + unmatched
}

/// Where a box is cut, and whether each half must be solved minimally.
struct Split {
    i1: isize,
    i2: isize,
    min_lo: bool,
    min_hi: bool,
}

/// The state of one middle-snake search over the kept lines.
struct Search<'a> {
    a: &'a [u32],
    b: &'a [u32],
    changed_a: Vec<bool>,
    changed_b: Vec<bool>,
    /// Furthest-reaching forward / backward x per diagonal; diagonal `k` lives at `k + offset`.
    forward: Vec<isize>,
    backward: Vec<isize>,
    offset: isize,
    max_cost: isize,
}

impl<'a> Search<'a> {
    fn new(a: &'a [u32], b: &'a [u32]) -> Search<'a> {
        let diagonals = a.len() + b.len() + 3;
        let max_cost = (bogosqrt(diagonals) as isize).max(MAX_COST_MIN);
        Search {
            a,
            b,
            changed_a: vec![false; a.len()],
            changed_b: vec![false; b.len()],
            forward: vec![0; diagonals],
            backward: vec![0; diagonals],
            offset: b.len() as isize + 1,
            max_cost,
        }
    }

    fn fw(&self, d: isize) -> isize {
        self.forward[(d + self.offset) as usize]
    }

    fn set_fw(&mut self, d: isize, v: isize) {
        self.forward[(d + self.offset) as usize] = v;
    }

    fn bw(&self, d: isize) -> isize {
        self.backward[(d + self.offset) as usize]
    }

    fn set_bw(&mut self, d: isize, v: isize) {
        self.backward[(d + self.offset) as usize] = v;
    }

    fn eq(&self, i1: isize, i2: isize) -> bool {
        self.a[i1 as usize] == self.b[i2 as usize]
    }

    /// Marks the changed lines of the box `a[off1..lim1]` × `b[off2..lim2]`, splitting it at
    /// middle snakes until one dimension is empty. The boxes are independent, so an explicit
    /// stack replaces xdiff's recursion without changing the result.
    fn compare(&mut self, off1: isize, lim1: isize, off2: isize, lim2: isize, need_min: bool) {
        let mut boxes = vec![(off1, lim1, off2, lim2, need_min)];
        while let Some((mut off1, mut lim1, mut off2, mut lim2, need_min)) = boxes.pop() {
            while off1 < lim1 && off2 < lim2 && self.eq(off1, off2) {
                off1 += 1;
                off2 += 1;
            }
            while off1 < lim1 && off2 < lim2 && self.eq(lim1 - 1, lim2 - 1) {
                lim1 -= 1;
                lim2 -= 1;
            }
            if off1 == lim1 {
                for i in off2..lim2 {
                    self.changed_b[i as usize] = true;
                }
            } else if off2 == lim2 {
                for i in off1..lim1 {
                    self.changed_a[i as usize] = true;
                }
            } else {
                let s = self.split(off1, lim1, off2, lim2, need_min);
                boxes.push((s.i1, lim1, s.i2, lim2, s.min_hi));
                boxes.push((off1, s.i1, off2, s.i2, s.min_lo));
            }
        }
    }

    /// Finds where the forward and backward searches meet (or, past the cost limits, a good
    /// enough cut), exactly as xdiff's `xdl_split`.
    fn split(&mut self, off1: isize, lim1: isize, off2: isize, lim2: isize, need_min: bool) -> Split {
        let dmin = off1 - lim2;
        let dmax = lim1 - off2;
        let fmid = off1 - off2;
        let bmid = lim1 - lim2;
        let odd = (fmid - bmid) & 1 != 0;
        let (mut fmin, mut fmax) = (fmid, fmid);
        let (mut bmin, mut bmax) = (bmid, bmid);

        self.set_fw(fmid, off1);
        self.set_bw(bmid, lim1);

        let mut ec: isize = 1;
        loop {
            let mut got_snake = false;

            if fmin > dmin {
                fmin -= 1;
                self.set_fw(fmin - 1, -1);
            } else {
                fmin += 1;
            }
            if fmax < dmax {
                fmax += 1;
                self.set_fw(fmax + 1, -1);
            } else {
                fmax -= 1;
            }
            let mut d = fmax;
            while d >= fmin {
                let mut i1 = if self.fw(d - 1) >= self.fw(d + 1) {
                    self.fw(d - 1) + 1
                } else {
                    self.fw(d + 1)
                };
                let prev1 = i1;
                let mut i2 = i1 - d;
                while i1 < lim1 && i2 < lim2 && self.eq(i1, i2) {
                    i1 += 1;
                    i2 += 1;
                }
                if i1 - prev1 > SNAKE_COUNT {
                    got_snake = true;
                }
                self.set_fw(d, i1);
                if odd && bmin <= d && d <= bmax && self.bw(d) <= i1 {
                    return Split {
                        i1,
                        i2,
                        min_lo: true,
                        min_hi: true,
                    };
                }
                d -= 2;
            }

            if bmin > dmin {
                bmin -= 1;
                self.set_bw(bmin - 1, isize::MAX);
            } else {
                bmin += 1;
            }
            if bmax < dmax {
                bmax += 1;
                self.set_bw(bmax + 1, isize::MAX);
            } else {
                bmax -= 1;
            }
            let mut d = bmax;
            while d >= bmin {
                let mut i1 = if self.bw(d - 1) < self.bw(d + 1) {
                    self.bw(d - 1)
                } else {
                    self.bw(d + 1) - 1
                };
                let prev1 = i1;
                let mut i2 = i1 - d;
                while i1 > off1 && i2 > off2 && self.eq(i1 - 1, i2 - 1) {
                    i1 -= 1;
                    i2 -= 1;
                }
                if prev1 - i1 > SNAKE_COUNT {
                    got_snake = true;
                }
                self.set_bw(d, i1);
                if !odd && fmin <= d && d <= fmax && i1 <= self.fw(d) {
                    return Split {
                        i1,
                        i2,
                        min_lo: true,
                        min_hi: true,
                    };
                }
                d -= 2;
            }

            if need_min {
                ec += 1;
                continue;
            }

            // Past a moderate cost, take a diagonal that went far along a long snake.
            if got_snake && ec > HEURISTIC_MIN_COST {
                if let Some(s) = self.forward_snake_cut(off1, lim1, off2, lim2, fmin, fmax, fmid, ec) {
                    return s;
                }
                if let Some(s) = self.backward_snake_cut(off1, lim1, off2, lim2, bmin, bmax, bmid, ec) {
                    return s;
                }
            }

            // Too expensive: cut at the furthest-reaching point of either search.
            if ec >= self.max_cost {
                let (mut fbest, mut fbest1) = (-1isize, -1isize);
                let mut d = fmax;
                while d >= fmin {
                    let mut i1 = self.fw(d).min(lim1);
                    let mut i2 = i1 - d;
                    if lim2 < i2 {
                        i1 = lim2 + d;
                        i2 = lim2;
                    }
                    if fbest < i1 + i2 {
                        fbest = i1 + i2;
                        fbest1 = i1;
                    }
                    d -= 2;
                }
                let (mut bbest, mut bbest1) = (isize::MAX, isize::MAX);
                let mut d = bmax;
                while d >= bmin {
                    let mut i1 = off1.max(self.bw(d));
                    let mut i2 = i1 - d;
                    if i2 < off2 {
                        i1 = off2 + d;
                        i2 = off2;
                    }
                    if i1 + i2 < bbest {
                        bbest = i1 + i2;
                        bbest1 = i1;
                    }
                    d -= 2;
                }
                return if (lim1 + lim2) - bbest < fbest - (off1 + off2) {
                    Split {
                        i1: fbest1,
                        i2: fbest - fbest1,
                        min_lo: true,
                        min_hi: false,
                    }
                } else {
                    Split {
                        i1: bbest1,
                        i2: bbest - bbest1,
                        min_lo: false,
                        min_hi: true,
                    }
                };
            }
            ec += 1;
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn forward_snake_cut(
        &self,
        off1: isize,
        lim1: isize,
        off2: isize,
        lim2: isize,
        fmin: isize,
        fmax: isize,
        fmid: isize,
        ec: isize,
    ) -> Option<Split> {
        let mut best = 0;
        let mut cut = None;
        let mut d = fmax;
        while d >= fmin {
            let dd = if d > fmid { d - fmid } else { fmid - d };
            let i1 = self.fw(d);
            let i2 = i1 - d;
            let v = (i1 - off1) + (i2 - off2) - dd;
            if v > K_HEURISTIC * ec
                && v > best
                && off1 + SNAKE_COUNT <= i1
                && i1 < lim1
                && off2 + SNAKE_COUNT <= i2
                && i2 < lim2
            {
                let mut k = 1;
                while self.eq(i1 - k, i2 - k) {
                    if k == SNAKE_COUNT {
                        best = v;
                        cut = Some((i1, i2));
                        break;
                    }
                    k += 1;
                }
            }
            d -= 2;
        }
        cut.map(|(i1, i2)| Split {
            i1,
            i2,
            min_lo: true,
            min_hi: false,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn backward_snake_cut(
        &self,
        off1: isize,
        lim1: isize,
        off2: isize,
        lim2: isize,
        bmin: isize,
        bmax: isize,
        bmid: isize,
        ec: isize,
    ) -> Option<Split> {
        let mut best = 0;
        let mut cut = None;
        let mut d = bmax;
        while d >= bmin {
            let dd = if d > bmid { d - bmid } else { bmid - d };
            let i1 = self.bw(d);
            let i2 = i1 - d;
            let v = (lim1 - i1) + (lim2 - i2) - dd;
            if v > K_HEURISTIC * ec
                && v > best
                && off1 < i1
                && i1 <= lim1 - SNAKE_COUNT
                && off2 < i2
                && i2 <= lim2 - SNAKE_COUNT
            {
                let mut k = 0;
                while self.eq(i1 + k, i2 + k) {
                    if k == SNAKE_COUNT - 1 {
                        best = v;
                        cut = Some((i1, i2));
                        break;
                    }
                    k += 1;
                }
            }
            d -= 2;
        }
        cut.map(|(i1, i2)| Split {
            i1,
            i2,
            min_lo: false,
            min_hi: true,
        })
    }
}
