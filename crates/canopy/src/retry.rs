//! One policy for every loop that tries again after losing a race: a compare-and-swap of a
//! branch that another writer moved first, a lock another process holds, a push the remote
//! refused as stale.
//!
//! The pause before attempt *n + 1* is `FIRST · 2ⁿ⁻¹`, capped at [`MAX_PAUSE`], scaled by a
//! random factor in [0.5, 1.5) so that writers who lost the same race spread out instead of
//! colliding again. A [`Retry`] ends after a number of attempts ([`Retry::attempts`]: loops
//! whose every attempt does work, bounded so that a livelock becomes an error) or at a deadline
//! ([`Retry::until`]: waiting for a lock, bounded by the time a caller will wait).

use std::time::Duration;

/// The pause after the first lost attempt.
pub const FIRST_PAUSE: Duration = Duration::from_micros(200);
/// The longest pause between two attempts.
pub const MAX_PAUSE: Duration = Duration::from_millis(50);
/// Attempts of a commit (or other branch update) racing other writers before it gives up with
/// [`crate::store::Error::TooManyRetries`].
pub const COMMIT_ATTEMPTS: u32 = 500;

/// The state of one retry loop. `again()` after each lost attempt: it pauses and says whether
/// to try once more.
#[derive(Debug)]
pub struct Retry {
    made: u32,
    limit: Limit,
    rng: u64,
}

#[derive(Debug, Clone, Copy)]
enum Limit {
    Attempts(u32),
    /// Time since the Unix epoch ([`crate::platform::since_epoch`]) after which to give up.
    Deadline(Duration),
}

impl Retry {
    /// At most `n` attempts in all (the first one included).
    pub fn attempts(n: u32) -> Retry {
        Retry::new(Limit::Attempts(n.max(1)))
    }

    /// Attempts until `wait` has passed from now (at least one).
    pub fn until(wait: Duration) -> Retry {
        Retry::new(Limit::Deadline(crate::platform::since_epoch() + wait))
    }

    fn new(limit: Limit) -> Retry {
        let now = crate::platform::since_epoch().as_nanos() as u64;
        let local = 0u8;
        let addr = std::ptr::addr_of!(local) as u64;
        let seed = now ^ (u64::from(crate::platform::process_id()) << 32) ^ addr.rotate_left(17);
        Retry {
            made: 1,
            limit,
            rng: seed | 1,
        }
    }

    /// Attempts made so far (1 during the first).
    pub fn made(&self) -> u32 {
        self.made
    }

    /// Called after a lost attempt: `false` when the budget is spent, else pauses and returns
    /// `true` for the next attempt.
    pub fn again(&mut self) -> bool {
        let Some(pause) = self.next_pause() else {
            return false;
        };
        crate::platform::pause(pause);
        true
    }

    /// The pause before the next attempt, or `None` when there is none; counts the attempt.
    fn next_pause(&mut self) -> Option<Duration> {
        let base = FIRST_PAUSE
            .saturating_mul(1 << (self.made - 1).min(16))
            .min(MAX_PAUSE);
        let pause = base.mul_f64(0.5 + self.next_unit());
        let pause = match self.limit {
            Limit::Attempts(n) if self.made >= n => return None,
            Limit::Attempts(_) => pause,
            Limit::Deadline(at) => {
                let now = crate::platform::since_epoch();
                if now >= at {
                    return None;
                }
                pause.min(at - now)
            }
        };
        self.made += 1;
        Some(pause)
    }

    /// A number in [0, 1) (xorshift).
    fn next_unit(&mut self) -> f64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_are_counted_and_bounded() {
        let mut r = Retry::attempts(3);
        assert_eq!(r.made(), 1);
        assert!(r.next_pause().is_some());
        assert!(r.next_pause().is_some());
        assert_eq!(r.made(), 3);
        assert!(r.next_pause().is_none());
        assert_eq!(r.made(), 3);
        // Zero attempts still means the first one.
        assert!(Retry::attempts(0).next_pause().is_none());
    }

    #[test]
    fn pauses_grow_to_the_cap_with_jitter() {
        let mut r = Retry::attempts(100);
        let pauses: Vec<Duration> = (0..20).map(|_| r.next_pause().unwrap()).collect();
        assert!(pauses[0] >= FIRST_PAUSE / 2 && pauses[0] < FIRST_PAUSE * 3 / 2);
        assert!(pauses[3] >= FIRST_PAUSE * 4 && pauses[3] < FIRST_PAUSE * 12);
        for p in &pauses[12..] {
            assert!(*p >= MAX_PAUSE / 2 && *p < MAX_PAUSE * 3 / 2, "{p:?}");
        }
        // Two loops that lost the same race do not pause alike.
        let mut other = Retry::attempts(100);
        let theirs: Vec<Duration> = (0..20).map(|_| other.next_pause().unwrap()).collect();
        assert_ne!(pauses, theirs);
    }

    #[test]
    fn a_deadline_ends_the_loop_and_caps_the_last_pause() {
        let mut r = Retry::until(Duration::from_millis(30));
        let start = std::time::Instant::now();
        while r.again() {}
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(30), "{took:?}");
        assert!(took < Duration::from_millis(500), "{took:?}");
        assert!(r.made() > 3);
        assert!(!Retry::until(Duration::ZERO).again());
    }
}
