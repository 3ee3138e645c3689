//! The `rollpilot` binary: all behaviour lives in the library; this only hands over argv.

fn main() -> std::process::ExitCode {
    rollpilot::cli::main()
}
