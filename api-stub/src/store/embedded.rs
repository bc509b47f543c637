//! The embedded store: the ledger in memory, made durable by a commit
//! journal and kept in SQLite.
//!
//! Every decision runs inside one `std::sync::Mutex` guard around the
//! [`Ledger`]: check seats left and take one is a single critical section,
//! never read, release, then write. Under that same guard the decision's row
//! changes are queued, with a log sequence number (LSN), to one writer thread.
//! The writer gathers what has queued up (until the runtime has no request
//! left to decide, see [`idle`]), appends it to the commit journal as one
//! record (group commit: one synchronous write for many bookings, see
//! `store/journal.rs`) and then publishes the highest durable LSN. A request
//! is answered only once its LSN is durable, so every `201` is on disk; even
//! a refusal waits for the state it was decided on to be durable. The writer
//! then hands the batch to the applier (`embedded/applier.rs`), a thread at
//! idle priority that applies journaled writes to SQLite in one transaction
//! every `apply_interval` (see [`EmbeddedStore::open`]); at start-up the
//! store replays into SQLite whatever the journal holds beyond the last
//! apply.
//!
//! If a commit or an apply keeps failing, the store marks itself failed:
//! waiting and new requests get `503 store_unavailable`, and a restart
//! reloads the file and the journal (the in-memory ledger may be ahead of the
//! disk at that point, so it must not be trusted any more).

mod applier;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::thread::JoinHandle;

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use gym_core::ledger::{BookRequest, Change, GymRecord, Ledger};
use gym_core::wire::{Booking, BookingResult, CreateSlot, Gym, Slot, UpdateSlot};
use gym_core::{BookingId, DomainError, GymId, MemberId, SlotId, validate};
use tokio::sync::oneshot;

use self::applier::Applier;
use crate::events::EventHub;
use crate::store::idle;
use crate::store::journal::{self, Journal};
use crate::store::sqlite::{self, Write};
use crate::store::{
    Account, BookCommand, Booked, CapacityView, RenderedCapacity, StoreAdapter, StoreError, new_id,
};

/// Most writes committed in one journal record.
const MAX_BATCH: usize = 4096;
/// Once the journal has grown past this, the writer waits for everything in
/// it to be applied to SQLite and starts it over from its beginning: the
/// file stays a few MiB, and SQLite lags the journal by at most this much.
const REWIND_AT: u64 = 4 << 20;
/// Longest a commit waits for the runtime to finish deciding requests that
/// could join it (see [`gather`]).
const GATHER_MAX: std::time::Duration = std::time::Duration::from_micros(300);
/// A batch this large is committed without waiting.
const GATHER_ENOUGH: usize = 256;
/// Commit or apply attempts before the store gives up and marks itself failed.
const COMMIT_ATTEMPTS: u32 = 4;

/// How far the file is durable, and the requests waiting for their LSN.
///
/// Each waiting request has its own one-shot channel and is woken only once
/// its own LSN is committed: with one shared "durable LSN changed" signal,
/// every commit would also wake every request still waiting for a later one.
#[derive(Default)]
struct Durability {
    /// The writer gave up; nothing after `Waiting::lsn` will ever be committed.
    failed: AtomicBool,
    waiting: Mutex<Waiting>,
    /// The runtime the requests wait on, to wake a commit's requests from
    /// inside it (see [`Wake`]); `None` wakes them from the writer thread.
    runtime: Option<tokio::runtime::Handle>,
}

#[derive(Default)]
struct Waiting {
    /// Every write with an LSN up to this one is committed.
    lsn: u64,
    /// The writer has ended (shutdown or failure): nobody will be woken any more.
    closed: bool,
    /// Requests waiting for an LSN, in no particular order. `true` = durable.
    requests: Vec<(u64, oneshot::Sender<bool>)>,
}

impl Durability {
    fn waiting(&self) -> MutexGuard<'_, Waiting> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Publishes that everything up to `lsn` is committed and wakes exactly
    /// the requests that were waiting for it.
    fn committed(&self, lsn: u64) {
        let ready: Vec<_> = {
            let mut waiting = self.waiting();
            waiting.lsn = lsn;
            let (ready, later) =
                std::mem::take(&mut waiting.requests).into_iter().partition(|(wanted, _)| *wanted <= lsn);
            waiting.requests = later;
            ready
        };
        let wake = Wake(ready);
        match &self.runtime {
            Some(runtime) if !wake.0.is_empty() => {
                runtime.spawn(async move { drop(wake) });
            }
            _ => drop(wake),
        }
    }

