//! A 10 MiB text edited 1,000 times: `cargo run --release -p canopy --example data_rope`.
//!
//! Each edit is one commit in an in-memory store; the objects each edit adds to the store are
//! counted, to show that an edit writes the chunks it touches and the directories above them,
//! whatever the size of the text.

use std::time::Instant;

use canopy::data::Rope;
use canopy::{HashKind, Path, Repo};

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n as u64) as usize
    }
}

fn text(size: usize, rng: &mut Rng) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "canopy", "rope", "chunk", "merge", "tree", "blob", "key", "edit", "git",
    ];
    let mut out = Vec::with_capacity(size + 80);
    while out.len() < size {
        for _ in 0..rng.below(12) + 1 {
            out.extend_from_slice(WORDS[rng.below(WORDS.len())].as_bytes());
            out.push(b' ');
        }
        out.push(b'\n');
    }
    out.truncate(size);
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const SIZE: usize = 10 << 20;
    const EDITS: usize = 1000;
    let repo = Repo::in_memory(HashKind::Sha1);
    let mut rng = Rng(0x5eed);
    let mut model = text(SIZE, &mut rng);

    let t = Instant::now();
    let rope = Rope::create(repo.branch("main")?, Path::parse("doc")?, &model)?;
    println!(
        "created: {} bytes in {} chunks, {} objects, {:.2?}",
        rope.len()?,
        rope.chunk_count()?,
        repo.objects().ids_with_prefix("")?.len(),
        t.elapsed()
    );

    let (mut most, mut total) = (0, 0);
    let mut editing = std::time::Duration::ZERO;
    for _ in 0..EDITS {
        let offset = rng.below(model.len() + 1);
        let delete = rng.below(300).min(model.len() - offset);
        let insert = text(rng.below(400), &mut rng);
        let before = repo.objects().ids_with_prefix("")?.len();
        let t = Instant::now();
        let stats = rope.splice(offset, delete, &insert)?;
        editing += t.elapsed();
        let objects =
            repo.objects().ids_with_prefix("")?.len() - before - usize::from(stats.commit.is_some());
        most = most.max(objects);
        total += objects;
        model.splice(offset..offset + delete, insert);
    }
    println!(
        "{EDITS} edits, each a commit: {editing:.2?} ({:.2?} per edit)",
        editing / EDITS as u32
    );
    println!(
        "objects written per edit besides the commit: mean {:.2}, max {most}",
        total as f64 / EDITS as f64
    );
    let same = rope.read()? == model;
    println!(
        "content equals the model: {same}; {} chunks now",
        rope.chunk_count()?
    );
    if !same {
        return Err("the rope differs from the model".into());
    }
    Ok(())
}
