//! The commit journal: the embedded store's group commit, in front of SQLite.
//!
//! A write is durable once its record is in this file. Each group commit is
//! one record, written with one system call into space allocated ahead of
//! time, through `O_DIRECT | O_DSYNC` where the file system allows it: the
//! disk sees one data write and one cache flush, with no page-cache
//! writeback and no file-size metadata to write. (A SQLite commit of the
//! same writes took ~9 writes into its WAL, a writeback of its dirty pages
//! and, every few milliseconds, an inode write: about twice the CPU per
//! commit, all of it on the core that answers requests.)
//!
//! SQLite stays the store. A thread of its own applies journaled writes to it
//! in one transaction every few tens of milliseconds ([`crate::store::sqlite::commit`]),
//! recording the last LSN applied in that same transaction, and starts the
//! journal over from its beginning once everything in it is applied. When a
//! server starts, records past the applied LSN are replayed into SQLite
//! before anything is loaded, so a `kill -9` between a commit and its apply
//! loses nothing.
//!
//! ## Records
//! Every record starts on a 4 KiB boundary and is padded to one:
//!
//! | bytes | field |
//! |---|---|
//! | 4 | magic `GYMJ` |
//! | 2 | format version (1) |
//! | 2 | reserved (0) |
//! | 8 | journal id: ties the file to its database (`journal` table) |
//! | 8 | LSN of the first write; the others follow one by one |
//! | 4 | number of writes |
//! | 4 | payload length |
//! | 4 | CRC-32 of the header (this field as 0) and the payload |
//!
//! Integers are little-endian; the payload is the writes, encoded as below.
//! Reading stops at the first record that is not whole and valid, or whose
//! first LSN does not follow the previous record's last: that is where the
//! last commit ended (a torn record was never acknowledged), and anything
//! after it is from an earlier pass through the file, whose LSNs are lower.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use chrono::{DateTime, Duration, Utc};
use gym_core::ledger::{Change, GymRecord};
use gym_core::time::parse_timezone;
use gym_core::wire::{Booking, BookingStatus, Gym, Member, Role, Slot};
use gym_core::{BookingId, GymId, MemberId, SlotId};

use crate::store::Account;
use crate::store::sqlite::Write;

/// Records start on, and are padded to, this boundary (a multiple of every
/// logical block size `O_DIRECT` may ask for).
const BLOCK: usize = 4096;
const MAGIC: [u8; 4] = *b"GYMJ";
const VERSION: u16 = 1;
const HEADER_LEN: usize = 36;
/// Where the CRC sits in the header.
const CRC_AT: usize = 32;
/// How the journal is opened for commits: each write returns once it is on
/// disk, bypassing the page cache where the platform has direct I/O.
#[cfg(target_os = "linux")]
const SYNC_FLAGS: libc::c_int = libc::O_DIRECT | libc::O_DSYNC;
#[cfg(not(target_os = "linux"))]
const SYNC_FLAGS: libc::c_int = libc::O_DSYNC;
/// The file grows by at least this much at a time, zero-filled and synced
/// once, so that commits never change its size.
const GROW_BY: u64 = 1 << 20;

/// The journal file next to a database file.
pub fn path_for(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push("-commits");
    PathBuf::from(name)
}

/// One commit read back: the LSN of its first write, and its writes in order.
pub struct Record {
    /// LSN of `writes[0]`; the rest follow one by one.
    pub first_lsn: u64,
    /// The writes of one group commit.
    pub writes: Vec<Write>,
}

/// The journal, open for appending.
pub struct Journal {
    file: File,
    /// Opened with `O_DIRECT | O_DSYNC`: a write returns once it is on disk.
    /// Otherwise (a file system without direct I/O, such as tmpfs) each
    /// write is followed by `fdatasync`.
    synchronous_writes: bool,
    id: u64,
    /// Where the next record goes.
    position: u64,
    /// The file's size: bytes allocated and zero-filled or written.
    allocated: u64,
    /// The record being encoded.
    scratch: Vec<u8>,
    /// The record as written: aligned for `O_DIRECT`.
    out: Aligned,
}