    /// The writer ends: `failed` if it gave up on a commit. Everyone still
    /// waiting is told their write will never be durable.
    fn close(&self, failed: bool) {
        if failed {
            self.failed.store(true, Ordering::SeqCst);
        }
        let abandoned = {
            let mut waiting = self.waiting();
            waiting.closed = true;
            std::mem::take(&mut waiting.requests)
        };
        for (_, request) in abandoned {
            let _ = request.send(false);
        }
    }
}

/// The requests one commit made durable; dropping it wakes them.
///
/// Waking a task from outside its runtime costs a system call (tokio writes
/// to its event fd on every such wake-up), one per request: ~25 per commit
/// under load. So the writer hands the whole commit to the runtime as one
/// task, which costs one, and the wake-ups inside it are local. Whoever drops
/// it wakes the requests, so none is lost: also when a runtime that is
/// shutting down drops the task without running it.
struct Wake(Vec<(u64, oneshot::Sender<bool>)>);

impl Drop for Wake {
    fn drop(&mut self) {
        for (_, request) in self.0.drain(..) {
            // The request may have gone away (client hung up); nothing to do then.
            let _ = request.send(true);
        }
    }
}

struct Pending {
    lsn: u64,
    write: Write,
}

struct CachedCapacity {
    version: u64,
    expires_at: Option<DateTime<Utc>>,
    rendered: RenderedCapacity,
}

/// The state guarded by the store's one mutex.
struct Inner {
    ledger: Ledger,
    /// The LSN the next queued write gets.
    next_lsn: u64,
    /// Queue to the writer thread; `None` once closed. It lives under the
    /// same lock as the ledger so writes reach the writer in decision order.
    queue: Option<mpsc::Sender<Pending>>,
}

/// In-memory ledger + SQLite with group commit. One instance per database file.
pub struct EmbeddedStore {
    /// The ledger and the write queue. A std mutex, not an async one: it is
    /// held only for an in-memory decision (microseconds) and never across
    /// an `.await`, so it is cheaper and cannot deadlock with the runtime.
    inner: Mutex<Inner>,
    durable: Arc<Durability>,
    accounts: RwLock<HashMap<String, Account>>,
    /// The capacity endpoint's answer per gym, rendered once and served until
    /// the gym's version changes or its earliest slot ends: reads at the HTTP
    /// ceiling instead of a lock, a scan and a serialization per request.
    rendered: Mutex<HashMap<GymId, CachedCapacity, foldhash::fast::RandomState>>,
    events: EventHub,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl EmbeddedStore {
    /// Opens (creating and migrating) the SQLite file, replays the commit
    /// journal into it, loads it into memory and starts the writer thread and
    /// the applier, which applies journaled writes to SQLite every
    /// `apply_interval` (see `embedded/applier.rs`).
    pub fn open(path: &Path, events: EventHub, apply_interval: std::time::Duration) -> anyhow::Result<Self> {
        let mut conn = sqlite::open(path)?;
        let journal_path = journal::path_for(path);
        let (journal_id, last_lsn) = replay_journal(&mut conn, &journal_path)?;
        let journal = Journal::open(&journal_path, journal_id)?;
        let (changes, stored_accounts) = sqlite::load(&conn).context("loading the database")?;
        let mut ledger = Ledger::new();
        ledger.restore(&changes);
        warn_on_counter_drift(&ledger, &changes);
        let accounts = stored_accounts
            .into_iter()
            .map(|account| (account.member.email.to_lowercase(), account))
            .collect();

        let (queue, receiver) = mpsc::channel();
        let durable = Arc::new(Durability {
            runtime: tokio::runtime::Handle::try_current().ok(),
            waiting: Mutex::new(Waiting { lsn: last_lsn, ..Waiting::default() }),
            ..Durability::default()
        });
        let applier = Applier::start(conn, last_lsn, apply_interval, Arc::clone(&durable))?;
        let (writer_durable, writer_events) = (Arc::clone(&durable), events.clone());
        let writer = Writer { journal, applier };
        let writer = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer.run(receiver, &writer_durable, &writer_events))
            .context("starting the writer thread")?;
        tracing::info!(path = %path.display(), bookings = ledger.booking_count(), "opened the sqlite store");
        Ok(Self {
            inner: Mutex::new(Inner { ledger, next_lsn: last_lsn + 1, queue: Some(queue) }),
            durable,
            accounts: RwLock::new(accounts),
            rendered: Mutex::new(HashMap::default()),
            events,
            writer: Mutex::new(Some(writer)),
        })
    }

