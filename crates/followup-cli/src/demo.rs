//! The follow-up patterns: the tutorial's two, and the same work with this crate's own
//! primitives.
//!
//! Every pattern runs the same tasks on a pool of its own. `task1(id)` draws a value `v` in
//! `[0, 1)`, sleeps `v × time-scale` seconds, prints `>{id} generated {v}` and returns
//! `(id, v)`; every first-round result with `v > threshold` gets a follow-up `task2(id, v)`,
//! which draws `w`, sleeps, prints `>>{id} with {v}, generated {w}` and returns `(id, v, w)`.

use crate::args::{DemoArgs, Pattern};
use crate::output::{py_float, say};
use crate::rng;
use crate::Result;
use followup::{AsyncResult, ImapOptions, MapOptions, ThreadPool};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The patterns the command runs when it is given no subcommand, in this order.
pub const DEFAULT_RUN: [Pattern; 3] = [Pattern::Manual, Pattern::Callback, Pattern::Primitives];

/// What a first-round task returns: its id and value.
type First = (u32, f64);
/// What a follow-up returns: the id, the first-round value and its own value.
type Second = (u32, f64, f64);

/// The tasks' work: where their random values come from and how long they sleep. `Copy`,
/// so every task carries its own.
#[derive(Debug, Clone, Copy)]
pub struct Work {
    seed: u64,
    time_scale: f64,
}

impl Work {
    /// The tutorial's `task1`, a first-round task.
    pub fn task1(self, id: u32) -> First {
        let value = rng::value_for(self.seed, id, 1);
        self.block(value);
        say!(">{id} generated {}", py_float(value));
        (id, value)
    }

    /// The tutorial's `task2`, a follow-up of first-round task `id` whose value was `result`.
    pub fn task2(self, id: u32, result: f64) -> Second {
        let value = rng::value_for(self.seed, id, 2);
        self.block(value);
        say!(
            ">>{id} with {}, generated {}",
            py_float(result),
            py_float(value)
        );
        (id, result, value)
    }

    /// Sleeps `value × time_scale` seconds (an absurdly long time saturates, never panics).
    fn block(self, value: f64) {
        if self.time_scale > 0.0 {
            let secs = value * self.time_scale;
            std::thread::sleep(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX));
        }
    }
}

/// One demo's settings, resolved from the command line.
#[derive(Debug, Clone, Copy)]
pub struct Demo {
    tasks: u32,
    threshold: f64,
    workers: usize,
    time_scale: f64,
    seed: u64,
    work: Work,
}

impl Demo {
    /// Resolves the options; without `--seed`, draws a fresh seed.
    pub fn new(args: &DemoArgs) -> Demo {
        let seed = args.seed.unwrap_or_else(rng::fresh_seed);
        Demo {
            tasks: args.tasks,
            threshold: args.threshold,
            workers: args.workers.get(),
            time_scale: args.time_scale,
            seed,
            work: Work {
                seed,
                time_scale: args.time_scale,
            },
        }
    }

    /// Prints the settings, with the seed that repeats this run.
    pub fn print_settings(&self) {
        say!(
            "# seed {} (repeat with --seed {}), {} tasks, threshold {}, {} worker(s), {} s per unit of value",
            self.seed,
            self.seed,
            self.tasks,
            self.threshold,
            self.workers,
            self.time_scale
        );
    }

    /// Runs `pattern` after its header line.
    pub fn run(&self, pattern: Pattern) -> Result<()> {
        say!("=== {} ===", header(pattern));
        match pattern {
            Pattern::Manual => self.manual(),
            Pattern::Callback => self.callback(),
            Pattern::Primitives => self.primitives(),
            Pattern::Continuations => self.continuations(),
        }
    }

    fn pool(&self) -> Result<ThreadPool> {
        Ok(ThreadPool::with_workers(self.workers)?)
    }

