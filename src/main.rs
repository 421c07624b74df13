//! The `baton` binary: everything happens in [`baton::cli`].

/// The daemon's allocator (the `mimalloc` feature, on by default): see
/// Cargo.toml and docs/benchmarks.md, "The allocator".
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    baton::cli::main()
}