    /// The gym's rendered capacity if the cached rendering is still current
    /// (same gym version, earliest slot not ended), without rendering or
    /// allocating: the hot read path. `None` for an unknown gym too.
    pub fn capacity_cached(&self, gym_id: &str, now: DateTime<Utc>) -> Option<RenderedCapacity> {
        let version = self.lock().ledger.gym_version(gym_id);
        let rendered = self.rendered.lock().unwrap_or_else(PoisonError::into_inner);
        let cached = rendered.get(gym_id)?;
        (cached.version == version && cached.expires_at.is_none_or(|expires_at| now < expires_at))
            .then(|| cached.rendered.clone())
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the ledger half-changed
        // in a way later decisions would trust less than a fresh one: every
        // ledger method validates before it mutates. Keep serving.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn failed(&self) -> bool {
        self.durable.failed.load(Ordering::SeqCst)
    }

    /// Runs one decision inside the lock and queues its changes. Returns the
    /// decision and the LSN that must be durable before it may be answered.
    fn decide<T>(
        &self,
        decision: impl FnOnce(&mut Ledger) -> Result<(T, Vec<Change>), DomainError>,
    ) -> Result<(Result<T, DomainError>, u64), StoreError> {
        let mut inner = self.lock();
        if self.failed() {
            return Err(StoreError::Unavailable("the database refused a write; restart the server".into()));
        }
        match decision(&mut inner.ledger) {
            Ok((value, changes)) if !changes.is_empty() => {
                let lsn = inner.enqueue(Write::Changes(changes))?;
                Ok((Ok(value), lsn))
            }
            Ok((value, _)) => Ok((Ok(value), inner.next_lsn - 1)),
            Err(error) => Ok((Err(error), inner.next_lsn - 1)),
        }
    }

    async fn wait_durable(&self, lsn: u64) -> Result<(), StoreError> {
        let durable = {
            let mut waiting = self.durable.waiting();
            if waiting.lsn >= lsn {
                return Ok(());
            }
            if waiting.closed {
                return Err(self.never_durable());
            }
            let (request, durable) = oneshot::channel();
            waiting.requests.push((lsn, request));
            durable
        };
        match durable.await {
            Ok(true) => Ok(()),
            Ok(false) | Err(_) => Err(self.never_durable()),
        }
    }

    fn never_durable(&self) -> StoreError {
        if self.failed() {
            StoreError::Unavailable("the database refused the write; nothing was booked".into())
        } else {
            StoreError::Unavailable("the writer has stopped".into())
        }
    }

    async fn decide_durably<T>(
        &self,
        decision: impl FnOnce(&mut Ledger) -> Result<(T, Vec<Change>), DomainError>,
    ) -> Result<T, StoreError> {
        let (outcome, lsn) = self.decide(decision)?;
        self.wait_durable(lsn).await?;
        Ok(outcome?)
    }
}

impl StoreAdapter for EmbeddedStore {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    fn events(&self) -> &EventHub {
        &self.events
    }

    async fn check_health(&self) -> Result<(), StoreError> {
        if self.failed() {
            return Err(StoreError::Unavailable("the database refused a write".into()));
        }
        Ok(())
    }

    async fn gyms(&self) -> Result<Vec<Gym>, StoreError> {
        Ok(self.lock().ledger.gyms().map(|record| record.gym.clone()).collect())
    }

    async fn gym(&self, gym_id: &GymId) -> Result<GymRecord, StoreError> {
        let inner = self.lock();
        let gym = inner.ledger.gym(gym_id).cloned();
        gym.ok_or_else(|| DomainError::GymNotFound(gym_id.to_string()).into())
    }

