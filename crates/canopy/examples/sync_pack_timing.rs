//! Times pack planning and writing for a fetch of every branch of a repository:
//! `cargo run --release -p canopy --example sync_pack_timing -- PATH`.
use std::time::Instant;

fn main() {
    let path = std::env::args().nth(1).expect("usage: sync_pack_timing REPO");
    let repo = canopy::Repo::open(&path).expect("open");
    let wants: Vec<_> = repo
        .refs()
        .list("refs/heads/")
        .expect("refs")
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    let t = Instant::now();
    let req = canopy::sync::pack::Request {
        wants,
        ..Default::default()
    };
    let plan = canopy::sync::pack::plan(repo.objects(), Some(repo.refs()), &req).expect("plan");
    println!("plan: {} objects in {:.2?}", plan.objects.len(), t.elapsed());
    let t = Instant::now();
    let mut sink = std::io::sink();
    let n = canopy::sync::pack::write_pack_for(&repo, &plan.objects, true, &mut sink, &mut |_| {})
        .expect("write");
    println!("write: {n} bytes in {:.2?}", t.elapsed());
}
