//! `imap` / `imap_unordered` (§8.9): order, errors that do not end the stream, `next_timeout`,
//! lazy input pulled through a bounded window, results that flow while the input blocks, the
//! adaptive default chunking, input panics, and results that survive `close()` + `join()`.

use crate::util::*;
use followup::{Error, ImapOptions, ThreadPool};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn opts(chunksize: usize, window: usize) -> ImapOptions {
    ImapOptions::new().chunksize(chunksize).window(window)
}

// ---------------------------------------------------------------------------------------------
// Order
// ---------------------------------------------------------------------------------------------

#[test]
fn imap_yields_results_in_input_order() {
    let p = pool(2);
    for cs in [1, 2, 5, 100] {
        let out: Vec<u64> = p
            .imap_with(
                |x: u64| {
                    // Later items tend to finish first.
                    std::thread::sleep(Duration::from_micros(100 * (20 - x % 20)));
                    x * 2
                },
                0..40,
                ImapOptions::new().chunksize(cs),
            )
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            out,
            (0..40).map(|x| x * 2).collect::<Vec<_>>(),
            "chunksize {cs}"
        );
    }
    let out: Vec<u64> = p
        .imap(|x: u64| x + 1, 0..100)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(out, (1..=100).collect::<Vec<_>>(), "default options");
}

#[test]
fn imap_head_of_line_a_slow_first_item_comes_first() {
    let p = pool(2);
    let gate = Gate::new();
    let g = Arc::clone(&gate);
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let mut it = p
        .imap_with(
            move |x: u32| {
                if x == 0 {
                    g.wait();
                } else {
                    tx.lock().unwrap().send(x).unwrap();
                }
                x
            },
            0..6,
            opts(1, 16),
        )
        .unwrap();
    assert_eq!(
        it.next_timeout(Duration::from_millis(5)),
        Some(Err(Error::Timeout)),
        "item 0 blocks the ones behind it"
    );
    for _ in 1..6 {
        recv(&rx, "the later items to finish");
    }
    gate.open();
    let out: Vec<u32> = std::iter::from_fn(|| it.next_timeout(LONG))
        .map(Result::unwrap)
        .collect();
    assert_eq!(out, vec![0, 1, 2, 3, 4, 5]);
}

#[test]
fn imap_unordered_yields_in_completion_order_a_slow_first_item_last() {
    let p = pool(2);
    let gate = Gate::new();
    let mut it = p
        .imap_unordered_with(first_item_waits(&gate), 0..6, opts(1, 16))
        .unwrap();
    let mut first = Vec::new();
    for _ in 1..6 {
        first.push(it.next_timeout(LONG).unwrap().unwrap());
    }
    first.sort_unstable();
    assert_eq!(first, vec![1, 2, 3, 4, 5], "everything but the slow one");
    gate.open();
    assert_eq!(
        it.next_timeout(LONG),
        Some(Ok(0)),
        "the slow first item last"
    );
    assert_eq!(it.next_timeout(LONG), None);
}

#[test]
fn imap_unordered_keeps_order_within_a_chunk_and_yields_everything() {
    let p = pool(2);
    let out: Vec<u32> = p
        .imap_unordered_with(|x: u32| x, 0..100, opts(10, 4))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let set: BTreeSet<u32> = out.iter().copied().collect();
    assert_eq!(set, (0..100).collect(), "each item exactly once");
    assert_eq!(out.len(), 100);
    for chunk in out.chunks(10) {
        assert!(
            chunk.windows(2).all(|w| w[1] == w[0] + 1),
            "chunk kept its order: {chunk:?}"
        );
    }
}

