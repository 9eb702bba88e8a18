//! `strom configs`: Kafka's `kafka-configs.sh` (ConfigCommand) for topics, brokers,
//! broker-loggers and groups: `--describe` (dynamic configs, or `--all`) and `--alter`
//! (`--add-config`, `--add-config-file`, `--delete-config`) through DescribeConfigs and
//! IncrementalAlterConfigs, with Kafka's output lines. Users, clients and IPs (client quotas
//! and SCRAM credentials) are in [`quotas`].

mod quotas;

use kafka_protocol::messages::describe_configs_response::DescribeConfigsResult;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::IncrementalAlterConfigsRequest;
use kafka_protocol::protocol::StrBytes;
use strom_client::{check, topics_of, Client};

use super::common::{self, config_source_name};
use super::opts::{self, arg, flag, Opt, Parse, Parsed};

const USAGE: &str = "This tool helps to manipulate and describe entity config for a topic, client, user, broker, ip, broker-logger or group.";

const OPTS: &[Opt] = &[
    arg("bootstrap-server", "String: server to connect to", "REQUIRED: The Kafka server to connect to."),
    arg("command-config", "String: command config property file", "Property file containing configs to be passed to Admin Client."),
    flag("describe", "List configs for the given entity."),
    flag("alter", "Alter the configuration for the entity."),
    arg("entity-type", "String", "Type of entity (topics/clients/users/brokers/broker-loggers/ips/groups/client-metrics). users and clients may be given together."),
    arg("entity-name", "String", "Name of entity (topic name/client id/user principal name/broker id/ip/group id)."),
    flag("entity-default", "Default entity name for clients/users/brokers/ips (applies to corresponding entity type)."),
    arg("topic", "String", "The topic's name (same as --entity-type topics --entity-name <topic>)."),
    arg("broker", "String", "The broker's ID (same as --entity-type brokers --entity-name <id>)."),
    flag("broker-defaults", "The config defaults for all brokers."),
    arg("broker-logger", "String", "The broker's ID for its logger config."),
    arg("group", "String", "The group's ID."),
    arg("client", "String", "The client's ID."),
    flag("client-defaults", "The config defaults for all clients."),
    arg("user", "String", "The user's principal name."),
    flag("user-defaults", "The config defaults for all users."),
    arg("ip", "String", "The IP address."),
    flag("ip-defaults", "The config defaults for all IPs."),
    arg("add-config", "String", "Key Value pairs of configs to add. Square brackets can be used to group values which contain commas: 'k1=v1,k2=[v1,v2,v2],k3=v3'."),
    arg("add-config-file", "String", "Path to a properties file with configs to add."),
    arg("delete-config", "String", "config keys to remove 'k1,k2'."),
    flag("all", "List all configs for the given entity, including static configs and defaults."),
    flag("force", "Suppress console prompts."),
];

const EXAMPLES: &str = "\
  strom configs --bootstrap-server localhost:9092 --entity-type topics --entity-name orders --alter --add-config retention.ms=86400000
  strom configs --bootstrap-server localhost:9092 --entity-type topics --entity-name orders --describe
  strom configs --bootstrap-server localhost:9092 --entity-type brokers --entity-name 1 --describe --all
  strom configs --bootstrap-server localhost:9092 --entity-type topics --entity-name orders --alter --delete-config retention.ms
  strom configs --bootstrap-server localhost:9092 --entity-type users --entity-name alice --entity-type clients --entity-name app --alter --add-config producer_byte_rate=1048576
  strom configs --bootstrap-server localhost:9092 --entity-type clients --entity-default --alter --add-config consumer_byte_rate=2097152
  strom configs --bootstrap-server localhost:9092 --entity-type users --entity-name alice --alter --add-config 'SCRAM-SHA-256=[iterations=8192,password=alice-secret]'
  strom configs --bootstrap-server localhost:9092 --entity-type users --describe
";

const ENTITY_TYPES: &[&str] = &[
    "topics",
    "clients",
    "users",
    "brokers",
    "broker-loggers",
    "groups",
    "client-metrics",
    "ips",
];

