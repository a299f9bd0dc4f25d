//! Idle CPU: what a pool costs while it is nearly idle. For each peer, a 2-worker pool first
//! sits parked for the window (the floor), then receives one tiny task per millisecond for the
//! window; the process's CPU time (user + system, `getrusage(RUSAGE_SELF)`) is read around each
//! window. A "no pool" row runs the same ticking loop without submitting anything: the
//! harness's own share.

use crate::harness::{fmt_num, leak, render, Json, PAUSE};
use crate::peers::Peer;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// CPU time consumed by this process so far (all threads, user + system).
pub fn cpu_time() -> Duration {
    // SAFETY: an all-zero `rusage` is a valid value of this plain C struct, and getrusage only
    // writes into the struct we pass, which lives for the whole call.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut u) != 0 {
            return Duration::ZERO;
        }
        u
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1_000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// One peer's idle numbers.
#[derive(Debug, Clone)]
pub struct IdleRow {
    /// Peer name.
    pub peer: String,
    /// True for followup.
    pub followup: bool,
    /// Tasks submitted during the ticking window.
    pub ticks: u64,
    /// CPU time during the ticking window, ms.
    pub ticking_ms: f64,
    /// CPU time during the parked window, ms.
    pub parked_ms: f64,
}

/// Ticks once per millisecond for `window`, calling `tick` each time; returns the tick count.
fn tick_loop(window: Duration, mut tick: impl FnMut()) -> u64 {
    let start = Instant::now();
    let mut next = start;
    let mut ticks = 0;
    while start.elapsed() < window {
        tick();
        ticks += 1;
        next += Duration::from_millis(1);
        if let Some(d) = next.checked_duration_since(Instant::now()) {
            thread::sleep(d);
        }
    }
    ticks
}

/// Measures every peer that idles (one 2-worker pool each).
pub fn measure(peers: &[Box<dyn Peer>], window: Duration) -> Vec<IdleRow> {
    let mut rows = Vec::new();
    thread::sleep(PAUSE);
    let c0 = cpu_time();
    thread::sleep(window);
    let parked = cpu_time() - c0;
    let c0 = cpu_time();
    let ticks = tick_loop(window, || {});
    let ticking = cpu_time() - c0;
    rows.push(IdleRow {
        peer: "(no pool: main loop only)".into(),
        followup: false,
        ticks,
        ticking_ms: ticking.as_secs_f64() * 1e3,
        parked_ms: parked.as_secs_f64() * 1e3,
    });
    for p in peers.iter().filter(|p| p.idles()) {
        thread::sleep(PAUSE);
        let session = p.session(2);
        thread::sleep(PAUSE);
        let c0 = cpu_time();
        thread::sleep(window);
        let parked = cpu_time() - c0;
        let counter: &'static AtomicU64 = leak(AtomicU64::new(0));
        let c0 = cpu_time();
        let ticks = tick_loop(window, || {
            assert!(session.submit_tiny(counter), "{} cannot idle", p.name());
        });
        let ticking = cpu_time() - c0;
        let deadline = Instant::now() + Duration::from_secs(10);
        while counter.load(Ordering::Relaxed) < ticks {
            assert!(Instant::now() < deadline, "{}: idle tasks lost", p.name());
            thread::sleep(Duration::from_millis(1));
        }
        drop(session);
        rows.push(IdleRow {
            peer: p.name(),
            followup: p.is_followup(),
            ticks,
            ticking_ms: ticking.as_secs_f64() * 1e3,
            parked_ms: parked.as_secs_f64() * 1e3,
        });
    }
    rows
}

/// Prints the idle table.
pub fn print(rows: &[IdleRow], window: Duration) {
    println!();
    println!(
        "### Idle CPU (2 workers, {} s windows)",
        window.as_secs_f64()
    );
    println!(
        "CPU time of the whole process (getrusage RUSAGE_SELF, user + system): parked = pool built and warmed, no tasks; ticking = one tiny task submitted per ms. % = of one core. x best peer = ticking CPU / best non-followup pool's."
    );
    let best = rows
        .iter()
        .skip(1)
        .filter(|r| !r.followup)
        .map(|r| r.ticking_ms)
        .fold(f64::INFINITY, f64::min);
    let secs = window.as_secs_f64();
    let table: Vec<Vec<String>> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            vec![
                r.peer.clone(),
                fmt_num(r.parked_ms),
                format!("{:.1}%", r.parked_ms / 10.0 / secs),
                r.ticks.to_string(),
                fmt_num(r.ticking_ms),
                format!("{:.1}%", r.ticking_ms / 10.0 / secs),
                fmt_num(r.ticking_ms * 1e3 / r.ticks.max(1) as f64),
                if i == 0 {
                    "-".into()
                } else {
                    format!("{:.2}", r.ticking_ms / best)
                },
            ]
        })
        .collect();
    print!(
        "{}",
        render(
            &[
                "peer",
                "parked CPU ms",
                "parked %",
                "ticks",
                "ticking CPU ms",
                "ticking %",
                "CPU µs/tick",
                "x best peer",
            ],
            &table
        )
    );
}

/// The idle rows as JSON.
pub fn json(rows: &[IdleRow]) -> Json {
    Json::Arr(
        rows.iter()
            .map(|r| {
                Json::obj(vec![
                    ("peer", Json::str(&r.peer)),
                    ("ticks", Json::Num(r.ticks as f64)),
                    ("ticking_cpu_ms", Json::Num(r.ticking_ms)),
                    ("parked_cpu_ms", Json::Num(r.parked_ms)),
                ])
            })
            .collect(),
    )
}
