//! `imap` / `imap_unordered`: a feeder thread pulls the input lazily, chunk jobs compute it,
//! and the iterator hands results out in input order or completion order.
//!
//! Like Python's task handler, the feeder is a thread of its own, so results flow to the
//! consumer while the input blocks, and `close()` + `join()` work without the consumer
//! reading. Unlike Python, it reads ahead at most a window of items beyond what the consumer
//! has taken, so an unbounded input runs in bounded memory; after `close()` the window no
//! longer applies (so `join()` can finish, as CPython's gh-155477 fix decided).
//!
//! An exception raised by the input ends the stream at that point: it is raised in place of
//! the next item, and items of a partly filled chunk are dropped (as CPython does). An
//! exception raised by the function is raised for its own item and the stream goes on, for
//! every chunk size.
//!
//! Fields of [`Inner`] are guarded by one mutex; the consumer waits on `arrived`, the feeder
//! on `room`. Each waits only after saying so (`consumer_waiting`, `feeder_waiting`), so a
//! notifier with nobody waiting makes no wake-up call.

use crate::call::call_item;
use crate::errors;
use crate::gil;
use crate::result::Outcome;
use crate::shared::{lock, Shared, CLOSE, RUN};
use pyo3::exceptions::PyStopIteration;
use pyo3::prelude::*;
use pyo3::types::PyIterator;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

/// The read-ahead window, in items: at least this many, and at least four chunks per worker.
const MIN_WINDOW: usize = 1024;

/// One `imap` or `imap_unordered` in flight.
pub(crate) struct ImapState {
    inner: Mutex<Inner>,
    arrived: Condvar,
    room: Condvar,
    ordered: bool,
    window: usize,
    pool: Arc<Shared>,
}

#[derive(Default)]
struct Inner {
    /// `imap`: results by input index, waiting for their turn.
    by_index: HashMap<usize, Outcome>,
    /// `imap_unordered`: results in arrival order.
    arrivals: VecDeque<Outcome>,
    /// Items handed out so far (for `imap`, also the next index to hand out).
    yielded: usize,
    /// Items handed to workers, plus the input's exception if it raised.
    submitted: usize,
    /// The stream's length, known once the feeder is done.
    total: Option<usize>,
    /// Chunk jobs issued whose results are not all delivered.
    chunks_out: usize,
    consumer_waiting: bool,
    feeder_waiting: bool,
    /// The iterator was dropped: nobody will read, stop pulling the input.
    abandoned: bool,
    /// The pool's count for this stream was released.
    counted_out: bool,
}

impl ImapState {
    fn deliver(&self, results: Vec<(usize, Outcome)>) {
        let mut inner = lock(&self.inner);
        for (index, outcome) in results {
            if self.ordered {
                inner.by_index.insert(index, outcome);
            } else {
                inner.arrivals.push_back(outcome);
            }
        }
        inner.chunks_out -= 1;
        if inner.consumer_waiting {
            self.arrived.notify_all();
        }
        self.count_out_if_done(&mut inner);
    }

    /// Releases the pool's count once the input is exhausted and every chunk delivered.
    fn count_out_if_done(&self, inner: &mut Inner) {
        if inner.total.is_some() && inner.chunks_out == 0 && !inner.counted_out {
            inner.counted_out = true;
            self.pool.finish_one();
        }
    }

    /// Wakes the feeder: the pool closed (no window) or terminated (stop).
    pub(crate) fn wake_feeder(&self) {
        let _inner = lock(&self.inner);
        self.room.notify_all();
    }

    /// Blocks the feeder (GIL released) until it may pull more; returns how many items, or
    /// `None` if it must stop.
    fn wait_for_room(&self) -> Option<usize> {
        let mut inner = lock(&self.inner);
        loop {
            if inner.abandoned || self.pool.state() > CLOSE {
                return None;
            }
            let in_flight = inner.submitted - inner.yielded;
            if self.pool.state() != RUN {
                return Some(MIN_WINDOW);
            }
            if in_flight < self.window {
                return Some(self.window - in_flight);
            }
            inner.feeder_waiting = true;
            inner = self
                .room
                .wait(inner)
                .unwrap_or_else(PoisonError::into_inner);
            inner.feeder_waiting = false;
        }
    }

    /// The pool was terminated: the stream ends after what was issued, at once, even while
    /// the feeder is still blocked inside the user's input (Python's terminate would hang).
    pub(crate) fn stop(&self) {
        self.finish_input(None);
        self.wake_feeder();
    }

