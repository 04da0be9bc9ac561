//! Link options for the `canopy` binary.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    // Packed relative relocations (DT_RELR, glibc 2.36+): the dynamic loader applies the
    // binary's ~15,000 relative relocations from a table of a few KiB instead of 350 KiB,
    // which is about a twentieth of a short command's run (`canopy log --limit 1`).
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
