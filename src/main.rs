mod cli;

fn main() -> std::process::ExitCode {
    // Must run first, while the process is single-threaded: a sandboxed build step re-enters here.
    compose::build::sandbox::maybe_enter();
    // Die quietly on a closed pipe (`compose ... | head`), like other Unix tools, instead of panicking.
    // SAFETY: resetting a signal disposition before any other thread exists.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    cli::run()
}