/// Runs the tool.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let p = match opts::parse("configs", USAGE, OPTS, EXAMPLES, args, false)? {
        Parse::Run(p) => p,
        Parse::Done => return Ok(()),
    };
    if p.has("describe") == p.has("alter") {
        anyhow::bail!("Command must include exactly one action: --describe, --alter");
    }
    let types = entity_types(&p);
    if types
        .iter()
        .any(|t| t == "users" || t == "clients" || t == "ips")
    {
        return run_quotas(&p, types);
    }
    let (entity_type, entity_name) = entity(&p)?;
    if !p.has("bootstrap-server") {
        anyhow::bail!(
            "--bootstrap-server must be specified, e.g. --bootstrap-server localhost:9092"
        );
    }
    let resource_type = match entity_type.as_str() {
        "topics" => common::RESOURCE_TOPIC,
        "brokers" => common::RESOURCE_BROKER,
        "broker-loggers" => common::RESOURCE_BROKER_LOGGER,
        "groups" => common::RESOURCE_GROUP,
        "client-metrics" => common::RESOURCE_CLIENT_METRICS,
        other => anyhow::bail!(
            "Invalid entity type {other}, the entity type must be one of {}",
            ENTITY_TYPES.join(", ")
        ),
    };
    if p.has("alter") {
        if entity_name.is_none() && !(entity_type == "brokers" && p.has("entity-default")) {
            anyhow::bail!("an entity name must be specified with --alter of {entity_type}; add --entity-name <name>");
        }
        if !p.has("add-config") && !p.has("add-config-file") && !p.has("delete-config") {
            anyhow::bail!("At least one of --add-config, --add-config-file, or --delete-config must be specified with --alter");
        }
    }
    if p.has("all") && !p.has("describe") {
        anyhow::bail!("--all can only be used with --describe");
    }
    let to_add = configs_to_add(&p)?;
    let to_delete = configs_to_delete(&p);
    common::block_on(async {
        let mut client =
            common::connect(p.value("bootstrap-server"), p.value("command-config")).await?;
        if p.has("alter") {
            alter(
                &mut client,
                &entity_type,
                resource_type,
                entity_name.as_deref().unwrap_or(""),
                to_add,
                to_delete,
            )
            .await
        } else {
            describe(
                &mut client,
                &entity_type,
                resource_type,
                entity_name.as_deref(),
                p.has("all"),
            )
            .await
        }
    })
}

/// Kafka's `entityTypes`: every `--entity-type`, then the types of the shorthand flags given
/// (`--topic`, `--client`, `--user`, ..., then `--client-defaults`, `--user-defaults`, ...).
fn entity_types(p: &Parsed) -> Vec<String> {
    let mut types: Vec<String> = p.values("entity-type").to_vec();
    for (flag, ty) in SHORTHANDS.iter().chain(DEFAULT_SHORTHANDS) {
        if p.has(flag) {
            types.push(ty.to_string());
        }
    }
    types
}

/// Kafka's `entityNames`: `--entity-name` values and "" for each `--entity-default`, in
/// command-line order, then the shorthand flags' values, then "" per `--*-defaults` flag.
fn entity_names(p: &Parsed) -> Vec<String> {
    let mut names: Vec<String> = p
        .order
        .iter()
        .filter(|(f, _)| *f == "entity-name" || *f == "entity-default")
        .map(|(_, v)| v.clone())
        .collect();
    for (flag, _) in SHORTHANDS {
        if let Some(v) = p.value(flag) {
            names.push(v.to_string());
        }
    }
    for (flag, _) in DEFAULT_SHORTHANDS {
        if p.has(flag) {
            names.push(String::new());
        }
    }
    names
}

/// Shorthand entity flags, in Kafka's `entityFlags` order.
const SHORTHANDS: &[(&str, &str)] = &[
    ("topic", "topics"),
    ("client", "clients"),
    ("user", "users"),
    ("broker", "brokers"),
    ("broker-logger", "broker-loggers"),
    ("ip", "ips"),
    ("group", "groups"),
];

/// Default-entity flags, in Kafka's `entityDefaultsFlags` order.
const DEFAULT_SHORTHANDS: &[(&str, &str)] = &[
    ("client-defaults", "clients"),
    ("user-defaults", "users"),
    ("broker-defaults", "brokers"),
    ("ip-defaults", "ips"),
];

