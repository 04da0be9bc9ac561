//! Times the phases of a merge of two branches: `cargo run --release -p canopy --example
//! merge_timing -- STORE OURS THEIRS` (a store `canopy-bench --only merge --dir D` kept).

use std::time::Instant;

use canopy::{ObjectId, Repo};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, store, ours, theirs] = &args[..] else {
        eprintln!("usage: merge_timing STORE OURS THEIRS");
        std::process::exit(2);
    };
    let id = |s: &str| ObjectId::from_hex(s.as_bytes()).expect("a commit id");
    let t = Instant::now();
    let repo = Repo::open(store).expect("open");
    let opened = t.elapsed();
    let merged = repo.merge_commits(id(ours), id(theirs), None).expect("merge");
    let merge = t.elapsed();
    repo.write_tree(&merged.tree).expect("write tree");
    let written = t.elapsed();
    repo.objects().flush().expect("flush");
    let flushed = t.elapsed();
    println!(
        "open {:.1} ms, merge {:.1} ms, write_tree {:.1} ms, flush {:.1} ms, total {:.1} ms ({} conflicts)",
        opened.as_secs_f64() * 1e3,
        (merge - opened).as_secs_f64() * 1e3,
        (written - merge).as_secs_f64() * 1e3,
        (flushed - written).as_secs_f64() * 1e3,
        flushed.as_secs_f64() * 1e3,
        merged.conflicts.len()
    );
}
