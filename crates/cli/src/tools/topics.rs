//! `strom topics`: Kafka's `kafka-topics.sh` (TopicCommand): create, list, describe, alter
//! (partition count) and delete topics, with Kafka's flags, output lines and exit codes.

use std::collections::HashSet;

use kafka_protocol::messages::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsTopic,
};
use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use strom_client::{check, topics_of, Client, TopicInfo};

use super::common::{self, is_internal_topic, topic_filter};
use super::opts::{self, arg, flag, Opt, Parse, Parsed};

const USAGE: &str = "This tool helps to create, delete, describe, or change a topic.";

const OPTS: &[Opt] = &[
    arg("bootstrap-server", "String: server to connect to", "REQUIRED: The Kafka server to connect to (host:port, comma-separated list)."),
    arg("command-config", "String: command config property file", "Property file containing configs to be passed to Admin Client."),
    flag("list", "List all available topics."),
    flag("create", "Create a new topic."),
    flag("delete", "Delete a topic."),
    flag("alter", "Alter the number of partitions and replica assignment. (To alter topic configurations, the kafka-configs tool can be used.)"),
    flag("describe", "List details for the given topics."),
    arg("topic", "String: topic", "The topic to create, alter, describe or delete. It also accepts a regular expression, except for --create option."),
    arg("topic-id", "String: topic-id", "The topic-id to describe."),
    arg("config", "String: name=value", "A topic configuration override for the topic being created (repeatable). Supported only with --create."),
    arg("partitions", "Integer: # of partitions", "The number of partitions for the topic being created or altered. If not supplied with --create, the topic uses the cluster default."),
    arg("replication-factor", "Integer: replication factor", "The replication factor for each partition in the topic being created. If not supplied, the topic uses the cluster default."),
    arg("replica-assignment", "String: broker_id_for_part1_replica1 : broker_id_for_part1_replica2 , broker_id_for_part2_replica1 : ...", "A list of manual partition-to-broker assignments for the topic being created or altered."),
    flag("under-replicated-partitions", "If set when describing topics, only show under-replicated partitions."),
    flag("unavailable-partitions", "If set when describing topics, only show partitions whose leader is not available."),
    flag("under-min-isr-partitions", "If set when describing topics, only show partitions whose isr count is less than the configured minimum."),
    flag("at-min-isr-partitions", "If set when describing topics, only show partitions whose isr count is equal to the configured minimum."),
    flag("topics-with-overrides", "If set when describing topics, only show topics that have overridden configs."),
    flag("if-exists", "If set when altering or deleting or describing topics, the action will only execute if the topic exists."),
    flag("if-not-exists", "If set when creating topics, the create request will not fail if the topic already exists."),
    flag("exclude-internal", "Exclude internal topics when listing or describing topics. By default, the internal topics are included."),
    arg("partition-size-limit-per-response", "Integer: maximum number of partitions per response", "Accepted for compatibility; Strom answers all partitions at once."),
];

const EXAMPLES: &str = "\
  strom topics --bootstrap-server localhost:9092 --create --topic orders --partitions 3 --config retention.ms=86400000
  strom topics --bootstrap-server localhost:9092 --list
  strom topics --bootstrap-server localhost:9092 --describe --topic 'orders.*'
  strom topics --bootstrap-server localhost:9092 --alter --topic orders --partitions 6
  strom topics --bootstrap-server localhost:9092 --delete --topic orders
";

const ACTIONS: [&str; 5] = ["create", "list", "alter", "describe", "delete"];

