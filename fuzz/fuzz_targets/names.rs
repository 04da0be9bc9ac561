//! Names from users and the network: reference names (`git check-ref-format`), value paths and
//! single path steps (`.git` look-alikes), hex object ids.
#![no_main]

use canopy::backend::check_ref_name;
use canopy::path::check_step;
use canopy::{ObjectId, Path};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = check_step(data);
    let _ = ObjectId::from_hex(data);
    if let Ok(p) = Path::parse_bytes(data) {
        // A parsed path round-trips, and every step passes the step check.
        let again = Path::parse_bytes(&p.to_bytes()).expect("a parsed path parses again");
        assert_eq!(again, p);
        for step in p.steps() {
            assert!(check_step(step).is_ok());
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        if check_ref_name(s).is_ok() {
            assert!(!s.contains("..") && !s.ends_with(".lock") && !s.contains('\0'));
        }
        let _ = Path::parse(s);
    }
});
