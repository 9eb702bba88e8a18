//! `strom broker-api-versions`: Kafka's `kafka-broker-api-versions.sh`. For every broker in
//! the cluster, the API version ranges it advertises and the version this tool's client would
//! use, in Kafka's `NodeApiVersions.toString(true)` layout.

use std::collections::BTreeMap;

use kafka_protocol::messages::ApiKey;
use strom_client::BrokerInfo;

use super::common;
use super::opts::{self, arg, Opt, Parse};

const USAGE: &str = "This tool helps to retrieve broker version information.";

const OPTS: &[Opt] = &[
    arg(
        "bootstrap-server",
        "String: server(s) to use for bootstrapping",
        "REQUIRED: The server to connect to.",
    ),
    arg(
        "command-config",
        "String: command config property file",
        "A property file containing configs to be passed to Admin Client.",
    ),
];

const EXAMPLES: &str = "  strom broker-api-versions --bootstrap-server localhost:9092\n";

/// APIs only controllers (or the retired ZooKeeper-mode controller) answer; the tool lists
/// every other API, as UNSUPPORTED when the broker lacks it.
const CONTROLLER_ONLY: &[i16] = &[
    4, 5, 6, 7, 52, 53, 54, 58, 59, 62, 63, 67, 70, 73, 80, 81, 82,
];

/// Runs the tool.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let p = match opts::parse("broker-api-versions", USAGE, OPTS, EXAMPLES, args, false)? {
        Parse::Run(p) => p,
        Parse::Done => return Ok(()),
    };
    common::block_on(async {
        let mut client =
            common::connect(p.value("bootstrap-server"), p.value("command-config")).await?;
        client.metadata(Some(&[])).await?;
        let mut brokers: Vec<BrokerInfo> = client.brokers().values().cloned().collect();
        brokers.sort_by_key(|b| b.node_id);
        for b in brokers {
            let node = node_string(&b);
            match client.conn(b.node_id).await {
                Ok(conn) => {
                    println!("{node} -> {}", versions_text(conn.broker_versions()));
                }
                Err(e) => println!("{node} -> ERROR: {e}"),
            }
        }
        Ok(())
    })
}

/// Kafka 4's `Node.toString()`.
pub fn node_string(b: &BrokerInfo) -> String {
    format!(
        "{}:{} (id: {} rack: {} isFenced: false)",
        b.host,
        b.port,
        b.node_id,
        b.rack.as_deref().unwrap_or("null")
    )
}

/// One API's text: `Name(key): min to max [usable: v]`.
pub fn api_text(key: i16, range: Option<(i16, i16)>) -> String {
    let Ok(api) = ApiKey::try_from(key) else {
        let (min, max) = range.unwrap_or((0, 0));
        return format!("UNKNOWN({key}): {}", span(min, max));
    };
    let name = format!("{api:?}({key}): ");
    let Some((min, max)) = range else {
        return format!("{name}UNSUPPORTED");
    };
    let ours = api.valid_versions();
    let usable = if ours.max < min {
        " [unusable: node too new]".to_string()
    } else if max < ours.min {
        " [unusable: node too old]".to_string()
    } else {
        format!(" [usable: {}]", ours.max.min(max))
    };
    format!("{name}{}{usable}", span(min, max))
}

fn span(min: i16, max: i16) -> String {
    if min == max {
        min.to_string()
    } else {
        format!("{min} to {max}")
    }
}

/// The whole `(\n\t...,\n\t...\n)` block for a broker's advertised ranges.
pub fn versions_text(versions: &BTreeMap<i16, (i16, i16)>) -> String {
    let mut lines: BTreeMap<i16, String> = versions
        .iter()
        .map(|(k, r)| (*k, api_text(*k, Some(*r))))
        .collect();
    for api in ApiKey::iter() {
        let k = api as i16;
        if !CONTROLLER_ONLY.contains(&k) && !lines.contains_key(&k) {
            lines.insert(k, api_text(k, None));
        }
    }
    let body: Vec<String> = lines.into_values().collect();
    format!("(\n\t{}\n)", body.join(",\n\t"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_lines_follow_kafka_layout() {
        assert_eq!(
            api_text(18, Some((0, 4))),
            "ApiVersions(18): 0 to 4 [usable: 4]"
        );
        assert_eq!(api_text(0, Some((3, 3))), "Produce(0): 3 [usable: 3]");
        assert_eq!(api_text(11, None), "JoinGroup(11): UNSUPPORTED");
        assert_eq!(
            api_text(0, Some((50, 60))),
            "Produce(0): 50 to 60 [unusable: node too new]"
        );
        let mut v = BTreeMap::new();
        v.insert(18, (0, 4));
        let t = versions_text(&v);
        assert!(t.starts_with("(\n\tProduce(0): UNSUPPORTED,\n\t"), "{t}");
        assert!(t.ends_with("\n)"));
        assert!(!t.contains("LeaderAndIsr"));
    }

    #[test]
    fn node_line() {
        let b = BrokerInfo {
            node_id: 1,
            host: "localhost".into(),
            port: 9092,
            rack: None,
        };
        assert_eq!(
            node_string(&b),
            "localhost:9092 (id: 1 rack: null isFenced: false)"
        );
    }
}