    /// The input is exhausted, raised `error`, or must not be read further. The first call
    /// fixes the stream's length; later ones (a feeder returning after `stop`) change nothing.
    fn finish_input(&self, error: Option<Outcome>) {
        let mut inner = lock(&self.inner);
        if inner.total.is_some() {
            return;
        }
        if let Some(err) = error {
            let index = inner.submitted;
            if self.ordered {
                inner.by_index.insert(index, err);
            } else {
                inner.arrivals.push_back(err);
            }
            inner.submitted += 1;
        }
        inner.total = Some(inner.submitted);
        if inner.consumer_waiting {
            self.arrived.notify_all();
        }
        self.count_out_if_done(&mut inner);
    }

    /// The next result if one is ready, `Err(true)` at the end of the stream, `Err(false)` if
    /// the caller must wait.
    fn try_next(&self, inner: &mut Inner) -> Result<Outcome, bool> {
        // Chunks refused after a terminate may still deliver beyond the end: ignore them.
        if inner.total.is_some_and(|t| inner.yielded >= t) {
            return Err(true);
        }
        let next = if self.ordered {
            inner.by_index.remove(&inner.yielded)
        } else {
            inner.arrivals.pop_front()
        };
        match next {
            Some(o) => {
                inner.yielded += 1;
                if inner.feeder_waiting {
                    self.room.notify_all();
                }
                Ok(o)
            }
            None => Err(false),
        }
    }

    fn block(&self, limit: Option<Duration>) -> bool {
        let mut inner = lock(&self.inner);
        let has_next = |inner: &Inner| {
            inner.total.is_some_and(|t| inner.yielded >= t)
                || if self.ordered {
                    inner.by_index.contains_key(&inner.yielded)
                } else {
                    !inner.arrivals.is_empty()
                }
        };
        if has_next(&inner) {
            return true;
        }
        inner.consumer_waiting = true;
        inner = match limit {
            None => self
                .arrived
                .wait_while(inner, |i| !has_next(i))
                .unwrap_or_else(PoisonError::into_inner),
            Some(t) => {
                self.arrived
                    .wait_timeout_while(inner, t, |i| !has_next(i))
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
        };
        inner.consumer_waiting = false;
        has_next(&inner)
    }
}

/// Starts an `imap` over `iter`; the caller has checked the pool and the chunk size.
pub(crate) fn start(
    pool: &Arc<Shared>,
    func: Py<PyAny>,
    iter: Py<PyIterator>,
    chunksize: usize,
    ordered: bool,
    star: bool,
) -> PyResult<IMapIterator> {
    let window = MIN_WINDOW.max(4 * pool.workers * chunksize);
    let state = Arc::new(ImapState {
        inner: Mutex::new(Inner::default()),
        arrived: Condvar::new(),
        room: Condvar::new(),
        ordered,
        window,
        pool: Arc::clone(pool),
    });
    pool.add_feeder(Arc::downgrade(&state));
    pool.start_one();
    let feeder = Feeder {
        state: Arc::clone(&state),
        func: Some(func),
        iter: Some(iter),
        chunksize,
        star,
    };
    let started = std::thread::Builder::new()
        .name("followup-imap-feeder".into())
        .spawn(move || feeder.run());
    if let Err(e) = started {
        state.finish_input(None);
        return Err(pyo3::exceptions::PyRuntimeError::new_err(format!(
            "can't start the imap feeder thread: {e}"
        )));
    }
    Ok(IMapIterator { state })
}

/// The thread that pulls the input (Python's task handler, one per stream).
struct Feeder {
    state: Arc<ImapState>,
    func: Option<Py<PyAny>>,
    iter: Option<Py<PyIterator>>,
    chunksize: usize,
    star: bool,
}

/// What one turn of pulling the input ended with.
enum Pulled {
    More,
    End(Option<Outcome>),
}

impl Feeder {
    fn run(mut self) {
        gil::pin_thread_state();
        let end = loop {
            let Some(room) = self.state.wait_for_room() else {
                break None;
            };
            match gil::attach(|py| self.pull(py, room)) {
                Some(Pulled::More) => continue,
                Some(Pulled::End(err)) => break err,
                None => break None,
            }
        };
        self.state.finish_input(end);
        // Release the function and the input under the GIL if it can still be taken.
        let (func, iter) = (self.func.take(), self.iter.take());
        gil::attach(move |_py| drop((func, iter)));
    }

