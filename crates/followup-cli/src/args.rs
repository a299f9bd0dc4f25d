//! The command line: clap definitions and value checks.
//!
//! Every value is checked here, by clap, so a bad one is a usage error (exit status 2) with
//! a message that says what was expected, never a panic further on.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::num::NonZeroUsize;
use std::path::PathBuf;

/// What the command does when it is run with no subcommand.
const ABOUT: &str = "\
Follow-up tasks on a thread pool: the two patterns of the tutorial \"How to issue follow-up \
tasks to the ThreadPool\" (Python), ported to the `followup` crate, and the same work with the \
crate's own follow-up primitives.

With no subcommand, runs the three patterns in turn (manual, callback, primitives) on the same \
random values, each with a header line, then prints the version. The demo options below apply \
to that run; `followup demo PATTERN` runs one pattern.";

/// `followup`: follow-up tasks on a thread pool.
#[derive(Debug, Parser)]
#[command(
    name = "followup",
    version,
    about = "Follow-up tasks on a thread pool: the tutorial's two patterns and more.",
    long_about = ABOUT,
    args_conflicts_with_subcommands = true,
    after_help = "Run `followup help demo` or `followup help dupes` for the subcommands."
)]
pub struct Cli {
    /// Options of the run without a subcommand.
    #[command(flatten)]
    pub demo: DemoArgs,

    /// The subcommand, if any.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs one follow-up pattern.
    ///
    /// First-round tasks 0..N each draw a random value v in [0, 1), sleep v × time-scale
    /// seconds and print `>ID generated V`. Each one whose value exceeds the threshold gets a
    /// follow-up task, which draws w, sleeps and prints `>>ID with V, generated W`.
    Demo {
        /// Which pattern to run.
        #[arg(value_enum)]
        pattern: Pattern,

        /// The demo's options.
        #[command(flatten)]
        args: DemoArgs,
    },

    /// Finds files with identical contents, using follow-up tasks.
    ///
    /// Files that share their size with another are hashed in parallel, first only their
    /// first 4 KiB (imap_unordered). As those results come in, each file whose size and
    /// prefix hash match another's gets a follow-up task that hashes all of it
    /// (apply_async): the tutorial's manual pattern, doing real work. Prints each group of
    /// duplicates, one path a line, groups separated by a blank line. Exit status 1 if a
    /// file could not be read (the others are still reported).
    ///
    /// Contents are compared by a 128-bit FNV-1a hash: fine against accidents, not against
    /// files crafted to collide.
    Dupes(DupesArgs),
}

/// The patterns of `followup demo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Pattern {
    /// The tutorial's manual pattern: iterate imap_unordered, issue follow-ups with
    /// apply_async, then close and join.
    Manual,
    /// The tutorial's callback pattern: map_async with a whole-result callback that issues
    /// the follow-ups; wait, close, join.
    Callback,
    /// This crate's as-completed set: follow-ups are added while iterating and their results
    /// come back through the same loop.
    Primitives,
    /// This crate's continuations: each task carries its conditional follow-up
    /// (`.when(test, task2)`), and `pool.all` gathers the results in task order.
    Continuations,
}

/// Options of the demo patterns.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Number of first-round tasks; their ids are 0..N.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 10,
        allow_negative_numbers = true
    )]
    pub tasks: u32,

    /// A first-round value must exceed this to get a follow-up task (0 to 1).
    #[arg(
        long,
        value_name = "X",
        default_value_t = 0.5,
        value_parser = parse_threshold,
        allow_negative_numbers = true
    )]
    pub threshold: f64,

    /// Seed for the random values. With a seed, each task's values depend only on the seed
    /// and the task's id, so a run prints the same lines (in some order) every time, whatever
    /// the worker count. Without one, a fresh seed is drawn and printed.
    #[arg(long, value_name = "S", allow_negative_numbers = true)]
    pub seed: Option<u64>,

    /// Worker threads in the pool (at least 1). Default: the available parallelism.
    #[arg(
        long,
        value_name = "N",
        value_parser = parse_workers,
        default_value_t = default_workers(),
        allow_negative_numbers = true
    )]
    pub workers: NonZeroUsize,

    /// Seconds a task sleeps per unit of its random value (0 or more; 0: no sleeping).
    #[arg(
        long,
        value_name = "F",
        default_value_t = 0.3,
        value_parser = parse_time_scale,
        allow_negative_numbers = true
    )]
    pub time_scale: f64,
}

/// Options of `followup dupes`.
#[derive(Debug, Clone, Args)]
pub struct DupesArgs {
    /// Files and directories to search; directories are walked recursively (symbolic links
    /// are not followed).
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,

    /// Worker threads in the pool (at least 1). Default: the available parallelism.
    #[arg(
        long,
        value_name = "N",
        value_parser = parse_workers,
        default_value_t = default_workers(),
        allow_negative_numbers = true
    )]
    pub workers: NonZeroUsize,
}

/// The available parallelism (1 if it cannot be told).
fn default_workers() -> NonZeroUsize {
    std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN)
}

fn parse_workers(s: &str) -> Result<NonZeroUsize, String> {
    let n: usize = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a whole number of threads"))?;
    NonZeroUsize::new(n).ok_or_else(|| "a pool needs at least 1 worker, got 0".to_string())
}

fn parse_float(s: &str) -> Result<f64, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number"))
}

fn parse_threshold(s: &str) -> Result<f64, String> {
    let x = parse_float(s)?;
    if (0.0..=1.0).contains(&x) {
        Ok(x)
    } else {
        Err(format!(
            "the threshold must be within [0, 1] (values are drawn from [0, 1)), got {s}"
        ))
    }
}

fn parse_time_scale(s: &str) -> Result<f64, String> {
    let x = parse_float(s)?;
    if x.is_finite() && x >= 0.0 {
        Ok(x)
    } else {
        Err(format!(
            "the time scale must be a finite number of seconds, 0 or more, got {s}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn values_are_checked() {
        assert!(parse_workers("0").is_err());
        assert_eq!(parse_workers("3").unwrap().get(), 3);
        assert!(parse_threshold("1.5").is_err());
        assert!(parse_threshold("-0.1").is_err());
        assert!(parse_threshold("NaN").is_err());
        assert_eq!(parse_threshold("1").unwrap(), 1.0);
        assert!(parse_time_scale("-1").is_err());
        assert!(parse_time_scale("inf").is_err());
        assert!(parse_time_scale("nan").is_err());
        assert_eq!(parse_time_scale("0").unwrap(), 0.0);
    }
}
