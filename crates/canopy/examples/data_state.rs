//! Counters, registers, sets and maps on two replicas of a store:
//! `cargo run -p canopy --example data_state [-- DIR]`.
//!
//! Replica `b` is a clone of replica `a`; both change every structure while apart, then `b`
//! pulls (fetch + merge) and `a` pulls back. Each structure merges by its own rule, and the
//! store stays a Git repository that `git log -p` displays.

use serde::{Deserialize, Serialize};

use canopy::contents::Json;
use canopy::data::{Counter, Map, Register, Set};
use canopy::store::{CommitOptions, MergeOptions, MergeOutcome};
use canopy::sync::client::{self, CloneOptions, FetchOptions};
use canopy::{Branch, Path, Repo};

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Vm {
    memory_mb: u32,
    vcpus: u8,
}

type Error = Box<dyn std::error::Error>;

fn pull(repo: &Repo) -> Result<MergeOutcome, Error> {
    client::fetch(repo, "origin", &mut FetchOptions::default())?;
    let theirs = repo
        .refs()
        .resolve("refs/remotes/origin/main")?
        .ok_or("origin has no main")?;
    Ok(repo.branch("main")?.merge(theirs, &MergeOptions::default())?)
}

/// One replica's changes.
fn work(main: &Branch, who: &str, memory_mb: Option<u32>, vcpus: Option<u8>) -> Result<(), Error> {
    let p = Path::parse;
    Counter::open(main.clone(), p("stats/deploys")?).add(1)?;
    Register::<String>::open(main.clone(), p("cluster/leader")?).set(&format!("node-{who}"))?;
    Set::<String>::open(main.clone(), p("cluster/members")?).insert(&format!("node-{who}"))?;
    let vms = Map::<String, Json<Vm>>::open(main.clone(), p("vms")?)
        .with_commit(CommitOptions::message(format!("resize web on {who}")));
    vms.update(&"web".into(), |vm| {
        vm.map(|Json(v)| {
            Json(Vm {
                memory_mb: memory_mb.unwrap_or(v.memory_mb),
                vcpus: vcpus.unwrap_or(v.vcpus),
            })
        })
    })?;
    Ok(())
}

fn main() -> Result<(), Error> {
    let dir = match std::env::args().nth(1) {
        Some(p) => std::path::PathBuf::from(p),
        None => std::env::temp_dir().join(format!("canopy-state-example-{}", std::process::id())),
    };
    let a = Repo::init(dir.join("a"))?;
    let main_a = a.branch("main")?;
    let p = Path::parse;
    Counter::open(main_a.clone(), p("stats/deploys")?).add(10)?;
    Map::<String, Json<Vm>>::open(main_a.clone(), p("vms")?).insert(
        &"web".into(),
        &Json(Vm {
            memory_mb: 512,
            vcpus: 1,
        }),
    )?;
    let url = dir.join("a").display().to_string();
    let b = client::clone(&url, &dir.join("b"), &mut CloneOptions::default())?;
    let main_b = b.branch("main")?;
    println!("replicas a = {} and b = {}", a.replica_id(), b.replica_id());

    work(&main_a, "a", Some(1024), None)?;
    work(&main_b, "b", None, Some(2))?;
    println!("b pulls a: {:?}", pull(&b)?);
    client::remote::add(&a, "origin", &dir.join("b").display().to_string())?;
    println!("a pulls b: {:?}", pull(&a)?);

    for (name, main) in [("a", &main_a), ("b", &main_b)] {
        let deploys = Counter::open(main.clone(), p("stats/deploys")?).get()?;
        let leader = Register::<String>::open(main.clone(), p("cluster/leader")?).get()?;
        let mut members = Set::<String>::open(main.clone(), p("cluster/members")?).elements()?;
        members.sort();
        let web = Map::<String, Json<Vm>>::open(main.clone(), p("vms")?).get(&"web".into())?;
        println!("{name}: deploys {deploys}, leader {leader:?}, members {members:?}, web {web:?}");
    }
    println!("store a: {}", dir.join("a").display());
    Ok(())
}
