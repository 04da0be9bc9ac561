//! The few facts of the platform that the store needs outside its backends: the wall clock, a
//! number that tells this process from others, and a short pause between retries.
//!
//! On `wasm32-unknown-unknown` the standard library has none of them (calling them panics), so
//! an embedder there installs its own with [`install`] before opening a store; everywhere else
//! the defaults are the operating system's.

use std::sync::OnceLock;
use std::time::Duration;

/// What an embedder supplies where the standard library cannot.
#[derive(Clone, Copy, Debug)]
pub struct Platform {
    /// The time since the Unix epoch.
    pub now: fn() -> Duration,
    /// A number that differs between processes (or pages) sharing a store, mixed into ids.
    pub process_id: u32,
}

static INSTALLED: OnceLock<Platform> = OnceLock::new();

/// Installs `platform` for this process; the first installation wins. Returns whether this one
/// was installed.
pub fn install(platform: Platform) -> bool {
    INSTALLED.set(platform).is_ok()
}

/// The time since the Unix epoch (zero for a clock set before 1970).
pub fn since_epoch() -> Duration {
    match INSTALLED.get() {
        Some(p) => (p.now)(),
        None => system_now(),
    }
}

/// This process's number, as [`std::process::id`] gives it where it exists.
pub fn process_id() -> u32 {
    match INSTALLED.get() {
        Some(p) => p.process_id,
        None => system_process_id(),
    }
}

/// Waits `d` before a retry; where threads cannot sleep (one thread in a web page) it returns at
/// once, as no other writer can run meanwhile anyway.
pub fn pause(d: Duration) {
    #[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
    std::thread::sleep(d);
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    let _ = d;
}

#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
fn system_now() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
fn system_now() -> Duration {
    Duration::ZERO
}

#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
fn system_process_id() -> u32 {
    std::process::id()
}

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
fn system_process_id() -> u32 {
    0
}