#[test]
fn imap_on_empty_input_ends_at_once() {
    let p = pool(1);
    assert_eq!(p.imap(|x: u8| x, Vec::new()).unwrap().next(), None);
    assert_eq!(p.imap_unordered(|x: u8| x, 0..0).unwrap().next(), None);
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

fn fails_on_multiples_of_three(x: u32) -> u32 {
    if x % 3 == 0 {
        panic!("bad {x}");
    }
    x
}

#[test]
fn imap_errors_yield_err_items_and_the_stream_continues_chunked_or_not() {
    let p = pool(2);
    for cs in [1, 2, 4, 100] {
        let out: Vec<_> = p
            .imap_with(fails_on_multiples_of_three, 0..10, opts(cs, 3))
            .unwrap()
            .collect();
        assert_eq!(
            out.len(),
            10,
            "chunksize {cs}: the stream went on after errors"
        );
        for (x, r) in out.into_iter().enumerate() {
            let x = x as u32;
            if x % 3 == 0 {
                assert_eq!(r, Err(panicked(format!("bad {x}"))));
            } else {
                assert_eq!(r, Ok(x));
            }
        }
    }
}

#[test]
fn imap_unordered_errors_yield_err_items_and_the_stream_continues_chunked_or_not() {
    let p = pool(2);
    for cs in [1, 3, 100] {
        let out: Vec<_> = p
            .imap_unordered_with(fails_on_multiples_of_three, 0..10, opts(cs, 3))
            .unwrap()
            .collect();
        assert_eq!(out.len(), 10, "chunksize {cs}");
        let errors = out.iter().filter(|r| r.is_err()).count();
        assert_eq!(errors, 4, "0, 3, 6, 9");
        let oks: BTreeSet<u32> = out.into_iter().filter_map(Result::ok).collect();
        assert_eq!(oks, [1, 2, 4, 5, 7, 8].into_iter().collect());
    }
}

#[test]
fn chunksize_or_window_zero_is_invalid_argument() {
    let p = pool(1);
    assert!(matches!(
        p.imap_with(|x: u8| x, 0..3, ImapOptions::new().chunksize(0)),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        p.imap_unordered_with(|x: u8| x, 0..3, ImapOptions::new().chunksize(0)),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        p.imap_with(|x: u8| x, 0..3, ImapOptions::new().window(0)),
        Err(Error::InvalidArgument(_))
    ));
    // Nothing was left open that would block join.
    p.close();
    p.join_timeout(LONG).unwrap();
}

// ---------------------------------------------------------------------------------------------
// next_timeout
// ---------------------------------------------------------------------------------------------

#[test]
fn next_timeout_is_timeout_and_the_iterator_stays_usable() {
    let p = pool(1);
    for cs in [1, 3] {
        let gate = Gate::new();
        let g = Arc::clone(&gate);
        let mut it = p
            .imap_with(
                move |x: u32| {
                    g.wait();
                    x
                },
                0..3,
                opts(cs, 4),
            )
            .unwrap();
        assert_eq!(
            it.next_timeout(Duration::from_millis(5)),
            Some(Err(Error::Timeout)),
            "chunksize {cs}"
        );
        assert_eq!(it.next_timeout(Duration::ZERO), Some(Err(Error::Timeout)));
        gate.open();
        let rest: Vec<_> = std::iter::from_fn(|| it.next_timeout(LONG)).collect();
        assert_eq!(
            rest,
            vec![Ok(0), Ok(1), Ok(2)],
            "nothing lost to the timeouts"
        );
    }
}

#[test]
fn imap_unordered_next_timeout_is_timeout_and_the_iterator_stays_usable() {
    let p = pool(1);
    let gate = Gate::new();
    let g = Arc::clone(&gate);
    let mut it = p
        .imap_unordered_with(
            move |x: u32| {
                g.wait();
                x
            },
            0..2,
            opts(2, 4),
        )
        .unwrap();
    assert_eq!(
        it.next_timeout(Duration::from_millis(5)),
        Some(Err(Error::Timeout))
    );
    gate.open();
    assert_eq!(it.next_timeout(LONG), Some(Ok(0)));
    assert_eq!(it.next_timeout(LONG), Some(Ok(1)));
    assert_eq!(it.next_timeout(LONG), None);
}

// ---------------------------------------------------------------------------------------------
// Lazy input, bounded window
// ---------------------------------------------------------------------------------------------

/// A shared count of the items an input gave out.
#[derive(Clone, Default)]
struct Pulled(Arc<AtomicUsize>);

impl Pulled {
    fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// An endless input that counts how many items were pulled from it.
fn counted_naturals() -> (impl Iterator<Item = u64> + Send + 'static, Pulled) {
    let pulled = Pulled::default();
    let p = pulled.clone();
    (
        (0u64..).inspect(move |_| {
            p.0.fetch_add(1, Ordering::SeqCst);
        }),
        pulled,
    )
}

fn assert_bounded<I>(mut it: I, pulled: &Pulled, window: usize, cs: usize, take: usize) -> Vec<u64>
where
    I: FnMut() -> Option<followup::Result<u64>>,
{
    let bound = window * cs + cs;
    let mut out = Vec::new();
    assert_eq!(pulled.get(), 0, "nothing pulled before the first next");
    for k in 1..=take {
        out.push(it().expect("endless").unwrap());
        assert!(
            pulled.get() <= k + bound,
            "after consuming {k} items {} were pulled (bound {k} + {bound})",
            pulled.get()
        );
    }
    out
}

#[test]
fn imap_unordered_on_an_endless_input_pulls_a_bounded_window() {
    guarded(|| {
        let p = pool(2);
        for (cs, window) in [(1, 4), (8, 4), (3, 1)] {
            let (input, pulled) = counted_naturals();
            let mut it = p
                .imap_unordered_with(|x: u64| x * 2, input, opts(cs, window))
                .unwrap();
            let out = assert_bounded(|| it.next_timeout(LONG), &pulled, window, cs, 300);
            assert!(out.iter().all(|x| x % 2 == 0));
        }
    });
}

#[test]
fn imap_on_an_endless_input_with_take_pulls_a_bounded_window() {
    guarded(|| {
        let p = pool(2);
        for (cs, window) in [(1, 4), (16, 4), (3, 1)] {
            let (input, pulled) = counted_naturals();
            let mut it = p
                .imap_with(|x: u64| x * 2, input, opts(cs, window))
                .unwrap();
            let out = assert_bounded(|| it.next_timeout(LONG), &pulled, window, cs, 300);
            assert_eq!(out, (0..300).map(|x| x * 2).collect::<Vec<_>>());
        }
        // The plain iterator adaptor form.
        let firsts: Vec<u64> = p
            .imap_with(|x: u64| x * 2, 0.., opts(16, 4))
            .unwrap()
            .take(100)
            .map(Result::unwrap)
            .collect();
        assert_eq!(firsts[99], 198);
    });
}

#[test]
fn imap_with_a_slow_head_item_still_pulls_a_bounded_window() {
    // "window: most chunks in flight at once (issued, result not yet consumed)". While the
    // head item is stuck, later results cannot be consumed, so the input must not run ahead.
    guarded(|| {
        let p = pool(2);
        let gate = Gate::new();
        let (input, pulled) = counted_naturals();
        let (cs, window) = (1, 4);
        let mut it = p
            .imap_with(first_item_waits(&gate), input, opts(cs, window))
            .unwrap();
        assert_eq!(
            it.next_timeout(Duration::from_millis(50)),
            Some(Err(Error::Timeout))
        );
        let pulled_while_stuck = pulled.get();
        gate.open();
        let out: Vec<u64> = (0..10)
            .map(|_| it.next_timeout(LONG).unwrap().unwrap())
            .collect();
        assert_eq!(out, (0..10).collect::<Vec<_>>());
        assert!(
            pulled_while_stuck <= window * cs + cs,
            "with the head item stuck and nothing consumed, {pulled_while_stuck} input items \
             were pulled (bound {})",
            window * cs + cs
        );
    });
}

#[test]
fn imap_input_is_pulled_off_the_consuming_thread() {
    let p = pool(2);
    let me = std::thread::current().id();
    let input = vec![1u32, 2, 3, 4].into_iter().inspect(move |_| {
        assert_ne!(
            std::thread::current().id(),
            me,
            "input pulled by the feeder"
        );
    });
    let out: Vec<u32> = p
        .imap(|x: u32| x * 2, input)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(out, vec![2, 4, 6, 8]);
}

// ---------------------------------------------------------------------------------------------
// Results flow while the input waits
// ---------------------------------------------------------------------------------------------

/// An input that gives out `first` at once and then blocks until the consumer sends more (or
/// drops its sender). Every wait on it is bounded: an input still blocked after [`LONG`]
/// panics, which the stream reports as `InputPanicked` (failing the test instead of hanging).
fn blocking_input(first: Vec<u32>) -> (mpsc::Sender<u32>, impl Iterator<Item = u32> + Send) {
    let (tx, rx) = mpsc::channel();
    for x in first {
        tx.send(x).unwrap();
    }
    let input = std::iter::from_fn(move || match rx.recv_timeout(LONG) {
        Ok(x) => Some(x),
        Err(mpsc::RecvTimeoutError::Disconnected) => None,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("the input was never fed"),
    });
    (tx, input)
}

#[test]
fn a_blocked_input_still_delivers_finished_results_with_default_options() {
    guarded(|| {
        let p = pool(2);
        let (tx, input) = blocking_input(vec![1, 2, 3]);
        let mut it = p.imap_unordered(|x: u32| x * 10, input).unwrap();
        // The input now blocks (it waits for us), yet the three results come through.
        let mut got: Vec<u32> = (0..3)
            .map(|_| it.next_timeout(LONG).unwrap().unwrap())
            .collect();
        got.sort_unstable();
        assert_eq!(got, vec![10, 20, 30]);
        drop(tx);
        assert_eq!(it.next_timeout(LONG), None);
    });
}

#[test]
fn a_blocked_input_still_delivers_in_order_with_default_options() {
    guarded(|| {
        let p = pool(2);
        let (tx, input) = blocking_input(vec![1, 2, 3]);
        let mut it = p.imap(|x: u32| x * 10, input).unwrap();
        for want in [10, 20, 30] {
            assert_eq!(it.next_timeout(LONG), Some(Ok(want)));
        }
        tx.send(4).unwrap();
        assert_eq!(it.next_timeout(LONG), Some(Ok(40)));
        drop(tx);
        assert_eq!(it.next_timeout(LONG), None);
    });
}

#[test]
fn a_loop_feeding_follow_ups_back_into_its_own_input_works_with_default_options() {
    // Each result below 1000 feeds one follow-up (x * 2 + 1, then the next) back into the
    // stream's own input: a chain in which every item depends on the result before it.
    guarded(|| {
        let p = pool(2);
        let (tx, input) = blocking_input(vec![1, 2]);
        let mut tx = Some(tx);
        let mut pending = 2usize;
        let mut seen = Vec::new();
        for r in p.imap_unordered(|x: u32| x * 2 + 1, input).unwrap() {
            let v = r.unwrap();
            seen.push(v);
            pending -= 1;
            if v < 1000 {
                tx.as_ref().unwrap().send(v).unwrap();
                pending += 1;
            }
            if pending == 0 {
                tx = None; // the input ends: the stream ends
            }
        }
        assert!(tx.is_none(), "the stream ended before its input did");
        assert_eq!(seen.len(), 18, "two chains of nine steps each: {seen:?}");
        assert!(seen.iter().all(|&v| v % 2 == 1));
    });
}

// ---------------------------------------------------------------------------------------------
// Default chunking
// ---------------------------------------------------------------------------------------------

#[test]
fn default_chunking_a_slow_item_holds_no_finished_sibling_back_while_a_worker_is_idle() {
    // Known length and unknown length alike: item 0 blocks its worker; the other worker runs
    // everything else, and every result reaches the consumer while item 0 is still stuck.
    guarded(|| {
        let p = pool(2);
        let known = (0..200u32).collect::<Vec<_>>().into_iter();
        let unknown = (0..400u32).filter(|x| x % 2 == 0).map(|x| x / 2);
        let inputs: Vec<Box<dyn Iterator<Item = u32> + Send>> =
            vec![Box::new(known), Box::new(unknown)];
        for (which, input) in inputs.into_iter().enumerate() {
            let gate = Gate::new();
            let mut it = p.imap_unordered(first_item_waits(&gate), input).unwrap();
            let mut others: Vec<u32> = (1..200)
                .map(|_| it.next_timeout(LONG).unwrap().unwrap())
                .collect();
            others.sort_unstable();
            assert_eq!(others, (1..200).collect::<Vec<_>>(), "input {which}");
            gate.open();
            assert_eq!(it.next_timeout(LONG), Some(Ok(0)), "input {which}");
            assert_eq!(it.next_timeout(LONG), None, "input {which}");
        }
    });
}

#[test]
fn default_chunking_a_slow_item_mid_stream_lets_the_rest_through() {
    // Items are cheap until one in the middle blocks: by then claims have grown, yet every
    // item not claimed with the slow one reaches the consumer while it is stuck.
    guarded(|| {
        let p = pool(2);
        let gate = Gate::new();
        let g = Arc::clone(&gate);
        let n = 20_000u32;
        let slow = 5_000u32;
        let mut it = p
            .imap_unordered(
                move |x: u32| {
                    if x == slow {
                        g.wait();
                    }
                    x
                },
                0..n,
            )
            .unwrap();
        let mut seen = 0usize;
        let mut last = 0u32;
        while seen + 1 < n as usize {
            let x = it.next_timeout(LONG).unwrap().unwrap();
            seen += 1;
            last = last.max(x);
            if last == n - 1 {
                break;
            }
        }
        assert_eq!(
            last,
            n - 1,
            "the last item came through while {slow} was stuck"
        );
        gate.open();
        let rest = std::iter::from_fn(|| it.next_timeout(LONG)).count();
        assert_eq!(seen + rest, n as usize);
    });
}

#[test]
fn an_explicit_chunksize_is_honoured_exactly() {
    // Results of one chunk arrive together: while item 0 is stuck, none of 1..4 (its chunk
    // mates) can arrive, but the next chunks do.
    guarded(|| {
        let p = pool(2);
        let gate = Gate::new();
        let mut it = p
            .imap_unordered_with(first_item_waits(&gate), 0..12, opts(4, 8))
            .unwrap();
        let mut first: Vec<u32> = (0..8)
            .map(|_| it.next_timeout(LONG).unwrap().unwrap())
            .collect();
        first.sort_unstable();
        assert_eq!(first, (4..12).collect::<Vec<_>>());
        gate.open();
        let rest: Vec<u32> = std::iter::from_fn(|| it.next_timeout(LONG))
            .map(Result::unwrap)
            .collect();
        assert_eq!(rest, vec![0, 1, 2, 3], "chunk 0 whole and in order");
    });
}

#[test]
fn default_chunking_on_a_long_input_of_unknown_length_is_exact() {
    let p = pool(2);
    let n = 300_000u64;
    let input = (0..2 * n).filter(|x| x % 2 == 0).map(|x| x / 2);
    let out: Vec<u64> = p
        .imap(|x: u64| x * 3, input)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(out.len(), n as usize);
    assert!(out.iter().enumerate().all(|(i, &v)| v == 3 * i as u64));
}

#[test]
fn dropping_an_imap_early_stops_pulling_input() {
    let p = pool(2);
    let (input, pulled) = counted_naturals();
    let mut it = p.imap_with(|x: u64| x, input, opts(2, 2)).unwrap();
    assert_eq!(it.next_timeout(LONG), Some(Ok(0)));
    drop(it);
    let after_drop = pulled.get();
    assert!(after_drop <= 1 + 2 * 2 + 2);
    p.close();
    p.join_timeout(LONG).unwrap();
    assert_eq!(pulled.get(), after_drop, "nothing pulled after the drop");
}

// ---------------------------------------------------------------------------------------------
// Input panics
// ---------------------------------------------------------------------------------------------

fn panicking_input() -> impl Iterator<Item = u32> {
    (0..10).inspect(|&x| {
        if x == 5 {
            panic!("input broke at {x}");
        }
    })
}

#[test]
fn imap_input_panic_gives_items_before_then_input_panicked_then_none() {
    let p = pool(2);
    for cs in [1, 2, 4] {
        let mut it = p
            .imap_with(|x: u32| x, panicking_input(), opts(cs, 3))
            .unwrap();
        for want in 0..5 {
            assert_eq!(it.next_timeout(LONG), Some(Ok(want)), "chunksize {cs}");
        }
        assert_eq!(
            it.next_timeout(LONG),
            Some(Err(Error::InputPanicked {
                message: "input broke at 5".into()
            })),
            "chunksize {cs}"
        );
        assert_eq!(it.next_timeout(LONG), None, "chunksize {cs}");
    }
    p.close();
    p.join_timeout(LONG).unwrap();
}

#[test]
fn imap_unordered_input_panic_gives_items_before_then_input_panicked_then_none() {
    let p = pool(2);
    for cs in [1, 3] {
        let mut it = p
            .imap_unordered_with(|x: u32| x, panicking_input(), opts(cs, 3))
            .unwrap();
        let mut before: Vec<u32> = (0..5)
            .map(|_| it.next_timeout(LONG).unwrap().unwrap())
            .collect();
        before.sort_unstable();
        assert_eq!(before, vec![0, 1, 2, 3, 4]);
        assert!(matches!(
            it.next_timeout(LONG),
            Some(Err(Error::InputPanicked { .. }))
        ));
        assert_eq!(it.next_timeout(LONG), None);
    }
}

#[test]
fn map_input_panic_is_input_panicked_at_submission() {
    let p = pool(1);
    let r = p.map(|x: u32| x, panicking_input());
    assert_eq!(
        r,
        Err(Error::InputPanicked {
            message: "input broke at 5".into()
        })
    );
    assert_eq!(p.apply(|| 1), Ok(1));
}

// ---------------------------------------------------------------------------------------------
// Streams and join
// ---------------------------------------------------------------------------------------------

#[test]
fn imap_results_are_readable_after_close_and_join() {
    guarded(|| {
        let p = pool(2);
        let mut it = p.imap_with(|x: u32| x * 3, 0..10, opts(2, 8)).unwrap();
        let mut un = p
            .imap_unordered_with(|x: u32| x + 1, 0..10, opts(1, 16))
            .unwrap();
        // The first `next` issues the whole (small) input.
        assert_eq!(it.next_timeout(LONG), Some(Ok(0)));
        assert!(un.next_timeout(LONG).unwrap().is_ok());
        p.close();
        p.join_timeout(LONG).unwrap();
        let rest: Vec<u32> = std::iter::from_fn(|| it.next_timeout(LONG))
            .map(Result::unwrap)
            .collect();
        assert_eq!(rest, (1..10).map(|x| x * 3).collect::<Vec<_>>());
        let rest: Vec<u32> = std::iter::from_fn(|| un.next_timeout(LONG))
            .map(Result::unwrap)
            .collect();
        assert_eq!(rest.len(), 9);
    });
}

#[test]
fn join_on_the_thread_holding_an_undrained_imap_is_unfinished_stream() {
    guarded(|| {
        let p = pool(2);
        let mut it = p.imap_with(|x: u32| x, 0..10, opts(1, 2)).unwrap();
        p.close();
        assert_eq!(
            p.join(),
            Err(Error::UnfinishedStream),
            "an error, not a hang"
        );
        assert_eq!(p.join_timeout(LONG), Err(Error::UnfinishedStream));
        assert_eq!(it.next_timeout(LONG), Some(Ok(0)));
        assert_eq!(
            p.join_timeout(LONG),
            Err(Error::UnfinishedStream),
            "input left to pull"
        );
        let rest: Vec<u32> = std::iter::from_fn(|| it.next_timeout(LONG))
            .map(Result::unwrap)
            .collect();
        assert_eq!(rest, (1..10).collect::<Vec<_>>());
        p.join_timeout(LONG).unwrap();
    });
}

#[test]
fn dropping_an_undrained_imap_lets_join_proceed() {
    guarded(|| {
        let p = pool(2);
        let mut it = p.imap_unordered_with(|x: u64| x, 0.., opts(1, 2)).unwrap();
        assert!(it.next_timeout(LONG).unwrap().is_ok());
        p.close();
        assert_eq!(p.join_timeout(LONG), Err(Error::UnfinishedStream));
        drop(it);
        p.join_timeout(LONG).unwrap();
    });
}

#[test]
fn join_on_another_thread_waits_for_an_undrained_imap() {
    guarded(|| {
        let p = pool(2);
        let (ready_tx, ready_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let q = p.clone();
        let consumer = std::thread::spawn(move || {
            let mut it = q.imap_with(|x: u32| x, 0..20, opts(1, 2)).unwrap();
            let first = it.next_timeout(LONG);
            ready_tx.send(()).unwrap();
            recv(&go_rx, "go");
            let mut all = vec![first.unwrap().unwrap()];
            all.extend(std::iter::from_fn(|| it.next_timeout(LONG)).map(Result::unwrap));
            all
        });
        recv(&ready_rx, "consumer started");
        p.close();
        assert_eq!(
            p.join_timeout(Duration::from_millis(20)),
            Err(Error::Timeout),
            "another thread may still pull input: join waits"
        );
        go_tx.send(()).unwrap();
        assert_eq!(consumer.join().unwrap(), (0..20).collect::<Vec<_>>());
        p.join_timeout(LONG).unwrap();
    });
}

#[test]
fn imap_consumed_inside_a_task_on_a_one_worker_pool_works() {
    guarded(|| {
        let p = pool(1);
        let q = p.clone();
        let h = p
            .apply_async(move || {
                q.imap_with(|x: u32| x + 1, 0..50, opts(3, 2))
                    .unwrap()
                    .map(Result::unwrap)
                    .sum::<u32>()
            })
            .unwrap();
        assert_eq!(get(h), Ok((1..=50).sum()));
    });
}

#[test]
fn imap_unordered_consumed_inside_a_task_after_close_is_accepted() {
    guarded(|| {
        let p: ThreadPool = pool(2);
        let gate = Gate::new();
        let (q, g) = (p.clone(), Arc::clone(&gate));
        let h = p
            .apply_async(move || {
                g.wait();
                let mut v: Vec<u32> = q
                    .imap_unordered(|x: u32| x, 0..10)
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
                v.sort_unstable();
                v
            })
            .unwrap();
        p.close();
        gate.open();
        assert_eq!(get(h), Ok((0..10).collect()));
        p.join_timeout(LONG).unwrap();
    });
}