impl Journal {
    /// Opens (creating if needed) the journal for appending from its start.
    /// Call only once every record in it is applied (see [`recover`]).
    pub fn open(path: &Path, id: u64) -> anyhow::Result<Self> {
        let direct = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .custom_flags(SYNC_FLAGS)
            .open(path);
        let (file, synchronous_writes) = match direct {
            Ok(file) => (file, true),
            // EINVAL: this file system does not do direct I/O.
            Err(error) if error.raw_os_error() == Some(libc::EINVAL) => {
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(path)
                    .with_context(|| format!("opening {}", path.display()))?;
                (file, false)
            }
            Err(error) => return Err(error).with_context(|| format!("opening {}", path.display())),
        };
        let size = file.metadata().with_context(|| format!("reading the size of {}", path.display()))?.len();
        let mut journal = Self {
            file,
            synchronous_writes,
            id,
            position: 0,
            allocated: size - size % BLOCK as u64,
            scratch: Vec::with_capacity(BLOCK),
            out: Aligned::new(BLOCK),
        };
        // Without an aligned buffer, direct I/O is not possible: write
        // through the page cache and sync instead.
        if journal.synchronous_writes && !journal.out.aligned() {
            journal.file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .with_context(|| format!("reopening {}", path.display()))?;
            journal.synchronous_writes = false;
        }
        Ok(journal)
    }

    /// Bytes written since the journal (re)started from its beginning.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Starts over from the beginning of the file. Only once every write
    /// in it is durably applied to SQLite: the next records overwrite them.
    pub fn rewind(&mut self) {
        self.position = 0;
    }

    /// Makes `writes` (LSNs `first_lsn`, `first_lsn + 1`, …) durable: when
    /// this returns `Ok`, the record is on disk.
    pub fn append(&mut self, first_lsn: u64, writes: &[&Write]) -> io::Result<()> {
        self.scratch.clear();
        self.scratch.resize(HEADER_LEN, 0);
        for write in writes {
            encode_write(&mut self.scratch, write);
        }
        let payload_len = self.scratch.len() - HEADER_LEN;
        let header = &mut self.scratch[..HEADER_LEN];
        header[0..4].copy_from_slice(&MAGIC);
        header[4..6].copy_from_slice(&VERSION.to_le_bytes());
        header[8..16].copy_from_slice(&self.id.to_le_bytes());
        header[16..24].copy_from_slice(&first_lsn.to_le_bytes());
        header[24..28].copy_from_slice(&len_u32(writes.len())?.to_le_bytes());
        header[28..32].copy_from_slice(&len_u32(payload_len)?.to_le_bytes());
        let crc = crc32fast::hash(&self.scratch);
        self.scratch[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_le_bytes());

        let padded = self.scratch.len().next_multiple_of(BLOCK);
        let out = self.out.slice(padded);
        out[..self.scratch.len()].copy_from_slice(&self.scratch);
        out[self.scratch.len()..].fill(0);
        let end = self.position + padded as u64;
        if end > self.allocated {
            self.grow(end)?;
        }
        self.file.write_all_at(self.out.slice(padded), self.position)?;
        if !self.synchronous_writes {
            self.file.sync_data()?;
        }
        self.position = end;
        Ok(())
    }

    /// Zero-fills the file up to at least `end` and syncs its new size, so
    /// that commits write only data.
    fn grow(&mut self, end: u64) -> io::Result<()> {
        let target = end.max(self.allocated + GROW_BY).next_multiple_of(GROW_BY);
        let mut zeros = Aligned::new(GROW_BY as usize);
        while self.allocated < target {
            let chunk = (target - self.allocated).min(GROW_BY) as usize;
            self.file.write_all_at(zeros.slice(chunk), self.allocated)?;
            self.allocated += chunk as u64;
        }
        self.file.sync_all()
    }
}

