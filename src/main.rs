//! The `edgestack` command: [`edgestack::cli::main`] with the shipped interceptors.

use std::process::ExitCode;

fn main() -> ExitCode {
    edgestack::cli::main(edgestack::interceptor_registry())
}