/// Runs the tool.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let p = match opts::parse("topics", USAGE, OPTS, EXAMPLES, args, false)? {
        Parse::Run(p) => p,
        Parse::Done => return Ok(()),
    };
    if args.is_empty() {
        anyhow::bail!("Create, delete, describe, or change a topic: give one action, see 'strom topics --help'");
    }
    check_args(&p)?;
    common::block_on(async {
        let mut client =
            common::connect(p.value("bootstrap-server"), p.value("command-config")).await?;
        let r = if p.has("create") {
            create(&mut client, &p).await
        } else if p.has("list") {
            list(&mut client, &p).await
        } else if p.has("alter") {
            alter(&mut client, &p).await
        } else if p.has("describe") {
            describe(&mut client, &p).await
        } else {
            delete(&mut client, &p).await
        };
        r.map_err(|e| anyhow::anyhow!("Error while executing topic command : {e:#}"))
    })
}

/// Kafka's argument checks (TopicCommandOptions.checkArgs), one line each.
fn check_args(p: &Parsed) -> anyhow::Result<()> {
    let actions = ACTIONS.iter().filter(|a| p.has(a)).count();
    if actions != 1 {
        anyhow::bail!("Command must include exactly one action: --list, --describe, --create, --alter or --delete");
    }
    if !p.has("bootstrap-server") {
        anyhow::bail!(
            "--bootstrap-server must be specified, e.g. --bootstrap-server localhost:9092"
        );
    }
    if !p.has("list") && !p.has("describe") && !p.has("topic") {
        p.required("topic")?;
    }
    if p.has("alter") && !p.has("partitions") {
        anyhow::bail!("Missing required argument \"[partitions]\"; --alter changes the partition count (use 'strom configs' to alter topic configs)");
    }
    let only = |opt: &str, allowed: &[&str]| -> anyhow::Result<()> {
        if p.has(opt) {
            if let Some(bad) = ACTIONS.iter().find(|a| p.has(a) && !allowed.contains(a)) {
                anyhow::bail!("Option \"[{opt}]\" can't be used with option \"[{bad}]\"");
            }
        }
        Ok(())
    };
    only("config", &["create"])?;
    only("partitions", &["alter", "create"])?;
    only("replication-factor", &["create"])?;
    only("replica-assignment", &["alter", "create"])?;
    for r in [
        "under-replicated-partitions",
        "unavailable-partitions",
        "under-min-isr-partitions",
        "at-min-isr-partitions",
        "topics-with-overrides",
    ] {
        only(r, &["describe"])?;
    }
    only("if-exists", &["alter", "delete", "describe"])?;
    only("if-not-exists", &["create"])?;
    only("exclude-internal", &["list", "describe"])?;
    if p.has("create")
        && p.has("replica-assignment")
        && (p.has("partitions") || p.has("replication-factor"))
    {
        anyhow::bail!("Option \"[replica-assignment]\" can't be used with option \"[partitions]\" or \"[replication-factor]\"");
    }
    Ok(())
}

/// Parses `--replica-assignment 1:2,3:4` into per-partition broker lists.
pub fn parse_replica_assignment(s: &str) -> anyhow::Result<Vec<Vec<i32>>> {
    let mut out: Vec<Vec<i32>> = Vec::new();
    for (i, part) in s.split(',').enumerate() {
        let brokers = part
            .split(':')
            .map(|b| b.trim().parse::<i32>())
            .collect::<Result<Vec<i32>, _>>()
            .map_err(|_| {
                anyhow::anyhow!(
                    "invalid --replica-assignment '{s}': expected broker ids like 1:2,2:3"
                )
            })?;
        let mut seen = HashSet::new();
        if let Some(d) = brokers.iter().find(|b| !seen.insert(**b)) {
            anyhow::bail!("Partition replica lists may not contain duplicate entries: {d}");
        }
        if let Some(first) = out.first() {
            if first.len() != brokers.len() {
                anyhow::bail!("Partition {i} has different replication factor: {brokers:?}");
            }
        }
        out.push(brokers);
    }
    Ok(out)
}

/// Kafka's `Topic.hasCollisionChars`.
fn has_collision_chars(topic: &str) -> bool {
    topic.contains('.') || topic.contains('_')
}

