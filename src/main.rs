//! The `dynoprobe` command: parse arguments, do one command, print one line on error.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match cli::dispatch(cli::Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("dynoprobe: {error:#}");
            ExitCode::FAILURE
        }
    }
}
