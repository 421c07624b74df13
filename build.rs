//! Links the release `baton` binary with `linker/startup.ld`, a linker script
//! that places the functions the daemon runs from start to idle next to each
//! other, ahead of the rest of the code. The kernel maps a binary's code into a
//! process 64 KiB at a time around each page it runs, so scattered start-up
//! code made the idle daemon hold most of the binary's code (5.4 to 6.1 MB of
//! 7.7 MB); grouped, it holds 1.9 MB (docs/benchmarks.md, "Idle RSS").
//!
//! Only where the script is known to work: release builds for Linux with
//! glibc, with the toolchain's default linker (rust-lld, or `cc` with GNU ld
//! on toolchains before 1.90). A linker chosen in the Cargo config or in
//! `RUSTFLAGS` (mold, gold, a cross linker) gets no script: gold, for one,
//! cannot read it. `BATON_NO_STARTUP_ORDER=1` turns it off. The script only
//! moves functions: without it the binary behaves the same and is the same
//! size, it just maps more of itself at start.
//!
//! The script names functions by their symbols, which change with the
//! compiler and the dependencies: made by another rustc, for another
//! `Cargo.lock` or for other dependency features (the workspace's
//! `Cargo.toml` files), it still links but groups too little to help, so the
//! build warns. `scripts/startup-order.sh` regenerates it.

use std::env;
use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=linker/startup.ld");
    println!("cargo:rerun-if-changed=Cargo.lock");
    for manifest in MANIFESTS {
        println!("cargo:rerun-if-changed={manifest}");
    }
    println!("cargo:rerun-if-env-changed=BATON_NO_STARTUP_ORDER");
    let root = Path::new(&var("CARGO_MANIFEST_DIR")).to_owned();
    let script = root.join("linker/startup.ld");
    if !wanted() || !script.exists() {
        return;
    }
    // `-Xlinker` passes the next argument as it is, whatever the path holds.
    println!("cargo:rustc-link-arg-bin=baton=-Xlinker");
    println!("cargo:rustc-link-arg-bin=baton=--script={}", script.display());
    let header = std::fs::read_to_string(&script).unwrap_or_default();
    let recorded = |key: &str| header.lines().find_map(|line| line.trim().strip_prefix(key)).map(str::trim);
    let rustc = Command::new(var("RUSTC")).arg("--version").output().ok();
    let rustc = rustc.map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned()).unwrap_or_default();
    let lock = fnv1a64(&[root.join("Cargo.lock")]);
    let manifests = fnv1a64(&MANIFESTS.map(|manifest| root.join(manifest)));
    if recorded("Built by:") != Some(rustc.as_str())
        || recorded("Cargo.lock:") != Some(lock.as_str())
        || recorded("Manifests:") != Some(manifests.as_str())
    {
        println!(
            "cargo:warning=linker/startup.ld was made by another rustc or for other dependencies (Cargo.lock, \
             or the features in the Cargo.toml files): the daemon's start-up code is not grouped as well \
             (more idle RSS); run scripts/startup-order.sh"
        );
    }
}

/// Release builds for Linux with glibc and the default linker, unless turned off.
fn wanted() -> bool {
    let off = env::var_os("BATON_NO_STARTUP_ORDER").is_some_and(|off| !off.is_empty() && off != "0");
    // Cargo sets RUSTC_LINKER when its config names a linker for the target.
    let own_linker = env::var_os("RUSTC_LINKER").is_some()
        || var("CARGO_ENCODED_RUSTFLAGS").split('\x1f').any(|flag| flag.contains("linker") || flag.contains("fuse-ld"));
    var("PROFILE") == "release"
        && var("CARGO_CFG_TARGET_OS") == "linux"
        && var("CARGO_CFG_TARGET_ENV") == "gnu"
        && !off
        && !own_linker
}

fn var(name: &str) -> String {
    env::var(name).unwrap_or_default()
}

/// The workspace's manifests: a dependency's features change its symbols too.
const MANIFESTS: [&str; 2] = ["Cargo.toml", "actors/Cargo.toml"];

/// FNV-1a (64 bits) of the files' bytes, one after the other, as
/// `scripts/lib/startup_order.py` records it; empty if one cannot be read.
fn fnv1a64(paths: &[std::path::PathBuf]) -> String {
    let mut digest = 0xcbf2_9ce4_8422_2325_u64;
    for path in paths {
        let Ok(bytes) = std::fs::read(path) else { return String::new() };
        digest = bytes.iter().fold(digest, |digest, &byte| (digest ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3));
    }
    format!("{digest:016x}")
}
