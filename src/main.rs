//! The `baton` binary: everything happens in [`baton::cli`].

/// The daemon's allocator (the `mimalloc` feature, on by default), built
/// without transparent huge pages (mimalloc's `no_thp`), which would hold
/// megabytes of an idle daemon: see docs/benchmarks.md, "mimalloc, and
/// answers from the committer".
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    baton::cli::main()
}
