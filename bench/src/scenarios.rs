//! The load scenarios. Each verifies what it measures and fails loudly on
//! any overbooking, lost `201` or unexpected answer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use api_stub::auth::JwtKeys;
use chrono::Utc;
use gym_core::wire::{Claims, Role};
use rand::Rng;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Mutex;

use crate::http::Connection;
use crate::stats::{Percentiles, percentiles};

/// A server to load, and how to mint tokens it accepts.
#[derive(Clone)]
pub struct Target {
    /// Where it listens.
    pub address: SocketAddr,
    keys: Arc<JwtKeys>,
}

impl Target {
    /// A target signing tokens with `secret`.
    pub fn new(address: SocketAddr, secret: &str) -> Self {
        Self { address, keys: Arc::new(JwtKeys::new(secret.as_bytes())) }
    }

    /// A token for a member or operator, valid for an hour.
    pub fn token(&self, member: &str, role: Role) -> String {
        let claims = Claims { sub: member.into(), exp: Utc::now().timestamp() + 3_600, role, name: None };
        self.keys.sign(&claims)
    }

    /// The id of the first gym the server lists.
    pub async fn first_gym(&self) -> anyhow::Result<String> {
        let mut connection = Connection::open(self.address).await?;
        let answer = connection.send("GET", "/v1/gyms", None, None).await?;
        ensure!(answer.status == 200, "GET /v1/gyms answered {}", answer.status);
        let gyms: serde_json::Value = serde_json::from_slice(&answer.body)?;
        gyms[0]["id"].as_str().map(str::to_owned).context("the server lists no gym")
    }

    /// Creates slots in a gym (as an operator) starting a day from now.
    pub async fn create_slots(&self, gym: &str, count: usize, capacity: u32) -> anyhow::Result<Vec<String>> {
        let mut connection = Connection::open(self.address).await?;
        let operator = self.token("mbr_bench_operator", Role::Operator);
        let mut ids = Vec::with_capacity(count);
        for n in 0..count {
            let starts_at = Utc::now() + chrono::Duration::hours(24) + chrono::Duration::minutes(n as i64);
            let body = serde_json::json!({
                "title": format!("Bench class {n}"),
                "startsAt": starts_at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                "endsAt": (starts_at + chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                "capacity": capacity,
            })
            .to_string();
            let answer = connection
                .send("POST", &format!("/v1/gyms/{gym}/slots"), Some(&operator), Some(&body))
                .await?;
            ensure!(
                answer.status == 201,
                "creating a slot answered {}: {}",
                answer.status,
                String::from_utf8_lossy(&answer.body)
            );
            let slot: serde_json::Value = serde_json::from_slice(&answer.body)?;
            ids.push(slot["id"].as_str().context("a slot without id")?.to_owned());
        }
        Ok(ids)
    }

    /// A slot's confirmed bookings, as the server reports them.
    pub async fn booked(&self, slot: &str) -> anyhow::Result<u64> {
        let mut connection = Connection::open(self.address).await?;
        let answer = connection.send("GET", &format!("/v1/slots/{slot}"), None, None).await?;
        ensure!(answer.status == 200, "GET slot answered {}", answer.status);
        let slot: serde_json::Value = serde_json::from_slice(&answer.body)?;
        slot["booked"].as_u64().context("a slot without booked")
    }
}

/// `rush`: every member asks for one place of one slot at the same moment.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct RushConfig {
    /// Members rushing.
    pub members: usize,
    /// Places.
    pub capacity: u32,
    /// Requests in flight (open connections).
    pub in_flight: usize,
}

/// What a rush measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RushResult {
    /// `201` answers.
    pub created: usize,
    /// `409 slot_full` answers.
    pub full: usize,
    /// Latency of each request, from sending to answer.
    pub latency: Percentiles,
    /// Each member's wait, from the release to their answer.
    pub wait: Percentiles,
    /// Wall time of the whole rush, seconds.
    pub seconds: f64,
}