    /// Pulls up to `room` items (whole chunks) and issues them.
    fn pull(&mut self, py: Python<'_>, room: usize) -> Pulled {
        let (Some(func), Some(iter)) = (&self.func, &self.iter) else {
            return Pulled::End(None);
        };
        let iter = iter.bind(py);
        let mut budget = room.max(self.chunksize);
        while budget > 0 {
            let mut items = Vec::with_capacity(self.chunksize.min(budget));
            let mut ended = None;
            while items.len() < self.chunksize {
                match iter.clone().next() {
                    Some(Ok(item)) => items.push(item.unbind()),
                    Some(Err(e)) => {
                        // The partial chunk is dropped, as CPython does.
                        items.clear();
                        ended = Some(Pulled::End(Some(Outcome::Error(e))));
                        break;
                    }
                    None => {
                        ended = Some(Pulled::End(None));
                        break;
                    }
                }
            }
            budget = budget.saturating_sub(items.len());
            if !items.is_empty() && !self.issue(func.clone_ref(py), items) {
                return Pulled::End(None);
            }
            if let Some(end) = ended {
                return end;
            }
            if self.state.pool.state() > CLOSE {
                return Pulled::End(None);
            }
        }
        Pulled::More
    }

    /// Issues one chunk; false if the pool refused it (terminated).
    fn issue(&self, func: Py<PyAny>, items: Vec<Py<PyAny>>) -> bool {
        let start = {
            let mut inner = lock(&self.state.inner);
            let start = inner.submitted;
            inner.submitted += items.len();
            inner.chunks_out += 1;
            start
        };
        let chunk = ImapChunk {
            func: Some(func),
            items,
            start,
            star: self.star,
            state: Some(Arc::clone(&self.state)),
        };
        self.state.pool.spawn(move || chunk.run()).is_ok()
    }
}

/// One chunk of an `imap`: every item reports its own outcome.
struct ImapChunk {
    func: Option<Py<PyAny>>,
    items: Vec<Py<PyAny>>,
    start: usize,
    star: bool,
    state: Option<Arc<ImapState>>,
}

impl ImapChunk {
    fn run(mut self) {
        gil::attach_worker(|py| {
            let (Some(func), Some(state)) = (self.func.take(), self.state.take()) else {
                return;
            };
            let func = func.into_bound(py);
            let results: Vec<(usize, Outcome)> = std::mem::take(&mut self.items)
                .into_iter()
                .enumerate()
                .map(|(k, item)| {
                    let r = call_item(py, &func, item, self.star);
                    (self.start + k, Outcome::from_result(r))
                })
                .collect();
            drop(func);
            state.deliver(results);
        });
    }
}

impl Drop for ImapChunk {
    fn drop(&mut self) {
        // Never ran (terminate): each of its items reports PoolTerminated.
        if let Some(state) = self.state.take() {
            let results = (0..self.items.len())
                .map(|k| (self.start + k, Outcome::Terminated))
                .collect();
            state.deliver(results);
        }
    }
}

/// The iterator returned by `imap` and `imap_unordered` (Python's `IMapIterator` and
/// `IMapUnorderedIterator`): `next(timeout)` works for every chunk size.
#[pyclass(frozen, weakref, module = "followup", name = "IMapIterator")]
pub(crate) struct IMapIterator {
    state: Arc<ImapState>,
}

impl IMapIterator {
    fn next_item(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        let until = gil::deadline(timeout)?;
        loop {
            match self.state.try_next(&mut lock(&self.state.inner)) {
                Ok(outcome) => return outcome.into_result(),
                Err(true) => return Err(PyStopIteration::new_err(())),
                Err(false) => {}
            }
            if !gil::wait_releasing(py, until, |limit| self.state.block(limit))? {
                return Err(errors::timeout());
            }
        }
    }
}

#[pymethods]
impl IMapIterator {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.next_item(py, None)
    }

    /// The next result, waiting at most `timeout` seconds (`multiprocessing.TimeoutError`
    /// then; the iterator stays usable). Raises `StopIteration` at the end.
    #[pyo3(signature = (timeout=None))]
    fn next(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        self.next_item(py, timeout)
    }
}

impl Drop for IMapIterator {
    fn drop(&mut self) {
        let mut inner = lock(&self.state.inner);
        inner.abandoned = true;
        if inner.feeder_waiting {
            self.state.room.notify_all();
        }
    }
}