    async fn slots_between(
        &self,
        gym_id: &GymId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Slot>, StoreError> {
        Ok(self.lock().ledger.slots_between(gym_id, from, to))
    }

    async fn capacity(&self, gym_id: &GymId, now: DateTime<Utc>) -> Result<CapacityView, StoreError> {
        let inner = self.lock();
        if inner.ledger.gym(gym_id).is_none() {
            return Err(DomainError::GymNotFound(gym_id.to_string()).into());
        }
        Ok(CapacityView {
            version: inner.ledger.gym_version(gym_id),
            slots: inner.ledger.capacity(gym_id, now),
        })
    }

    async fn capacity_rendered(
        &self,
        gym_id: &GymId,
        now: DateTime<Utc>,
    ) -> Result<RenderedCapacity, StoreError> {
        if let Some(cached) = self.capacity_cached(gym_id.as_str(), now) {
            return Ok(cached);
        }
        if self.lock().ledger.gym(gym_id).is_none() {
            return Err(DomainError::GymNotFound(gym_id.to_string()).into());
        }
        // Read the version with the figures: a decision after it only makes
        // this rendering newer than its version says, never staler.
        let (version, view, expires_at) = {
            let inner = self.lock();
            let view = CapacityView {
                version: inner.ledger.gym_version(gym_id),
                slots: inner.ledger.capacity(gym_id, now),
            };
            (view.version, view, inner.ledger.capacity_expires_at(gym_id, now))
        };
        let fresh = RenderedCapacity::render(gym_id, view, now);
        let mut rendered = self.rendered.lock().unwrap_or_else(PoisonError::into_inner);
        // Two readers may render at once; keep whichever saw the later version.
        if rendered.get(gym_id).is_none_or(|cached| cached.version <= version) {
            rendered.insert(gym_id.clone(), CachedCapacity { version, expires_at, rendered: fresh.clone() });
        }
        Ok(fresh)
    }

    async fn slot(&self, slot_id: &SlotId) -> Result<Slot, StoreError> {
        let slot = self.lock().ledger.slot(slot_id);
        slot.ok_or_else(|| DomainError::SlotNotFound(slot_id.to_string()).into())
    }

    async fn member_bookings(&self, member_id: &MemberId) -> Result<Vec<Booking>, StoreError> {
        Ok(self.lock().ledger.member_bookings(member_id))
    }

    async fn book(&self, command: BookCommand) -> Result<Booked, StoreError> {
        let random = rand::random();
        self.decide_durably(|ledger| {
            // The new booking's id names its place in the ledger (see
            // `Ledger::next_booking_id`), so it is made inside the decision.
            let request = BookRequest {
                slot_id: command.slot_id,
                member_id: command.member_id,
                waitlist: command.waitlist,
                idempotency_key: command.idempotency_key,
                new_booking_id: ledger.next_booking_id(random),
                now: command.now,
            };
            ledger.book(request).map(|outcome| {
                (Booked { result: outcome.result, replayed: outcome.replayed }, outcome.changes)
            })
        })
        .await
    }

    async fn cancel(
        &self,
        booking_id: &BookingId,
        actor: &MemberId,
        actor_is_operator: bool,
        now: DateTime<Utc>,
    ) -> Result<BookingResult, StoreError> {
        self.decide_durably(|ledger| ledger.cancel(booking_id, actor, actor_is_operator, now)).await
    }

    async fn create_slot(&self, gym_id: &GymId, draft: &CreateSlot) -> Result<Slot, StoreError> {
        let valid = validate::new_slot(draft)?;
        let slot_id = SlotId::new(new_id(SlotId::PREFIX));
        self.decide_durably(|ledger| ledger.create_slot(slot_id, gym_id, valid)).await
    }

    async fn update_slot(&self, slot_id: &SlotId, update: &UpdateSlot) -> Result<Slot, StoreError> {
        self.decide_durably(|ledger| ledger.update_slot(slot_id, update)).await
    }

    async fn ensure_gym(&self, gym: Gym, booking_window: Duration) -> Result<bool, StoreError> {
        self.decide_durably(|ledger| {
            if ledger.gym(&gym.id).is_some() {
                return Ok((false, Vec::new()));
            }
            ledger.upsert_gym(gym, booking_window).map(|changes| (true, changes))
        })
        .await
    }

    async fn ensure_slot(
        &self,
        slot_id: SlotId,
        gym_id: &GymId,
        draft: &CreateSlot,
    ) -> Result<bool, StoreError> {
        let valid = validate::new_slot(draft)?;
        self.decide_durably(|ledger| {
            if ledger.slot(&slot_id).is_some() {
                return Ok((false, Vec::new()));
            }
            ledger.create_slot(slot_id, gym_id, valid).map(|(_, changes)| (true, changes))
        })
        .await
    }

    async fn account_by_email(&self, email: &str) -> Result<Option<Account>, StoreError> {
        let accounts = self.accounts.read().unwrap_or_else(PoisonError::into_inner);
        Ok(accounts.get(&email.to_lowercase()).cloned())
    }

    async fn ensure_account(&self, account: Account) -> Result<bool, StoreError> {
        let email = account.member.email.to_lowercase();
        let lsn = {
            let mut accounts = self.accounts.write().unwrap_or_else(PoisonError::into_inner);
            if accounts.contains_key(&email) {
                return Ok(false);
            }
            accounts.insert(email, account.clone());
            self.lock().enqueue(Write::Account(account))?
        };
        self.wait_durable(lsn).await?;
        Ok(true)
    }

    async fn close(&self) {
        self.lock().queue = None;
        let writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(writer) = writer {
            let joined = tokio::task::spawn_blocking(move || writer.join()).await;
            if !matches!(joined, Ok(Ok(()))) {
                tracing::error!("the sqlite writer thread ended abnormally");
            }
        }
    }
}

impl Inner {
    fn enqueue(&mut self, write: Write) -> Result<u64, StoreError> {
        let queue = self
            .queue
            .as_ref()
            .ok_or_else(|| StoreError::Unavailable("the server is shutting down".into()))?;
        let lsn = self.next_lsn;
        queue
            .send(Pending { lsn, write })
            .map_err(|_| StoreError::Unavailable("the database writer has stopped".into()))?;
        self.next_lsn += 1;
        Ok(lsn)
    }
}

/// Applies to SQLite every journaled write it does not have yet, so that
/// SQLite alone holds every acknowledged write again. Returns the journal's
/// id and the last LSN durable anywhere: the next write gets the one after it.
fn replay_journal(conn: &mut rusqlite::Connection, journal_path: &Path) -> anyhow::Result<(u64, u64)> {
    let (journal_id, applied) = sqlite::journal_state(conn)?;
    let records = journal::recover(journal_path, journal_id)?;
    let mut next = applied + 1;
    let mut writes = Vec::new();
    for record in &records {
        for (lsn, write) in (record.first_lsn..).zip(&record.writes) {
            if lsn < next {
                continue; // applied before the server stopped
            }
            if lsn > next {
                anyhow::bail!(
                    "{} skips from LSN {} to {lsn}: it does not continue this database file \
                     (restored from a backup?); move it aside to start from the file alone",
                    journal_path.display(),
                    next - 1
                );
            }
            writes.push(write);
            next += 1;
        }
    }
    if !writes.is_empty() {
        sqlite::commit(conn, &writes, next - 1).context("applying the commit journal")?;
        tracing::info!(writes = writes.len(), lsn = next - 1, "replayed the commit journal into sqlite");
    }
    Ok((journal_id, next - 1))
}

/// The writer thread's state: the journal, and the applier that brings
/// SQLite up to date behind it.
struct Writer {
    journal: Journal,
    applier: Applier,
}

impl Writer {
    /// Commits queued writes to the journal in batches, publishes the
    /// durable LSN, tells live subscribers about the slots that changed, and
    /// hands the batch to the applier. Ends when the queue closes (once the
    /// applier has applied everything) or a commit or apply fails for good.
    fn run(mut self, receiver: mpsc::Receiver<Pending>, durable: &Durability, events: &EventHub) {
        // However the writer ends (the queue closed, a commit failed for good, or
        // a panic), nobody is left waiting for a commit that will never come.
        let _close = CloseOnExit(durable);
        idle::register_writer();
        while let Ok(first) = receiver.recv() {
            let batch = gather(first, &receiver);
            if !self.commit(&batch, durable) {
                return;
            }
            for pending in &batch {
                if let Write::Changes(changes) = &pending.write {
                    for change in changes {
                        if let Change::Slot(slot) = change {
                            events.publish(&slot.gym_id, slot.capacity_entry());
                        }
                    }
                }
            }
            let last = batch.last().map_or(0, |pending| pending.lsn);
            self.applier.push(batch);
            // The journal may start over only once SQLite holds all of it.
            if self.journal.position() >= REWIND_AT {
                if !self.applier.catch_up(last) {
                    return;
                }
                self.journal.rewind();
            }
        }
        // The queue closed (shutdown): leave SQLite complete.
        if !self.applier.close() {
            tracing::error!("not every journaled write reached sqlite; the next start applies them");
        }
    }

