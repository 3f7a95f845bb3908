//! `gmmp-bench`: parse the command line, run the scenario, print its
//! figures; exit 1 when the run failed or its check did not hold.

use clap::Parser;
use gmmp_bench::cli::Cli;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gmmp-bench: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(gmmp_bench::run::run(cli))
}