    /// (a) The tutorial's first program.
    fn manual(&self) -> Result<()> {
        let (work, threshold) = (self.work, self.threshold);
        let pool = self.pool()?;
        let mut followups = Vec::new();
        // Chunks of one, as Python's imap_unordered: each result arrives as its task ends.
        let first_round = pool.imap_unordered_with(
            move |id| work.task1(id),
            0..self.tasks,
            ImapOptions::new().chunksize(1),
        )?;
        for result in first_round {
            let (id, value) = result?;
            if value > threshold {
                followups.push(pool.apply_async(move || work.task2(id, value))?);
            }
        }
        pool.close();
        pool.join()?;
        // Python drops these handles; checking them surfaces a failed follow-up.
        for handle in followups {
            handle.get()?;
        }
        say!("All done.");
        Ok(())
    }

    /// (b) The tutorial's second program: the follow-ups are issued by the result callback.
    fn callback(&self) -> Result<()> {
        let (work, threshold) = (self.work, self.threshold);
        let pool = self.pool()?;
        let issued: Arc<Mutex<Vec<followup::Result<AsyncResult<Second>>>>> = Arc::default();
        let (issuer, sink) = (pool.clone(), Arc::clone(&issued));
        let options = MapOptions::new().callback(move |results: &Vec<First>| {
            let mut sink = sink.lock().unwrap_or_else(PoisonError::into_inner);
            for &(id, value) in results {
                if value > threshold {
                    sink.push(issuer.apply_async(move || work.task2(id, value)));
                }
            }
        });
        let result = pool.map_async_with(move |id| work.task1(id), 0..self.tasks, options)?;
        result.wait();
        pool.close();
        pool.join()?;
        result.get()?;
        let issued = std::mem::take(&mut *issued.lock().unwrap_or_else(PoisonError::into_inner));
        for handle in issued {
            handle?.get()?;
        }
        say!("All done.");
        Ok(())
    }

    /// (c) An as-completed set: the manual pattern, but the follow-ups join the set being
    /// iterated, so their results come back through the same loop.
    fn primitives(&self) -> Result<()> {
        /// A result of either round, so both can share one set.
        enum Round {
            First(First),
            Second(Second),
        }
        let (work, threshold) = (self.work, self.threshold);
        let pool = self.pool()?;
        let mut set = pool.as_completed();
        for id in 0..self.tasks {
            set.submit(move || Round::First(work.task1(id)))?;
        }
        let mut came_back = Vec::new();
        while let Some(result) = set.next() {
            match result? {
                Round::First((id, value)) if value > threshold => {
                    set.submit(move || Round::Second(work.task2(id, value)))?;
                }
                Round::First(_) => {}
                Round::Second(second) => came_back.push(second),
            }
        }
        print_came_back(&came_back, "completion");
        pool.close();
        pool.join()?;
        say!("All done.");
        Ok(())
    }

    /// (d) Continuations: each first-round task carries its conditional follow-up, and one
    /// fan-in handle gathers every outcome in task order.
    fn continuations(&self) -> Result<()> {
        let (work, threshold) = (self.work, self.threshold);
        let pool = self.pool()?;
        let mut handles = Vec::with_capacity(self.tasks as usize);
        for id in 0..self.tasks {
            let first = pool.apply_async(move || work.task1(id))?;
            handles.push(first.when(
                move |&(_, value)| value > threshold,
                move |(id, value)| work.task2(id, value),
            ));
        }
        let outcomes = pool.all(handles).get()?;
        let came_back: Vec<Second> = outcomes.into_iter().flatten().collect();
        print_came_back(&came_back, "task");
        pool.close();
        pool.join()?;
        say!("All done.");
        Ok(())
    }
}

/// The header line's text for `pattern`.
pub fn header(pattern: Pattern) -> &'static str {
    match pattern {
        Pattern::Manual => "(a) manual: imap_unordered, apply_async follow-ups, close, join",
        Pattern::Callback => {
            "(b) callback: map_async whose result callback issues the follow-ups; wait, close, join"
        }
        Pattern::Primitives => {
            "(c) primitives: an as-completed set that follow-ups join while it is iterated"
        }
        Pattern::Continuations => {
            "(d) continuations: .when(test, task2) on each task, gathered with pool.all"
        }
    }
}

/// Prints the follow-ups' return values, as Python tuples.
fn print_came_back(came_back: &[Second], order: &str) {
    say!(
        "{} follow-up result(s) came back, in {order} order:",
        came_back.len()
    );
    for &(id, result, value) in came_back {
        say!("  ({id}, {}, {})", py_float(result), py_float(value));
    }
}