    /// Makes a batch durable in the journal and wakes its requests; false
    /// (and the store marked failed) if that keeps failing.
    fn commit(&mut self, batch: &[Pending], durable: &Durability) -> bool {
        let writes: Vec<&Write> = batch.iter().map(|pending| &pending.write).collect();
        // The ledger never takes more places than a slot has. Should a bug
        // ever make it, refuse the whole batch rather than acknowledge it:
        // the same guarantee as the `CHECK (booked <= capacity)` in SQLite,
        // before the write is durable instead of after.
        if let Some(slot) = overbooked(&writes) {
            tracing::error!(slot = %slot.id, booked = slot.booked, capacity = slot.capacity, "a decision overbooked a slot; refusing writes");
            durable.failed.store(true, Ordering::SeqCst);
            return false;
        }
        let first_lsn = batch.first().map_or(0, |pending| pending.lsn);
        if !with_retries("journal commit", writes.len(), durable, || self.journal.append(first_lsn, &writes))
        {
            return false;
        }
        durable.committed(batch.last().map_or(0, |pending| pending.lsn));
        true
    }
}

/// The batch to commit next, starting with `first`: everything queued, and
/// while the runtime still has requests to decide (see [`idle`]), what they
/// add within [`GATHER_MAX`].
fn gather(first: Pending, receiver: &mpsc::Receiver<Pending>) -> Vec<Pending> {
    let mut batch = vec![first];
    let deadline = std::time::Instant::now() + GATHER_MAX;
    loop {
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(pending) => batch.push(pending),
                Err(_) => break,
            }
        }
        if batch.len() >= GATHER_ENOUGH || !idle::gathering() || idle::runtime_idle() {
            return batch;
        }
        let now = std::time::Instant::now();
        if now >= deadline {
            return batch;
        }
        idle::wait(deadline - now);
    }
}

