//! The `baton` binary: everything happens in [`baton::cli`].

fn main() -> std::process::ExitCode {
    baton::cli::main()
}
