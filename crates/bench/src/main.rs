//! `strom-bench`: the load generator and machine-limit probes of the benchmark harness
//! (`scripts/bench/harness.py`).
//!
//! The load generator is librdkafka (through the `rdkafka` crate), so any Kafka-compatible
//! broker can be measured with the same client and settings. The probes measure what the
//! machine allows without a broker: socket → file in the page cache, cached file → socket with
//! `sendfile`, and `fdatasync` throughput at a given number of bytes per sync.
//!
//! Every subcommand prints one JSON object on stdout and exits non-zero (with a one-line error
//! on stderr) when the run failed or did not finish within its time limit. Every loop is
//! bounded in count and in time. This crate depends on no other Strom crate.

mod common;
mod consume;
mod e2e;
mod probe;
mod produce;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "strom-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Produce COUNT records of RECORD_SIZE bytes (no key) as fast as librdkafka acknowledges them.
    Produce(produce::Args),
    /// Read a topic from the beginning with a fresh consumer (partitions assigned directly, no
    /// group) until COUNT records or the end offsets taken at the start.
    Consume(consume::Args),
    /// End-to-end latency at a fixed rate (open loop, corrected for coordinated omission).
    E2e(e2e::Args),
    /// Create a topic (CreateTopics through librdkafka's admin API).
    CreateTopic(common::CreateTopicArgs),
    /// Loopback TCP into a file in the page cache (no fsync): the machine's produce limit.
    ProbeRecvToFile(probe::LoopbackArgs),
    /// A cached file sent to a loopback socket with sendfile(2): the machine's fetch limit.
    ProbeSendfile(probe::LoopbackArgs),
    /// Appends of BYTES_PER_SYNC bytes, each followed by fdatasync(2).
    ProbeFdatasync(probe::FdatasyncArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Produce(a) => produce::run(&a),
        Command::Consume(a) => consume::run(&a),
        Command::E2e(a) => e2e::run(&a),
        Command::CreateTopic(a) => common::create_topic_cmd(&a),
        Command::ProbeRecvToFile(a) => probe::recv_to_file(&a),
        Command::ProbeSendfile(a) => probe::sendfile(&a),
        Command::ProbeFdatasync(a) => probe::fdatasync(&a),
    };
    match result {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("strom-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
