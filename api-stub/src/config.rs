//! Server settings: one typed struct read from defaults, then the environment.
//!
//! `.env` is loaded by `main` (dotenvy) before this runs, so a `.env` file and
//! real environment variables work the same; a real variable wins.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::{Context, bail};

/// The default database: a file under `./data/`, created on first start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/gym.sqlite";
/// The default port.
pub const DEFAULT_PORT: u16 = 3000;
/// The largest request body accepted, in bytes.
pub const DEFAULT_BODY_LIMIT: usize = 16 * 1024;

/// A secret that never shows up in logs or debug output.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call only where it is used.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("Secret(…)")
    }
}

/// What to seed into an empty store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeedMode {
    /// Three demo gyms, a week of slots and demo members (idempotent).
    Demo,
    /// The demo gyms and members with an empty timetable (benchmarks, trying
    /// the operator flow).
    Gyms,
    /// Nothing.
    None,
}

/// Everything the server needs to start.
#[derive(Clone, Debug)]
pub struct Config {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// `sqlite://PATH` (default) or `postgres://…`.
    pub database_url: String,
    /// JWT signing secret; `None` means "make a random one" (dev mode).
    pub jwt_secret: Option<Secret>,
    /// What to seed.
    pub seed: SeedMode,
    /// Largest request body, bytes.
    pub body_limit: usize,
    /// PostgreSQL connection pool size.
    pub pg_pool_size: u32,
    /// How long login tokens last.
    pub token_ttl: chrono::Duration,
    /// Embedded store: how often journaled writes are applied to SQLite.
    pub apply_interval: std::time::Duration,
}

/// Default for [`Config::apply_interval`].
pub const DEFAULT_APPLY_INTERVAL: std::time::Duration = std::time::Duration::from_millis(50);

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), DEFAULT_PORT),
            database_url: DEFAULT_DATABASE_URL.into(),
            jwt_secret: None,
            seed: SeedMode::Demo,
            body_limit: DEFAULT_BODY_LIMIT,
            pg_pool_size: 16,
            token_ttl: chrono::Duration::hours(12),
            apply_interval: DEFAULT_APPLY_INTERVAL,
        }
    }
}

impl Config {
    /// Defaults overridden by `BIND_ADDR`, `PORT`, `DATABASE_URL`,
    /// `GYM_JWT_SECRET`, `GYM_SEED`, `GYM_BODY_LIMIT`, `GYM_PG_POOL_SIZE`, `GYM_TOKEN_TTL`,
    /// `GYM_APPLY_INTERVAL_MS`.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|value| !value.trim().is_empty()))
    }

    /// Same as [`Config::from_env`], reading variables through `lookup` (for tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let mut config = Self::default();
        if let Some(bind) = lookup("BIND_ADDR") {
            config.bind = parse_bind(&bind).with_context(|| format!("BIND_ADDR={bind:?}"))?;
        }
        if let Some(port) = lookup("PORT") {
            let port: u16 =
                port.trim().parse().with_context(|| format!("PORT={port:?} is not a port number"))?;
            config.bind.set_port(port);
        }
        if let Some(url) = lookup("DATABASE_URL") {
            config.database_url = url;
        }
        config.jwt_secret = lookup("GYM_JWT_SECRET").map(Secret::new);
        if let Some(seed) = lookup("GYM_SEED") {
            config.seed = match seed.trim() {
                "demo" => SeedMode::Demo,
                "gyms" => SeedMode::Gyms,
                "none" => SeedMode::None,
                other => bail!("GYM_SEED={other:?}: use demo, gyms or none"),
            };
        }
        if let Some(limit) = lookup("GYM_BODY_LIMIT") {
            config.body_limit = limit.trim().parse().with_context(|| format!("GYM_BODY_LIMIT={limit:?}"))?;
        }
        if let Some(size) = lookup("GYM_PG_POOL_SIZE") {
            config.pg_pool_size =
                size.trim().parse().with_context(|| format!("GYM_PG_POOL_SIZE={size:?}"))?;
        }
        if let Some(ttl) = lookup("GYM_TOKEN_TTL") {
            config.token_ttl = parse_duration(&ttl).with_context(|| format!("GYM_TOKEN_TTL={ttl:?}"))?;
        }
        if let Some(ms) = lookup("GYM_APPLY_INTERVAL_MS") {
            config.apply_interval = match ms.trim().parse::<u64>() {
                Ok(ms @ 1..=86_400_000) => std::time::Duration::from_millis(ms),
                _ => bail!("GYM_APPLY_INTERVAL_MS={ms:?}: use milliseconds, from 1 to 86400000"),
            };
        }
        Ok(config)
    }
}

