//! Applying committed writes to SQLite, on a thread of its own at idle
//! priority.
//!
//! Requests wait for the journal, never for SQLite: once a write is in the
//! journal it is durable, and SQLite only has to catch up. Applied on the
//! writer thread, that catching up (one transaction every `apply_interval`,
//! ~2–3 ms for ~2,000 writes under load) held up every commit, and the
//! requests behind them, while it ran. Here the writer hands what it
//! committed to the applier and goes back to committing. The applier runs
//! under `SCHED_IDLE`: it gets the core when nothing else wants it (the
//! writer waiting on the disk, the runtime on the network), and a request or
//! a commit preempts it at once.
//!
//! How far SQLite may lag is bounded by the journal: it may start over only
//! once everything in it is in SQLite. When it has grown past its limit, the
//! writer asks the applier to catch up now and waits for that ([`Applier::catch_up`]);
//! with the writer waiting, the runtime soon runs out of work and the
//! applier gets the core even when it was busy.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::{Durability, Pending, with_retries};
use crate::store::sqlite::{self, Write};

/// Most committed writes waiting to be applied before the applier is asked
/// to apply without waiting for its interval.
const APPLY_SOON_AT: usize = 16_384;

/// The applier thread and what it shares with the writer.
pub(super) struct Applier {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    /// Signals the applier (writes to apply, urgency, closing) and the writer
    /// (something applied, or the applier gave up).
    changed: Condvar,
}

#[derive(Default)]
struct State {
    /// Committed to the journal, not handed to SQLite yet.
    queued: Vec<Pending>,
    /// Every write up to this LSN is in SQLite.
    applied: u64,
    /// Apply what is queued without waiting for the interval.
    urgent: bool,
    /// No more writes will come: apply what is queued and end.
    closed: bool,
    /// The applier thread has ended (closed, or an apply failed for good).
    ended: bool,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'a>(&self, state: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.changed.wait(state).unwrap_or_else(PoisonError::into_inner)
    }
}

impl Applier {
    /// Starts the applier on `conn`, in which everything up to `applied` is.
    pub(super) fn start(
        conn: rusqlite::Connection,
        applied: u64,
        interval: Duration,
        durable: Arc<Durability>,
    ) -> anyhow::Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State { applied, ..State::default() }),
            changed: Condvar::new(),
        });
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("store-applier".into())
            .spawn(move || {
                let _ended = EndOnExit(&thread_shared);
                lower_priority();
                run(&thread_shared, conn, interval, &durable);
            })
            .context("starting the applier thread")?;
        Ok(Self { shared, thread: Some(thread) })
    }

    /// Hands over writes the journal holds. Wakes the applier only when it
    /// waits for work without a deadline, or when too much has queued.
    pub(super) fn push(&self, batch: Vec<Pending>) {
        let wake = {
            let mut state = self.shared.state();
            let was_empty = state.queued.is_empty();
            state.queued.extend(batch);
            let soon = !state.urgent && state.queued.len() >= APPLY_SOON_AT;
            state.urgent |= soon;
            was_empty || soon
        };
        if wake {
            self.shared.changed.notify_all();
        }
    }

    /// Waits until everything up to `lsn` is in SQLite, asking for it to be
    /// applied now. False if the applier has ended first (an apply failed
    /// for good: the store is marked failed).
    pub(super) fn catch_up(&self, lsn: u64) -> bool {
        let mut state = self.shared.state();
        // With nothing queued, the writes up to `lsn` are being applied now.
        if state.applied < lsn && !state.queued.is_empty() && !state.urgent {
            state.urgent = true;
            self.shared.changed.notify_all();
        }
        while state.applied < lsn && !state.ended {
            state = self.shared.wait(state);
        }
        state.applied >= lsn
    }

    /// Applies what is queued and stops the thread. False if not everything
    /// handed over reached SQLite (the journal still holds it, and the next
    /// start applies it).
    pub(super) fn close(&mut self) -> bool {
        let Some(thread) = self.thread.take() else { return true };
        self.shared.state().closed = true;
        self.shared.changed.notify_all();
        if thread.join().is_err() {
            tracing::error!("the sqlite applier thread panicked");
        }
        self.shared.state().queued.is_empty()
    }
}

impl Drop for Applier {
    fn drop(&mut self) {
        self.close();
    }
}

/// Marks the applier ended however its thread ends, so nobody waits on it.
struct EndOnExit<'a>(&'a Shared);

impl Drop for EndOnExit<'_> {
    fn drop(&mut self) {
        self.0.state().ended = true;
        self.0.changed.notify_all();
    }
}