/// Users, clients and IPs: Kafka's `checkArgs` rules for them, then describe or alter.
fn run_quotas(p: &Parsed, types: Vec<String>) -> anyhow::Result<()> {
    let names = entity_names(p);
    let mut seen: Vec<&String> = Vec::new();
    let mut dups: Vec<&str> = Vec::new();
    for t in &types {
        if seen.contains(&t) {
            if !dups.contains(&t.as_str()) {
                dups.push(t);
            }
        } else {
            seen.push(t);
        }
    }
    if !dups.is_empty() {
        anyhow::bail!("Duplicate entity type(s) specified: {}", dups.join(","));
    }
    if !p.has("bootstrap-server") {
        anyhow::bail!(
            "--bootstrap-server must be specified, e.g. --bootstrap-server localhost:9092"
        );
    }
    for t in &types {
        if !ENTITY_TYPES.contains(&t.as_str()) {
            anyhow::bail!(
                "Invalid entity type {t}, the entity type must be one of {}",
                ENTITY_TYPES.join(", ")
            );
        }
    }
    if types.len() > 1
        && !(types.len() == 2
            && seen.iter().any(|t| *t == "users")
            && seen.iter().any(|t| *t == "clients"))
    {
        anyhow::bail!("Only 'users' and 'clients' entity types may be specified together");
    }
    let long_form = p.has("entity-name") || p.has("entity-type") || p.has("entity-default");
    if long_form
        && SHORTHANDS
            .iter()
            .chain(DEFAULT_SHORTHANDS)
            .any(|(f, _)| p.has(f))
    {
        anyhow::bail!(
            "--entity-{{type,name,default}} should not be used in conjunction with specific entity flags"
        );
    }
    if types[0] == "ips" {
        for n in names.iter().filter(|n| !n.is_empty()) {
            if n.parse::<std::net::IpAddr>().is_err() {
                anyhow::bail!(
                    "The entity name for ips must be a valid IP or resolvable host, but it is: {n}"
                );
            }
        }
    }
    if p.has("alter") {
        if names.is_empty() {
            anyhow::bail!("An entity-name or default entity must be specified with --alter of users, clients, brokers or ips");
        }
        if p.has("add-config") && p.has("add-config-file") {
            anyhow::bail!("Only one of --add-config or --add-config-file must be specified");
        }
        if !p.has("add-config") && !p.has("add-config-file") && !p.has("delete-config") {
            anyhow::bail!("At least one of --add-config, --add-config-file, or --delete-config must be specified with --alter");
        }
        if types.len() != names.len() {
            anyhow::bail!("An entity name must be specified for every entity type");
        }
    }
    let to_add = configs_to_add(p)?;
    let to_delete = configs_to_delete(p);
    common::block_on(async {
        let mut client =
            common::connect(p.value("bootstrap-server"), p.value("command-config")).await?;
        if p.has("alter") {
            quotas::alter(&mut client, &types, &names, &to_add, &to_delete).await?;
            let (ty, name) = (&types[0], &names[0]);
            if name.is_empty() {
                println!("Completed updating default config for {ty} in the cluster.");
            } else {
                println!("Completed updating config for {} {name}.", singular(ty));
            }
            Ok(())
        } else {
            quotas::describe(&mut client, &types, &names).await
        }
    })
}

