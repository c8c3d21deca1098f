mod cli;

fn main() -> std::process::ExitCode {
    // Must run first, while the process is single-threaded: a sandboxed build step re-enters here.
    compose::build::sandbox::maybe_enter();
    cli::run()
}