async fn create(client: &mut Client, p: &Parsed) -> anyhow::Result<()> {
    let name = p.required("topic")?.to_string();
    let partitions: Option<i32> = p.number("partitions")?;
    let rf: Option<i32> = p.number("replication-factor")?;
    if let Some(rf) = rf {
        if !(1..=i16::MAX as i32).contains(&rf) {
            anyhow::bail!(
                "The replication factor must be between 1 and {} inclusive",
                i16::MAX
            );
        }
    }
    if partitions.is_some_and(|n| n < 1) {
        anyhow::bail!("The partitions must be greater than 0");
    }
    let configs = opts::key_values(p.values("config"), "--config").map_err(|_| {
        anyhow::anyhow!("requirement failed: Invalid topic config: all configs to be added must be in the format \"key=val\".")
    })?;
    if has_collision_chars(&name) {
        println!("WARNING: Due to limitations in metric names, topics with a period ('.') or underscore ('_') could collide. To avoid issues it is best to use either, but not both.");
    }
    let mut topic = CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_string(name.clone())))
        .with_num_partitions(partitions.unwrap_or(-1))
        .with_replication_factor(rf.unwrap_or(-1) as i16)
        .with_configs(
            configs
                .into_iter()
                .map(|(k, v)| {
                    CreatableTopicConfig::default()
                        .with_name(StrBytes::from_string(k))
                        .with_value(Some(StrBytes::from_string(v.trim().to_string())))
                })
                .collect(),
        );
    if let Some(ra) = p.value("replica-assignment").filter(|s| !s.is_empty()) {
        topic.num_partitions = -1;
        topic.replication_factor = -1;
        topic.assignments = parse_replica_assignment(ra)?
            .into_iter()
            .enumerate()
            .map(|(i, b)| {
                CreatableReplicaAssignment::default()
                    .with_partition_index(i as i32)
                    .with_broker_ids(b.into_iter().map(BrokerId).collect())
            })
            .collect();
    }
    let req = CreateTopicsRequest::default()
        .with_topics(vec![topic])
        .with_timeout_ms(30_000);
    let resp = client.send(&req).await?;
    for t in &resp.topics {
        if t.error_code == 36 && p.has("if-not-exists") {
            return Ok(());
        }
        check(t.error_code, t.error_message.as_ref())?;
    }
    println!("Created topic {name}.");
    Ok(())
}

/// All topic names, sorted, filtered by `--topic` (a regex) and `--exclude-internal`.
async fn get_topics(client: &mut Client, p: &Parsed) -> anyhow::Result<Vec<TopicInfo>> {
    let md = client.metadata(None).await?;
    let exclude_internal = p.has("exclude-internal");
    let filter = p.value("topic").map(topic_filter).transpose()?;
    let mut topics: Vec<TopicInfo> = topics_of(&md)
        .into_iter()
        .filter(|t| !(exclude_internal && (t.is_internal || is_internal_topic(&t.name))))
        .filter(|t| filter.as_ref().is_none_or(|f| f.is_match(&t.name)))
        .collect();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(topics)
}

fn ensure_exists(topics: &[TopicInfo], p: &Parsed) -> anyhow::Result<()> {
    if let Some(t) = p.value("topic") {
        if !t.is_empty() && topics.is_empty() && !p.has("if-exists") {
            anyhow::bail!("Topic '{t}' does not exist as expected");
        }
    }
    Ok(())
}

async fn list(client: &mut Client, p: &Parsed) -> anyhow::Result<()> {
    let names: Vec<String> = get_topics(client, p)
        .await?
        .into_iter()
        .map(|t| t.name)
        .collect();
    println!("{}", names.join("\n"));
    Ok(())
}