/// Reads every record of the journal at `path` that belongs to database
/// `id`, in order, up to where the last commit ended. A missing file is an
/// empty journal.
pub fn recover(path: &Path, id: u64) -> anyhow::Result<Vec<Record>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error).with_context(|| format!("reading {}", path.display())),
    };
    let mut records = Vec::new();
    let mut at = 0;
    let mut next_lsn = None;
    while let Some((record, len)) = read_record(bytes.get(at..).unwrap_or_default(), id)? {
        if next_lsn.is_some_and(|next| record.first_lsn != next) {
            break;
        }
        next_lsn = Some(record.first_lsn.saturating_add(record.writes.len() as u64));
        records.push(record);
        at += len;
    }
    Ok(records)
}

/// The record at the start of `bytes` and its padded length; `None` where
/// the journal ends (zeros, a torn or foreign record). A whole record whose
/// CRC matches but whose payload does not decode is an error: that is not a
/// torn write but a bug or a damaged disk, and replaying around it would
/// lose acknowledged writes.
fn read_record(bytes: &[u8], id: u64) -> anyhow::Result<Option<(Record, usize)>> {
    let Some(header) = bytes.get(..HEADER_LEN) else { return Ok(None) };
    let field = |from: usize, to: usize| &header[from..to];
    let u64_at = |from: usize| u64::from_le_bytes(field(from, from + 8).try_into().unwrap_or_default());
    let u32_at = |from: usize| u32::from_le_bytes(field(from, from + 4).try_into().unwrap_or_default());
    if field(0, 4) != MAGIC || u64_at(8) != id {
        return Ok(None);
    }
    let version = u16::from_le_bytes([header[4], header[5]]);
    if version != VERSION {
        bail!("the commit journal has format version {version}; this server reads version {VERSION}");
    }
    let (first_lsn, count, payload_len) = (u64_at(16), u32_at(24), u32_at(28) as usize);
    let Some(record) = bytes.get(..HEADER_LEN + payload_len) else { return Ok(None) };
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&record[..CRC_AT]);
    hasher.update(&[0; 4]);
    hasher.update(&record[CRC_AT + 4..]);
    if hasher.finalize() != u32_at(CRC_AT) {
        return Ok(None);
    }
    let mut reader = Reader { bytes: &record[HEADER_LEN..] };
    let writes = (0..count)
        .map(|_| decode_write(&mut reader))
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("decoding the commit journal's record of LSN {first_lsn}"))?;
    if !reader.bytes.is_empty() {
        bail!("the commit journal's record of LSN {first_lsn} has {} bytes too many", reader.bytes.len());
    }
    Ok(Some((Record { first_lsn, writes }, record.len().next_multiple_of(BLOCK))))
}

fn len_u32(len: usize) -> io::Result<u32> {
    u32::try_from(len)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a commit too large to journal"))
}

/// A buffer whose start is aligned to [`BLOCK`], as `O_DIRECT` requires,
/// carved out of a plain `Vec` (no unsafe code).
struct Aligned {
    raw: Vec<u8>,
    /// Offset of the aligned start in `raw`; `None` if it cannot be found.
    start: Option<usize>,
}

impl Aligned {
    fn new(capacity: usize) -> Self {
        let raw = vec![0; capacity + BLOCK];
        let start = Some(raw.as_ptr().align_offset(BLOCK)).filter(|offset| *offset < BLOCK);
        Self { raw, start }
    }

    fn aligned(&self) -> bool {
        self.start.is_some()
    }

    /// The first `len` bytes from the aligned start, growing as needed.
    fn slice(&mut self, len: usize) -> &mut [u8] {
        if self.raw.len() < len + BLOCK {
            *self = Self::new(len.next_multiple_of(BLOCK) * 2);
        }
        let start = self.start.unwrap_or(0);
        &mut self.raw[start..start + len]
    }
}

// ---- encoding ----------------------------------------------------------

const WRITE_CHANGES: u8 = 1;
const WRITE_ACCOUNT: u8 = 2;
const CHANGE_GYM: u8 = 1;
const CHANGE_SLOT: u8 = 2;
const CHANGE_BOOKING: u8 = 3;
const CHANGE_IDEMPOTENCY: u8 = 4;

fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_i64(out: &mut Vec<u8>, value: i64) {
    out.extend_from_slice(&value.to_le_bytes());
}

