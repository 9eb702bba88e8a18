//! `strom`: one binary that is the broker (`server-start`) and Kafka's operator tools
//! (`strom <tool>` with the flags of `kafka-<tool>.sh`).

use std::path::PathBuf;
use std::process::ExitCode;

mod alloc;
mod storage;
mod tools;

#[global_allocator]
static GLOBAL: alloc::StromAlloc = alloc::StromAlloc;

const USAGE: &str = "\
Usage: strom <command> [args]

Commands:
  server-start [-daemon] [server.properties] [--override key=value]...
                        Start a broker (and its built-in controller). With no file: a single
                        node on localhost:9092 with data in ./data.
  server-stop           Stop the Strom servers started from this machine (SIGTERM, by pid).
  storage               random-uuid | format -t <cluster-id> -c <server.properties> | info -c <file>
  topics, console-producer, console-consumer, consumer-groups, configs, broker-api-versions, get-offsets,
  delete-records, log-dirs, dump-log, producer-perf-test, consumer-perf-test, e2e-latency
                        Kafka's operator tools, with the flags of kafka-<tool>.sh.
  --version             Print the version.

Every command takes --help.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(1);
    };
    let rest = &args[1..];
    let r = match cmd.as_str() {
        "server-start" => server_start(rest),
        "server-stop" => server_stop(rest),
        "storage" => storage::run(rest),
        tool if tools::is_tool(tool) => return tools::main(tool, rest),
        "--version" | "version" => {
            println!("{} (Strom)", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        "--help" | "-h" | "help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(anyhow::anyhow!(
            "unknown command '{other}'; run 'strom --help' for the list of commands"
        )),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::from(1)
        }
    }
}

const SERVER_START_USAGE: &str = "\
Usage: strom server-start [-daemon] [server.properties] [--override property=value]*

Starts a Strom node (broker and controller in one process), as kafka-server-start.sh does.
  -daemon                 Run in the background; logs go to $LOG_DIR/server.out (default ./logs).
  --override key=value    Override a property of the file (repeatable).
With no file, a single node listens on localhost:9092 and keeps its data in ./data.

Examples:
  strom server-start
  strom server-start config/server.properties --override log.dirs=/tmp/strom-data
  strom server-start -daemon config/server.properties";

fn server_start(args: &[String]) -> anyhow::Result<()> {
    let mut file: Option<PathBuf> = None;
    let mut overrides = Vec::new();
    let mut daemon = false;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "-daemon" | "--daemon" => daemon = true,
            "--help" | "-h" => {
                println!("{SERVER_START_USAGE}");
                return Ok(());
            }
            "--override" => {
                let v = args.get(i + 1).ok_or_else(|| {
                    anyhow::anyhow!(
                        "--override needs key=value, for example --override log.dirs=/tmp/strom"
                    )
                })?;
                overrides.push(v.clone());
                i += 1;
            }
            s if s.starts_with("--override=") => {
                overrides.push(s["--override=".len()..].to_string())
            }
            s if s.starts_with('-') => {
                anyhow::bail!("unknown option '{s}'; see 'strom server-start --help'")
            }
            s => {
                if file.is_some() {
                    anyhow::bail!("more than one properties file given ('{s}'); pass one file and use --override for single keys");
                }
                file = Some(PathBuf::from(s));
            }
        }
        i += 1;
    }
    if daemon {
        return spawn_daemon(args);
    }
    let (config, warnings) = strom_server::config::BrokerConfig::load(file.as_deref(), &overrides)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    init_logging();
    for w in warnings {
        tracing::warn!("{w}");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let running = strom_server::server::start(config).await?;
        wait_for_signal().await;
        running.shutdown().await
    })
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("STROM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("installing a SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// Re-runs `server-start` without `-daemon` in a new session, output to `$LOG_DIR/server.out`.
fn spawn_daemon(args: &[String]) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt;
    let log_dir = PathBuf::from(std::env::var("LOG_DIR").unwrap_or_else(|_| "logs".into()));
    std::fs::create_dir_all(&log_dir).map_err(|e| {
        anyhow::anyhow!(
            "cannot create log dir {}: {e}; set LOG_DIR to a writable directory",
            log_dir.display()
        )
    })?;
    let out_path = log_dir.join("server.out");
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&out_path)?;
    let err = out.try_clone()?;
    let rest: Vec<&String> = args
        .iter()
        .filter(|a| *a != "-daemon" && *a != "--daemon")
        .collect();
    let child = std::process::Command::new(std::env::current_exe()?)
        .arg("server-start")
        .args(rest)
        .stdin(std::process::Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()?;
    println!(
        "Strom started in the background (pid {}); log: {}",
        child.id(),
        out_path.display()
    );
    Ok(())
}

/// Sends SIGTERM to every `strom server-start` process of this user, as kafka-server-stop.sh
/// does for Kafka. Exits non-zero when none was running.
fn server_stop(args: &[String]) -> anyhow::Result<()> {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("Usage: strom server-stop\n\nSends SIGTERM to every running 'strom server-start' process, which then shuts down cleanly.");
        return Ok(());
    }
    let me = std::process::id();
    let mut stopped = 0;
    for entry in std::fs::read_dir("/proc")? {
        let entry = entry?;
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let parts: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let is_strom = parts
            .first()
            .is_some_and(|p| p.ends_with(b"/strom") || *p == b"strom");
        if is_strom && parts.get(1).is_some_and(|p| *p == b"server-start") {
            let st = std::process::Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status()?;
            if st.success() {
                println!("Sent SIGTERM to Strom server (pid {pid})");
                stopped += 1;
            }
        }
    }
    if stopped == 0 {
        anyhow::bail!("No Strom server to stop");
    }
    Ok(())
}