async fn alter(client: &mut Client, p: &Parsed) -> anyhow::Result<()> {
    let topics = get_topics(client, p).await?;
    ensure_exists(&topics, p)?;
    let count: i32 = p.number("partitions")?.expect("checked in check_args");
    let assignment = p
        .value("replica-assignment")
        .filter(|s| !s.is_empty())
        .map(parse_replica_assignment)
        .transpose()?;
    if topics.is_empty() {
        return Ok(());
    }
    let req = CreatePartitionsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(
            topics
                .iter()
                .map(|t| {
                    let assignments = assignment.as_ref().map(|a| {
                        a.iter()
                            .skip(t.partitions.len())
                            .map(|b| {
                                CreatePartitionsAssignment::default()
                                    .with_broker_ids(b.iter().copied().map(BrokerId).collect())
                            })
                            .collect()
                    });
                    CreatePartitionsTopic::default()
                        .with_name(TopicName(StrBytes::from_string(t.name.clone())))
                        .with_count(count)
                        .with_assignments(assignments)
                })
                .collect(),
        );
    let resp = client.send(&req).await?;
    for r in &resp.results {
        check(r.error_code, r.error_message.as_ref())?;
    }
    Ok(())
}

async fn delete(client: &mut Client, p: &Parsed) -> anyhow::Result<()> {
    let topics = get_topics(client, p).await?;
    ensure_exists(&topics, p)?;
    if topics.is_empty() {
        return Ok(());
    }
    let names: Vec<TopicName> = topics
        .iter()
        .map(|t| TopicName(StrBytes::from_string(t.name.clone())))
        .collect();
    let v = client.bootstrap().version_for::<DeleteTopicsRequest>()?;
    let mut req = DeleteTopicsRequest::default().with_timeout_ms(30_000);
    if v >= 6 {
        req.topics = names
            .into_iter()
            .map(|n| delete_topics_request::DeleteTopicState::default().with_name(Some(n)))
            .collect();
    } else {
        req.topic_names = names;
    }
    let resp = client.send(&req).await?;
    for r in &resp.responses {
        check(r.error_code, r.error_message.as_ref())?;
    }
    Ok(())
}

/// One topic's description: the `Topic:` line's fields and per-partition lines.
pub struct Described<'a> {
    pub topic: &'a TopicInfo,
    /// Non-default configs, as `name=value`, in the broker's order.
    pub configs: Vec<String>,
    pub min_isr: usize,
}

/// Kafka's `Topic: ...` line.
pub fn topic_line(d: &Described) -> String {
    let t = d.topic;
    let mut s = format!("Topic: {}", t.name);
    if !t.topic_id_is_zero() {
        s.push_str(&format!("\tTopicId: {}", t.topic_id_string()));
    }
    let rf = t.partitions.first().map_or(0, |p| p.replicas.len());
    s.push_str(&format!(
        "\tPartitionCount: {}\tReplicationFactor: {rf}\tConfigs: {}",
        t.partitions.len(),
        d.configs.join(",")
    ));
    s
}

