//! An event log appended on two replicas: `cargo run -p canopy --example data_log [-- STORE]`.
//!
//! Both replicas append at the same time, then merge each other; the merged log is read newest
//! first, a page at a time.

use canopy::data::Log;
use canopy::store::{CommitOptions, MergeOptions};
use canopy::{Path, Repo};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = match std::env::args().nth(1) {
        Some(p) => std::path::PathBuf::from(p),
        None => std::env::temp_dir().join(format!("canopy-log-example-{}", std::process::id())),
    };
    let repo = Repo::init(&dir)?;
    let start = repo.branch("main")?.set(
        &Path::parse("README")?,
        "an event log\n",
        &CommitOptions::message("start"),
    )?;
    let logs = ["east", "west"]
        .iter()
        .map(|r| -> Result<Log<String>, Box<dyn std::error::Error>> {
            let branch = repo.create_branch(r, start)?;
            Ok(Log::open(branch, Path::parse("events")?).with_replica(r)?)
        })
        .collect::<Result<Vec<_>, _>>()?;
    std::thread::scope(|s| {
        for log in &logs {
            s.spawn(move || {
                for i in 0..5 {
                    let _ = log.append(&format!("{} event {i}", log.replica()));
                }
            });
        }
    });
    let (east, west) = (logs[0].branch(), logs[1].branch());
    east.merge(west.head()?.ok_or("no commit")?, &MergeOptions::default())?;
    west.merge(east.head()?.ok_or("no commit")?, &MergeOptions::default())?;
    println!("{} entries on each replica", logs[0].len()?);

    let mut cursor = None;
    let mut page_number = 1;
    loop {
        let (page, next) = logs[1].page(cursor.as_ref(), 4)?;
        println!("page {page_number}:");
        for e in &page {
            println!("  {} {:>5}  {}", e.time, e.replica, e.value);
        }
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
        page_number += 1;
    }
    println!(
        "store: {} (git --git-dir {} log -p east)",
        dir.display(),
        dir.display()
    );
    Ok(())
}
