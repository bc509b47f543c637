//! `compare`: our server and the reference, interleaved in one run, each
//! server pinned to one core and the load to the other; then the report.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;

use crate::scenarios::{
    self, ReadResult, RushConfig, RushResult, SseResult, SustainedConfig, SustainedResult, Target,
};

/// The secret every server in a run signs tokens with.
pub const SECRET: &str = "bench-secret-not-for-production";

/// Which server a measurement is of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// `api-stub` on its embedded SQLite store (durable).
    OursSqlite,
    /// The Node reference (in memory, not durable).
    Reference,
    /// The do-nothing axum server.
    Ceiling,
}

impl Kind {
    /// A label for tables.
    pub fn label(self) -> &'static str {
        match self {
            Self::OursSqlite => "ours (SQLite, durable)",
            Self::Reference => "reference (Node, memory)",
            Self::Ceiling => "axum ceiling",
        }
    }
}

/// Settings of a comparison run.
#[derive(Clone, Debug, Serialize)]
pub struct Settings {
    /// Interleaved rounds.
    pub rounds: usize,
    /// Our release binary.
    pub ours: PathBuf,
    /// The reference's folder (read-only; copied before `npm ci`).
    pub reference: PathBuf,
    /// Seconds of each read run.
    pub read_seconds: u64,
    /// Seconds of each sustained run.
    pub sustained_seconds: u64,
    /// The rush.
    pub rush: RushConfig,
    /// The sustained load.
    pub sustained: SustainedConfig,
    /// Connections of the read load.
    pub read_connections: usize,
    /// SSE subscribers to hold (0 to skip).
    pub sse_subscribers: usize,
    /// PostgreSQL server URL for the 3-instance figures (a database is created there).
    pub postgres: Option<String>,
}

/// One server process.
struct Server {
    child: Child,
    address: SocketAddr,
    _dir: Option<PathBuf>,
}

/// CPU time (user + system, every thread) a process has used so far, in
/// seconds, from `/proc/PID/stat`.
fn cpu_seconds(pid: u32) -> Option<f64> {
    /// The unit of those fields: `USER_HZ`, 100 on every Linux this runs on.
    const TICKS_PER_SECOND: f64 = 100.0;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; count from the `)` after it.
    let mut fields = stat.get(stat.rfind(')')? + 1..)?.split_whitespace();
    // After the name: state is field 3, utime field 14, stime field 15.
    let user: f64 = fields.nth(11)?.parse().ok()?;
    let system: f64 = fields.next()?.parse().ok()?;
    Some((user + system) / TICKS_PER_SECOND)
}

/// Server CPU per answer, in µs, over one scenario.
fn cpu_per_answer(before: Option<f64>, after: Option<f64>, answers: usize) -> Option<f64> {
    let used = after? - before?;
    (answers > 0 && used >= 0.0).then(|| used * 1e6 / answers as f64)
}

/// One core's time so far from `/proc/stat`, in ticks: (all of it, the
/// part the hypervisor gave to other guests). `None` off Linux or if the
/// line is missing.
fn core_ticks(core: usize) -> Option<(u64, u64)> {
    core_ticks_in(&std::fs::read_to_string("/proc/stat").ok()?, core)
}

/// [`core_ticks`] from the text of `/proc/stat`. The fields after `cpuN`
/// are user, nice, system, idle, iowait, irq, softirq, steal, then guest
/// and guest_nice, which user and nice already include.
fn core_ticks_in(stat: &str, core: usize) -> Option<(u64, u64)> {
    let name = format!("cpu{core}");
    let line = stat.lines().find(|line| line.split_whitespace().next() == Some(name.as_str()))?;
    let fields: Vec<u64> =
        line.split_whitespace().skip(1).take(8).map(str::parse).collect::<Result<_, _>>().ok()?;
    let steal = *fields.get(7)?;
    Some((fields.iter().sum(), steal))
}