fn join_ids(ids: &[i32]) -> String {
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

/// Kafka's per-partition line (tab-led). ELR lists are empty: Strom has no eligible leader
/// replicas yet.
pub fn partition_line(topic: &str, p: &strom_client::PartitionInfo) -> String {
    let leader = if p.leader >= 0 {
        p.leader.to_string()
    } else {
        "none".into()
    };
    format!(
        "\tTopic: {topic}\tPartition: {}\tLeader: {leader}\tReplicas: {}\tIsr: {}\tElr: \tLastKnownElr: ",
        p.partition,
        join_ids(&p.replicas),
        join_ids(&p.isr)
    )
}

async fn describe(client: &mut Client, p: &Parsed) -> anyhow::Result<()> {
    let mut topics = get_topics(client, p).await?;
    if let Some(id) = p.value("topic-id") {
        topics.retain(|t| t.topic_id_string() == id);
        if topics.is_empty() && !p.has("if-exists") {
            anyhow::bail!("TopicId '{id}' does not exist as expected");
        }
    } else {
        ensure_exists(&topics, p)?;
    }
    if topics.is_empty() {
        return Ok(());
    }
    let live: HashSet<i32> = client.brokers().keys().copied().collect();
    let names: Vec<String> = topics.iter().map(|t| t.name.clone()).collect();
    let configs = common::describe_configs_many(client, common::RESOURCE_TOPIC, &names).await?;
    let report_under_rep = p.has("under-replicated-partitions");
    let report_unavail = p.has("unavailable-partitions");
    let report_under_min = p.has("under-min-isr-partitions");
    let report_at_min = p.has("at-min-isr-partitions");
    let describe_configs =
        !(report_under_rep || report_unavail || report_under_min || report_at_min);
    let describe_partitions = !p.has("topics-with-overrides");
    for (t, c) in topics.iter().zip(configs.results.iter()) {
        check(c.error_code, c.error_message.as_ref())?;
        // Kafka's `!ConfigEntry.isDefault()`: any source but DEFAULT_CONFIG.
        let non_default: Vec<String> = c
            .configs
            .iter()
            .filter(|e| e.config_source != 5)
            .map(|e| {
                format!(
                    "{}={}",
                    e.name,
                    e.value
                        .as_ref()
                        .map_or("null".to_string(), |v| v.to_string())
                )
            })
            .collect();
        let min_isr = c
            .configs
            .iter()
            .find(|e| e.name.as_str() == "min.insync.replicas")
            .and_then(|e| e.value.as_ref())
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(1);
        let d = Described {
            topic: t,
            configs: non_default,
            min_isr,
        };
        if describe_configs
            && (!p.has("topics-with-overrides") || !d.configs.is_empty())
            && !t.partitions.is_empty()
        {
            println!("{}", topic_line(&d));
        }
        if describe_partitions {
            for part in &t.partitions {
                let has_leader = part.leader >= 0;
                let show = describe_configs
                    || (report_under_rep && part.replicas.len() > part.isr.len())
                    || (report_unavail && (!has_leader || !live.contains(&part.leader)))
                    || (report_under_min && (!has_leader || part.isr.len() < d.min_isr))
                    || (report_at_min && part.isr.len() == d.min_isr);
                if show {
                    println!("{}", partition_line(&t.name, part));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use strom_client::PartitionInfo;

    #[test]
    fn describe_lines_follow_kafka_layout() {
        let t = TopicInfo {
            name: "hello.kafka.2".into(),
            topic_id: [0x01; 16],
            is_internal: false,
            error_code: 0,
            partitions: vec![PartitionInfo {
                partition: 0,
                leader: 1,
                leader_epoch: 0,
                replicas: vec![1],
                isr: vec![1],
                error_code: 0,
            }],
        };
        let d = Described {
            topic: &t,
            configs: vec!["retention.ms=172800000".into()],
            min_isr: 1,
        };
        assert_eq!(
            topic_line(&d),
            "Topic: hello.kafka.2\tTopicId: AQEBAQEBAQEBAQEBAQEBAQ\tPartitionCount: 1\tReplicationFactor: 1\tConfigs: retention.ms=172800000"
        );
        assert_eq!(
            partition_line("hello.kafka.2", &t.partitions[0]),
            "\tTopic: hello.kafka.2\tPartition: 0\tLeader: 1\tReplicas: 1\tIsr: 1\tElr: \tLastKnownElr: "
        );
        let mut none = t.partitions[0].clone();
        none.leader = -1;
        assert!(partition_line("x", &none).contains("\tLeader: none\t"));
    }

    #[test]
    fn replica_assignment_parsing() {
        assert_eq!(
            parse_replica_assignment("1:2, 2:3").unwrap(),
            vec![vec![1, 2], vec![2, 3]]
        );
        assert!(parse_replica_assignment("1:1").is_err());
        assert!(parse_replica_assignment("1:2,3").is_err());
        assert!(parse_replica_assignment("a").is_err());
    }
}
