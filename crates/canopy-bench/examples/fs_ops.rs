//! The file-system operations one published commit costs, each timed alone on the disk at DIR:
//! `cargo run --release -p canopy-bench --example fs_ops -- DIR [N]` (DIR must not exist).
//!
//! A commit that `git` can see at once writes a pack and its index (each a new file) and moves
//! the branch by Git's protocol: a lock file written, then renamed over the reference. These
//! rows give the floor that sets under any write path publishing every commit that way, beside
//! alternatives that are not Git's protocol (an unnamed file linked into place; a reference
//! rewritten in place, which a concurrent reader could see half-written).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::Instant;

fn time(what: &str, n: usize, mut op: impl FnMut(usize)) {
    let t = Instant::now();
    for i in 0..n {
        op(i);
    }
    println!("{what:<62} {:7.1} µs", t.elapsed().as_secs_f64() / n as f64 * 1e6);
}

fn create(path: &Path, data: &[u8]) -> File {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .expect("create");
    f.write_all(data).expect("write");
    f
}

#[cfg(target_os = "linux")]
fn unnamed(dir: &Path, data: &[u8], to: &Path) {
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::io::AsRawFd;
    let mut f = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_TMPFILE)
        .open(dir)
        .expect("O_TMPFILE");
    f.write_all(data).expect("write");
    let from = std::ffi::CString::new(format!("/proc/self/fd/{}", f.as_raw_fd())).unwrap();
    let to = std::ffi::CString::new(to.to_str().unwrap()).unwrap();
    // SAFETY: two NUL-terminated strings that outlive the call.
    let r = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    assert_eq!(r, 0, "linkat: {}", std::io::Error::last_os_error());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let root = Path::new(args.get(1).expect("usage: fs_ops DIR [N]"));
    let n: usize = args.get(2).map_or(2000, |n| n.parse().expect("a count"));
    fs::create_dir(root).expect("DIR must not exist");
    let pack = vec![b'p'; 5000];
    let value = b"0123456789012345678901234567890123456789\n";
    let dir = |name: &str| {
        let d = root.join(name);
        fs::create_dir(&d).unwrap();
        let _ = std::process::Command::new("sync").status();
        d
    };
    // A directory holding one reference, `main`, and the paths of the reference and its lock.
    let ref_dir = |name: &str| {
        let d = dir(name);
        let reference = d.join("main");
        drop(create(&reference, value));
        let lock = d.join("main.lock");
        (d, reference, lock)
    };

    let d = dir("named");
    time("new 5 KB file: create, write, rename into place", n, |i| {
        let tmp = d.join(format!("tmp_{i}"));
        drop(create(&tmp, &pack));
        fs::rename(&tmp, d.join(format!("pack-{i}"))).unwrap();
    });
    #[cfg(target_os = "linux")]
    {
        let d = dir("unnamed");
        time("new 5 KB file: O_TMPFILE, write, link into place", n, |i| {
            unnamed(&d, &pack, &d.join(format!("pack-{i}")));
        });
    }
    let (_, reference, lock) = ref_dir("git-ref");
    time(
        "reference moved as git does: lock created, written, renamed over",
        n,
        |_| {
            drop(create(&lock, value));
            fs::rename(&lock, &reference).unwrap();
        },
    );
    let (d, reference, lock) = ref_dir("canopy-ref");
    time(
        "reference moved with Canopy's lock (private name, flock, link)",
        n,
        |i| {
            let private = d.join(format!(".main.{i}.lock"));
            let mut f = create(&private, b"");
            f.lock().unwrap();
            let _ = f.set_times(fs::FileTimes::new().set_accessed(std::time::UNIX_EPOCH));
            fs::hard_link(&private, &lock).unwrap();
            fs::remove_file(&private).unwrap();
            f.write_all(value).unwrap();
            fs::rename(&lock, &reference).unwrap();
        },
    );
    let (d, reference, lock) = ref_dir("kept-ref");
    time(
        "reference moved as git does, the old file kept by a second link",
        n,
        |i| {
            drop(create(&lock, value));
            fs::hard_link(&reference, d.join(format!(".main.{i}.old"))).unwrap();
            fs::rename(&lock, &reference).unwrap();
        },
    );
    time(
        "  ...and those old files removed afterwards, one by one",
        n,
        |i| {
            fs::remove_file(d.join(format!(".main.{i}.old"))).unwrap();
        },
    );
    let (_, reference, lock) = ref_dir("in-place-ref");
    time(
        "reference rewritten in place under an empty lock (not Git's)",
        n,
        |_| {
            let l = create(&lock, b"");
            let mut r = OpenOptions::new().write(true).open(&reference).unwrap();
            r.write_all(value).unwrap();
            drop(r);
            fs::remove_file(&lock).unwrap();
            drop(l);
        },
    );
    let d = dir("append");
    let log = d.join("log");
    drop(create(&log, b""));
    time("reflog line appended (open, write, close)", n, |_| {
        let mut f = OpenOptions::new().append(true).open(&log).unwrap();
        f.write_all(&pack[..200]).unwrap();
    });
}