/// Share of a core's time the hypervisor gave to other guests between two
/// [`core_ticks`] readings: the VM's noise during a scenario, which throughput
/// includes and CPU time per answer leaves out.
fn steal_share(before: Option<(u64, u64)>, after: Option<(u64, u64)>) -> Option<f64> {
    let ((total_before, steal_before), (total_after, steal_after)) = (before?, after?);
    let total = total_after.checked_sub(total_before)?;
    let steal = steal_after.checked_sub(steal_before)?;
    (total > 0).then(|| steal as f64 / total as f64)
}

/// Reads a `Vm…` field of `/proc/PID/status`, in KiB.
pub fn rss_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|line| line.starts_with(field))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|value| value.parse().ok())
}

fn free_port() -> anyhow::Result<u16> {
    let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(probe.local_addr()?.port())
}

fn scratch_dir(name: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "gym-bench-{name}-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn have_taskset() -> bool {
    Command::new("taskset")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The core servers run on in `compare`.
pub const SERVER_CORE: usize = 0;
/// The core the load runs on in `compare`.
pub const LOAD_CORE: usize = 1;

/// A command pinned to `core` when `taskset` exists.
fn pinned(core: usize, program: &Path) -> Command {
    if have_taskset() {
        let mut command = Command::new("taskset");
        command.arg("-c").arg(core.to_string()).arg(program);
        command
    } else {
        Command::new(program)
    }
}

/// Pins this whole process (every thread) to `core`.
pub fn pin_self(core: usize) {
    if have_taskset() {
        let _ = Command::new("taskset")
            .args(["-a", "-p", "-c", &core.to_string(), &std::process::id().to_string()])
            .stdout(Stdio::null())
            .status();
    }
}

impl Server {
    fn start(
        kind: Kind,
        settings: &Settings,
        reference_dir: &Path,
        database_url: Option<&str>,
        core: Option<usize>,
    ) -> anyhow::Result<Self> {
        settle();
        let port = free_port()?;
        let (mut command, dir) = match kind {
            Kind::OursSqlite => {
                let dir = scratch_dir("ours")?;
                let mut command = match core {
                    Some(core) => pinned(core, &settings.ours),
                    None => Command::new(&settings.ours),
                };
                let url = database_url
                    .map_or_else(|| format!("sqlite://{}", dir.join("gym.sqlite").display()), str::to_owned);
                // Gyms but no timetable: both servers start as empty as the reference.
                command.arg("serve").env("DATABASE_URL", url).env("GYM_SEED", "gyms").env("RUST_LOG", "warn");
                (command, Some(dir))
            }
            Kind::Reference => {
                let node = which("node").context("node is needed for the reference")?;
                let mut command = pinned(core.unwrap_or(0), &node);
                command.arg("src/server.js").current_dir(reference_dir).env("AUTH", "1");
                (command, None)
            }
            Kind::Ceiling => {
                let me = std::env::current_exe()?;
                let mut command = pinned(core.unwrap_or(0), &me);
                command.arg("ceiling").arg("--port").arg(port.to_string());
                (command, None)
            }
        };
        command
            .env("PORT", port.to_string())
            .env("BIND_ADDR", "127.0.0.1")
            .env("GYM_JWT_SECRET", SECRET)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = command.spawn().with_context(|| format!("starting {kind:?}"))?;
        Ok(Self { child, address: SocketAddr::from(([127, 0, 0, 1], port)), _dir: dir })
    }

    async fn wait_healthy(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(mut connection) = crate::http::Connection::open(self.address).await
                && let Ok(answer) = connection.send("GET", "/health", None, None).await
                && answer.status == 200
            {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                bail!("the server exited at start: {status}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("the server was not healthy within 30 s")
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self._dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Lets the machine settle before a server starts: the previous server's
/// files were just deleted and its dirty pages are still being written back,
/// which would otherwise land on whoever is measured next (the first server
/// of a round measured up to 40% low in reads).
fn settle() {
    let _ = Command::new("sync").stdout(Stdio::null()).stderr(Stdio::null()).status();
    std::thread::sleep(Duration::from_millis(500));
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|path| path.is_file())
}

/// Copies the read-only reference and installs its pinned dependencies.
fn prepare_reference(source: &Path) -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join("gym-bench-reference");
    if !dir.join("node_modules").is_dir() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("src"))?;
        for file in ["package.json", "package-lock.json", "src/server.js", "src/repository.js"] {
            std::fs::copy(source.join(file), dir.join(file)).with_context(|| format!("copying {file}"))?;
        }
        let status = Command::new("npm")
            .args(["ci", "--silent", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .context("running npm ci for the reference")?;
        if !status.success() {
            bail!("npm ci failed for the reference");
        }
    }
    Ok(dir)
}

/// Everything one server measured in one round.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RoundResult {
    /// Capacity reads.
    pub read: Option<ReadResult>,
    /// Sustained bookings.
    pub sustained: Option<SustainedResult>,
    /// The rush.
    pub rush: Option<RushResult>,
    /// Peak RSS of the server over start-up and the rush, KiB.
    pub rush_peak_rss_kib: Option<u64>,
    /// Server CPU per capacity read, µs (the scenario's set-up included).
    pub read_cpu_us: Option<f64>,
    /// Server CPU per sustained booking, µs (the scenario's set-up included).
    pub sustained_cpu_us: Option<f64>,
    /// Share of the server's core taken by the hypervisor for other guests
    /// during the capacity reads (0–1).
    pub read_steal: Option<f64>,
    /// The same during the sustained bookings.
    pub sustained_steal: Option<f64>,
}

/// The PostgreSQL figures.
#[derive(Clone, Debug, Serialize)]
pub struct PostgresResult {
    /// Instances.
    pub instances: usize,
    /// Sum over instances of `201`s per second.
    pub bookings_per_second: f64,
    /// Latency at the first instance.
    pub latency: crate::stats::Percentiles,
}

/// A whole comparison.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// When it ran (UTC).
    pub ran_at: String,
    /// Whether server and load were pinned to separate cores.
    pub pinned: bool,
    /// The settings.
    pub settings: Settings,
    /// Per round, per server.
    pub rounds: Vec<BTreeMap<Kind, RoundResult>>,
    /// SSE on our server.
    pub sse: Option<SseResult>,
    /// PostgreSQL, 3 instances.
    pub postgres: Option<PostgresResult>,
    /// Wall time, seconds.
    pub seconds: f64,
}

async fn measure(kind: Kind, settings: &Settings, reference_dir: &Path) -> anyhow::Result<RoundResult> {
    let mut result = RoundResult::default();
    // A fresh server per scenario: no scenario inherits another's data or memory.
    let mut server = Server::start(kind, settings, reference_dir, None, Some(SERVER_CORE))?;
    server.wait_healthy().await?;
    let target = Target::new(server.address, SECRET);
    let (before, ticks) = (cpu_seconds(server.pid()), core_ticks(SERVER_CORE));
    let read = scenarios::read(&target, settings.read_connections, settings.read_seconds).await?;
    result.read_cpu_us = cpu_per_answer(before, cpu_seconds(server.pid()), read.requests);
    result.read_steal = steal_share(ticks, core_ticks(SERVER_CORE));
    result.read = Some(read);
    server.stop();
    if kind == Kind::Ceiling {
        return Ok(result);
    }
    let mut server = Server::start(kind, settings, reference_dir, None, Some(SERVER_CORE))?;
    server.wait_healthy().await?;
    let target = Target::new(server.address, SECRET);
    let sustained = SustainedConfig { seconds: settings.sustained_seconds, ..settings.sustained };
    let (before, ticks) = (cpu_seconds(server.pid()), core_ticks(SERVER_CORE));
    let booked =
        scenarios::sustained(&target, sustained).await.with_context(|| format!("{kind:?} sustained"))?;
    result.sustained_cpu_us = cpu_per_answer(before, cpu_seconds(server.pid()), booked.created);
    result.sustained_steal = steal_share(ticks, core_ticks(SERVER_CORE));
    result.sustained = Some(booked);
    server.stop();
    let mut server = Server::start(kind, settings, reference_dir, None, Some(SERVER_CORE))?;
    server.wait_healthy().await?;
    let target = Target::new(server.address, SECRET);
    result.rush =
        Some(scenarios::rush(&target, settings.rush).await.with_context(|| format!("{kind:?} rush"))?);
    result.rush_peak_rss_kib = rss_kib(server.pid(), "VmHWM");
    server.stop();
    Ok(result)
}

async fn measure_sse(settings: &Settings, reference_dir: &Path) -> anyhow::Result<SseResult> {
    let mut server = Server::start(Kind::OursSqlite, settings, reference_dir, None, Some(SERVER_CORE))?;
    server.wait_healthy().await?;
    let target = Target::new(server.address, SECRET);
    let result = scenarios::sse(&target, settings.sse_subscribers, Some(server.pid())).await;
    server.stop();
    result
}

async fn measure_postgres(
    settings: &Settings,
    admin_url: &str,
    reference_dir: &Path,
) -> anyhow::Result<PostgresResult> {
    let name = format!("gym_bench_{}", rand::random::<u32>());
    let psql =
        |sql: String| Command::new("psql").arg(admin_url).arg("-qc").arg(sql).stdout(Stdio::null()).status();
    if !psql(format!("CREATE DATABASE {name}"))?.success() {
        bail!("could not create a database at {admin_url}");
    }
    let base = admin_url.rsplit_once('/').map_or(admin_url, |(base, _)| base);
    let url = format!("{base}/{name}");
    let outcome = async {
        let mut servers = Vec::new();
        for _ in 0..3 {
            let mut server = Server::start(Kind::OursSqlite, settings, reference_dir, Some(&url), None)?;
            server.wait_healthy().await?;
            servers.push(server);
        }
        let config = SustainedConfig {
            seconds: settings.sustained_seconds,
            connections: 32,
            slots: 100,
            ..settings.sustained
        };
        let runs = servers.iter().map(|server| {
            let target = Target::new(server.address, SECRET);
            async move { scenarios::sustained(&target, config).await }
        });
        let results = futures_join(runs).await;
        for server in servers {
            server.stop();
        }
        let results = results.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
        let latency = results.first().map(|result| result.latency).unwrap_or_default();
        anyhow::Ok(PostgresResult {
            instances: 3,
            bookings_per_second: results.iter().map(|r| r.bookings_per_second).sum(),
            latency,
        })
    }
    .await;
    let _ = psql(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    outcome
}

async fn futures_join<F: std::future::Future<Output = T>, T>(futures: impl Iterator<Item = F>) -> Vec<T> {
    let handles: Vec<_> = futures.collect();
    let mut results = Vec::with_capacity(handles.len());
    // Poll them together: a tiny join_all without another dependency.
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = handles.into_iter().map(Box::pin).collect();
    let mut done: Vec<Option<T>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|context| {
        let mut pending = false;
        for (future, slot) in pinned.iter_mut().zip(done.iter_mut()) {
            if slot.is_none() {
                match future.as_mut().poll(context) {
                    std::task::Poll::Ready(value) => *slot = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
    })
    .await;
    results.extend(done.into_iter().flatten());
    results
}

/// Runs the whole comparison.
pub async fn compare(settings: Settings) -> anyhow::Result<Report> {
    let started = Instant::now();
    if !settings.ours.is_file() {
        bail!(
            "{} is missing: build it with `cargo build --release -p api-stub -p gym-bench`",
            settings.ours.display()
        );
    }
    let reference_dir = prepare_reference(&settings.reference)?;
    let mut rounds = Vec::new();
    for round in 0..settings.rounds {
        let mut results = BTreeMap::new();
        // Alternate who goes first, so neither always gets the cooler machine.
        let order = if round.is_multiple_of(2) {
            [Kind::OursSqlite, Kind::Reference, Kind::Ceiling]
        } else {
            [Kind::Reference, Kind::Ceiling, Kind::OursSqlite]
        };
        for kind in order {
            eprintln!("round {}/{}: {}", round + 1, settings.rounds, kind.label());
            results
                .insert(kind, measure(kind, &settings, &reference_dir).await.with_context(|| kind.label())?);
        }
        rounds.push(results);
    }
    let sse = if settings.sse_subscribers > 0 {
        eprintln!("sse: {} subscribers", settings.sse_subscribers);
        match measure_sse(&settings, &reference_dir).await {
            Ok(result) => Some(result),
            Err(error) => {
                eprintln!("sse figures missing: {error:#}");
                None
            }
        }
    } else {
        None
    };
    let postgres = match &settings.postgres {
        Some(url) => {
            eprintln!("postgres: 3 instances");
            match measure_postgres(&settings, url, &reference_dir).await {
                Ok(result) => Some(result),
                Err(error) => {
                    eprintln!("postgres figures skipped: {error:#}");
                    None
                }
            }
        }
        None => None,
    };
    Ok(Report {
        ran_at: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        pinned: have_taskset(),
        settings,
        rounds,
        sse,
        postgres,
        seconds: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_of_a_busy_process_grows_and_is_shared_over_its_answers() {
        let pid = std::process::id();
        let before = cpu_seconds(pid);
        assert!(before.is_some_and(|seconds| seconds >= 0.0), "{before:?}");
        let spin = std::time::Instant::now();
        let mut sum = 0_u64;
        while spin.elapsed() < std::time::Duration::from_millis(100) {
            sum = std::hint::black_box(sum.wrapping_add(1));
        }
        let after = cpu_seconds(pid);
        assert!(after >= before, "{before:?} → {after:?}");
        assert_eq!(cpu_per_answer(Some(1.0), Some(1.5), 1_000), Some(500.0));
        assert_eq!(cpu_per_answer(Some(1.0), Some(1.5), 0), None);
        assert_eq!(cpu_per_answer(None, Some(1.5), 10), None);
        assert_eq!(cpu_seconds(u32::MAX), None);
    }

    #[test]
    fn steal_is_the_hypervisors_share_of_one_cores_time() {
        let before = "cpu  9 9 9 9 9 9 9 9 0 0\ncpu0 100 0 50 40 5 0 5 0 0 0\ncpu1 7 0 7 7 0 0 0 7 0 0\n";
        let after = "cpu  9 9 9 9 9 9 9 9 0 0\ncpu0 160 0 80 40 5 0 15 20 3 0\ncpu1 7 0 7 7 0 0 0 7 0 0\n";
        let (start, end) = (core_ticks_in(before, 0), core_ticks_in(after, 0));
        assert_eq!(start, Some((200, 0)));
        // Guest time is already inside user time: not counted twice.
        assert_eq!(end, Some((320, 20)));
        assert_eq!(steal_share(start, end), Some(20.0 / 120.0));
        assert_eq!(core_ticks_in(before, 1), Some((28, 7)));
        // `cpu1` is not `cpu10`, and a missing core or reading is no figure.
        assert_eq!(core_ticks_in("cpu10 1 1 1 1 1 1 1 1 0 0\n", 1), None);
        assert_eq!(steal_share(None, end), None);
        assert_eq!(steal_share(end, start), None, "time does not run backwards");
        assert_eq!(steal_share(start, start), None);
        assert!(core_ticks(SERVER_CORE).is_some(), "this machine has /proc/stat");
    }
}
