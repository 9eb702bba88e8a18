//! `strom get-offsets`: Kafka's `kafka-get-offsets.sh` (GetOffsetShell). Prints
//! `topic:partition:offset` for every matching partition at `--time` (-1 latest, -2 earliest,
//! -3 max timestamp, or a timestamp in ms), sorted by topic and partition.

use std::collections::BTreeMap;

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{BrokerId, ListOffsetsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use strom_client::{check, topics_of};

use super::common::{self, is_internal_topic, topic_filter};
use super::opts::{self, arg, flag, Opt, Parse, Parsed};

const USAGE: &str = "An interactive shell for getting topic-partition offsets.";

const OPTS: &[Opt] = &[
    arg("bootstrap-server", "String: HOST1:PORT1,...,HOST3:PORT3", "REQUIRED. The server(s) to connect to in the form HOST1:PORT1,HOST2:PORT2."),
    arg("broker-list", "String: HOST1:PORT1,...,HOST3:PORT3", "DEPRECATED, use --bootstrap-server instead."),
    arg("topic-partitions", "String: topic1:1,topic2:0-3,topic3,topic4:5-,topic5:-3", "Comma separated list of topic-partition patterns to get the offsets for, with the format of '<topic>:<partition>'. Cannot be used with --topic/--partitions."),
    arg("topic", "String: topic", "The topic to get the offsets for. It also accepts a regular expression. If not present, all authorized topics are queried."),
    arg("partitions", "String: partition ids", "Comma separated list of partition ids to get the offsets for. If not present, all partitions are queried."),
    arg("time", "String: <timestamp> / -1 or latest / -2 or earliest / -3 or max-timestamp", "Timestamp of the offsets before that (default: -1, latest)."),
    arg("command-config", "String: config file", "Property file containing configs to be passed to Admin Client."),
    flag("exclude-internal-topics", "By default, internal topics are included. If specified, internal topics are excluded."),
];

const EXAMPLES: &str = "\
  strom get-offsets --bootstrap-server localhost:9092 --topic orders
  strom get-offsets --bootstrap-server localhost:9092 --topic-partitions 'orders:0-2' --time earliest
";

/// Which partitions of a topic a pattern selects.
#[derive(Debug, Clone, PartialEq)]
enum Parts {
    All,
    Range(i32, i32),
}

impl Parts {
    fn contains(&self, p: i32) -> bool {
        match self {
            Parts::All => true,
            Parts::Range(lo, hi) => p >= *lo && p <= *hi,
        }
    }
}

fn parse_parts(spec: &str) -> anyhow::Result<Parts> {
    let bad = || anyhow::anyhow!("invalid partition range '{spec}': use N, N-M, N- or -M");
    let num = |s: &str| s.trim().parse::<i32>().map_err(|_| bad());
    if spec.is_empty() {
        return Ok(Parts::All);
    }
    Ok(match spec.split_once('-') {
        None => {
            let n = num(spec)?;
            Parts::Range(n, n)
        }
        Some(("", hi)) => Parts::Range(0, num(hi)? - 1),
        Some((lo, "")) => Parts::Range(num(lo)?, i32::MAX),
        Some((lo, hi)) => Parts::Range(num(lo)?, num(hi)? - 1),
    })
}

/// Kafka's `--time` values.
pub fn parse_time(s: &str) -> anyhow::Result<i64> {
    match s.trim() {
        "latest" => Ok(-1),
        "earliest" => Ok(-2),
        "max-timestamp" => Ok(-3),
        "earliest-local" => Ok(-4),
        "latest-tiered" => Ok(-5),
        n => n.parse::<i64>().map_err(|_| anyhow::anyhow!("Malformed time argument {n}. Please use -1 or latest / -2 or earliest / -3 or max-timestamp, or a specified long format timestamp")),
    }
}

fn filters(p: &Parsed) -> anyhow::Result<Vec<(regex::Regex, Vec<Parts>)>> {
    if let Some(tp) = p.value("topic-partitions") {
        if p.has("topic") || p.has("partitions") {
            anyhow::bail!("--topic-partitions cannot be used with --topic or --partitions");
        }
        return tp
            .split(',')
            .map(|item| {
                let (t, parts) = match item.rsplit_once(':') {
                    Some((t, ps)) => (t, parse_parts(ps)?),
                    None => (item, Parts::All),
                };
                Ok((
                    topic_filter(if t.is_empty() { ".*" } else { t })?,
                    vec![parts],
                ))
            })
            .collect();
    }
    let re = topic_filter(p.value("topic").unwrap_or(".*"))?;
    let parts = match p.value("partitions") {
        None => vec![Parts::All],
        Some(ps) => ps
            .split(',')
            .map(|s| {
                s.trim()
                    .parse::<i32>()
                    .map(|n| Parts::Range(n, n))
                    .map_err(|_| {
                        anyhow::anyhow!(
                            "invalid --partitions '{ps}': expected comma-separated partition ids"
                        )
                    })
            })
            .collect::<anyhow::Result<_>>()?,
    };
    Ok(vec![(re, parts)])
}

/// Runs the tool.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let p = match opts::parse("get-offsets", USAGE, OPTS, EXAMPLES, args, false)? {
        Parse::Run(p) => p,
        Parse::Done => return Ok(()),
    };
    let time = parse_time(p.value("time").unwrap_or("-1"))?;
    let filters = filters(&p)?;
    let bootstrap = p.value("bootstrap-server").or(p.value("broker-list"));
    common::block_on(async {
        let mut client = common::connect(bootstrap, p.value("command-config")).await?;
        let md = client.metadata(None).await?;
        // leader -> topic -> partitions
        let mut by_leader: BTreeMap<i32, BTreeMap<String, Vec<i32>>> = BTreeMap::new();
        for t in topics_of(&md) {
            if p.has("exclude-internal-topics") && (t.is_internal || is_internal_topic(&t.name)) {
                continue;
            }
            for part in &t.partitions {
                let selected = filters.iter().any(|(re, ps)| {
                    re.is_match(&t.name) && ps.iter().any(|r| r.contains(part.partition))
                });
                if selected {
                    by_leader
                        .entry(part.leader)
                        .or_default()
                        .entry(t.name.clone())
                        .or_default()
                        .push(part.partition);
                }
            }
        }
        let mut results: BTreeMap<(String, i32), i64> = BTreeMap::new();
        for (leader, topics) in by_leader {
            let req = ListOffsetsRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_topics(
                    topics
                        .into_iter()
                        .map(|(t, ps)| {
                            ListOffsetsTopic::default()
                                .with_name(TopicName(StrBytes::from_string(t)))
                                .with_partitions(
                                    ps.into_iter()
                                        .map(|p| {
                                            ListOffsetsPartition::default()
                                                .with_partition_index(p)
                                                .with_timestamp(time)
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                );
            let resp = client.send_to(leader, &req).await?;
            for t in resp.topics {
                for pr in t.partitions {
                    check(pr.error_code, None)?;
                    results.insert((t.name.0.to_string(), pr.partition_index), pr.offset);
                }
            }
        }
        for ((t, part), off) in results {
            if off >= 0 {
                println!("{t}:{part}:{off}");
            } else {
                println!("{t}:{part}:");
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_and_ranges() {
        assert_eq!(parse_time("earliest").unwrap(), -2);
        assert_eq!(parse_time("-3").unwrap(), -3);
        assert!(parse_time("yesterday").is_err());
        assert_eq!(parse_parts("0-3").unwrap(), Parts::Range(0, 2));
        assert_eq!(parse_parts("5-").unwrap(), Parts::Range(5, i32::MAX));
        assert_eq!(parse_parts("-3").unwrap(), Parts::Range(0, 2));
        assert_eq!(parse_parts("1").unwrap(), Parts::Range(1, 1));
        assert!(parse_parts("x").is_err());
    }
}