/// A string as its length (u32) and its bytes. Every string here is bounded
/// far below 4 GiB by validation; a longer one is cut rather than panicking.
fn put_str(out: &mut Vec<u8>, text: &str) {
    let len = u32::try_from(text.len()).unwrap_or(u32::MAX);
    put_u32(out, len);
    out.extend_from_slice(&text.as_bytes()[..len as usize]);
}

fn encode_write(out: &mut Vec<u8>, write: &Write) {
    match write {
        Write::Changes(changes) => {
            out.push(WRITE_CHANGES);
            put_u32(out, u32::try_from(changes.len()).unwrap_or(u32::MAX));
            for change in changes.iter().take(u32::MAX as usize) {
                encode_change(out, change);
            }
        }
        Write::Account(account) => {
            out.push(WRITE_ACCOUNT);
            put_str(out, account.member.id.as_str());
            put_str(out, &account.member.email);
            put_str(out, &account.member.name);
            put_str(out, &account.password_hash);
            out.push(match account.role {
                Role::Member => 0,
                Role::Operator => 1,
            });
        }
    }
}

fn encode_change(out: &mut Vec<u8>, change: &Change) {
    match change {
        Change::Gym(record) => {
            out.push(CHANGE_GYM);
            put_str(out, record.gym.id.as_str());
            put_str(out, &record.gym.name);
            put_str(out, &record.gym.timezone);
            put_str(out, &record.gym.address);
            put_i64(out, record.booking_window.num_seconds());
        }
        Change::Slot(slot) => {
            out.push(CHANGE_SLOT);
            put_str(out, slot.id.as_str());
            put_str(out, slot.gym_id.as_str());
            put_str(out, &slot.title);
            put_i64(out, slot.starts_at.timestamp_millis());
            put_i64(out, slot.ends_at.timestamp_millis());
            put_u32(out, slot.capacity);
            put_u32(out, slot.booked);
            put_u32(out, slot.waitlisted);
        }
        Change::Booking { booking, seq } => {
            out.push(CHANGE_BOOKING);
            put_str(out, booking.id.as_str());
            put_str(out, booking.slot_id.as_str());
            put_str(out, booking.member_id.as_str());
            put_str(out, booking.status.as_str());
            put_i64(out, booking.created_at.timestamp_millis());
            put_u64(out, *seq);
        }
        Change::Idempotency { member_id, key, result } => {
            out.push(CHANGE_IDEMPOTENCY);
            put_str(out, member_id.as_str());
            put_str(out, key);
            // Stored as the JSON SQLite keeps too; encoding a result cannot fail.
            put_str(out, &serde_json::to_string(result).unwrap_or_default());
        }
    }
}

/// Decoding failures: the payload does not say what the encoder wrote.
#[derive(Debug, thiserror::Error)]
enum Corrupt {
    #[error("the record ends early")]
    Short,
    #[error("unknown {what} tag {tag}")]
    Tag { what: &'static str, tag: u8 },
    #[error("{0}")]
    Value(String),
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], Corrupt> {
        if self.bytes.len() < len {
            return Err(Corrupt::Short);
        }
        let (taken, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(taken)
    }

    fn u8(&mut self) -> Result<u8, Corrupt> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, Corrupt> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().map_err(|_| Corrupt::Short)?))
    }

    fn u64(&mut self) -> Result<u64, Corrupt> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().map_err(|_| Corrupt::Short)?))
    }

    fn i64(&mut self) -> Result<i64, Corrupt> {
        Ok(i64::from_le_bytes(self.take(8)?.try_into().map_err(|_| Corrupt::Short)?))
    }

    fn str(&mut self) -> Result<&'a str, Corrupt> {
        let len = self.u32()? as usize;
        std::str::from_utf8(self.take(len)?).map_err(|_| Corrupt::Value("a string is not UTF-8".into()))
    }

    fn string(&mut self) -> Result<String, Corrupt> {
        self.str().map(str::to_owned)
    }

    fn instant(&mut self) -> Result<DateTime<Utc>, Corrupt> {
        let ms = self.i64()?;
        DateTime::from_timestamp_millis(ms).ok_or_else(|| Corrupt::Value(format!("time {ms} out of range")))
    }
}

