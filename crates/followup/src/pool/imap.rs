//! `imap` and `imap_unordered`: lazy, bounded-memory streaming maps.
//!
//! # Where the input is pulled
//!
//! A feeder thread of the stream's own pulls the input (as Python's task handler does),
//! started by the first `next`. The consumer only receives results. So a result that is
//! finished is delivered even while the input iterator blocks, and a loop that feeds
//! follow-ups back into its own input through a channel cannot starve itself. The feeder
//! never runs more than `window` ahead of the consumer: it parks until the consumer has taken
//! half the window back (one wake-up per half window, not one per item).
//!
//! While the feeder may still issue work the stream holds one admission, so `close()` +
//! `join()` waits for it. `join` on the thread that consumes the stream refuses with
//! `UnfinishedStream` when the feeder has not started or waits for window room (only that
//! thread could let it finish); a feeder still pulling is waited for until it settles, which
//! is a hang only if the input itself waits for the joining thread. Dropping the last pool
//! handle on that thread never waits.
//!
//! # Chunking
//!
//! With an explicit chunk size `c`, the feeder pulls exactly `c` items (fewer at the end) and
//! issues them as one task, whose results reach the consumer together (Python's rule).
//!
//! With the default chunking the feeder never holds an item back: each pulled item is
//! published at once into a ring the stream's *runner* tasks claim from (a blocked input
//! therefore cannot strand an item it already returned). A runner claims a sub-range,
//! runs it and sends its results as one message, then sizes its next claim by the time this
//! one took: it starts at one item, doubles while a claim takes under [`CLAIM_BUDGET`] (up to
//! [`MAX_CLAIM`] items), and falls back to one item after a claim that took longer. It never
//! claims more than half of what is waiting, and while items wait and fewer runners than
//! workers exist it issues another runner; so does the feeder when items pile up behind
//! runners that are all busy. So cheap items travel in claims of a thousand
//! (the per-item cost of fixed chunking); slow items travel one by one, each result sent as
//! it finishes; and while one runner is stuck on a slow item, an idle worker runs another
//! runner over the items behind it.

use super::ThreadPool;
use crate::engine::{Engine, Hold};
use crate::error::{panic_message, Error, Result};
use crate::sync::lock;
use crate::task::context::current_tracker;
use crate::task::issue::{issue_held_detached, recv_helping};
use crate::task::tracker::Tracker;
use crate::task::waiters::Waiters;
use crossbeam_channel::{Receiver, Sender};
use crossbeam_utils::sync::{Parker, Unparker};
use std::cell::UnsafeCell;
use std::collections::BTreeMap;
use std::fmt;
use std::iter::FusedIterator;
use std::mem::MaybeUninit;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

/// Items per unit of the window with the default chunking: a window of `w` lets
/// `w × 1024` items be pulled and not yet consumed.
const DEFAULT_BLOCK: usize = 1024;

/// Largest sub-range a runner claims at once (default chunking).
const MAX_CLAIM: usize = 1024;

/// A runner's claim doubles while it takes less than this, and drops to one item after a
/// claim that took longer: short enough that a finished result is never held long behind
/// its claim-mates, long enough to amortise a message over many cheap items.
const CLAIM_BUDGET: Duration = Duration::from_micros(20);

/// With an explicit chunk size, the default window holds at least this many items, so small
/// chunks do not make the feeder park and wake every few items.
const MIN_DEFAULT_WINDOW_ITEMS: usize = 1024;

/// Options for [`ThreadPool::imap_with`] and [`ThreadPool::imap_unordered_with`].
///
/// ```
/// use followup::{ImapOptions, ThreadPool};
///
/// let pool = ThreadPool::with_workers(2).unwrap();
/// // An endless input: only `window × chunksize` items are ever in memory.
/// let firsts: Vec<u64> = pool
///     .imap_with(|x: u64| x * 2, 0.., ImapOptions::new().chunksize(16).window(4))
///     .unwrap()
///     .take(100)
///     .map(Result::unwrap)
///     .collect();
/// assert_eq!(firsts[99], 198);
/// ```
#[derive(Debug, Clone, Default)]
pub struct ImapOptions {
    chunksize: Option<usize>,
    window: Option<usize>,
}

impl ImapOptions {
    /// Default options: see [`chunksize`](Self::chunksize) and [`window`](Self::window).
    pub fn new() -> Self {
        Self::default()
    }

    /// Items per task, honoured exactly: each task gets `n` items (the last one fewer) and
    /// its results arrive together. Zero is an error.
    ///
    /// Default: adaptive, for inputs of known and unknown length alike (see the module
    /// docs): items are claimed one at a time while they are slow and in growing claims of
    /// up to 1024 while they are cheap; no item waits behind a slow one while a worker is
    /// idle, and no item the input returned waits for the input's next one.
    pub fn chunksize(mut self, n: usize) -> Self {
        self.chunksize = Some(n);
        self
    }

    /// Most chunks in flight at once (pulled from the input, result not yet consumed). Zero
    /// is an error. With the default chunking a unit of the window is 1024 items.
    ///
    /// Default: 4 × workers, and with an explicit chunk size at least enough chunks to hold
    /// 1024 items.
    pub fn window(mut self, n: usize) -> Self {
        self.window = Some(n);
        self
    }
}

/// What the workers and the feeder send to the consumer.
enum Msg<T> {
    /// The outcome of item `index`.
    One(usize, Result<T>),
    /// The outcomes of a run of items.
    Run(Run<T>),
    /// The feeder is done: `total` items were pulled, then the input ended or failed.
    End { total: usize, error: Option<Error> },
}

