//! `edgestack` with one more interceptor: every CLI feature, `[interceptors.size-guard]`
//! validated like the shipped sections.

fn main() -> std::process::ExitCode {
    edgestack::cli::main(own_crate::registry())
}
