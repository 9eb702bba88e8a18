//! `strom delete-records`: Kafka's `kafka-delete-records.sh` (DeleteRecordsCommand). Reads
//! `{"partitions":[{"topic":"t","partition":0,"offset":10}],"version":1}` and advances each
//! partition's log start offset (offset -1: the high watermark).

use std::collections::{BTreeMap, HashSet};

use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::{DeleteRecordsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use strom_client::topics_of;

use super::common;
use super::json::{self, Json};
use super::opts::{self, arg, Opt, Parse};

const USAGE: &str =
    "This tool helps to delete records of the given partitions down to the specified offset.";

const OPTS: &[Opt] = &[
    arg("bootstrap-server", "String: server(s) to use for bootstrapping", "REQUIRED: The server to connect to."),
    arg("offset-json-file", "String: Offset json file path", "REQUIRED: The JSON file with offset per partition. The format to use is:\n{\"partitions\":\n  [{\"topic\": \"foo\", \"partition\": 1, \"offset\": 1}],\n \"version\":1\n}"),
    arg("command-config", "String: command config property file path", "A property file containing configs to be passed to Admin Client."),
];

const EXAMPLES: &str = "\
  echo '{\"partitions\":[{\"topic\":\"orders\",\"partition\":0,\"offset\":100}],\"version\":1}' > offsets.json
  strom delete-records --bootstrap-server localhost:9092 --offset-json-file offsets.json
";

/// Parses the offset JSON into (topic, partition, offset). Errors name the problem.
pub fn parse_offsets(text: &str) -> anyhow::Result<Vec<(String, i32, i64)>> {
    let j = json::parse(text)
        .map_err(|e| anyhow::anyhow!("the offset JSON file is not valid JSON: {e}"))?;
    let Some(Json::Array(ps)) = j.get("partitions") else {
        anyhow::bail!("the offset JSON file has no \"partitions\" array; expected {{\"partitions\":[{{\"topic\":\"foo\",\"partition\":1,\"offset\":1}}],\"version\":1}}");
    };
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut dups = Vec::new();
    for p in ps {
        let (Some(Json::String(t)), Some(part), Some(off)) = (
            p.get("topic"),
            p.get("partition").and_then(Json::as_i64),
            p.get("offset").and_then(Json::as_i64),
        ) else {
            anyhow::bail!("each entry of \"partitions\" needs \"topic\" (string), \"partition\" and \"offset\" (integers)");
        };
        if !seen.insert((t.clone(), part)) {
            dups.push(format!("{t}-{part}"));
        }
        out.push((t.clone(), part as i32, off));
    }
    if !dups.is_empty() {
        anyhow::bail!(
            "Offset json file contains duplicate topic partitions: {}",
            dups.join(",")
        );
    }
    Ok(out)
}

/// Runs the tool.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let p = match opts::parse("delete-records", USAGE, OPTS, EXAMPLES, args, false)? {
        Parse::Run(p) => p,
        Parse::Done => return Ok(()),
    };
    let file = p.required("offset-json-file")?;
    let text = std::fs::read_to_string(file)
        .map_err(|e| anyhow::anyhow!("cannot read {file}: {e}; check --offset-json-file"))?;
    let offsets = parse_offsets(&text)?;
    common::block_on(async {
        let mut client =
            common::connect(p.value("bootstrap-server"), p.value("command-config")).await?;
        println!("Executing records delete operation");
        let topics: Vec<String> = offsets
            .iter()
            .map(|o| o.0.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let md = client.metadata(Some(&topics)).await?;
        let leaders: BTreeMap<(String, i32), i32> = topics_of(&md)
            .into_iter()
            .flat_map(|t| {
                t.partitions
                    .into_iter()
                    .map(move |p| ((t.name.clone(), p.partition), p.leader))
            })
            .collect();
        let mut results: BTreeMap<(String, i32), Result<i64, String>> = BTreeMap::new();
        let mut by_leader: BTreeMap<i32, BTreeMap<String, Vec<(i32, i64)>>> = BTreeMap::new();
        for (t, part, off) in &offsets {
            match leaders.get(&(t.clone(), *part)) {
                Some(l) if *l >= 0 => by_leader
                    .entry(*l)
                    .or_default()
                    .entry(t.clone())
                    .or_default()
                    .push((*part, *off)),
                _ => {
                    results.insert((t.clone(), *part), Err("org.apache.kafka.common.errors.UnknownTopicOrPartitionException: This server does not host this topic-partition.".into()));
                }
            }
        }
        for (leader, topics) in by_leader {
            let req = DeleteRecordsRequest::default()
                .with_timeout_ms(30_000)
                .with_topics(
                    topics
                        .into_iter()
                        .map(|(t, ps)| {
                            DeleteRecordsTopic::default()
                                .with_name(TopicName(StrBytes::from_string(t)))
                                .with_partitions(
                                    ps.into_iter()
                                        .map(|(p, o)| {
                                            DeleteRecordsPartition::default()
                                                .with_partition_index(p)
                                                .with_offset(o)
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                );
            let resp = client.send_to(leader, &req).await?;
            for t in resp.topics {
                for pr in t.partitions {
                    let r = if pr.error_code == 0 {
                        Ok(pr.low_watermark)
                    } else {
                        Err(strom_client::kafka_error_text(pr.error_code, None))
                    };
                    results.insert((t.name.0.to_string(), pr.partition_index), r);
                }
            }
        }
        println!("Records delete operation completed:");
        for ((t, part), r) in results {
            match r {
                Ok(low) => println!("partition: {t}-{part}\tlow_watermark: {low}"),
                Err(e) => println!("partition: {t}-{part}\terror: {e}"),
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_file_validation() {
        let ok =
            parse_offsets(r#"{"partitions":[{"topic":"a","partition":0,"offset":5}],"version":1}"#)
                .unwrap();
        assert_eq!(ok, vec![("a".to_string(), 0, 5)]);
        let dup = r#"{"partitions":[{"topic":"a","partition":0,"offset":5},{"topic":"a","partition":0,"offset":6}]}"#;
        assert!(parse_offsets(dup)
            .unwrap_err()
            .to_string()
            .contains("duplicate topic partitions: a-0"));
        assert!(parse_offsets("{}").is_err());
        assert!(parse_offsets(r#"{"partitions":[{"topic":"a"}]}"#).is_err());
    }
}
