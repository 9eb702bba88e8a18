//! `strom log-dirs`: Kafka's `kafka-log-dirs.sh` (LogDirsCommand) `--describe`: asks each
//! broker for its log directories (DescribeLogDirs) and prints Kafka's JSON line.

use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
use kafka_protocol::messages::{DescribeLogDirsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use strom_client::topics_of;

use super::common;
use super::json::quote;
use super::opts::{self, arg, flag, Opt, Parse};

const USAGE: &str = "This tool helps to query log directory usage on the specified brokers.";

const OPTS: &[Opt] = &[
    arg("bootstrap-server", "String: The server(s) to use for bootstrapping", "REQUIRED: the server(s) to use for bootstrapping."),
    arg("command-config", "String: Admin client property file", "Property file containing configs to be passed to Admin Client."),
    flag("describe", "Describe the specified log directories on the specified brokers."),
    arg("broker-list", "String: Broker list", "The list of brokers to be queried in the form \"0,1,2\". All brokers in the cluster will be queried if no broker list is specified."),
    arg("topic-list", "String: Topic list", "The list of topics to be queried in the form \"topic1,topic2,topic3\". All topics will be queried if no topic list is specified (default: )."),
];

const EXAMPLES: &str = "\
  strom log-dirs --bootstrap-server localhost:9092 --describe
  strom log-dirs --bootstrap-server localhost:9092 --describe --topic-list orders,payments --broker-list 1
";

/// Runs the tool.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let p = match opts::parse("log-dirs", USAGE, OPTS, EXAMPLES, args, false)? {
        Parse::Run(p) => p,
        Parse::Done => return Ok(()),
    };
    if !p.has("describe") {
        anyhow::bail!("Command must include exactly one action: --describe");
    }
    let topic_list: Vec<String> = p
        .value("topic-list")
        .unwrap_or("")
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let broker_list: Option<Vec<i32>> = p
        .value("broker-list")
        .map(|s| {
            s.split(',')
                .map(|b| {
                    b.trim().parse::<i32>().map_err(|_| {
                        anyhow::anyhow!(
                            "invalid --broker-list '{s}': expected broker ids like 0,1,2"
                        )
                    })
                })
                .collect()
        })
        .transpose()?;
    common::block_on(async {
        let mut client =
            common::connect(p.value("bootstrap-server"), p.value("command-config")).await?;
        let md = client.metadata(None).await?;
        let mut all_ids: Vec<i32> = client.brokers().keys().copied().collect();
        all_ids.sort();
        let ids = match &broker_list {
            Some(want) => {
                let missing: Vec<String> = want
                    .iter()
                    .filter(|b| !all_ids.contains(b))
                    .map(i32::to_string)
                    .collect();
                if !missing.is_empty() {
                    anyhow::bail!(
                        "ERROR: The given brokers do not exist from --broker-list: {}. Current existent brokers: {}",
                        missing.join(","),
                        all_ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
                    );
                }
                want.clone()
            }
            None => all_ids,
        };
        // The partitions asked for: every partition of the listed topics (all when none).
        let topics = topics_of(&md);
        let req_topics = if topic_list.is_empty() {
            None
        } else {
            Some(
                topics
                    .iter()
                    .filter(|t| topic_list.contains(&t.name))
                    .map(|t| {
                        DescribableLogDirTopic::default()
                            .with_topic(TopicName(StrBytes::from_string(t.name.clone())))
                            .with_partitions(t.partitions.iter().map(|p| p.partition).collect())
                    })
                    .collect(),
            )
        };
        println!("Querying brokers for log directories information");
        let mut brokers_json = Vec::new();
        for id in &ids {
            let req = DescribeLogDirsRequest::default().with_topics(req_topics.clone());
            let resp = client.send_to(*id, &req).await?;
            strom_client::check(resp.error_code, None)?;
            let dirs: Vec<String> = resp
                .results
                .iter()
                .map(|d| {
                    let mut parts = Vec::new();
                    for t in &d.topics {
                        for pt in &t.partitions {
                            parts.push(format!(
                                "{{\"partition\":{},\"size\":{},\"offsetLag\":{},\"isFuture\":{}}}",
                                quote(&format!("{}-{}", t.name.0, pt.partition_index)),
                                pt.partition_size,
                                pt.offset_lag,
                                pt.is_future_key
                            ));
                        }
                    }
                    let error = if d.error_code == 0 {
                        "null".to_string()
                    } else {
                        quote(&strom_client::error_name(d.error_code))
                    };
                    format!(
                        "{{\"partitions\":[{}],\"error\":{error},\"logDir\":{}}}",
                        parts.join(","),
                        quote(&d.log_dir)
                    )
                })
                .collect();
            brokers_json.push(format!(
                "{{\"broker\":{id},\"logDirs\":[{}]}}",
                dirs.join(",")
            ));
        }
        println!(
            "Received log directory information from brokers {}",
            ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
        );
        println!("{{\"brokers\":[{}],\"version\":1}}", brokers_json.join(","));
        Ok(())
    })
}