/// Runs `write` until it succeeds, [`COMMIT_ATTEMPTS`] times at most with a
/// growing pause between attempts. False, with the store marked failed, if
/// it never does.
fn with_retries<E: std::fmt::Display>(
    what: &str,
    writes: usize,
    durable: &Durability,
    mut write: impl FnMut() -> Result<(), E>,
) -> bool {
    let mut attempt = 1;
    while let Err(error) = write() {
        if attempt >= COMMIT_ATTEMPTS {
            tracing::error!(error = %error, writes, "{what} failed for good; refusing writes");
            durable.failed.store(true, Ordering::SeqCst);
            return false;
        }
        tracing::warn!(error = %error, attempt, "{what} failed; retrying");
        std::thread::sleep(std::time::Duration::from_millis(25 << attempt));
        attempt += 1;
    }
    true
}

/// A slot in the batch with more places booked than it has.
fn overbooked<'a>(writes: &[&'a Write]) -> Option<&'a Slot> {
    writes.iter().find_map(|write| match write {
        Write::Changes(changes) => changes.iter().find_map(|change| match change {
            Change::Slot(slot) if slot.booked > slot.capacity => Some(slot),
            _ => None,
        }),
        Write::Account(_) => None,
    })
}

/// Closes [`Durability`] when the writer thread ends; a panic counts as failed.
struct CloseOnExit<'a>(&'a Durability);

