//! The agent's command line, for tests that run it as a child process.
fn main() -> std::process::ExitCode {
    agent::cli::main()
}
