//! The smart protocol's request side: pkt-lines, side-band, upload-pack v2 and v0 requests,
//! and receive-pack commands, as a server reads them from a client. The first byte picks the
//! parser.
#![no_main]

use canopy::sync::pktline::{PktReader, SidebandReader};
use canopy::sync::{receive, upload};
use canopy::{HashKind, Repo};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, mut input)) = data.split_first() else {
        return;
    };
    match selector % 5 {
        0 => {
            let mut pkts = PktReader::new(&mut input);
            for _ in 0..10_000 {
                match pkts.read() {
                    Ok(Some(_)) => {}
                    _ => break,
                }
            }
        }
        1 => {
            let mut pkts = PktReader::new(&mut input);
            let mut progress = |_: &[u8]| {};
            let mut band = SidebandReader::new(&mut pkts, &mut progress);
            let mut out = Vec::new();
            let _ = std::io::Read::read_to_end(&mut band, &mut out);
        }
        2 => {
            let repo = Repo::in_memory(HashKind::Sha1);
            if let Ok(Some(req)) = upload::parse_v2_request(&mut input) {
                let _ = upload::parse_fetch_args(&repo, &req.args);
                let _ = upload::ls_refs(&repo, &req);
            }
        }
        3 => {
            let repo = Repo::in_memory(HashKind::Sha1);
            let _ = upload::parse_v0_request(&repo, &mut input);
        }
        _ => {
            let repo = Repo::in_memory(HashKind::Sha1);
            let mut pkts = PktReader::new(&mut input);
            let _ = receive::parse_request(&repo, &mut pkts);
            let _ = receive::Report::decode(data);
        }
    }
});