fn decode_write(reader: &mut Reader<'_>) -> Result<Write, Corrupt> {
    match reader.u8()? {
        WRITE_CHANGES => {
            let count = reader.u32()?;
            // Each change takes at least a tag byte: never reserve for more
            // than the record can hold.
            let mut changes = Vec::with_capacity((count as usize).min(reader.bytes.len()));
            for _ in 0..count {
                changes.push(decode_change(reader)?);
            }
            Ok(Write::Changes(changes))
        }
        WRITE_ACCOUNT => Ok(Write::Account(Account {
            member: Member {
                id: MemberId::new(reader.str()?),
                email: reader.string()?,
                name: reader.string()?,
            },
            password_hash: reader.string()?,
            role: match reader.u8()? {
                0 => Role::Member,
                1 => Role::Operator,
                tag => return Err(Corrupt::Tag { what: "role", tag }),
            },
        })),
        tag => Err(Corrupt::Tag { what: "write", tag }),
    }
}

fn decode_change(reader: &mut Reader<'_>) -> Result<Change, Corrupt> {
    match reader.u8()? {
        CHANGE_GYM => {
            let gym = Gym {
                id: GymId::new(reader.str()?),
                name: reader.string()?,
                timezone: reader.string()?,
                address: reader.string()?,
            };
            let tz = parse_timezone(&gym.timezone)
                .ok_or_else(|| Corrupt::Value(format!("unknown time zone {:?}", gym.timezone)))?;
            let booking_window = Duration::try_seconds(reader.i64()?)
                .ok_or_else(|| Corrupt::Value("booking window out of range".into()))?;
            Ok(Change::Gym(GymRecord { gym, tz, booking_window }))
        }
        CHANGE_SLOT => {
            let id = SlotId::new(reader.str()?);
            let gym_id = GymId::new(reader.str()?);
            let title = reader.string()?;
            let (starts_at, ends_at) = (reader.instant()?, reader.instant()?);
            let (capacity, booked, waitlisted) = (reader.u32()?, reader.u32()?, reader.u32()?);
            Ok(Change::Slot(Slot {
                id,
                gym_id,
                title,
                starts_at,
                ends_at,
                capacity,
                booked,
                available: capacity.saturating_sub(booked),
                waitlisted,
            }))
        }
        CHANGE_BOOKING => {
            let id = BookingId::new(reader.str()?);
            let slot_id = SlotId::new(reader.str()?);
            let member_id = MemberId::new(reader.str()?);
            let status = reader.str()?;
            let status = BookingStatus::parse(status)
                .ok_or_else(|| Corrupt::Value(format!("unknown booking status {status:?}")))?;
            let created_at = reader.instant()?;
            let seq = reader.u64()?;
            Ok(Change::Booking {
                booking: Booking { id, slot_id, member_id, status, created_at, waitlist_position: None },
                seq,
            })
        }
        CHANGE_IDEMPOTENCY => {
            let member_id = MemberId::new(reader.str()?);
            let key: Arc<str> = Arc::from(reader.str()?);
            let result = serde_json::from_str(reader.str()?)
                .map_err(|error| Corrupt::Value(format!("an idempotent answer: {error}")))?;
            Ok(Change::Idempotency { member_id, key, result: Box::new(result) })
        }
        tag => Err(Corrupt::Tag { what: "change", tag }),
    }
}

#[cfg(test)]
mod tests {
    use gym_core::wire::BookingResult;
    use proptest::prelude::*;

    use super::*;