impl Drop for CloseOnExit<'_> {
    fn drop(&mut self) {
        let failed = self.0.failed.load(Ordering::SeqCst) || std::thread::panicking();
        self.0.close(failed);
    }
}

/// Stored slot counters are a convenience for readers of the file; bookings
/// are the truth. Say so loudly if they ever disagree.
fn warn_on_counter_drift(ledger: &Ledger, changes: &[Change]) {
    for change in changes {
        if let Change::Slot(stored) = change
            && let Some(actual) = ledger.slot(&stored.id)
            && (actual.booked != stored.booked || actual.waitlisted != stored.waitlisted)
        {
            tracing::warn!(slot = %stored.id, stored = stored.booked, actual = actual.booked, "slot counters drifted; using the bookings");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait_for(durability: &Durability, lsn: u64) -> oneshot::Receiver<bool> {
        let (request, durable) = oneshot::channel();
        durability.waiting().requests.push((lsn, request));
        durable
    }

    #[test]
    fn a_journal_that_does_not_continue_its_database_file_stops_the_start_with_a_reason() -> anyhow::Result<()>
    {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("gym.sqlite");
        let mut conn = sqlite::open(&path)?;
        let (journal_id, applied) = sqlite::journal_state(&conn)?;
        assert_eq!(applied, 0);
        // Writes 5 and 6 are journaled, but nothing says where 1 to 4 went.
        let write = Write::Changes(vec![Change::Slot(crate::store::fixtures::slot(0))]);
        Journal::open(&journal::path_for(&path), journal_id)?.append(5, &[&write, &write])?;

        let refused =
            replay_journal(&mut conn, &journal::path_for(&path)).err().map(|error| error.to_string());
        assert!(
            refused.as_deref().is_some_and(|error| error.contains("skips from LSN 0 to 5")),
            "{refused:?}"
        );
        Ok(())
    }

    #[test]
    fn a_batch_with_a_slot_booked_beyond_its_capacity_is_caught_before_it_is_journaled() {
        use crate::store::fixtures::slot;
        let full = Write::Changes(vec![Change::Slot(slot(10))]);
        let over = Write::Changes(vec![Change::Slot(slot(11))]);
        assert!(overbooked(&[&full]).is_none(), "full is fine");
        assert_eq!(overbooked(&[&full, &over]).map(|slot| slot.booked), Some(11));
    }

    #[test]
    fn a_commit_wakes_only_the_requests_it_made_durable() {
        let durability = Durability::default();
        let mut first = wait_for(&durability, 3);
        let mut later = wait_for(&durability, 7);
        let mut earlier = wait_for(&durability, 1);
        durability.committed(3);
        assert_eq!(first.try_recv(), Ok(true));
        assert_eq!(earlier.try_recv(), Ok(true));
        assert!(later.try_recv().is_err(), "LSN 7 is not durable yet");
        assert_eq!(durability.waiting().lsn, 3);
        durability.committed(7);
        assert_eq!(later.try_recv(), Ok(true));
    }

    #[test]
    fn a_commit_wakes_its_requests_inside_their_runtime_and_still_after_it_stopped() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        let durability =
            Arc::new(Durability { runtime: Some(runtime.handle().clone()), ..Durability::default() });
        let waiting = wait_for(&durability, 2);
        let writer = Arc::clone(&durability);
        std::thread::spawn(move || writer.committed(2)).join().expect("the commit thread");
        assert_eq!(runtime.block_on(waiting), Ok(true));

        // A runtime that has stopped drops the waking task unrun: dropping wakes.
        let mut waiting = wait_for(&durability, 3);
        drop(runtime);
        durability.committed(3);
        assert_eq!(waiting.try_recv(), Ok(true));
    }

    #[test]
    fn a_writer_that_ends_tells_everyone_still_waiting_and_a_panic_counts_as_failed() {
        let durability = Durability::default();
        let mut waiting = wait_for(&durability, 5);
        let ended = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let _close = CloseOnExit(&durability);
                    panic!("the writer crashed");
                })
                .join()
        });
        assert!(ended.is_err());
        assert_eq!(waiting.try_recv(), Ok(false));
        assert!(durability.failed.load(Ordering::SeqCst));
        assert!(durability.waiting().closed);
    }
}
