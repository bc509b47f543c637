//! Whether the async runtime has run out of work: the writer's cue to commit.
//!
//! A group commit costs about the same CPU whether it carries 5 bookings or
//! 30 (one journal write, one cache flush, the context switches around the
//! wait), and with one core that CPU is taken from answering requests. A
//! writer that commits as soon as its previous commit returns makes batches
//! as small as commits are fast. So the writer gathers instead: it commits
//! once the runtime has nothing left to run (every request that could join
//! the batch has been decided and queued, and waiting longer would only add
//! latency), once the batch is large, or after a short bound at most.
//!
//! The runtime says it is going idle through tokio's park hooks, so this is
//! process-wide state, set up by [`install`] on the runtime's builder. The
//! runtime may report idle for an instant and then find more work (a task
//! woken just as it parked): that cue is early, not wrong, and only makes a
//! batch smaller. A
//! process whose runtime was built without it (tests that build their own)
//! reports [`gathering`] false, and its writer commits at once, as before.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::thread::Thread;
use std::time::Duration;

struct Idle {
    installed: AtomicBool,
    /// The runtime's worker threads.
    workers: AtomicUsize,
    /// How many of them are parked (out of work).
    parked: AtomicUsize,
    /// The writer is waiting to be told when the runtime goes idle.
    wanted: AtomicBool,
    writer: Mutex<Option<Thread>>,
}

static IDLE: Idle = Idle {
    installed: AtomicBool::new(false),
    workers: AtomicUsize::new(1),
    parked: AtomicUsize::new(0),
    wanted: AtomicBool::new(false),
    writer: Mutex::new(None),
};

/// Hooks the runtime being built (with `workers` worker threads) up to this
/// module, so that writers gather their commits.
pub fn install(builder: &mut tokio::runtime::Builder, workers: usize) {
    IDLE.workers.store(workers.max(1), Ordering::SeqCst);
    IDLE.installed.store(true, Ordering::SeqCst);
    builder.on_thread_park(parking).on_thread_unpark(unparked);
}

/// A worker is about to park. Whoever comes last wakes a waiting writer.
fn parking() {
    let parked = IDLE.parked.fetch_add(1, Ordering::SeqCst) + 1;
    if parked >= IDLE.workers.load(Ordering::SeqCst) && IDLE.wanted.swap(false, Ordering::SeqCst) {
        let writer = IDLE.writer.lock().unwrap_or_else(PoisonError::into_inner).clone();
        if let Some(writer) = writer {
            writer.unpark();
        }
    }
}

fn unparked() {
    IDLE.parked.fetch_sub(1, Ordering::SeqCst);
}

/// Whether writers should gather: the runtime reports when it is idle.
pub fn gathering() -> bool {
    IDLE.installed.load(Ordering::SeqCst)
}

/// Every worker of the runtime is parked.
pub fn runtime_idle() -> bool {
    IDLE.parked.load(Ordering::SeqCst) >= IDLE.workers.load(Ordering::SeqCst)
}

/// Registers the calling thread as the one [`wait`] wakes (the store's
/// writer; the latest one started, should there be several).
pub fn register_writer() {
    *IDLE.writer.lock().unwrap_or_else(PoisonError::into_inner) = Some(std::thread::current());
}

/// Blocks the registered writer until the runtime goes idle or `timeout`
/// passes, whichever is first. May return early: callers check again.
pub fn wait(timeout: Duration) {
    IDLE.wanted.store(true, Ordering::SeqCst);
    // Checked after saying so: either this sees the last worker parked, or
    // that worker sees `wanted` and wakes us (both sides use SeqCst).
    if !runtime_idle() {
        std::thread::park_timeout(timeout);
    }
    IDLE.wanted.store(false, Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runtime_out_of_work_is_idle_and_wakes_a_waiting_writer_at_once() {
        let mut builder = tokio::runtime::Builder::new_current_thread();
        builder.enable_all();
        install(&mut builder, 1);
        let runtime = builder.build().expect("a runtime");
        assert!(gathering());

        let (started, start) = std::sync::mpsc::channel();
        let writer = std::thread::spawn(move || {
            register_writer();
            // Timed from before the runtime can start its busy spell.
            let since = std::time::Instant::now();
            let _ = started.send(());
            // The runtime below is busy, then sleeps (parks) well within this.
            while !runtime_idle() {
                wait(Duration::from_secs(10));
            }
            since.elapsed()
        });
        start.recv().expect("the writer started");
        runtime.block_on(async {
            // Busy for a while (running, so not parked), then out of work for long.
            let busy_until = std::time::Instant::now() + Duration::from_millis(50);
            while std::time::Instant::now() < busy_until {
                std::hint::spin_loop();
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        });
        let waited = writer.join().expect("the writer");
        assert!(waited >= Duration::from_millis(50), "not idle while busy: {waited:?}");
        assert!(waited < Duration::from_secs(2), "woken when the runtime parked: {waited:?}");
    }
}