fn configs_to_delete(p: &Parsed) -> Vec<String> {
    p.values("delete-config")
        .iter()
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The entity type and name from `--entity-type/--entity-name/--entity-default` or the
/// shorthand flags (`--topic`, `--broker`, ...).
fn entity(p: &Parsed) -> anyhow::Result<(String, Option<String>)> {
    let shorthands = [
        ("topic", "topics"),
        ("broker", "brokers"),
        ("broker-logger", "broker-loggers"),
        ("group", "groups"),
        ("client", "clients"),
        ("user", "users"),
    ];
    for (flag, ty) in shorthands {
        if let Some(v) = p.value(flag) {
            return Ok((ty.to_string(), Some(v.to_string())));
        }
    }
    if p.has("broker-defaults") {
        return Ok(("brokers".into(), None));
    }
    let Some(ty) = p.value("entity-type") else {
        anyhow::bail!("--entity-type must be specified (one of {}), e.g. --entity-type topics --entity-name <topic>", ENTITY_TYPES.join(", "));
    };
    if !ENTITY_TYPES.contains(&ty) {
        anyhow::bail!(
            "Invalid entity type {ty}, the entity type must be one of {}",
            ENTITY_TYPES.join(", ")
        );
    }
    if p.has("entity-name") && p.has("entity-default") {
        anyhow::bail!("--entity-name and --entity-default cannot be used together");
    }
    let name = p.value("entity-name").map(String::from);
    if ty == "brokers" || ty == "broker-loggers" {
        if let Some(n) = &name {
            if n.parse::<i32>().is_err() {
                anyhow::bail!(
                    "The entity name for {ty} must be a valid integer broker id, but it is: {n}"
                );
            }
        }
    }
    if ty == "topics" && p.has("entity-default") {
        anyhow::bail!("--entity-default is not valid for topics; give --entity-name <topic>");
    }
    Ok((ty.to_string(), name))
}

/// Splits `--add-config` as Kafka does: on commas outside `[...]`, each `k=v`, brackets
/// removed from values. Errors: an entry that is not `key=val`.
pub fn parse_add_config(s: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut entries = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '[' => {
                depth += 1;
                cur.push(c)
            }
            ']' => {
                depth -= 1;
                cur.push(c)
            }
            ',' if depth <= 0 => entries.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    entries.push(cur);
    entries
        .into_iter()
        .filter(|e| !e.trim().is_empty())
        .map(|e| match e.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((
                k.trim().to_string(),
                v.replace(['[', ']'], "").trim().to_string(),
            )),
            _ => Err(anyhow::anyhow!(
                "Invalid entity config: all configs to be added must be in the format \"key=val\"."
            )),
        })
        .collect()
}

fn configs_to_add(p: &Parsed) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for v in p.values("add-config") {
        out.extend(parse_add_config(v)?);
    }
    if let Some(f) = p.value("add-config-file") {
        out.extend(common::load_properties(f)?);
    }
    for (k, _) in &out {
        let ok = k
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "$._-".contains(c));
        if !ok {
            anyhow::bail!("Invalid character found for config key: {k}");
        }
    }
    Ok(out)
}

fn singular(entity_type: &str) -> &str {
    entity_type.strip_suffix('s').unwrap_or(entity_type)
}

/// The config-source a plain `--describe` shows for this resource type.
fn dynamic_source(resource_type: i8) -> i8 {
    match resource_type {
        common::RESOURCE_TOPIC => 1,
        common::RESOURCE_BROKER => 2,
        common::RESOURCE_BROKER_LOGGER => 6,
        common::RESOURCE_CLIENT_METRICS => 7,
        _ => 8,
    }
}

/// Kafka's entry line: `  name=value sensitive=false synonyms={SOURCE:name=value, ...}`.
pub fn entry_line(
    name: &str,
    value: Option<&str>,
    sensitive: bool,
    synonyms: &[(i8, String, Option<String>)],
) -> String {
    let syn: Vec<String> = synonyms
        .iter()
        .map(|(src, n, v)| {
            format!(
                "{}:{n}={}",
                config_source_name(*src),
                v.as_deref().unwrap_or("null")
            )
        })
        .collect();
    let value = if sensitive {
        "null"
    } else {
        value.unwrap_or("null")
    };
    format!(
        "  {name}={value} sensitive={sensitive} synonyms={{{}}}",
        syn.join(", ")
    )
}

fn print_entries(r: &DescribeConfigsResult, only_source: Option<i8>) {
    let mut entries: Vec<_> = r
        .configs
        .iter()
        .filter(|e| only_source.is_none_or(|s| e.config_source == s))
        .collect();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    for e in entries {
        let synonyms: Vec<(i8, String, Option<String>)> = e
            .synonyms
            .iter()
            .map(|s| {
                (
                    s.source,
                    s.name.to_string(),
                    s.value.as_ref().map(|v| v.to_string()),
                )
            })
            .collect();
        println!(
            "{}",
            entry_line(&e.name, e.value.as_deref(), e.is_sensitive, &synonyms)
        );
    }
}