/// Runs a rush and verifies exactly `capacity` places were handed out.
pub async fn rush(target: &Target, config: RushConfig) -> anyhow::Result<RushResult> {
    let gym = target.first_gym().await?;
    let slot = target.create_slots(&gym, 1, config.capacity).await?.remove(0);
    let path = Arc::new(format!("/v1/slots/{slot}/bookings"));
    let tokens: Arc<Vec<String>> =
        Arc::new((0..config.members).map(|n| target.token(&format!("mbr_rush_{n}"), Role::Member)).collect());
    let mut connections = Vec::with_capacity(config.in_flight);
    for _ in 0..config.in_flight {
        connections.push(Connection::open(target.address).await?);
    }
    let next = Arc::new(AtomicUsize::new(0));
    let outcomes = Arc::new(Mutex::new(Vec::with_capacity(config.members)));
    let released = Instant::now();
    let workers: Vec<_> = connections
        .into_iter()
        .map(|mut connection| {
            let (next, tokens, path, outcomes) =
                (next.clone(), tokens.clone(), path.clone(), outcomes.clone());
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let member = next.fetch_add(1, Ordering::Relaxed);
                    let Some(token) = tokens.get(member) else { break };
                    let sent = Instant::now();
                    let answer = connection.send("POST", &path, Some(token), None).await?;
                    let done = Instant::now();
                    mine.push((
                        answer.status,
                        (done - sent).as_micros() as u64,
                        (done - released).as_micros() as u64,
                    ));
                }
                outcomes.lock().await.extend(mine);
                anyhow::Ok(())
            })
        })
        .collect();
    for worker in workers {
        worker.await.context("a rush worker panicked")??;
    }
    let seconds = released.elapsed().as_secs_f64();
    let outcomes = outcomes.lock().await;
    let created = outcomes.iter().filter(|(status, _, _)| *status == 201).count();
    let full = outcomes.iter().filter(|(status, _, _)| *status == 409).count();
    ensure!(
        outcomes.len() == config.members,
        "{} of {} members got an answer",
        outcomes.len(),
        config.members
    );
    let expected = config.members.min(config.capacity as usize);
    ensure!(created == expected, "OVERBOOKING OR LOST PLACES: {created} places handed out for {expected}");
    ensure!(
        created + full == config.members,
        "unexpected answers: {} neither 201 nor 409",
        config.members - created - full
    );
    let booked = target.booked(&slot).await?;
    ensure!(
        booked as usize == created,
        "LOST 201s: the slot says {booked} booked after {created} answers of 201"
    );
    let mut latencies: Vec<u64> = outcomes.iter().map(|(_, latency, _)| *latency).collect();
    let mut waits: Vec<u64> = outcomes.iter().map(|(_, _, wait)| *wait).collect();
    Ok(RushResult {
        created,
        full,
        latency: percentiles(&mut latencies),
        wait: percentiles(&mut waits),
        seconds,
    })
}

/// `sustained`: random members book random slots that never fill up.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct SustainedConfig {
    /// Slots to spread over.
    pub slots: usize,
    /// Places per slot.
    pub capacity: u32,
    /// Open connections.
    pub connections: usize,
    /// How long, seconds.
    pub seconds: u64,
}

/// What a sustained run measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SustainedResult {
    /// `201` answers per second.
    pub bookings_per_second: f64,
    /// `201` answers.
    pub created: usize,
    /// Request latency.
    pub latency: Percentiles,
}

/// Runs bookings for a while and verifies every `201` is a booked place.
pub async fn sustained(target: &Target, config: SustainedConfig) -> anyhow::Result<SustainedResult> {
    let gym = target.first_gym().await?;
    let slots = Arc::new(target.create_slots(&gym, config.slots, config.capacity).await?);
    let paths: Arc<Vec<String>> =
        Arc::new(slots.iter().map(|slot| format!("/v1/slots/{slot}/bookings")).collect());
    let counter = Arc::new(AtomicUsize::new(0));
    let run = rand::thread_rng().r#gen::<u32>();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(config.seconds);
    let mut workers = Vec::new();
    for _ in 0..config.connections {
        let mut connection = Connection::open(target.address).await?;
        let (target, paths, counter) = (target.clone(), paths.clone(), counter.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut created = 0_usize;
            while Instant::now() < deadline {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let token = target.token(&format!("mbr_s{run}_{n}"), Role::Member);
                let path = &paths[n % paths.len()];
                let sent = Instant::now();
                let answer = connection.send("POST", path, Some(&token), None).await?;
                latencies.push(sent.elapsed().as_micros() as u64);
                match answer.status {
                    201 => created += 1,
                    status => bail!("a booking answered {status}: {}", String::from_utf8_lossy(&answer.body)),
                }
            }
            anyhow::Ok((created, latencies))
        }));
    }
    let mut created = 0;
    let mut latencies = Vec::new();
    for worker in workers {
        let (mine, mut times) = worker.await.context("a worker panicked")??;
        created += mine;
        latencies.append(&mut times);
    }
    let seconds = started.elapsed().as_secs_f64();
    let mut booked = 0;
    for slot in slots.iter() {
        booked += target.booked(slot).await?;
    }
    ensure!(
        booked as usize == created,
        "LOST OR PHANTOM BOOKINGS: {created} answers of 201, {booked} booked"
    );
    Ok(SustainedResult {
        bookings_per_second: created as f64 / seconds,
        created,
        latency: percentiles(&mut latencies),
    })
}

