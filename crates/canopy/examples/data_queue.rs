//! A job queue shared by replicas: `cargo run -p canopy --example data_queue [-- STORE]`.
//!
//! Pushes jobs on one replica, drains part of them with four worker threads on that branch
//! (each job goes to exactly one worker), then lets two replicas pop while apart and merges
//! them: the job both took is reported as a double delivery. Look at the store afterwards
//! with `git --git-dir STORE log -p r1`.

use canopy::data::Queue;
use canopy::store::{CommitOptions, MergeOptions};
use canopy::{Path, Repo};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = match std::env::args().nth(1) {
        Some(p) => std::path::PathBuf::from(p),
        None => std::env::temp_dir().join(format!("canopy-queue-example-{}", std::process::id())),
    };
    let repo = Repo::init(&dir)?;
    let start = repo.branch("main")?.set(
        &Path::parse("README")?,
        "a job queue\n",
        &CommitOptions::message("start"),
    )?;
    let r1 = repo.create_branch("r1", start)?;
    let r2 = repo.create_branch("r2", start)?;
    let jobs = Path::parse("jobs")?;
    let q1 = Queue::<String>::open(r1.clone(), jobs.clone()).with_replica("r1")?;
    let q2 = Queue::<String>::open(r2.clone(), jobs).with_replica("r2")?;

    for i in 0..20 {
        q1.push(&format!("job {i}"))?;
    }
    // Four workers on one branch: every job goes to exactly one of them.
    let done: Vec<Vec<String>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let q = q1.clone();
                s.spawn(move || {
                    let mut mine = Vec::new();
                    for _ in 0..4 {
                        if let Ok(Some(job)) = q.pop() {
                            mine.push(job);
                        }
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_default())
            .collect()
    });
    for (w, jobs) in done.iter().enumerate() {
        println!("worker {w} took {jobs:?}");
    }

    // r2 catches up, then both replicas pop while apart: both take the first job left.
    r2.merge(r1.head()?.ok_or("r1 has no commits")?, &MergeOptions::default())?;
    println!("r1 pops {:?}", q1.pop()?);
    println!("r2 pops {:?}", q2.pop()?);
    r1.merge(r2.head()?.ok_or("r2 has no commits")?, &MergeOptions::default())?;
    r2.merge(r1.head()?.ok_or("r1 has no commits")?, &MergeOptions::default())?;
    println!("after merging: {} jobs left, next {:?}", q1.len()?, q1.peek()?);
    for d in q1.double_deliveries()? {
        println!("delivered twice: {} to {:?}", d.key, d.pops);
    }
    println!(
        "store: {} (git --git-dir {} log -p r1)",
        dir.display(),
        dir.display()
    );
    Ok(())
}
