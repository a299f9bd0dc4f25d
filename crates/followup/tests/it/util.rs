//! Helpers shared by every test module: bounded waits, gates, and a deadline guard that fails
//! a test instead of letting it hang.

use followup::{AsyncResult, ThreadPool};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long any single bounded wait in the tests may take before the test fails.
pub const LONG: Duration = Duration::from_secs(10);

/// The budget of a whole test body run through [`within`].
pub const BODY: Duration = Duration::from_secs(30);

/// Runs `f` on its own thread and returns its value; fails the test if `f` panics (re-raising
/// the panic) or does not finish within `limit` (instead of hanging the test binary).
pub fn within<T, F>(limit: Duration, f: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel();
    let body = std::thread::Builder::new()
        .name("test-body".into())
        .spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let _ = tx.send(r);
        })
        .expect("spawn test body");
    match rx.recv_timeout(limit) {
        Ok(Ok(v)) => {
            let _ = body.join();
            v
        }
        Ok(Err(panic)) => {
            let _ = body.join();
            std::panic::resume_unwind(panic)
        }
        Err(RecvTimeoutError::Timeout) => {
            panic!("test body did not finish within {limit:?}: it hangs")
        }
        Err(RecvTimeoutError::Disconnected) => panic!("test body thread vanished"),
    }
}

/// [`within`] with the default budget [`BODY`].
pub fn guarded<T, F>(f: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    within(BODY, f)
}

/// A mapping function that returns its item, except that item 0 first waits for `gate`: the
/// stuck first item of the streaming tests.
pub fn first_item_waits<T>(gate: &Arc<Gate>) -> impl Fn(T) -> T + Send + Sync + 'static
where
    T: PartialEq + From<u8>,
{
    let gate = Arc::clone(gate);
    move |x| {
        if x == T::from(0) {
            gate.wait();
        }
        x
    }
}

/// A one-shot gate: tasks [`wait`](Gate::wait) until the test [`open`](Gate::open)s it.
/// Every wait is bounded; a wait that times out panics (failing the task, and so the test).
#[derive(Debug, Default)]
pub struct Gate {
    open: Mutex<bool>,
    cv: Condvar,
}

impl Gate {
    /// A new, closed gate.
    pub fn new() -> Arc<Gate> {
        Arc::new(Gate::default())
    }

    /// Opens the gate for every waiter, now and later.
    pub fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.cv.notify_all();
    }

    /// Waits (at most [`LONG`]) for the gate to open; panics otherwise.
    pub fn wait(&self) {
        assert!(self.wait_for(LONG), "gate was never opened");
    }

    /// Waits at most `limit` for the gate to open; true if it is open.
    pub fn wait_for(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut open = self.open.lock().unwrap();
        while !*open {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            open = self.cv.wait_timeout(open, deadline - now).unwrap().0;
        }
        true
    }
}

/// Receives with the default bound; panics with `what` if nothing arrives.
pub fn recv<T>(rx: &Receiver<T>, what: &str) -> T {
    rx.recv_timeout(LONG)
        .unwrap_or_else(|e| panic!("waiting for {what}: {e:?}"))
}

/// `get` with the default bound: a timeout fails the test instead of hanging.
pub fn get<T: Send + 'static>(mut h: AsyncResult<T>) -> followup::Result<T> {
    match h.get_timeout(LONG) {
        Err(followup::Error::Timeout) => panic!("result not ready within {LONG:?}"),
        r => r,
    }
}

/// Polls `cond` until it holds or `limit` passes; true if it held. For conditions nothing
/// can signal (like a thread disappearing from /proc), never as a substitute for a channel.
pub fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A thread-name prefix no other test uses, short enough to survive the 15-byte limit of
/// Linux thread names (`/proc/self/task/*/comm`) with the worker index appended.
pub fn unique_prefix(tag: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let tag: String = tag.chars().take(4).collect();
    format!("{tag}{n}~")
}

