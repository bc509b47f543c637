//! The `api-stub` binary: CLI parsing and start-up; everything else is in the library.

use anyhow::{Context, bail};
use api_stub::auth::JwtKeys;
use api_stub::config::{Config, parse_duration};
use clap::{Parser, Subcommand};
use gym_core::wire::{Claims, Role};
use tracing_subscriber::EnvFilter;

/// jemalloc instead of glibc's malloc. Under sustained bookings, requests
/// finish in bursts (everything a group commit made durable is answered at
/// once) and glibc's small per-thread cache overflows into its shared bins,
/// which the next burst of allocations has to sort again (`_int_malloc` was
/// 6% of the CPU). Measured A/B on one core: 40.4 → 34.5 µs of CPU per durable
/// booking, capacity reads 14.7 → 14.4 µs, rush peak RSS unchanged (~19.8 MB).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The gym capacity & booking backend.
///
/// Serves the HTTP API of shared/API.md. With no configuration it stores
/// everything in ./data/gym.sqlite, seeds three demo gyms and listens on
/// 127.0.0.1:3000. Settings come from the environment (or a .env file):
///
///   BIND_ADDR        address to listen on (default 127.0.0.1)
///   PORT             port (default 3000)
///   DATABASE_URL     sqlite://PATH (default sqlite://data/gym.sqlite) or postgres://…
///   GYM_JWT_SECRET   HS256 secret for tokens (default: random, dev mode)
///   GYM_SEED         demo | gyms (no timetable) | none (default demo)
///   GYM_TOKEN_TTL    lifetime of login tokens, e.g. 12h (default 12h)
///   GYM_BODY_LIMIT   largest request body in bytes (default 16384)
///   GYM_PG_POOL_SIZE PostgreSQL connections per instance (default 16)
///   RUST_LOG         log filter (default info); LOG_FORMAT=json for JSON logs
#[derive(Parser)]
#[command(version, verbatim_doc_comment)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Print a token signed with GYM_JWT_SECRET, for scripts, load tests and operators.
    Token {
        /// Member id to put in `sub` (e.g. mbr_alex).
        #[arg(long)]
        member: String,
        /// member or operator.
        #[arg(long, default_value = "member", value_parser = ["member", "operator"])]
        role: String,
        /// Lifetime: 90s, 15m, 1h, 7d.
        #[arg(long, default_value = "1h")]
        ttl: String,
        /// Optional display name.
        #[arg(long)]
        name: Option<String>,
    },
    /// Read a password from standard input and print its argon2id hash (for member records).
    HashPassword,
}

fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    if std::env::var("LOG_FORMAT").is_ok_and(|format| format == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

fn print_token(member: String, role: &str, ttl: &str, name: Option<String>) -> anyhow::Result<()> {
    let config = Config::from_env()?;
    let Some(secret) = config.jwt_secret else {
        bail!("GYM_JWT_SECRET is not set: the server would not accept a token signed with anything else");
    };
    let ttl = parse_duration(ttl).context("--ttl")?;
    let role = if role == "operator" { Role::Operator } else { Role::Member };
    let claims = Claims { sub: member, exp: (chrono::Utc::now() + ttl).timestamp(), role, name };
    println!("{}", JwtKeys::new(secret.expose().as_bytes()).sign(&claims));
    Ok(())
}

fn main() -> anyhow::Result<()> {
    // A missing .env is normal; a real environment variable always wins.
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    runtime()?.block_on(run(cli))
}

/// The async runtime: one worker thread per core this process may use
/// ([`api_stub::config::worker_threads`]); a single-threaded runtime when
/// that is one.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    let threads = api_stub::config::worker_threads(|name| {
        std::env::var(name).ok().filter(|value| !value.trim().is_empty())
    })?;
    let mut builder = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(threads);
        builder
    };
    // The embedded store's writer commits when this runtime runs out of work.
    api_stub::store::idle::install(&mut builder, threads);
    builder.enable_all().build().context("starting the async runtime")
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Token { member, role, ttl, name } => print_token(member, &role, &ttl, name),
        Command::HashPassword => {
            let mut password = String::new();
            std::io::stdin().read_line(&mut password).context("reading a password from standard input")?;
            let password = password.trim_end_matches(['\r', '\n']);
            if password.is_empty() {
                bail!("no password on standard input");
            }
            println!("{}", api_stub::auth::hash_password(password)?);
            Ok(())
        }
        Command::Serve => {
            init_logging();
            // Every live-capacity subscriber holds a socket: allow as many as the system lets us.
            match rlimit::increase_nofile_limit(1 << 20) {
                Ok(limit) => tracing::debug!(limit, "open-file limit"),
                Err(error) => tracing::warn!(%error, "could not raise the open-file limit"),
            }
            let config = Config::from_env()?;
            let bind = config.bind;
            let state = api_stub::build_state(config).await?;
            let listener =
                tokio::net::TcpListener::bind(bind).await.with_context(|| format!("binding {bind}"))?;
            let threads = tokio::runtime::Handle::current().metrics().num_workers();
            tracing::info!(address = %listener.local_addr()?, store = state.store.kind(), threads, "api-stub listening");
            api_stub::serve(listener, state, shutdown_signal()).await
        }
    }
}
