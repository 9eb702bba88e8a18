//! Kafka's operator tools as `strom <tool>`: each module is one `kafka-<tool>.sh`, with its
//! flags, defaults, output lines and exit codes. Network tools speak the protocol through
//! `strom-client`; `dump-log` reads segment files directly.

pub mod broker_api_versions;
pub mod common;
pub mod configs;
pub mod console_consumer;
pub mod console_producer;
pub mod consumer_groups;
pub mod consumer_perf_test;
pub mod delete_records;
pub mod dump_log;
pub mod e2e_latency;
pub mod get_offsets;
pub mod java;
pub mod json;
pub mod log_dirs;
pub mod opts;
pub mod producer_perf_test;
pub mod progress;
pub mod topics;

use std::process::ExitCode;

type Run = fn(&[String]) -> anyhow::Result<()>;

const TOOLS: &[(&str, Run)] = &[
    ("topics", topics::run),
    ("configs", configs::run),
    ("console-producer", console_producer::run),
    ("console-consumer", console_consumer::run),
    ("broker-api-versions", broker_api_versions::run),
    ("get-offsets", get_offsets::run),
    ("delete-records", delete_records::run),
    ("log-dirs", log_dirs::run),
    ("dump-log", dump_log::run),
    ("producer-perf-test", producer_perf_test::run),
    ("consumer-perf-test", consumer_perf_test::run),
    ("e2e-latency", e2e_latency::run),
    ("consumer-groups", consumer_groups::run),
];

/// Whether `name` is a tool of this module.
pub fn is_tool(name: &str) -> bool {
    TOOLS.iter().any(|(n, _)| *n == name)
}

/// Runs tool `name`: exit 0 on success; on failure one line on stderr and exit 1.
pub fn main(name: &str, args: &[String]) -> ExitCode {
    let (_, run) = TOOLS
        .iter()
        .find(|(n, _)| *n == name)
        .expect("is_tool checked");
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let msg = format!("{e:#}");
            eprintln!("{}", msg.replace('\n', " "));
            ExitCode::from(1)
        }
    }
}
