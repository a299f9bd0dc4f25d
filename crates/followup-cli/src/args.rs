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
    /// Number of first-round tasks; their ids are 0..N (at most 1000000).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 10,
        value_parser = parse_tasks,
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
    #[arg(
        long,
        value_name = "S",
        value_parser = parse_seed,
        allow_negative_numbers = true
    )]
    pub seed: Option<u64>,

    /// Worker threads in the pool (1 to 256). Default: the available parallelism.
    #[arg(
        long,
        value_name = "N",
        value_parser = parse_workers,
        default_value_t = default_workers(),
        allow_negative_numbers = true
    )]
    pub workers: NonZeroUsize,

    /// Seconds a task sleeps per unit of its random value (0 to 3600; 0: no sleeping).
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

    /// Worker threads in the pool (1 to 256). Default: the available parallelism.
    #[arg(
        long,
        value_name = "N",
        value_parser = parse_workers,
        default_value_t = default_workers(),
        allow_negative_numbers = true
    )]
    pub workers: NonZeroUsize,
}

/// The most worker threads a pool may have here. Every worker is an OS thread that, when idle,
/// searches every sibling's deque before it sleeps, so start-up and shutdown grow with the
/// square of the count: measured (debug build, 2 busy cores) 0.16 s for 256 workers, 1.7 s for
/// 512, 3.4 s for 1024, over a minute for 30000. The demo's work never needs more than a few.
pub const MAX_WORKERS: usize = 256;

/// The most first-round tasks: each prints a line, and a million already takes a while.
pub const MAX_TASKS: u32 = 1_000_000;

/// The longest sleep per unit of value, in seconds: an hour. A larger scale would only make
/// a run that never ends in practice (`1e308` used to be accepted and slept for ever).
pub const MAX_TIME_SCALE: f64 = 3600.0;

/// The available parallelism (1 if it cannot be told), within [`MAX_WORKERS`].
fn default_workers() -> NonZeroUsize {
    let n = std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN);
    n.min(NonZeroUsize::new(MAX_WORKERS).expect("MAX_WORKERS is not zero"))
}

/// A whole number from `min` to `max`, saying "too large" (not "not a number") when it has
/// only digits but is beyond `max`, even beyond what any integer type holds.
fn parse_bounded(s: &str, what: &str, min: u128, max: u128) -> Result<u128, String> {
    let t = s.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "`{s}` is not a whole number: {what} must be from {min} to {max}"
        ));
    }
    match t.parse::<u128>() {
        Ok(n) if n <= max => Ok(n),
        _ => Err(format!("{s} is too large: {what} must be at most {max}")),
    }
}

fn parse_workers(s: &str) -> Result<NonZeroUsize, String> {
    let n = parse_bounded(s, "the number of worker threads", 1, MAX_WORKERS as u128)?;
    let n = usize::try_from(n).expect("bounded by MAX_WORKERS");
    NonZeroUsize::new(n).ok_or_else(|| "a pool needs at least 1 worker, got 0".to_string())
}

fn parse_tasks(s: &str) -> Result<u32, String> {
    let n = parse_bounded(s, "the number of tasks", 0, u128::from(MAX_TASKS))?;
    Ok(u32::try_from(n).expect("bounded by MAX_TASKS"))
}

fn parse_seed(s: &str) -> Result<u64, String> {
    let n = parse_bounded(s, "the seed", 0, u128::from(u64::MAX))?;
    Ok(u64::try_from(n).expect("bounded by u64::MAX"))
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
    if !(x.is_finite() && x >= 0.0) {
        Err(format!(
            "the time scale must be a finite number of seconds, 0 or more, got {s}"
        ))
    } else if x > MAX_TIME_SCALE {
        Err(format!(
            "the time scale {s} is too large: at most {MAX_TIME_SCALE} seconds per unit of value"
        ))
    } else {
        Ok(x)
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
        assert!(parse_time_scale("1e308").unwrap_err().contains("too large"));
        assert_eq!(parse_time_scale("3600").unwrap(), 3600.0);
        assert!(parse_workers("257").unwrap_err().contains("too large"));
        assert!(parse_workers("99999999999999999999999")
            .unwrap_err()
            .contains("too large"));
        assert!(parse_workers("-2")
            .unwrap_err()
            .contains("not a whole number"));
        assert_eq!(parse_workers("256").unwrap().get(), MAX_WORKERS);
        assert!(parse_tasks("1000001").unwrap_err().contains("too large"));
        assert!(parse_tasks("-5")
            .unwrap_err()
            .contains("not a whole number"));
        assert_eq!(parse_tasks("0").unwrap(), 0);
        assert!(parse_seed("-5").unwrap_err().contains("not a whole number"));
        assert!(parse_seed("18446744073709551616")
            .unwrap_err()
            .contains("too large"));
        assert_eq!(parse_seed("18446744073709551615").unwrap(), u64::MAX);
    }
}