    const ID: u64 = 0x5eed;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(ms).unwrap_or_default()
    }

    fn slot(booked: u32) -> Slot {
        Slot {
            id: SlotId::new("slot_a"),
            gym_id: GymId::new("gym_a"),
            title: "Spin — 45′".into(),
            starts_at: at(1_893_520_800_000),
            ends_at: at(1_893_524_400_000),
            capacity: 30,
            booked,
            available: 30 - booked,
            waitlisted: 2,
        }
    }

    fn booking(n: u64, status: BookingStatus) -> Booking {
        Booking {
            id: BookingId::new(format!("bkg_{n}")),
            slot_id: SlotId::new("slot_a"),
            member_id: MemberId::new(format!("mbr_{n}")),
            status,
            created_at: at(1_893_400_000_123),
            waitlist_position: None,
        }
    }

    /// One write of every kind the store makes.
    fn every_kind() -> Vec<Write> {
        let gym = GymRecord {
            gym: Gym {
                id: GymId::new("gym_a"),
                name: "Downtown".into(),
                timezone: "Europe/Berlin".into(),
                address: "Street 1".into(),
            },
            tz: chrono_tz::Europe::Berlin,
            booking_window: Duration::days(14),
        };
        let result = BookingResult { booking: booking(1, BookingStatus::Confirmed), slot: slot(1) };
        vec![
            Write::Changes(vec![Change::Gym(gym), Change::Slot(slot(0))]),
            Write::Changes(vec![
                Change::Booking { booking: booking(1, BookingStatus::Confirmed), seq: 1 },
                Change::Slot(slot(1)),
                Change::Idempotency {
                    member_id: MemberId::new("mbr_1"),
                    key: Arc::from("key-1"),
                    result: Box::new(result),
                },
            ]),
            Write::Changes(vec![Change::Booking { booking: booking(2, BookingStatus::Waitlisted), seq: 2 }]),
            Write::Account(Account {
                member: Member { id: MemberId::new("mbr_1"), email: "a@b.c".into(), name: "Ann".into() },
                password_hash: "$argon2id$v=19$...".into(),
                role: Role::Operator,
            }),
            Write::Changes(Vec::new()),
        ]
    }

    /// [`every_kind`], one write per record.
    fn one_write_per_record() -> Vec<Vec<Write>> {
        every_kind().into_iter().map(|write| vec![write]).collect()
    }

    fn bytes_of(writes: &[Write]) -> Vec<u8> {
        let mut out = Vec::new();
        for write in writes {
            encode_write(&mut out, write);
        }
        out
    }

    /// Appends one record per batch, LSNs from `first_lsn` on.
    fn journal_with(path: &Path, first_lsn: u64, batches: &[Vec<Write>]) -> Journal {
        let mut journal = Journal::open(path, ID).expect("a journal");
        let mut lsn = first_lsn;
        for batch in batches {
            let writes: Vec<&Write> = batch.iter().collect();
            journal.append(lsn, &writes).expect("appended");
            lsn += batch.len() as u64;
        }
        journal
    }

    fn lsns(records: &[Record]) -> Vec<(u64, usize)> {
        records.iter().map(|record| (record.first_lsn, record.writes.len())).collect()
    }

    #[test]
    fn every_kind_of_write_comes_back_as_it_was_written() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = path_for(&dir.path().join("gym.sqlite"));
        let mut first = every_kind();
        let second = first.split_off(3);
        journal_with(&path, 1, &[first, second]);

        let records = recover(&path, ID)?;
        assert_eq!(lsns(&records), [(1, 3), (4, 2)]);
        let back: Vec<Write> = records.into_iter().flat_map(|record| record.writes).collect();
        assert_eq!(bytes_of(&back), bytes_of(&every_kind()));
        // Times are kept to the millisecond, as SQLite keeps them.
        let Write::Changes(changes) = &back[1] else { panic!("changes") };
        assert_eq!(changes[0], Change::Booking { booking: booking(1, BookingStatus::Confirmed), seq: 1 });
        Ok(())
    }

    #[test]
    fn a_torn_record_ends_the_journal_and_so_does_a_cut_file() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = path_for(&dir.path().join("gym.sqlite"));
        let batches = one_write_per_record();
        journal_with(&path, 1, &batches[..3]);
        assert_eq!(lsns(&recover(&path, ID)?), [(1, 1), (2, 1), (3, 1)]);

        // One byte of the third record's payload changed: its CRC fails.
        let mut bytes = std::fs::read(&path)?;
        bytes[2 * BLOCK + HEADER_LEN + 3] ^= 0x40;
        std::fs::write(&path, &bytes)?;
        assert_eq!(lsns(&recover(&path, ID)?), [(1, 1), (2, 1)]);

        // The file cut inside the second record.
        std::fs::write(&path, &bytes[..BLOCK + HEADER_LEN + 2])?;
        assert_eq!(lsns(&recover(&path, ID)?), [(1, 1)]);
        Ok(())
    }

    #[test]
    fn after_a_rewind_the_older_records_further_on_are_not_replayed() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = path_for(&dir.path().join("gym.sqlite"));
        let batches = one_write_per_record();
        let mut journal = journal_with(&path, 1, &batches);
        journal.rewind();
        let next: Vec<&Write> = batches[0].iter().collect();
        journal.append(6, &next)?;

        assert_eq!(lsns(&recover(&path, ID)?), [(6, 1)]);
        Ok(())
    }

    #[test]
    fn a_missing_journal_and_another_databases_journal_are_empty() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = path_for(&dir.path().join("gym.sqlite"));
        assert!(recover(&path, ID)?.is_empty());
        journal_with(&path, 1, &[every_kind()]);
        assert!(recover(&path, ID + 1)?.is_empty());
        Ok(())
    }

    #[test]
    fn a_whole_record_that_does_not_decode_is_an_error_not_the_end() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = path_for(&dir.path().join("gym.sqlite"));
        // A record with a valid CRC around a write of unknown kind 9.
        let mut record = vec![0; HEADER_LEN];
        record[0..4].copy_from_slice(&MAGIC);
        record[4..6].copy_from_slice(&VERSION.to_le_bytes());
        record[8..16].copy_from_slice(&ID.to_le_bytes());
        record[16..24].copy_from_slice(&1_u64.to_le_bytes());
        record[24..28].copy_from_slice(&1_u32.to_le_bytes());
        record[28..32].copy_from_slice(&1_u32.to_le_bytes());
        record.push(9);
        let crc = crc32fast::hash(&record);
        record[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_le_bytes());
        std::fs::write(&path, &record)?;

        let error = recover(&path, ID).err().map(|error| format!("{error:#}"));
        assert!(error.as_deref().is_some_and(|error| error.contains("unknown write tag 9")), "{error:?}");
        Ok(())
    }

    /// An I/O failure inside a property fails the case.
    fn case<T>(result: io::Result<T>) -> Result<T, TestCaseError> {
        result.map_err(|error| TestCaseError::fail(error.to_string()))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever a journal file holds, reading it never panics.
        #[test]
        fn any_bytes_read_as_a_journal_without_panicking(
            mut bytes in proptest::collection::vec(any::<u8>(), 0..2 * BLOCK),
            magic_at_start in any::<bool>(),
        ) {
            if magic_at_start && bytes.len() >= 16 {
                bytes[0..4].copy_from_slice(&MAGIC);
                bytes[4..6].copy_from_slice(&VERSION.to_le_bytes());
                bytes[8..16].copy_from_slice(&ID.to_le_bytes());
            }
            let dir = case(tempfile::tempdir())?;
            let path = dir.path().join("journal");
            case(std::fs::write(&path, &bytes))?;
            let _ = recover(&path, ID);
        }

        /// A journal cut anywhere gives back the records before the cut.
        #[test]
        fn a_journal_cut_anywhere_gives_back_the_records_before_the_cut(cut in 0..5 * BLOCK) {
            let dir = case(tempfile::tempdir())?;
            let path = path_for(&dir.path().join("gym.sqlite"));
            let batches = one_write_per_record();
            journal_with(&path, 1, &batches);
            let bytes = case(std::fs::read(&path))?;
            case(std::fs::write(&path, &bytes[..cut]))?;
            let records = recover(&path, ID).map_err(|error| TestCaseError::fail(format!("{error:#}")))?;
            // Each record fits in one block; it is whole once its bytes
            // (not its padding) are in.
            let whole = batches
                .iter()
                .enumerate()
                .take_while(|(n, batch)| n * BLOCK + HEADER_LEN + bytes_of(batch).len() <= cut)
                .count();
            prop_assert_eq!(records.len(), whole);
        }
    }
}
