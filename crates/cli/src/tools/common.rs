//! What every network tool shares: the runtime, connecting from `--bootstrap-server` (and
//! `--command-config`), properties files, config-resource helpers.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context as _;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResult;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use strom_client::{Client, ClientConfig};

/// Config resource type ids (Kafka's `ConfigResource.Type`).
pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;
pub const RESOURCE_BROKER_LOGGER: i8 = 8;
pub const RESOURCE_CLIENT_METRICS: i8 = 16;
pub const RESOURCE_GROUP: i8 = 32;

/// Runs `f` on a fresh single-threaded runtime.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("building a tokio runtime")
        .block_on(f)
}

/// Reads a Java properties file (`--command-config`, `--producer.config`, ...).
pub fn load_properties(path: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let f = std::fs::File::open(path)
        .with_context(|| format!("cannot read properties file {path}; check the path"))?;
    let m = java_properties::read(std::io::BufReader::new(f))
        .map_err(|e| anyhow::anyhow!("cannot parse properties file {path}: {e}"))?;
    Ok(m.into_iter().collect())
}

/// Client settings from a properties map: `client.id`, `request.timeout.ms` (capped so that an
/// unreachable server fails within 10 s), `default.api.timeout.ms`.
pub fn client_config(props: &BTreeMap<String, String>) -> ClientConfig {
    let mut c = ClientConfig::default();
    if let Some(id) = props.get("client.id") {
        c.client_id = id.clone();
    }
    if let Some(ms) = props
        .get("request.timeout.ms")
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        c.timeout = Duration::from_millis(ms.clamp(100, 30_000));
    }
    c
}

/// Connects to `--bootstrap-server` (required). Errors: one line naming the flag or the
/// unreachable address.
pub async fn connect(
    bootstrap: Option<&str>,
    command_config: Option<&str>,
) -> anyhow::Result<Client> {
    let Some(bootstrap) = bootstrap else {
        anyhow::bail!(
            "--bootstrap-server must be specified, e.g. --bootstrap-server localhost:9092"
        );
    };
    let props = match command_config {
        Some(p) => load_properties(p)?,
        None => BTreeMap::new(),
    };
    Ok(Client::connect(bootstrap, client_config(&props)).await?)
}

/// DescribeConfigs of one resource, with synonyms. Errors: the resource's error code.
pub async fn describe_configs(
    client: &mut Client,
    resource_type: i8,
    name: &str,
) -> anyhow::Result<DescribeConfigsResult> {
    let mut resp = describe_configs_many(client, resource_type, &[name.to_string()]).await?;
    let r = resp.results.remove(0);
    strom_client::check(r.error_code, r.error_message.as_ref())?;
    Ok(r)
}

/// DescribeConfigs of several resources of one type, with synonyms.
pub async fn describe_configs_many(
    client: &mut Client,
    resource_type: i8,
    names: &[String],
) -> anyhow::Result<DescribeConfigsResponse> {
    let req = DescribeConfigsRequest::default()
        .with_include_synonyms(true)
        .with_resources(
            names
                .iter()
                .map(|n| {
                    DescribeConfigsResource::default()
                        .with_resource_type(resource_type)
                        .with_resource_name(StrBytes::from_string(n.clone()))
                        .with_configuration_keys(None)
                })
                .collect(),
        );
    let resp = client.send(&req).await?;
    if resp.results.len() != names.len() {
        anyhow::bail!(
            "DescribeConfigs answered {} resources for {} asked",
            resp.results.len(),
            names.len()
        );
    }
    Ok(resp)
}

/// Kafka's name of a config source id (`ConfigEntry.ConfigSource`).
pub fn config_source_name(id: i8) -> &'static str {
    match id {
        1 => "DYNAMIC_TOPIC_CONFIG",
        2 => "DYNAMIC_BROKER_CONFIG",
        3 => "DYNAMIC_DEFAULT_BROKER_CONFIG",
        4 => "STATIC_BROKER_CONFIG",
        5 => "DEFAULT_CONFIG",
        6 => "DYNAMIC_BROKER_LOGGER_CONFIG",
        7 => "CLIENT_METRICS_CONFIG",
        8 => "GROUP_CONFIG",
        _ => "UNKNOWN",
    }
}

/// Kafka's `IncludeList`: a Java regex matched against the whole topic name; `,` separates
/// alternatives and surrounding quotes are dropped, as Kafka's tools accept them.
pub fn topic_filter(pattern: &str) -> anyhow::Result<regex::Regex> {
    let p = pattern
        .trim()
        .replace(',', "|")
        .replace(' ', "")
        .trim_matches(|c| c == '"' || c == '\'')
        .to_string();
    regex::Regex::new(&format!("^(?:{p})$"))
        .map_err(|e| anyhow::anyhow!("invalid topic regular expression '{pattern}': {e}"))
}

/// Whether `name` is one of Kafka's internal topics.
pub fn is_internal_topic(name: &str) -> bool {
    matches!(
        name,
        "__consumer_offsets" | "__transaction_state" | "__share_group_state"
    )
}

/// One assigned partition and where to read next.
pub struct Assigned {
    pub topic: String,
    pub topic_id: [u8; 16],
    pub partition: i32,
    pub leader: i32,
    pub position: i64,
}

/// The Fetch request topics for the partitions of `parts` led by `leader`, grouped by topic
/// (by topic id from Fetch v13 on, by name before), each read from its position with at
/// most `partition_max_bytes`.
pub fn fetch_topics(
    parts: &[Assigned],
    leader: i32,
    version: i16,
    partition_max_bytes: i32,
) -> Vec<FetchTopic> {
    let mut topics: Vec<FetchTopic> = Vec::new();
    for a in parts.iter().filter(|a| a.leader == leader) {
        let fp = FetchPartition::default()
            .with_partition(a.partition)
            .with_fetch_offset(a.position)
            .with_partition_max_bytes(partition_max_bytes);
        let same = |t: &FetchTopic| {
            if version >= 13 {
                t.topic_id.as_bytes() == &a.topic_id
            } else {
                t.topic.0.as_str() == a.topic
            }
        };
        match topics.iter_mut().find(|t| same(t)) {
            Some(t) => t.partitions.push(fp),
            None => {
                let mut t = FetchTopic::default().with_partitions(vec![fp]);
                if version >= 13 {
                    t.topic_id = uuid::Uuid::from_bytes(a.topic_id);
                } else {
                    t.topic = TopicName(StrBytes::from_string(a.topic.clone()));
                }
                topics.push(t);
            }
        }
    }
    topics
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_filter_matches_whole_names() {
        let f = topic_filter("hello.kafka").unwrap();
        assert!(f.is_match("hello.kafka"));
        assert!(!f.is_match("hello.kafka.2"));
        let f = topic_filter("a.*,b").unwrap();
        assert!(f.is_match("abc") && f.is_match("b") && !f.is_match("bc"));
        assert!(topic_filter("(").is_err());
    }
}
