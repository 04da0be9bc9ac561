//! A load generator: clients running transactions on shared and private counters at once,
//! retrying on `EAGAIN`, then checking that no increment was lost.

use std::path::{Path as FsPath, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use crate::client::{self, Client};
use crate::wire::Errno;

/// What a run did.
#[derive(Debug, Clone)]
pub struct Report {
    pub clients: usize,
    /// Committed transactions.
    pub committed: u64,
    /// Transactions that ended in `EAGAIN` and were run again.
    pub retries: u64,
    pub elapsed: Duration,
    /// The shared counter's final value, and what it must be.
    pub shared: (u64, u64),
    /// Private counters that do not hold their client's number of transactions.
    pub wrong_private: usize,
}

impl Report {
    /// Increments missing from the counters (must be 0).
    pub fn lost_writes(&self) -> u64 {
        self.shared.1.saturating_sub(self.shared.0) + self.wrong_private as u64
    }

    /// Retried transactions per committed one.
    pub fn retry_rate(&self) -> f64 {
        self.retries as f64 / self.committed.max(1) as f64
    }

    pub fn per_second(&self) -> f64 {
        self.committed as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

fn number(bytes: &[u8]) -> u64 {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// One transaction of client `i`: its private counter always, the shared one every other time.
fn one_transaction(c: &mut Client, i: usize, k: usize) -> client::Result<()> {
    let tx = c.transaction_start()?;
    let private = format!("/stress/client-{i}");
    let result = (|| {
        if k.is_multiple_of(2) {
            let v = number(&c.read(tx, "/stress/shared")?);
            c.write(tx, "/stress/shared", (v + 1).to_string().as_bytes())?;
        }
        let p = match c.read(tx, &private) {
            Ok(v) => number(&v),
            Err(e) if e.errno() == Some(Errno::NoEnt) => 0,
            Err(e) => return Err(e),
        };
        c.write(tx, &private, (p + 1).to_string().as_bytes())
    })();
    match result {
        Ok(()) => c.transaction_end(tx, true),
        Err(e) => {
            let _ = c.transaction_end(tx, false);
            Err(e)
        }
    }
}

/// Runs `clients` clients doing `per_client` transactions each against the daemon at
/// `socket`, then reads the counters back.
pub fn run(socket: &FsPath, clients: usize, per_client: usize) -> client::Result<Report> {
    let mut setup = Client::connect(socket)?;
    setup.rm(0, "/stress").or_else(|e| {
        if e.errno() == Some(Errno::NoEnt) {
            Ok(())
        } else {
            Err(e)
        }
    })?;
    setup.write(0, "/stress/shared", b"0")?;
    let start = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|i| {
            let socket: PathBuf = socket.to_path_buf();
            thread::spawn(move || -> client::Result<u64> {
                let mut c = Client::connect(&socket)?;
                let mut retries = 0;
                for k in 0..per_client {
                    loop {
                        match one_transaction(&mut c, i, k) {
                            Ok(()) => break,
                            Err(e) if e.errno() == Some(Errno::Again) => retries += 1,
                            Err(e) => return Err(e),
                        }
                    }
                }
                Ok(retries)
            })
        })
        .collect();
    let mut retries = 0;
    for w in workers {
        retries += w
            .join()
            .map_err(|_| client::Error::Io(std::io::Error::other("a stress client panicked")))??;
    }
    let elapsed = start.elapsed();
    let shared = number(&setup.read(0, "/stress/shared")?);
    let mut wrong_private = 0;
    for i in 0..clients {
        if number(&setup.read(0, &format!("/stress/client-{i}"))?) != per_client as u64 {
            wrong_private += 1;
        }
    }
    Ok(Report {
        clients,
        committed: (clients * per_client) as u64,
        retries,
        elapsed,
        shared: (shared, (clients * per_client.div_ceil(2)) as u64),
        wrong_private,
    })
}