/// A pool of `n` workers whose threads carry a fresh unique name prefix (returned too).
pub fn named_pool(n: usize, tag: &str) -> (ThreadPool, String) {
    let prefix = unique_prefix(tag);
    let pool = ThreadPool::builder()
        .workers(n)
        .thread_name_prefix(prefix.clone())
        .build()
        .expect("build pool");
    (pool, prefix)
}

/// A pool of `n` workers.
pub fn pool(n: usize) -> ThreadPool {
    ThreadPool::with_workers(n).expect("build pool")
}

/// The current thread's name, or an empty string.
pub fn thread_name() -> String {
    std::thread::current().name().unwrap_or("").to_string()
}

/// Names of the live threads of this process whose name starts with `prefix` (Linux only;
/// elsewhere always empty).
pub fn live_threads_named(prefix: &str) -> Vec<String> {
    let mut found = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        for entry in dir.flatten() {
            if let Ok(comm) = std::fs::read_to_string(entry.path().join("comm")) {
                let comm = comm.trim_end().to_string();
                if comm.starts_with(prefix) {
                    found.push(comm);
                }
            }
        }
    }
    found
}

/// Blocks a 1-worker (or n-worker) pool: issues `n` tasks that each wait on the returned gate,
/// and returns once all of them are running. Open the gate to release the workers.
pub fn block_workers(pool: &ThreadPool, n: usize) -> (Arc<Gate>, Vec<AsyncResult<()>>) {
    let gate = Gate::new();
    let (tx, rx) = std::sync::mpsc::channel();
    let mut handles = Vec::new();
    for _ in 0..n {
        let (g, tx) = (Arc::clone(&gate), tx.clone());
        handles.push(
            pool.apply_async(move || {
                tx.send(()).unwrap();
                g.wait();
            })
            .unwrap(),
        );
    }
    for _ in 0..n {
        recv(&rx, "blocking task to start");
    }
    (gate, handles)
}

/// A counter shared with tasks.
pub fn counter() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

/// Reads a shared counter.
pub fn count(c: &AtomicUsize) -> usize {
    c.load(Ordering::SeqCst)
}

/// Bumps a shared counter.
pub fn bump(c: &AtomicUsize) {
    c.fetch_add(1, Ordering::SeqCst);
}

/// A waker that runs a hook the first time it is woken (on the waking thread), then does
/// nothing. Lets a test look at the world at the exact moment a handle resolves.
struct HookWaker {
    hook: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl std::task::Wake for HookWaker {
    fn wake(self: Arc<Self>) {
        let hook = self.hook.lock().unwrap().take();
        if let Some(hook) = hook {
            hook();
        }
    }
}

/// Polls `h` once (it must still be pending) with a waker that runs `hook` on the thread that
/// resolves it, right after it resolves.
///
/// The handle's waiters are released *before* the waker runs (the cell wakes it after
/// publishing, once its lock is released), so `get` may return before `hook` has run, or
/// while it runs: a test must not read what the hook records until the hook says it is done
/// (send through a channel) or the resolving thread is known to be finished (`join`).
pub fn on_resolve<T: Send + 'static>(h: &mut AsyncResult<T>, hook: impl FnOnce() + Send + 'static) {
    use std::future::Future;
    let waker = std::task::Waker::from(Arc::new(HookWaker {
        hook: Mutex::new(Some(Box::new(hook))),
    }));
    let mut cx = std::task::Context::from_waker(&waker);
    assert!(
        std::pin::Pin::new(h).poll(&mut cx).is_pending(),
        "the handle must still be pending"
    );
}

/// The error of a task that panicked with `message` (payloads take no part in comparisons).
pub fn panicked(message: impl Into<String>) -> followup::Error {
    followup::Error::Panicked {
        message: message.into(),
        payload: followup::PanicPayload::default(),
    }
}

/// The error of a callback that panicked with `message`; `task_error` is the task's own error
/// when it was the error callback.
pub fn callback_panicked(
    message: impl Into<String>,
    task_error: Option<followup::Error>,
) -> followup::Error {
    followup::Error::CallbackPanicked {
        message: message.into(),
        payload: followup::PanicPayload::default(),
        task_error: task_error.map(Box::new),
    }
}
