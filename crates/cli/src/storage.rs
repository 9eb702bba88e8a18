//! `strom storage`: Kafka's `kafka-storage.sh` (random-uuid, format, info).

use std::path::PathBuf;

use strom_server::broker::{ensure_formatted, read_meta_properties};
use strom_server::config::BrokerConfig;
use strom_server::metadata::{random_id, uuid_from_base64, uuid_to_base64};

const USAGE: &str = "\
Usage: strom storage <command>

  random-uuid                                  Print a new cluster id.
  format -t <cluster-id> -c <server.properties> [--ignore-formatted] [--standalone]
                                               Format the log dirs of the config for the cluster.
  info -c <server.properties>                  Show the state of the log dirs.

Examples:
  strom storage format -t $(strom storage random-uuid) -c config/server.properties";

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let Some(cmd) = args.first() else {
        anyhow::bail!(
            "storage needs a command (random-uuid, format or info); see 'strom storage --help'"
        );
    };
    let mut cluster: Option<String> = None;
    let mut config: Option<PathBuf> = None;
    let mut ignore_formatted = false;
    let mut i = 1;
    while i < args.len() {
        let a = args[i].as_str();
        let val = || {
            args.get(i + 1)
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("{a} needs a value; see 'strom storage --help'"))
        };
        match a {
            "-t" | "--cluster-id" => {
                cluster = Some(val()?);
                i += 1;
            }
            "-c" | "--config" => {
                config = Some(PathBuf::from(val()?));
                i += 1;
            }
            "-g" | "--ignore-formatted" => ignore_formatted = true,
            "-s" | "--standalone" | "--no-initial-controllers" | "-N" => {}
            "--help" | "-h" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => anyhow::bail!(
                "unknown option '{other}' for storage {cmd}; see 'strom storage --help'"
            ),
        }
        i += 1;
    }
    match cmd.as_str() {
        "--help" | "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        "random-uuid" => {
            println!("{}", uuid_to_base64(&random_id()));
            Ok(())
        }
        "format" => {
            let id = cluster.ok_or_else(|| {
                anyhow::anyhow!(
                    "format needs --cluster-id (-t); make one with 'strom storage random-uuid'"
                )
            })?;
            if uuid_from_base64(&id).is_none() {
                anyhow::bail!("cluster id '{id}' is not a base64 UUID; make one with 'strom storage random-uuid'");
            }
            let cfg = load_config(config.as_deref(), "format")?;
            let dirs = cfg.all_log_dirs();
            let mut already = Vec::new();
            for d in &dirs {
                if read_meta_properties(d)
                    .map_err(|e| anyhow::anyhow!("{e}"))?
                    .is_some()
                {
                    already.push(d.display().to_string());
                }
            }
            if !already.is_empty() && !ignore_formatted {
                anyhow::bail!("Log directory {} is already formatted. Use --ignore-formatted to ignore this directory and format the others.", already.join(", "));
            }
            for d in &dirs {
                std::fs::create_dir_all(d)
                    .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", d.display()))?;
            }
            ensure_formatted(&dirs, cfg.node_id(), Some(&id))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            for d in &dirs {
                println!(
                    "Formatting metadata directory {} with metadata.version 4.0-IV3.",
                    d.display()
                );
            }
            Ok(())
        }
        "info" => {
            let cfg = load_config(config.as_deref(), "info")?;
            let dirs = cfg.all_log_dirs();
            let mut unformatted = Vec::new();
            for d in &dirs {
                match read_meta_properties(d).map_err(|e| anyhow::anyhow!("{e}"))? {
                    Some(m) => println!("Found log directory:\n  {}\n\nFound metadata: {{cluster.id={}, node.id={}, directory.id={}, version=1}}\n", d.display(), m.cluster_id, m.node_id, m.directory_id),
                    None => unformatted.push(d.display().to_string()),
                }
            }
            if !unformatted.is_empty() {
                println!(
                    "Found problem:\n  Log directory {} is not formatted.",
                    unformatted.join(", ")
                );
            }
            Ok(())
        }
        other => {
            anyhow::bail!("unknown storage command '{other}'; use random-uuid, format or info")
        }
    }
}

/// The config file named by `-c`, for `storage <cmd>`; errors name the flag or the problem.
fn load_config(path: Option<&std::path::Path>, cmd: &str) -> anyhow::Result<BrokerConfig> {
    let path = path.ok_or_else(|| {
        anyhow::anyhow!("{cmd} needs --config (-c) naming the server.properties file")
    })?;
    let (cfg, _) = BrokerConfig::load(Some(path), &[]).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(cfg)
}