/// The applier thread: every `interval` (or at once when asked), applies
/// everything queued in one transaction that also records the last LSN
/// applied. Ends once closed and empty, or when an apply fails for good.
fn run(shared: &Shared, mut conn: rusqlite::Connection, interval: Duration, durable: &Durability) {
    let mut applied_at = Instant::now();
    loop {
        let (batch, closing) = {
            let mut state = shared.state();
            loop {
                if state.closed || (state.urgent && !state.queued.is_empty()) {
                    break;
                }
                if state.queued.is_empty() {
                    state = shared.wait(state);
                    continue;
                }
                let left = interval.saturating_sub(applied_at.elapsed());
                if left.is_zero() {
                    break;
                }
                state = shared.changed.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0;
            }
            state.urgent = false;
            (std::mem::take(&mut state.queued), state.closed)
        };
        if let Some(last) = batch.last().map(|pending| pending.lsn) {
            let writes: Vec<&Write> = batch.iter().map(|pending| &pending.write).collect();
            if !with_retries("applying the journal to sqlite", writes.len(), durable, || {
                sqlite::commit(&mut conn, &writes, last)
            }) {
                // Put the writes back so `close` can tell they did not land.
                shared.state().queued.splice(0..0, batch);
                return;
            }
            shared.state().applied = last;
            shared.changed.notify_all();
            applied_at = Instant::now();
        }
        if closing {
            return;
        }
    }
}

/// Moves the calling thread to `SCHED_IDLE`. Applying is background work:
/// it should use the time the core would otherwise idle, never take it from
/// a request. If the system refuses, the thread runs at normal priority.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        use thread_priority::{
            NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy, set_thread_priority_and_policy,
            thread_native_id,
        };
        let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        if let Err(error) = set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, idle) {
            tracing::warn!(error = ?error, "could not give the sqlite applier idle priority; it runs at normal priority");
        }
    }
}

#[cfg(test)]
mod tests {
    use gym_core::ledger::Change;

    use super::*;
    use crate::store::fixtures::{gym, slot};

    const A_DAY: Duration = Duration::from_secs(86_400);

    fn pending(lsn: u64, changes: Vec<Change>) -> Vec<Pending> {
        vec![Pending { lsn, write: Write::Changes(changes) }]
    }

    /// The applied LSN and slot_a's `booked` as the file holds them.
    fn in_file(path: &std::path::Path) -> anyhow::Result<(u64, u32)> {
        let conn = sqlite::open(path)?;
        let (_, applied) = sqlite::journal_state(&conn)?;
        let booked = conn.query_row("SELECT booked FROM slots WHERE id = 'slot_a'", [], |row| row.get(0))?;
        Ok((applied, booked))
    }

    #[test]
    fn a_writer_that_needs_the_journal_back_gets_everything_applied_at_once() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("gym.sqlite");
        let durable = Arc::new(Durability::default());
        let mut applier = Applier::start(sqlite::open(&path)?, 0, A_DAY, Arc::clone(&durable))?;
        applier.push(pending(1, vec![Change::Gym(gym()), Change::Slot(slot(0))]));
        applier.push(pending(2, vec![Change::Slot(slot(1))]));
        assert!(applier.catch_up(2), "applied without waiting a day");
        assert!(applier.close());
        assert_eq!(in_file(&path)?, (2, 1));
        Ok(())
    }

    #[test]
    fn closing_applies_what_was_handed_over() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("gym.sqlite");
        let mut applier = Applier::start(sqlite::open(&path)?, 0, A_DAY, Arc::default())?;
        applier.push(pending(1, vec![Change::Gym(gym()), Change::Slot(slot(3))]));
        assert!(applier.close());
        assert_eq!(in_file(&path)?, (1, 3));
        Ok(())
    }

    #[test]
    fn an_apply_that_keeps_failing_marks_the_store_failed_and_lets_a_waiting_writer_go() -> anyhow::Result<()>
    {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("gym.sqlite");
        let durable = Arc::new(Durability::default());
        let mut applier = Applier::start(sqlite::open(&path)?, 0, A_DAY, Arc::clone(&durable))?;
        // 11 booked of 10 places: the file's CHECK refuses it, every time.
        applier.push(pending(1, vec![Change::Gym(gym()), Change::Slot(slot(11))]));
        assert!(!applier.catch_up(1));
        assert!(durable.failed.load(std::sync::atomic::Ordering::SeqCst));
        assert!(!applier.close(), "the write did not reach sqlite");
        Ok(())
    }
}