/// How many threads run the server's async work: `GYM_WORKER_THREADS`, or
/// else the number of cores this process may run on (its CPU affinity, as
/// `taskset` or a container sets it). Read before the runtime starts, so it
/// is not part of [`Config`].
///
/// One thread means a single-threaded runtime: with one core there is no
/// other worker to steal tasks from, and the work-stealing scheduler's
/// bookkeeping and cross-thread wake-ups cost about 0.5 µs per request for
/// nothing (measured on capacity reads and bookings; see bench/README.md).
pub fn worker_threads(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<usize> {
    match lookup("GYM_WORKER_THREADS") {
        Some(value) => match value.trim().parse::<usize>() {
            Ok(threads) if threads > 0 => Ok(threads),
            _ => bail!("GYM_WORKER_THREADS={value:?}: use a number of threads, 1 or more"),
        },
        None => Ok(std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)),
    }
}

/// Reads `127.0.0.1`, `0.0.0.0:8080` or `[::1]:3000`.
fn parse_bind(text: &str) -> anyhow::Result<SocketAddr> {
    let text = text.trim();
    if let Ok(address) = text.parse::<SocketAddr>() {
        return Ok(address);
    }
    let ip: IpAddr = text.trim_matches(['[', ']']).parse().context("not an IP address or IP:port")?;
    Ok(SocketAddr::new(ip, DEFAULT_PORT))
}

/// Reads a duration like `90s`, `15m`, `1h`, `7d` or a bare number of seconds.
pub fn parse_duration(text: &str) -> anyhow::Result<chrono::Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: i64 = number.parse().context("expected a number followed by s, m, h or d")?;
    let duration = match unit {
        "" | "s" => chrono::Duration::try_seconds(number),
        "m" => chrono::Duration::try_minutes(number),
        "h" => chrono::Duration::try_hours(number),
        "d" => chrono::Duration::try_days(number),
        other => bail!("unknown unit {other:?}: use s, m, h or d"),
    };
    match duration {
        Some(duration) if duration > chrono::Duration::zero() => Ok(duration),
        _ => bail!("the duration must be positive and reasonable"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config_from(pairs: &[(&str, &str)]) -> anyhow::Result<Config> {
        let vars: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_serve_the_embedded_demo_on_localhost_3000() {
        let config = config_from(&[]).expect("defaults are valid");
        assert_eq!(config.bind.to_string(), "127.0.0.1:3000");
        assert_eq!(config.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(config.seed, SeedMode::Demo);
        assert!(config.jwt_secret.is_none());
    }

    #[test]
    fn port_overrides_the_bind_address_port() {
        let config = config_from(&[("BIND_ADDR", "0.0.0.0"), ("PORT", "8080")]).expect("valid");
        assert_eq!(config.bind.to_string(), "0.0.0.0:8080");
    }

    #[test]
    fn bad_values_are_refused_with_the_variable_named() {
        let error = config_from(&[("PORT", "eighty")]).expect_err("not a port");
        assert!(error.to_string().contains("PORT"));
        assert!(config_from(&[("GYM_SEED", "lots")]).is_err());
    }

    #[test]
    fn the_apply_interval_is_whole_milliseconds_from_one_to_a_day() {
        assert_eq!(config_from(&[]).map(|config| config.apply_interval).ok(), Some(DEFAULT_APPLY_INTERVAL));
        let config = config_from(&[("GYM_APPLY_INTERVAL_MS", " 200 ")]).expect("valid");
        assert_eq!(config.apply_interval, std::time::Duration::from_millis(200));
        for bad in ["0", "-5", "1.5", "soon", "86400001"] {
            let error = config_from(&[("GYM_APPLY_INTERVAL_MS", bad)]).expect_err(bad);
            assert!(error.to_string().contains("GYM_APPLY_INTERVAL_MS"), "{error}");
        }
    }

    #[test]
    fn durations_read_common_units() {
        assert_eq!(parse_duration("90s").ok(), Some(chrono::Duration::seconds(90)));
        assert_eq!(parse_duration("1h").ok(), Some(chrono::Duration::hours(1)));
        assert_eq!(parse_duration("7d").ok(), Some(chrono::Duration::days(7)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("1y").is_err());
        assert!(parse_duration("h").is_err());
    }

    #[test]
    fn worker_threads_follow_the_cores_unless_set() {
        let unset = worker_threads(|_| None).expect("valid");
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        assert_eq!(unset, cores);
        assert_eq!(worker_threads(|_| Some(" 1 ".into())).ok(), Some(1));
        assert_eq!(worker_threads(|_| Some("4".into())).ok(), Some(4));
        for bad in ["0", "-1", "many", ""] {
            let error = worker_threads(|_| Some(bad.into())).expect_err("refused");
            assert!(error.to_string().contains("GYM_WORKER_THREADS"), "{error}");
        }
    }

    #[test]
    fn secrets_do_not_print() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(…)");
    }
}