/// What a read run measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ReadResult {
    /// Answers per second.
    pub requests_per_second: f64,
    /// Answers.
    pub requests: usize,
    /// Request latency.
    pub latency: Percentiles,
    /// Size of one answer, bytes.
    pub body_bytes: usize,
}

/// Slots every server gets before a read run, so all of them answer the
/// same realistic capacity list (each starts with gyms and no slots).
pub const READ_SLOTS: usize = 40;

/// `read`: the capacity endpoint of one gym, as fast as it answers.
pub async fn read(target: &Target, connections: usize, seconds: u64) -> anyhow::Result<ReadResult> {
    let gym = target.first_gym().await?;
    target.create_slots(&gym, READ_SLOTS, 30).await?;
    let path = Arc::new(format!("/v1/gyms/{gym}/capacity"));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut workers = Vec::new();
    for _ in 0..connections {
        let mut connection = Connection::open(target.address).await?;
        let path = path.clone();
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut body_bytes = 0;
            while Instant::now() < deadline {
                let sent = Instant::now();
                let answer = connection.send("GET", &path, None, None).await?;
                latencies.push(sent.elapsed().as_micros() as u64);
                ensure!(answer.status == 200, "a capacity read answered {}", answer.status);
                body_bytes = answer.body.len();
            }
            anyhow::Ok((latencies, body_bytes))
        }));
    }
    let mut latencies = Vec::new();
    let mut body_bytes = 0;
    for worker in workers {
        let (mut times, bytes) = worker.await.context("a worker panicked")??;
        latencies.append(&mut times);
        body_bytes = bytes;
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(ReadResult {
        requests_per_second: latencies.len() as f64 / seconds,
        requests: latencies.len(),
        latency: percentiles(&mut latencies),
        body_bytes,
    })
}

/// What the SSE run measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SseResult {
    /// Subscribers that got their first snapshot event and were held open together.
    pub subscribers: usize,
    /// Server memory before, KiB.
    pub rss_before_kib: u64,
    /// Server memory with all subscribers, KiB.
    pub rss_after_kib: u64,
    /// The difference per subscriber, bytes.
    pub bytes_per_subscriber: f64,
}

/// `sse`: opens many capacity streams and holds them all at once.
pub async fn sse(target: &Target, subscribers: usize, server_pid: Option<u32>) -> anyhow::Result<SseResult> {
    let gym = target.first_gym().await?;
    // A few slots, so every subscriber's snapshot has events to receive.
    target.create_slots(&gym, 5, 30).await?;
    let request = format!(
        "GET /v1/gyms/{gym}/capacity/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
    );
    let rss_before_kib = server_pid.and_then(|pid| crate::runner::rss_kib(pid, "VmRSS")).unwrap_or(0);
    let mut streams = Vec::with_capacity(subscribers);
    for _ in 0..subscribers {
        let mut stream = tokio::net::TcpStream::connect(target.address).await.context("opening a stream")?;
        stream.write_all(request.as_bytes()).await?;
        streams.push(stream);
    }
    // Every subscriber must see its first snapshot event.
    let mut chunk = vec![0_u8; 64 * 1024];
    for stream in &mut streams {
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !seen.windows(15).any(|window| window == b"event: capacity") {
            ensure!(Instant::now() < deadline, "a subscriber got no snapshot in 30 s");
            let read = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut chunk)).await??;
            ensure!(read > 0, "a stream closed before its snapshot");
            seen.extend_from_slice(&chunk[..read]);
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after_kib = server_pid.and_then(|pid| crate::runner::rss_kib(pid, "VmRSS")).unwrap_or(0);
    let bytes_per_subscriber =
        rss_after_kib.saturating_sub(rss_before_kib) as f64 * 1024.0 / subscribers.max(1) as f64;
    drop(streams);
    Ok(SseResult { subscribers, rss_before_kib, rss_after_kib, bytes_per_subscriber })
}
