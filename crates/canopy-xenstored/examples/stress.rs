//! Concurrent transactions against a daemon on a fresh store: prints transactions per second,
//! the retry rate and the lost writes (always 0).
//!
//! `cargo run --release -p canopy-xenstored --example stress -- [CLIENTS] [TX_PER_CLIENT] [--no-fsync]`

use canopy_xenstored::{stress, Config, Daemon};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let no_fsync = args.iter().any(|a| a == "--no-fsync");
    let mut numbers = args.iter().filter_map(|a| a.parse::<usize>().ok());
    let clients = numbers.next().unwrap_or(16);
    let per_client = numbers.next().unwrap_or(500);
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("store");
    canopy_xenstored::daemon::open_store(&root)?;
    if no_fsync {
        use std::io::Write;
        let mut config = std::fs::OpenOptions::new()
            .append(true)
            .open(root.join("config"))?;
        writeln!(config, "[canopy]\n\tfsync = false")?;
    }
    let daemon = Daemon::bind(&Config {
        root,
        branch: "main".into(),
        socket: dir.path().join("socket"),
    })?
    .spawn();
    let r = stress::run(daemon.socket(), clients, per_client)?;
    println!(
        "{} clients x {per_client} transactions (fsync {}): {} committed in {:.2} s = {:.0} tx/s; \
         {} EAGAIN retries ({:.2} per commit); shared counter {} of {}; lost writes {}",
        r.clients,
        if no_fsync { "off" } else { "on" },
        r.committed,
        r.elapsed.as_secs_f64(),
        r.per_second(),
        r.retries,
        r.retry_rate(),
        r.shared.0,
        r.shared.1,
        r.lost_writes()
    );
    daemon.stop();
    if r.lost_writes() != 0 {
        return Err("writes were lost".into());
    }
    Ok(())
}
