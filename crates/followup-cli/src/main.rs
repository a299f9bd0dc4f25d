//! `followup`: follow-up tasks on a thread pool, from the command line.
//!
//! With no subcommand it runs the tutorial's two follow-up patterns and the same work with
//! the `followup` crate's own primitives; `followup demo PATTERN` runs one of them, and
//! `followup dupes PATH...` puts the manual pattern to real work. Exit status: 0 on success,
//! 1 on a failure, 2 on a usage error.

#![forbid(unsafe_code)]

mod args;
mod demo;
mod dupes;
mod output;
mod rng;

use args::{Cli, Command};
use clap::Parser;
use output::say;
use std::process::ExitCode;

/// Any failure worth reporting; its `Display` text is the message.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Shorthand for results of this command.
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Usage errors go to stderr with status 2; --help and --version to stdout with 0.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    match run(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("followup: error: {e}");
            ExitCode::from(1)
        }
    }
}

/// Runs the command; `Ok(false)` when it finished but something along the way failed (and
/// was reported).
fn run(cli: Cli) -> Result<bool> {
    match cli.command {
        None => {
            let demo = demo::Demo::new(&cli.demo);
            demo.print_settings();
            for (i, pattern) in demo::DEFAULT_RUN.into_iter().enumerate() {
                if i > 0 {
                    say!("");
                }
                demo.run(pattern)?;
            }
            say!("");
            say!("followup {}", env!("CARGO_PKG_VERSION"));
            Ok(true)
        }
        Some(Command::Demo { pattern, args }) => {
            let demo = demo::Demo::new(&args);
            demo.print_settings();
            demo.run(pattern)?;
            Ok(true)
        }
        Some(Command::Dupes(args)) => Ok(dupes::run(&args)?.unreadable == 0),
    }
}
