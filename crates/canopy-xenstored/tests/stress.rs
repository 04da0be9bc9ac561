//! Concurrent clients running transactions on shared and private counters: every increment
//! of a committed transaction is there at the end. (The full-size run with timings is
//! `cargo run --release -p canopy-xenstored --example stress`.)

mod common;

use canopy_xenstored::stress;
use common::TestDaemon;

#[test]
fn sixteen_clients_lose_no_write() {
    let d = TestDaemon::start();
    let report = stress::run(&d.socket(), 16, 40).unwrap();
    assert_eq!(report.committed, 640);
    assert_eq!(report.shared, (320, 320));
    assert_eq!(report.wrong_private, 0);
    assert_eq!(report.lost_writes(), 0);
    eprintln!(
        "{} transactions, {} retries, {:.0} tx/s",
        report.committed,
        report.retries,
        report.per_second()
    );
}