/// Items `start .. start + values.len() + errors.len()` in input order: the values of those
/// that succeeded, and the failures with their absolute indices (ascending).
struct Run<T> {
    start: usize,
    values: Vec<T>,
    errors: Vec<(usize, Error)>,
}

impl<T> Run<T> {
    fn len(&self) -> usize {
        self.values.len() + self.errors.len()
    }
}

impl<T> Msg<T> {
    /// First index and number of items.
    fn span(&self) -> (usize, usize) {
        match self {
            Msg::One(i, _) => (*i, 1),
            Msg::Run(r) => (r.start, r.len()),
            Msg::End { .. } => (usize::MAX, 0),
        }
    }
}

/// Where the feeder stands, for `join` on the consumer's thread (see [`holds_stream`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FeederState {
    /// Not started: it starts on the consumer's first `next`.
    NotStarted,
    /// Pulling or issuing: it will settle without the consumer (unless the input blocks).
    Running,
    /// Parked until the consumer frees window room.
    WindowWait,
    /// Finished: the input ended, failed, or the consumer went away.
    Done,
}

/// The stream's control block, under one lock: the admission the stream holds while its
/// input may still produce work, and the feeder's state.
struct Ctl {
    /// The stream's unit of the pool's count, until it is released (by the feeder at the end,
    /// or by a drop); while held, the pool cannot go quiet.
    hold: Option<Hold>,
    state: FeederState,
}

/// What the consumer, the feeder and the workers share, whatever the item types.
struct Link {
    engine: Arc<Engine>,
    ctl: Mutex<Ctl>,
    ctl_cv: Condvar,
    /// The consumer went away: pull nothing more, issue nothing more.
    stopped: AtomicBool,
    /// Items whose results the consumer has taken off the channel (unordered) or reached in
    /// order (ordered). The window is counted against it.
    consumed: AtomicUsize,
    /// While the feeder is parked: the `consumed` value it waits for; else `usize::MAX`.
    wake_at: AtomicUsize,
    feeder: Unparker,
    /// Workers waiting on the result channel while they help; woken after each send.
    waiters: Waiters,
}

impl Link {
    /// Counts the stream's admission out, once.
    fn release(self: &Arc<Self>) {
        let hold = lock(&self.ctl).hold.take();
        self.ctl_cv.notify_all();
        if let Some(hold) = hold {
            drop(hold);
            unregister(self);
        }
    }

    fn set_state(&self, state: FeederState) {
        lock(&self.ctl).state = state;
        self.ctl_cv.notify_all();
    }

    /// Admits one job for the feeder, unless the consumer went away (`Ok(None)`). Under the
    /// lock, so a drop cannot release the stream's hold in between.
    fn admit_for_feeder(&self) -> Result<Option<Hold>> {
        let ctl = lock(&self.ctl);
        match &ctl.hold {
            Some(hold) if !self.stopped.load(Ordering::SeqCst) => hold.another().map(Some),
            _ => Ok(None),
        }
    }