async fn describe(
    client: &mut Client,
    entity_type: &str,
    resource_type: i8,
    name: Option<&str>,
    all: bool,
) -> anyhow::Result<()> {
    let names: Vec<String> = match name {
        Some(n) => vec![n.to_string()],
        None => match resource_type {
            common::RESOURCE_TOPIC => {
                let md = client.metadata(None).await?;
                let mut t: Vec<String> = topics_of(&md).into_iter().map(|t| t.name).collect();
                t.sort();
                t
            }
            common::RESOURCE_BROKER | common::RESOURCE_BROKER_LOGGER => {
                client.metadata(Some(&[])).await?;
                let mut ids: Vec<i32> = client.brokers().keys().copied().collect();
                ids.sort();
                let mut v: Vec<String> = ids.iter().map(i32::to_string).collect();
                if resource_type == common::RESOURCE_BROKER {
                    v.push(String::new());
                }
                v
            }
            _ => anyhow::bail!("--entity-name must be specified to describe {entity_type}"),
        },
    };
    for n in names {
        if n.is_empty() {
            println!("Default configs for {entity_type} in the cluster are:");
        } else {
            let what = if all { "All" } else { "Dynamic" };
            println!("{what} configs for {} {n} are:", singular(entity_type));
        }
        let r = common::describe_configs(client, resource_type, &n).await?;
        let filter = if all {
            None
        } else if n.is_empty() {
            Some(3)
        } else {
            Some(dynamic_source(resource_type))
        };
        print_entries(&r, filter);
    }
    Ok(())
}

async fn alter(
    client: &mut Client,
    entity_type: &str,
    resource_type: i8,
    name: &str,
    to_add: Vec<(String, String)>,
    to_delete: Vec<String>,
) -> anyhow::Result<()> {
    if !to_delete.is_empty() {
        let current = common::describe_configs(client, resource_type, name).await?;
        let src = if name.is_empty() {
            3
        } else {
            dynamic_source(resource_type)
        };
        let invalid: Vec<&String> = to_delete
            .iter()
            .filter(|k| {
                !current
                    .configs
                    .iter()
                    .any(|e| e.name.as_str() == k.as_str() && e.config_source == src)
            })
            .collect();
        if !invalid.is_empty() {
            let list: Vec<&str> = invalid.iter().map(|s| s.as_str()).collect();
            anyhow::bail!(
                "Invalid config(s): {} (not set as a dynamic config of this entity)",
                list.join(",")
            );
        }
    }
    let mut configs: Vec<AlterableConfig> = to_add
        .into_iter()
        .map(|(k, v)| {
            AlterableConfig::default()
                .with_name(StrBytes::from_string(k))
                .with_config_operation(0)
                .with_value(Some(StrBytes::from_string(v)))
        })
        .collect();
    configs.extend(to_delete.into_iter().map(|k| {
        AlterableConfig::default()
            .with_name(StrBytes::from_string(k))
            .with_config_operation(1)
            .with_value(None)
    }));
    let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(StrBytes::from_string(name.to_string()))
            .with_configs(configs),
    ]);
    let resp = client.send(&req).await?;
    for r in &resp.responses {
        check(r.error_code, r.error_message.as_ref())?;
    }
    if name.is_empty() {
        println!("Completed updating default config for {entity_type} in the cluster.");
    } else {
        println!(
            "Completed updating config for {} {name}.",
            singular(entity_type)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_config_splits_outside_brackets() {
        assert_eq!(
            parse_add_config("k1=v1,k2=[a,b,c],k3 = v3").unwrap(),
            vec![
                ("k1".into(), "v1".into()),
                ("k2".into(), "a,b,c".into()),
                ("k3".into(), "v3".into())
            ]
        );
        assert_eq!(
            parse_add_config("ssl.endpoint.identification.algorithm=").unwrap(),
            vec![("ssl.endpoint.identification.algorithm".into(), "".into())]
        );
        assert!(parse_add_config("novalue").is_err());
    }

    #[test]
    fn entry_line_matches_kafka() {
        assert_eq!(
            entry_line(
                "retention.ms",
                Some("86400000"),
                false,
                &[(1, "retention.ms".into(), Some("86400000".into()))]
            ),
            "  retention.ms=86400000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=86400000}"
        );
        assert_eq!(
            entry_line("p", Some("secret"), true, &[]),
            "  p=null sensitive=true synonyms={}"
        );
    }
}
