//! `gym-bench`: the load tool and the side-by-side benchmark runner.
//!
//! Speaks the HTTP API of `shared/API.md` to a server on this machine, mints
//! its own tokens with the configured secret, and verifies what it measures.
//! `compare` runs our server and the Node reference interleaved and writes
//! `bench/RESULTS.md`. Loopback only; every loop is bounded in time or count.

mod ceiling;
mod http;
mod report;
mod runner;
mod scenarios;
mod stats;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::scenarios::{RushConfig, SustainedConfig, Target};

/// Load tool and benchmark runner for the gym booking API.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Our server and the reference, interleaved; writes bench/RESULTS.md and bench/results/latest.json.
    Compare {
        /// Interleaved rounds (medians are reported).
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// Our release binary (default: release/api-stub in $CARGO_TARGET_DIR or ./target).
        #[arg(long)]
        ours: Option<PathBuf>,
        /// The reference's folder.
        #[arg(long, default_value = "../shared/peers/seed-fastify")]
        reference: PathBuf,
        /// PostgreSQL server for the 3-instance figures (a scratch database is created and dropped).
        #[arg(long)]
        postgres: Option<String>,
        /// SSE subscribers to hold at once (0 skips).
        #[arg(long, default_value_t = 10_000)]
        sse: usize,
        /// Shorter runs, for trying the harness out (not for the committed table).
        #[arg(long)]
        quick: bool,
        /// Where the Markdown goes.
        #[arg(long, default_value = "bench/RESULTS.md")]
        out: PathBuf,
    },
    /// One rush against a running server.
    Rush {
        /// Server address.
        #[arg(long, default_value = "127.0.0.1:3000")]
        address: SocketAddr,
        /// Members.
        #[arg(long, default_value_t = 5_000)]
        members: usize,
        /// Places.
        #[arg(long, default_value_t = 30)]
        capacity: u32,
        /// In flight.
        #[arg(long, default_value_t = 500)]
        in_flight: usize,
    },
    /// Sustained bookings against a running server.
    Sustained {
        /// Server address.
        #[arg(long, default_value = "127.0.0.1:3000")]
        address: SocketAddr,
        /// Seconds.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Connections.
        #[arg(long, default_value_t = 64)]
        connections: usize,
        /// Slots (of 1,000 places each).
        #[arg(long, default_value_t = 1_000)]
        slots: usize,
    },
    /// Capacity reads against a running server.
    Read {
        /// Server address.
        #[arg(long, default_value = "127.0.0.1:3000")]
        address: SocketAddr,
        /// Seconds.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Connections.
        #[arg(long, default_value_t = 64)]
        connections: usize,
    },
    /// Hold many SSE subscribers on a running server.
    Sse {
        /// Server address.
        #[arg(long, default_value = "127.0.0.1:3000")]
        address: SocketAddr,
        /// Subscribers.
        #[arg(long, default_value_t = 10_000)]
        subscribers: usize,
        /// The server's pid, to report its memory.
        #[arg(long)]
        pid: Option<u32>,
    },
    /// The do-nothing axum server (the HTTP ceiling).
    Ceiling {
        /// Port on 127.0.0.1.
        #[arg(long, env = "PORT", default_value_t = 3200)]
        port: u16,
    },
}

fn secret() -> String {
    std::env::var("GYM_JWT_SECRET").unwrap_or_else(|_| runner::SECRET.into())
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let _ = rlimit::increase_nofile_limit(1 << 20);
    if let Command::Ceiling { port } = cli.command {
        // The ceiling is a server: give it the multi-threaded runtime a real server has.
        return tokio::runtime::Runtime::new()?.block_on(ceiling::serve(port));
    }
    if let Command::Compare { .. } = cli.command {
        // The load runs on one core; servers are started on the other.
        runner::pin_self(runner::LOAD_CORE);
    }
    // One core of load: a single-threaded runtime wastes nothing on coordination.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(run(cli.command))
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Compare { rounds, ours, reference, postgres, sse, quick, out } => {
            let ours = ours.unwrap_or_else(|| {
                PathBuf::from(std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into()))
                    .join("release/api-stub")
            });
            let settings = runner::Settings {
                rounds,
                ours,
                reference,
                read_seconds: if quick { 2 } else { 5 },
                sustained_seconds: if quick { 3 } else { 8 },
                rush: RushConfig { members: 5_000, capacity: 30, in_flight: 500 },
                sustained: SustainedConfig { slots: 1_000, capacity: 1_000, connections: 64, seconds: 8 },
                read_connections: 64,
                sse_subscribers: if quick { sse.min(1_000) } else { sse },
                postgres,
            };
            let report = runner::compare(settings).await?;
            let json_path = out.with_file_name("results").join("latest.json");
            if let Some(dir) = json_path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&json_path, serde_json::to_string_pretty(&report)?)
                .context("writing the JSON results")?;
            let markdown = report::markdown(&report);
            std::fs::write(&out, &markdown).with_context(|| format!("writing {}", out.display()))?;
            println!("{markdown}");
            eprintln!("wrote {} and {}", out.display(), json_path.display());
            if !report::all_targets_met(&report) {
                eprintln!("note: not every target is met (see the table)");
            }
            Ok(())
        }
        Command::Rush { address, members, capacity, in_flight } => print_json(
            &scenarios::rush(&Target::new(address, &secret()), RushConfig { members, capacity, in_flight })
                .await?,
        ),
        Command::Sustained { address, seconds, connections, slots } => {
            let config = SustainedConfig { slots, capacity: 1_000, connections, seconds };
            print_json(&scenarios::sustained(&Target::new(address, &secret()), config).await?)
        }
        Command::Read { address, seconds, connections } => {
            print_json(&scenarios::read(&Target::new(address, &secret()), connections, seconds).await?)
        }
        Command::Sse { address, subscribers, pid } => {
            print_json(&scenarios::sse(&Target::new(address, &secret()), subscribers, pid).await?)
        }
        Command::Ceiling { .. } => Ok(()),
    }
}