    /// The error a job that never ran reports for its items.
    fn not_run_error(&self) -> Error {
        if self.engine.is_terminated() {
            Error::Terminated
        } else {
            Error::Cancelled
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Which thread holds which stream
// ---------------------------------------------------------------------------------------------

/// A stream whose admission is still held, and the thread that consumes it.
struct Live {
    link: Arc<Link>,
    thread: ThreadId,
}

/// Streams holding an admission. `join` on the consuming thread of one would wait for a
/// consumer that is itself; it refuses instead. (A global list rather than a thread-local
/// one, since a stream is `Send` and may change threads.)
static LIVE: std::sync::Mutex<Vec<Live>> = std::sync::Mutex::new(Vec::new());

fn live() -> std::sync::MutexGuard<'static, Vec<Live>> {
    LIVE.lock().unwrap_or_else(|p| p.into_inner())
}

thread_local! {
    static THREAD_ID: ThreadId = std::thread::current().id();
}

fn this_thread() -> ThreadId {
    THREAD_ID.with(|t| *t)
}

fn register(link: &Arc<Link>) {
    live().push(Live {
        link: Arc::clone(link),
        thread: this_thread(),
    });
}

fn unregister(link: &Arc<Link>) {
    let mut l = live();
    if let Some(pos) = l.iter().position(|e| Arc::ptr_eq(&e.link, link)) {
        l.swap_remove(pos);
    }
}

fn moved_to(link: &Arc<Link>, thread: ThreadId) {
    if let Some(e) = live().iter_mut().find(|e| Arc::ptr_eq(&e.link, link)) {
        e.thread = thread;
    }
}

/// True if this thread consumes a stream of `engine` that still holds its admission, without
/// waiting for anything (for the drop of the last pool handle, which must never block on a
/// feeder that may be waiting for this very thread).
pub(crate) fn holds_live_stream(engine: &Engine) -> bool {
    let me = this_thread();
    live()
        .iter()
        .any(|e| e.thread == me && std::ptr::eq(Arc::as_ptr(&e.link.engine), engine))
}

/// True if this thread consumes an unfinished stream of `engine`: one whose feeder has not
/// started or waits for window room, so only this thread can make it finish. A feeder that
/// is still running is waited for until it settles (a short wait unless its input blocks).
pub(crate) fn holds_stream(engine: &Engine) -> bool {
    let me = this_thread();
    let mine: Vec<Arc<Link>> = live()
        .iter()
        .filter(|e| e.thread == me && std::ptr::eq(Arc::as_ptr(&e.link.engine), engine))
        .map(|e| Arc::clone(&e.link))
        .collect();
    mine.iter().any(|link| {
        let mut ctl = lock(&link.ctl);
        // `Done` is set just before the release, on the feeder's thread: wait for it too, or
        // a join right after the input ended sees an unfinished stream that is not.
        while ctl.hold.is_some() && matches!(ctl.state, FeederState::Running | FeederState::Done) {
            ctl = link.ctl_cv.wait(ctl).unwrap_or_else(|p| p.into_inner());
        }
        ctl.hold.is_some()
    })
}

// ---------------------------------------------------------------------------------------------
// The ring the default chunking claims from
// ---------------------------------------------------------------------------------------------

/// Published, not yet claimed items: the feeder writes slot `tail % cap` and publishes it by
/// bumping `tail`; runners claim from `head` under `claim`, moving the items out before they
/// advance `head`. A slot is reused only after its item was moved out: the feeder checks
/// `tail - head < cap` (acquiring `head`) before each write.
struct Ring<A> {
    slots: Box<[UnsafeCell<MaybeUninit<A>>]>,
    tail: AtomicUsize,
    head: AtomicUsize,
    claim: Mutex<()>,
}

// SAFETY: an item is written by the feeder alone, into a slot no one reads (it is at or past
// `tail`, and its previous item was moved out before `head` passed it); it is read once, by
// the runner that claimed it under `claim`, after `tail` published it. So each item moves
// from one thread to one other thread: `A: Send` is what that needs.
unsafe impl<A: Send> Sync for Ring<A> {}

impl<A> Ring<A> {
    fn new(cap: usize) -> Ring<A> {
        Ring {
            slots: (0..cap)
                .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
                .collect(),
            tail: AtomicUsize::new(0),
            head: AtomicUsize::new(0),
            claim: Mutex::new(()),
        }
    }

    fn slot(&self, index: usize) -> *mut MaybeUninit<A> {
        self.slots[index % self.slots.len()].get()
    }

    /// Publishes item number `tail` (feeder only).
    fn push(&self, a: A) {
        let t = self.tail.load(Ordering::Relaxed);
        // The window keeps `tail - head` below `cap`; `head` is acquired so the previous
        // occupant's move-out happened before this write.
        while t - self.head.load(Ordering::Acquire) >= self.slots.len() {
            std::thread::yield_now();
        }
        // SAFETY: see the `Sync` impl: slot `t` is free and only the feeder writes.
        unsafe { (*self.slot(t)).write(a) };
        // SeqCst: pairs with a runner's exit (decrement `runners`, then read `tail`), so
        // either the feeder sees no runner and starts one, or the runner sees this item.
        self.tail.store(t + 1, Ordering::SeqCst);
    }

    /// Items published and not claimed.
    fn waiting(&self) -> usize {
        let head = self.head.load(Ordering::SeqCst);
        self.tail.load(Ordering::SeqCst).saturating_sub(head)
    }

    /// Claims up to `max` items (never more than half of those waiting, but at least one)
    /// and moves them into `out`; returns the index of the first, or `None` if none wait.
    fn claim_into(&self, max: usize, out: &mut Vec<A>) -> Option<usize> {
        let _guard = lock(&self.claim);
        let head = self.head.load(Ordering::Relaxed);
        // SeqCst: an exiting or abandoned runner decrements `runners`, then looks here.
        let tail = self.tail.load(Ordering::SeqCst);
        if head >= tail {
            return None;
        }
        let n = max.min((tail - head).div_ceil(2)).max(1);
        for i in head..head + n {
            // SAFETY: published (below `tail`), unclaimed (at or past `head`, under `claim`).
            out.push(unsafe { (*self.slot(i)).assume_init_read() });
        }
        self.head.store(head + n, Ordering::Release);
        Some(head)
    }
}

impl<A> Drop for Ring<A> {
    fn drop(&mut self) {
        let (head, tail) = (*self.head.get_mut(), *self.tail.get_mut());
        for i in head..tail {
            // SAFETY: exclusive access; items in `head..tail` were written and never moved out.
            unsafe { (*self.slot(i)).assume_init_drop() };
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The feeder and the jobs
// ---------------------------------------------------------------------------------------------

/// Everything the feeder and the jobs of one stream share.
struct Core<A, T, F> {
    link: Arc<Link>,
    f: F,
    tx: Sender<Msg<T>>,
    /// Default chunking only.
    ring: Option<Ring<A>>,
    /// Runner jobs issued and not yet exited (default chunking).
    runners: AtomicUsize,
    workers: usize,
    tracker: Option<Arc<Tracker>>,
}

impl<A, T, F> Core<A, T, F>
where
    A: Send + 'static,
    T: Send + 'static,
    F: Fn(A) -> T + Send + Sync + 'static,
{
    /// Runs `f` over `items` (numbered from `start`); one unwind guard per run of items that
    /// do not panic, so a chunk that never fails pays for one.
    fn run_items(&self, start: usize, items: Vec<A>) -> Msg<T> {
        let mut values = Vec::with_capacity(items.len());
        let mut errors = Vec::new();
        let mut items = items.into_iter();
        let mut next = start;
        loop {
            let ran = catch_unwind(AssertUnwindSafe(|| {
                for a in items.by_ref() {
                    next += 1;
                    values.push((self.f)(a));
                }
            }));
            match ran {
                Ok(()) => break,
                Err(p) => errors.push((next - 1, Error::panicked(p))),
            }
        }
        Msg::Run(Run {
            start,
            values,
            errors,
        })
    }

    fn run_one(&self, index: usize, a: A) -> Msg<T> {
        let r = catch_unwind(AssertUnwindSafe(|| (self.f)(a))).map_err(Error::panicked);
        Msg::One(index, r)
    }

    fn send(&self, msg: Msg<T>) {
        // The consumer may be gone; then the results go nowhere.
        let _ = self.tx.send(msg);
        self.link.waiters.wake_all();
    }

    /// Sends `error` for each of `n` items from `start`.
    fn fail(&self, start: usize, n: usize, error: &Error) {
        if n == 1 {
            self.send(Msg::One(start, Err(error.clone())));
        } else if n > 0 {
            self.send(Msg::Run(Run {
                start,
                values: Vec::new(),
                errors: (start..start + n).map(|i| (i, error.clone())).collect(),
            }));
        }
    }

    /// Claims every waiting item of the ring and fails it (no runner is left to run them).
    fn fail_waiting(&self, error: &Error) {
        let Some(ring) = &self.ring else { return };
        let mut items = Vec::new();
        while let Some(start) = ring.claim_into(usize::MAX, &mut items) {
            let n = items.len();
            items.clear();
            self.fail(start, n, error);
        }
    }

    /// Issues a runner job on `unit`; the caller counted it in `runners`.
    fn issue_runner(self: &Arc<Self>, unit: Hold) {
        let guard = RunnerGuard {
            core: Arc::clone(self),
            armed: true,
        };
        issue_held_detached(
            unit,
            move || {
                let mut guard = guard;
                guard.core.run_claims();
                guard.armed = false;
            },
            self.tracker.clone(),
        );
    }

    /// Issues one more runner from a running one, if items wait and fewer runners than
    /// workers exist.
    fn maybe_help(self: &Arc<Self>, ring: &Ring<A>) {
        if ring.waiting() == 0 {
            return;
        }
        let more = self
            .runners
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |r| {
                (r < self.workers).then_some(r + 1)
            })
            .is_ok();
        if more {
            // We are a running, counted job: an internal admission cannot find the pool quiet.
            match self.link.engine.hold() {
                Ok(unit) => self.issue_runner(unit),
                Err(_) => {
                    self.runners.fetch_sub(1, Ordering::SeqCst);
                }
            }
        }
    }

    /// A runner: claims sub-ranges until none wait (see the module docs for the sizes).
    fn run_claims(self: &Arc<Self>) {
        let Some(ring) = &self.ring else { return };
        let mut size = 1usize;
        let mut items = Vec::new();
        loop {
            if self.link.stopped.load(Ordering::Relaxed) {
                self.runners.fetch_sub(1, Ordering::SeqCst);
                return;
            }
            let Some(start) = ring.claim_into(size, &mut items) else {
                // Exit, unless the feeder published an item after our look and saw us still
                // counted (it then started no runner): SeqCst on both sides, one of us sees
                // the other.
                self.runners.fetch_sub(1, Ordering::SeqCst);
                if ring.waiting() == 0 || self.link.stopped.load(Ordering::SeqCst) {
                    return;
                }
                self.runners.fetch_add(1, Ordering::SeqCst);
                continue;
            };
            self.maybe_help(ring);
            let began = Instant::now();
            let msg = if items.len() == 1 {
                let a = items.pop().expect("one item");
                self.run_one(start, a)
            } else {
                self.run_items(start, std::mem::take(&mut items))
            };
            let took = began.elapsed();
            self.send(msg);
            size = if took > CLAIM_BUDGET {
                1
            } else if took < CLAIM_BUDGET / 2 {
                (size * 2).min(MAX_CLAIM)
            } else {
                size
            };
        }
    }
}

/// Owned by a runner job's closure; dropped without being disarmed when the job never runs
/// (terminated, or its group cancelled). The last runner to go that way fails what waits.
struct RunnerGuard<A, T, F>
where
    A: Send + 'static,
    T: Send + 'static,
    F: Fn(A) -> T + Send + Sync + 'static,
{
    core: Arc<Core<A, T, F>>,
    /// Still to run: the job was dropped before it ran.
    armed: bool,
}

impl<A, T, F> Drop for RunnerGuard<A, T, F>
where
    A: Send + 'static,
    T: Send + 'static,
    F: Fn(A) -> T + Send + Sync + 'static,
{
    fn drop(&mut self) {
        if self.armed && self.core.runners.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.core.fail_waiting(&self.core.link.not_run_error());
        }
    }
}

/// An explicit chunk: its items, and (when dropped without running) their error.
struct Chunk<A, T, F>
where
    A: Send + 'static,
    T: Send + 'static,
    F: Fn(A) -> T + Send + Sync + 'static,
{
    core: Arc<Core<A, T, F>>,
    start: usize,
    items: Items<A>,
}

/// A chunk's items: a chunk of one needs no vector.
enum Items<A> {
    None,
    One(A),
    Many(Vec<A>),
}

impl<A> Items<A> {
    fn len(&self) -> usize {
        match self {
            Items::None => 0,
            Items::One(_) => 1,
            Items::Many(v) => v.len(),
        }
    }
}

impl<A, T, F> Drop for Chunk<A, T, F>
where
    A: Send + 'static,
    T: Send + 'static,
    F: Fn(A) -> T + Send + Sync + 'static,
{
    fn drop(&mut self) {
        let n = self.items.len();
        if n > 0 {
            let error = self.core.link.not_run_error();
            self.core.fail(self.start, n, &error);
        }
    }
}

/// How the feeder cuts the input.
#[derive(Clone, Copy)]
enum Cut {
    /// Exactly this many items per task.
    Fixed(usize),
    /// Publish each item to the ring (default chunking).
    Adaptive,
}

/// The feeder thread's loop: pulls, publishes or issues, respects the window.
fn feed<A, T, F, I>(core: Arc<Core<A, T, F>>, mut input: I, cut: Cut, window: usize, parker: Parker)
where
    A: Send + 'static,
    T: Send + 'static,
    F: Fn(A) -> T + Send + Sync + 'static,
    I: Iterator<Item = A>,
{
    let link = Arc::clone(&core.link);
    link.set_state(FeederState::Running);
    let mut pulled = 0usize;
    let mut error = None;
    let unit = match cut {
        Cut::Fixed(c) => c,
        Cut::Adaptive => 1,
    };
    loop {
        if !wait_for_room(&link, &parker, pulled, unit, window) {
            break;
        }
        match cut {
            Cut::Adaptive => {
                let a = match catch_unwind(AssertUnwindSafe(|| input.next())) {
                    Ok(Some(a)) => a,
                    Ok(None) => break,
                    Err(p) => {
                        error = Some(Error::InputPanicked {
                            message: panic_message(&*p),
                        });
                        break;
                    }
                };
                if link.stopped.load(Ordering::Relaxed) {
                    break;
                }
                let ring = core.ring.as_ref().expect("adaptive streams have a ring");
                ring.push(a);
                pulled += 1;
                // A runner is needed if none is left, and another one if items pile up (the
                // runners may be stuck on slow items) while some worker may be idle.
                let runners = core.runners.load(Ordering::SeqCst);
                let wanted = runners == 0 || (runners < core.workers && ring.waiting() >= 2);
                if wanted {
                    match link.admit_for_feeder() {
                        Ok(Some(unit)) => {
                            core.runners.fetch_add(1, Ordering::SeqCst);
                            core.issue_runner(unit);
                        }
                        Ok(None) => break,
                        Err(e) => {
                            core.fail_waiting(&e);
                            error = Some(e);
                            break;
                        }
                    }
                }
            }
            Cut::Fixed(c) => {
                // Outside the unwind guard, so the items pulled before an input panic stay.
                let (mut one, mut many) = (None, Vec::new());
                let pull = catch_unwind(AssertUnwindSafe(|| {
                    if c == 1 {
                        one = input.next();
                        return;
                    }
                    // Grow as items arrive, unless the input promises them: a huge chunk
                    // size must not mean a huge allocation up front.
                    let promised = input.size_hint().0;
                    many.reserve(c.min(promised.max(DEFAULT_BLOCK)));
                    while many.len() < c {
                        match input.next() {
                            Some(a) => many.push(a),
                            None => break,
                        }
                    }
                }));
                let items = match one {
                    Some(a) => Items::One(a),
                    None if many.is_empty() => Items::None,
                    None => Items::Many(many),
                };
                if let Err(p) = pull {
                    error = Some(Error::InputPanicked {
                        message: panic_message(&*p),
                    });
                }
                let n = items.len();
                if n > 0 {
                    let unit = match link.admit_for_feeder() {
                        Ok(Some(unit)) => unit,
                        Ok(None) => break,
                        Err(e) => {
                            error = Some(e);
                            break;
                        }
                    };
                    let chunk = Chunk {
                        core: Arc::clone(&core),
                        start: pulled,
                        items,
                    };
                    issue_held_detached(
                        unit,
                        move || {
                            let mut chunk = chunk;
                            let msg = match std::mem::replace(&mut chunk.items, Items::None) {
                                Items::One(a) => chunk.core.run_one(chunk.start, a),
                                Items::Many(v) => chunk.core.run_items(chunk.start, v),
                                Items::None => return,
                            };
                            chunk.core.send(msg);
                        },
                        core.tracker.clone(),
                    );
                    pulled += n;
                }
                if n < c || error.is_some() {
                    break;
                }
            }
        }
    }
    core.send(Msg::End {
        total: pulled,
        error,
    });
    drop(core);
    link.set_state(FeederState::Done);
    link.release();
}

/// Waits until `unit` more items fit in the window; false if the consumer went away.
/// Once it has to wait, it waits until half the window is free, so a fast feeder parks and
/// wakes once per half window.
fn wait_for_room(link: &Link, parker: &Parker, pulled: usize, unit: usize, window: usize) -> bool {
    let need = (pulled + unit).saturating_sub(window);
    if link.consumed.load(Ordering::Acquire) >= need {
        return !link.stopped.load(Ordering::Relaxed);
    }
    let target = need.max(pulled.saturating_sub(window / 2));
    link.set_state(FeederState::WindowWait);
    loop {
        // SeqCst pairs with the consumer's store of `consumed` then load of `wake_at`.
        link.wake_at.store(target, Ordering::SeqCst);
        if link.stopped.load(Ordering::SeqCst) || link.consumed.load(Ordering::SeqCst) >= target {
            break;
        }
        parker.park();
    }
    link.wake_at.store(usize::MAX, Ordering::SeqCst);
    link.set_state(FeederState::Running);
    !link.stopped.load(Ordering::SeqCst)
}

// ---------------------------------------------------------------------------------------------
// The consumer's side
// ---------------------------------------------------------------------------------------------

/// The results of one message, handed out one by one.
enum Ready<T> {
    None,
    One(Result<T>),
    Run {
        /// Index of the next item to hand out.
        next: usize,
        /// Index of the next failed item, `usize::MAX` if none is left.
        next_error: usize,
        values: std::vec::IntoIter<T>,
        errors: std::vec::IntoIter<(usize, Error)>,
        error: Option<Error>,
    },
}

impl<T> Ready<T> {
    fn from(msg: Msg<T>) -> Ready<T> {
        match msg {
            Msg::One(_, r) => Ready::One(r),
            Msg::Run(run) => {
                let mut errors = run.errors.into_iter();
                let (next_error, error) = match errors.next() {
                    Some((i, e)) => (i, Some(e)),
                    None => (usize::MAX, None),
                };
                Ready::Run {
                    next: run.start,
                    next_error,
                    values: run.values.into_iter(),
                    errors,
                    error,
                }
            }
            Msg::End { .. } => Ready::None,
        }
    }

    /// The next item; one comparison and a vector step on the hot path.
    #[inline]
    fn pop(&mut self) -> Option<Result<T>> {
        match self {
            Ready::Run {
                next,
                next_error,
                values,
                errors,
                error,
            } => {
                if *next != *next_error {
                    let v = values.next()?;
                    *next += 1;
                    return Some(Ok(v));
                }
                *next += 1;
                let e = error.take();
                (*next_error, *error) = match errors.next() {
                    Some((i, e)) => (i, Some(e)),
                    None => (usize::MAX, None),
                };
                e.map(Err)
            }
            Ready::None => None,
            Ready::One(_) => match std::mem::replace(self, Ready::None) {
                Ready::One(r) => Some(r),
                _ => unreachable!("matched One"),
            },
        }
    }
}

type Starter = Box<dyn FnOnce() -> std::io::Result<()> + Send>;

/// The machinery shared by [`Imap`] and [`ImapUnordered`].
struct Stream<T> {
    link: Arc<Link>,
    rx: Receiver<Msg<T>>,
    /// Spawns the feeder; taken by the first `next`.
    starter: Option<Starter>,
    ordered: bool,
    /// The thread this stream was last consumed on (kept in [`LIVE`]).
    thread: ThreadId,
    ready: Ready<T>,
    /// Ordered: runs that arrived before their turn, by first index.
    parked: BTreeMap<usize, Msg<T>>,
    /// Ordered: the index of the next item to hand out.
    next_index: usize,
    /// Items received.
    received: usize,
    /// Items consumed (see `Link::consumed`), and how many of them were published there.
    consumed: usize,
    published: usize,
    /// Publish `consumed` at least every this many items (an eighth of the window).
    publish_every: usize,
    /// The feeder's end message: how many items it pulled, and the input's error.
    end: Option<(usize, Option<Error>)>,
    finished: bool,
}

impl<T: Send + 'static> Stream<T> {
    fn new<A, I, F>(
        pool: &ThreadPool,
        f: F,
        input: I,
        options: ImapOptions,
        ordered: bool,
    ) -> Result<Self>
    where
        A: Send + 'static,
        I: Iterator<Item = A> + Send + 'static,
        F: Fn(A) -> T + Send + Sync + 'static,
    {
        let engine = Arc::clone(pool.engine());
        let workers = engine.workers();
        let (cut, window_items) = match (options.chunksize, options.window) {
            (Some(0), _) => {
                return Err(Error::InvalidArgument(
                    "chunksize must be at least 1, got 0".into(),
                ))
            }
            (_, Some(0)) => {
                return Err(Error::InvalidArgument(
                    "window must be at least 1, got 0".into(),
                ))
            }
            (Some(c), Some(w)) => (Cut::Fixed(c), w.saturating_mul(c)),
            (Some(c), None) => (
                Cut::Fixed(c),
                (4 * workers)
                    .max(MIN_DEFAULT_WINDOW_ITEMS.div_ceil(c))
                    .saturating_mul(c),
            ),
            (None, w) => (
                Cut::Adaptive,
                w.unwrap_or(4 * workers).saturating_mul(DEFAULT_BLOCK),
            ),
        };
        let stream = engine.hold()?;
        let parker = Parker::new();
        let link = Arc::new(Link {
            engine: Arc::clone(&engine),
            ctl: Mutex::new(Ctl {
                hold: Some(stream),
                state: FeederState::NotStarted,
            }),
            ctl_cv: Condvar::new(),
            stopped: AtomicBool::new(false),
            consumed: AtomicUsize::new(0),
            wake_at: AtomicUsize::new(usize::MAX),
            feeder: parker.unparker().clone(),
            waiters: Waiters::new(),
        });
        register(&link);
        let (tx, rx) = crossbeam_channel::unbounded();
        let core = Arc::new(Core {
            link: Arc::clone(&link),
            f,
            tx,
            ring: match cut {
                Cut::Adaptive => Some(Ring::new(window_items)),
                Cut::Fixed(_) => None,
            },
            runners: AtomicUsize::new(0),
            workers,
            tracker: current_tracker(),
        });
        let starter: Starter = Box::new(move || {
            std::thread::Builder::new()
                .name("followup-imap-feeder".into())
                .spawn(move || feed(core, input, cut, window_items, parker))
                .map(drop)
        });
        Ok(Stream {
            link,
            rx,
            starter: Some(starter),
            ordered,
            thread: this_thread(),
            ready: Ready::None,
            parked: BTreeMap::new(),
            next_index: 0,
            received: 0,
            consumed: 0,
            published: 0,
            publish_every: (window_items / 8).max(1),
            end: None,
            finished: false,
        })
    }

    /// Counts `n` more items consumed. The count reaches the feeder every eighth of the
    /// window, at once while the feeder waits for it, and before the consumer blocks, so a
    /// fast stream pays no shared write per item and a parked feeder is never forgotten.
    fn account(&mut self, n: usize) {
        self.consumed += n;
        if self.consumed - self.published >= self.publish_every
            || self.link.wake_at.load(Ordering::Relaxed) != usize::MAX
        {
            self.publish();
        }
    }

    /// Publishes `consumed`, waking the feeder if it waits for that much.
    fn publish(&mut self) {
        self.published = self.consumed;
        // SeqCst pairs with the feeder's store of `wake_at` then load of `consumed`.
        self.link.consumed.store(self.consumed, Ordering::SeqCst);
        if self.consumed >= self.link.wake_at.load(Ordering::SeqCst)
            && self.link.wake_at.swap(usize::MAX, Ordering::SeqCst) != usize::MAX
        {
            self.link.feeder.unpark();
        }
    }

    /// Makes `msg` the one being handed out (its items count as consumed now).
    fn hand_out(&mut self, msg: Msg<T>) {
        let (start, n) = msg.span();
        if self.ordered {
            self.next_index = start + n;
        }
        self.account(n);
        self.ready = Ready::from(msg);
    }

    #[inline]
    fn next_until(&mut self, until: Option<Instant>) -> Option<Result<T>> {
        match self.ready.pop() {
            Some(item) => Some(item),
            None => self.next_slow(until),
        }
    }

    /// The current message is used up: start the feeder, or take the next message.
    fn next_slow(&mut self, until: Option<Instant>) -> Option<Result<T>> {
        if self.finished {
            return None;
        }
        if let Some(start) = self.starter.take() {
            if let Err(e) = start() {
                self.link.set_state(FeederState::Done);
                self.link.release();
                self.finished = true;
                return Some(Err(Error::Spawn(e.to_string())));
            }
        }
        let me = this_thread();
        if me != self.thread {
            self.thread = me;
            moved_to(&self.link, me);
        }
        loop {
            if let Some(item) = self.ready.pop() {
                return Some(item);
            }
            if self.ordered {
                if let Some(msg) = self.parked.remove(&self.next_index) {
                    self.hand_out(msg);
                    continue;
                }
            }
            if let Some((total, error)) = &mut self.end {
                if self.received == *total {
                    let error = error.take();
                    self.finished = error.is_none();
                    return error.map(Err);
                }
            }
            if self.published != self.consumed && self.rx.is_empty() {
                // About to wait: the feeder must know what we took, or it may wait for us.
                self.publish();
            }
            match recv_helping(&self.link.engine, &self.rx, &self.link.waiters, until) {
                Ok(Msg::End { total, error }) => self.end = Some((total, error)),
                Ok(msg) => {
                    let (start, n) = msg.span();
                    self.received += n;
                    if !self.ordered || start == self.next_index {
                        self.hand_out(msg);
                    } else {
                        self.parked.insert(start, msg);
                    }
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

impl<T> Drop for Stream<T> {
    fn drop(&mut self) {
        // Jobs in flight still run (they are counted); their results go nowhere. The feeder
        // stops at its next look (a feeder blocked in the input stops when it returns).
        self.link.stopped.store(true, Ordering::SeqCst);
        self.link.feeder.unpark();
        if self.starter.take().is_some() {
            self.link.set_state(FeederState::Done);
        }
        self.link.release();
    }
}

/// The results of [`ThreadPool::imap`], in input order (Python's `IMapIterator`).
///
/// Items are `Result`s: a failed item yields its error and the stream goes on. If the input
/// iterator panics, the items before it are yielded, then an
/// [`Error::InputPanicked`], then the end. Dropping the iterator early stops pulling input;
/// work already issued still runs. `Send` when the values are (the input lives on the
/// stream's feeder thread), and fused: after `None`, always `None`.
///
/// ```
/// let pool = followup::ThreadPool::with_workers(2).unwrap();
/// let out: Vec<_> = pool.imap(|x: i32| 10 / x, vec![5, 0, 2]).unwrap().collect();
/// assert_eq!(out[0], Ok(2));
/// assert!(out[1].as_ref().unwrap_err().is_panic());
/// assert_eq!(out[2], Ok(5));
/// ```
#[must_use = "an imap does nothing more unless iterated"]
pub struct Imap<T> {
    stream: Stream<T>,
}

/// The results of [`ThreadPool::imap_unordered`], in completion order (Python's
/// `IMapUnorderedIterator`). Same rules as [`Imap`] otherwise.
#[must_use = "an imap_unordered does nothing more unless iterated"]
pub struct ImapUnordered<T> {
    stream: Stream<T>,
}

macro_rules! stream_iterator {
    ($name:ident) => {
        impl<T: Send + 'static> $name<T> {
            /// The next result, waiting at most `timeout`. `Some(Err(Error::Timeout))` means
            /// nothing arrived in time; the iterator stays usable and a later call returns the
            /// item (Python's `next(timeout)`).
            pub fn next_timeout(&mut self, timeout: Duration) -> Option<Result<T>> {
                self.stream.next_until(crate::deadline::deadline(timeout))
            }
        }

        impl<T: Send + 'static> Iterator for $name<T> {
            type Item = Result<T>;

            fn next(&mut self) -> Option<Result<T>> {
                self.stream.next_until(None)
            }
        }

        impl<T: Send + 'static> FusedIterator for $name<T> {}

        impl<T> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("received_items", &self.stream.received)
                    .field("consumed_items", &self.stream.consumed)
                    .field("finished", &self.stream.finished)
                    .finish_non_exhaustive()
            }
        }
    };
}

stream_iterator!(Imap);
stream_iterator!(ImapUnordered);

impl ThreadPool {
    /// Applies `f` to each input item lazily and yields the results in input order (Python's
    /// `imap`). The input is pulled by the stream's feeder thread, at most a window ahead of
    /// the consumer, so an endless input runs in bounded memory and a finished result is
    /// delivered even while the input blocks.
    pub fn imap<A, T, F, I>(&self, f: F, items: I) -> Result<Imap<T>>
    where
        A: Send + 'static,
        T: Send + 'static,
        F: Fn(A) -> T + Send + Sync + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: Send + 'static,
    {
        self.imap_with(f, items, ImapOptions::new())
    }

    /// [`imap`](Self::imap) with a chunk size and window.
    pub fn imap_with<A, T, F, I>(&self, f: F, items: I, options: ImapOptions) -> Result<Imap<T>>
    where
        A: Send + 'static,
        T: Send + 'static,
        F: Fn(A) -> T + Send + Sync + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: Send + 'static,
    {
        Ok(Imap {
            stream: Stream::new(self, f, items.into_iter(), options, true)?,
        })
    }

    /// Like [`imap`](Self::imap), but yields results as they complete (Python's
    /// `imap_unordered`); within one chunk, input order is kept.
    pub fn imap_unordered<A, T, F, I>(&self, f: F, items: I) -> Result<ImapUnordered<T>>
    where
        A: Send + 'static,
        T: Send + 'static,
        F: Fn(A) -> T + Send + Sync + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: Send + 'static,
    {
        self.imap_unordered_with(f, items, ImapOptions::new())
    }

    /// [`imap_unordered`](Self::imap_unordered) with a chunk size and window.
    pub fn imap_unordered_with<A, T, F, I>(
        &self,
        f: F,
        items: I,
        options: ImapOptions,
    ) -> Result<ImapUnordered<T>>
    where
        A: Send + 'static,
        T: Send + 'static,
        F: Fn(A) -> T + Send + Sync + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: Send + 'static,
    {
        Ok(ImapUnordered {
            stream: Stream::new(self, f, items.into_iter(), options, false)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::ThreadPool;
    use std::sync::mpsc;
    use std::time::Duration;

    /// Runs `f` on a thread; fails instead of hanging if it takes longer than 30 s.
    fn bounded(f: impl FnOnce() + Send + 'static) {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            f();
            let _ = tx.send(());
        });
        rx.recv_timeout(Duration::from_secs(30))
            .expect("did not finish within 30 s (hang?)");
    }

    #[test]
    fn dropping_the_pool_while_this_thread_holds_an_imap_does_not_wait_for_it() {
        bounded(|| {
            let pool = ThreadPool::with_workers(2).unwrap();
            let opts = super::ImapOptions::new().chunksize(1).window(2);
            let mut it = pool.imap_with(|x: u32| x, 0..100u32, opts).unwrap();
            assert_eq!(it.next(), Some(Ok(0)));
            drop(pool);
            assert_eq!(it.map(Result::unwrap).count(), 99);
        });
    }

    #[test]
    fn join_refuses_while_this_thread_holds_an_undrained_imap() {
        bounded(|| {
            let pool = ThreadPool::with_workers(1).unwrap();
            let opts = super::ImapOptions::new().chunksize(1).window(2);
            let mut it = pool.imap_with(|x: u32| x, 0..1000u32, opts).unwrap();
            assert_eq!(it.next(), Some(Ok(0)));
            pool.close();
            assert_eq!(pool.join(), Err(crate::Error::UnfinishedStream));
            assert_eq!(it.map(Result::unwrap).sum::<u32>(), 499_500);
            pool.join().unwrap();
        });
    }

    #[test]
    fn a_fully_issued_imap_does_not_hold_join_back() {
        bounded(|| {
            let pool = ThreadPool::with_workers(1).unwrap();
            let opts = super::ImapOptions::new().chunksize(4).window(4);
            let mut it = pool.imap_with(|x: u32| x, 0..10u32, opts).unwrap();
            assert_eq!(it.next(), Some(Ok(0)));
            pool.close();
            // The window holds the whole input: the feeder issues it all without us, and
            // `join` waits for it to do so; the results wait in the iterator.
            pool.join().unwrap();
            assert_eq!(it.map(Result::unwrap).sum::<u32>(), 45);
        });
    }

    #[test]
    fn imap_and_imap_unordered_are_send_and_fused() {
        fn send_and_fused<I: Send + std::iter::FusedIterator>(_: &I) {}
        let pool = ThreadPool::with_workers(1).unwrap();
        let mut it = pool.imap(|x: u32| x, vec![1u32]).unwrap();
        send_and_fused(&it);
        let un = pool.imap_unordered(|x: u32| x, 0..1u32).unwrap();
        send_and_fused(&un);
        assert_eq!(it.next(), Some(Ok(1)));
        assert_eq!(it.next(), None);
        assert_eq!(it.next(), None);
    }
}

#[cfg(test)]
mod window_tests {
    use crate::{ImapOptions, ThreadPool};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn a_slow_head_item_does_not_let_ordered_imap_read_ahead_without_bound() {
        let pool = ThreadPool::with_workers(2).unwrap();
        let pulled = Arc::new(AtomicUsize::new(0));
        let p = Arc::clone(&pulled);
        let input = (0..100_000u32).inspect(move |_| {
            p.fetch_add(1, Ordering::SeqCst);
        });
        let opts = ImapOptions::new().chunksize(4).window(3);
        let mut it = pool
            .imap_with(
                |x: u32| {
                    if x == 0 {
                        std::thread::sleep(Duration::from_millis(200));
                    }
                    x
                },
                input,
                opts,
            )
            .unwrap();
        assert_eq!(it.next_timeout(Duration::from_secs(30)), Some(Ok(0)));
        // While item 0 was slow, at most `window` chunks (plus one partial pull) were read.
        assert!(
            pulled.load(Ordering::SeqCst) <= 4 * 4,
            "pulled {}",
            pulled.load(Ordering::SeqCst)
        );
        drop(it);
    }
}
