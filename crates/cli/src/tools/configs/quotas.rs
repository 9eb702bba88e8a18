//! `strom configs` for `--entity-type users`, `clients` and `ips`: client quotas through
//! DescribeClientQuotas/AlterClientQuotas (KIP-546) and users' SCRAM credentials through
//! DescribeUserScramCredentials/AlterUserScramCredentials (KIP-554), as Kafka's ConfigCommand
//! does them, with its checks, messages and output lines:
//!
//! ```text
//! Quota configs for user-principal 'alice', client-id 'app' are consumer_byte_rate=2048.0, producer_byte_rate=1024.0
//! Quota configs for the default client-id are request_percentage=50.0
//! SCRAM credential configs for user-principal 'alice' are SCRAM-SHA-256=iterations=8192
//! Completed updating config for user alice.
//! ```
//!
//! Entities and values come in the order Kafka's tool prints them (Java `HashMap` order, see
//! `tools::java`), values as Java prints doubles. SCRAM upsertions carry a fresh salt and the
//! salted password (`strom_client::scram`); the password itself is never sent. As with Kafka's
//! KRaft controller, one request may change each user only once, so two SCRAM mechanisms for
//! one user need two `--alter` runs.

use bytes::Bytes;
use kafka_protocol::messages::alter_client_quotas_request::{EntityData, EntryData, OpData};
use kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::messages::describe_client_quotas_request::ComponentData;
use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
use kafka_protocol::messages::{
    AlterClientQuotasRequest, AlterUserScramCredentialsRequest, DescribeClientQuotasRequest,
    DescribeUserScramCredentialsRequest,
};
use kafka_protocol::protocol::StrBytes;
use strom_client::scram::{self, Mechanism};
use strom_client::{check, error_name, Client};

use super::super::java;

/// Kafka's `QuotaConfig.isClientOrUserQuotaConfig` keys.
const QUOTA_KEYS: &[&str] = &[
    "producer_byte_rate",
    "consumer_byte_rate",
    "request_percentage",
    "controller_mutation_rate",
];

/// Kafka's default SCRAM iteration count in ConfigCommand.
const DEFAULT_ITERATIONS: i32 = 4096;

fn is_quota(k: &str) -> bool {
    QUOTA_KEYS.contains(&k)
}

fn is_scram(k: &str) -> bool {
    Mechanism::from_name(k).is_some()
}

fn sb(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

/// The quota entity type of a `--entity-type` value.
fn quota_type(entity_type: &str) -> &'static str {
    match entity_type {
        "users" => "user",
        "ips" => "ip",
        _ => "client-id",
    }
}

/// Joins names as Java's `String.join(",", hashSet)` prints a `HashSet<String>`.
fn java_set(names: Vec<String>) -> String {
    let mut distinct: Vec<String> = Vec::new();
    for n in names {
        if !distinct.contains(&n) {
            distinct.push(n);
        }
    }
    let hashed = distinct
        .into_iter()
        .map(|n| (java::string_hash(&n), n))
        .collect();
    java::hash_map_order(hashed, None).join(",")
}

/// `--alter` of users and/or clients: quota configs, or (users alone) SCRAM credentials.
/// `names` has one entry per type, "" for the default entity. Errors: Kafka's messages.
pub async fn alter(
    client: &mut Client,
    types: &[String],
    names: &[String],
    to_add: &[(String, String)],
    to_delete: &[String],
) -> anyhow::Result<()> {
    // Later duplicates win, as in a Java Properties.
    let mut add: Vec<(String, String)> = Vec::new();
    for (k, v) in to_add {
        add.retain(|(a, _)| a != k);
        add.push((k.clone(), v.clone()));
    }
    let unknown_add: Vec<String> = add
        .iter()
        .map(|(k, _)| k.clone())
        .filter(|k| !is_scram(k) && !is_quota(k))
        .collect();
    let scram_add: Vec<&(String, String)> = add.iter().filter(|(k, _)| is_scram(k)).collect();
    let unknown_delete: Vec<String> = to_delete
        .iter()
        .filter(|k| !is_scram(k) && !is_quota(k))
        .cloned()
        .collect();
    let scram_delete: Vec<&String> = to_delete.iter().filter(|k| is_scram(k)).collect();
    let quota_changes =
        add.iter().any(|(k, _)| is_quota(k)) || to_delete.iter().any(|k| is_quota(k));
    if types[0] == "ips" {
        let unknown: Vec<String> = add
            .iter()
            .map(|(k, _)| k)
            .chain(to_delete)
            .filter(|k| *k != "connection_creation_rate")
            .cloned()
            .collect();
        if !unknown.is_empty() {
            anyhow::bail!(
                "Only connection quota configs can be added for 'ips' using --bootstrap-server. Unexpected config names: {}",
                java_set(unknown).replace(',', ", ")
            );
        }
        return alter_quotas(client, types, names, &add, to_delete).await;
    }
    if types[0] == "clients" || types.len() == 2 {
        if !unknown_add.is_empty() || !scram_add.is_empty() {
            let mut all = unknown_add.clone();
            all.extend(scram_add.iter().map(|(k, _)| k.clone()));
            anyhow::bail!(
                "Only quota configs can be added for 'clients' using --bootstrap-server. Unexpected config names: {}",
                java_set(all)
            );
        }
        if !unknown_delete.is_empty() || !scram_delete.is_empty() {
            let mut all = unknown_delete.clone();
            all.extend(scram_delete.iter().map(|k| k.to_string()));
            anyhow::bail!(
                "Only quota configs can be deleted for 'clients' using --bootstrap-server. Unexpected config names: {}",
                java_set(all)
            );
        }
    } else {
        if !unknown_add.is_empty() {
            anyhow::bail!(
                "Only quota and SCRAM credential configs can be added for 'users' using --bootstrap-server. Unexpected config names: {}",
                java_set(unknown_add)
            );
        }
        if !unknown_delete.is_empty() {
            anyhow::bail!(
                "Only quota and SCRAM credential configs can be deleted for 'users' using --bootstrap-server. Unexpected config names: {}",
                java_set(unknown_delete)
            );
        }
        if !scram_add.is_empty() || !scram_delete.is_empty() {
            if names.iter().any(String::is_empty) {
                anyhow::bail!("The use of --entity-default or --user-defaults is not allowed with User SCRAM Credentials using --bootstrap-server.");
            }
            if quota_changes {
                anyhow::bail!("Cannot alter both quota and SCRAM credential configs simultaneously for 'users' using --bootstrap-server.");
            }
        }
    }
    if quota_changes {
        alter_quotas(client, types, names, &add, to_delete).await
    } else {
        let deletions: Vec<Mechanism> = scram_delete
            .iter()
            .filter_map(|k| Mechanism::from_name(k))
            .collect();
        alter_scram(client, &names[0], &scram_add, &deletions).await
    }
}

async fn alter_quotas(
    client: &mut Client,
    types: &[String],
    names: &[String],
    add: &[(String, String)],
    delete: &[String],
) -> anyhow::Result<()> {
    let described = describe_quotas(client, types, names).await?;
    let old: Vec<String> = described
        .first()
        .map(|e| e.values.iter().map(|(k, _)| k.clone()).collect())
        .unwrap_or_default();
    let invalid: Vec<&str> = delete
        .iter()
        .filter(|k| !old.contains(k))
        .map(String::as_str)
        .collect();
    if !invalid.is_empty() {
        anyhow::bail!("Invalid config(s): {}", invalid.join(","));
    }
    let mut ops = Vec::new();
    for (k, v) in add {
        let value = java::parse_double(v).ok_or_else(|| {
            anyhow::anyhow!("Cannot parse quota configuration value for {k}: {v}")
        })?;
        ops.push(OpData::default().with_key(sb(k.as_str())).with_value(value));
    }
    ops.extend(
        delete
            .iter()
            .map(|k| OpData::default().with_key(sb(k.as_str())).with_remove(true)),
    );
    let entity = types
        .iter()
        .zip(names)
        .map(|(t, n)| {
            EntityData::default()
                .with_entity_type(sb(quota_type(t)))
                .with_entity_name((!n.is_empty()).then(|| sb(n.as_str())))
        })
        .collect();
    let req = AlterClientQuotasRequest::default()
        .with_entries(vec![EntryData::default().with_entity(entity).with_ops(ops)]);
    let resp = client.send(&req).await?;
    for e in &resp.entries {
        check(e.error_code, e.error_message.as_ref())?;
    }
    Ok(())
}

async fn alter_scram(
    client: &mut Client,
    user: &str,
    add: &[&(String, String)],
    delete: &[Mechanism],
) -> anyhow::Result<()> {
    let mut upsertions = Vec::new();
    for (name, value) in add {
        let mechanism = Mechanism::from_name(name).expect("only SCRAM names get here");
        let (iterations, password) = parse_credential(mechanism, value)?;
        if password.is_empty() {
            anyhow::bail!("Empty key: the password of {name} must not be empty; give {name}=[password=<secret>]");
        }
        let salt = scram::random_salt();
        let salted =
            scram::salted_password(mechanism, password.as_bytes(), &salt, iterations as u32);
        upsertions.push(
            ScramCredentialUpsertion::default()
                .with_name(sb(user))
                .with_mechanism(mechanism.wire_type())
                .with_iterations(iterations)
                .with_salt(Bytes::from(salt))
                .with_salted_password(Bytes::from(salted)),
        );
    }
    let deletions: Vec<ScramCredentialDeletion> = delete
        .iter()
        .map(|m| {
            ScramCredentialDeletion::default()
                .with_name(sb(user))
                .with_mechanism(m.wire_type())
        })
        .collect();
    let changes = upsertions.len() + deletions.len();
    let req = AlterUserScramCredentialsRequest::default()
        .with_deletions(deletions)
        .with_upsertions(upsertions);
    let resp = client.send(&req).await?;
    for r in &resp.results {
        if r.error_code == kafka_protocol::error::ResponseError::DuplicateResource.code()
            && changes > 1
        {
            let msg = r.error_message.as_deref().unwrap_or("duplicate user");
            anyhow::bail!(
                "{msg} ({}): the broker takes one SCRAM change per user per request, as Kafka's KRaft controller does; run --alter once per mechanism",
                error_name(r.error_code)
            );
        }
        check(r.error_code, r.error_message.as_ref())?;
    }
    Ok(())
}

/// Parses Kafka's `[iterations=N,]password=P` credential value (brackets already removed).
/// Iterations default to 4096 (also for -1); fewer than the mechanism's minimum is refused.
pub fn parse_credential(mechanism: Mechanism, value: &str) -> anyhow::Result<(i32, String)> {
    let invalid = || {
        anyhow::anyhow!(
            "Invalid credential property {}={value}; give {}=[iterations=<n>,password=<secret>]",
            mechanism.name().replace('-', "_"),
            mechanism.name()
        )
    };
    let (iterations, rest) = match value.strip_prefix("iterations=") {
        Some(rest) => {
            let (n, rest) = rest.split_once(',').ok_or_else(invalid)?;
            let digits = n.strip_prefix('-').unwrap_or(n);
            if !digits.chars().all(|c| c.is_ascii_digit()) {
                return Err(invalid());
            }
            let iterations = if n == "-1" {
                DEFAULT_ITERATIONS
            } else {
                n.parse::<i32>().map_err(|_| {
                    anyhow::anyhow!(
                        "For input string: \"{n}\"; iterations must be a number from 4096 to 16384"
                    )
                })?
            };
            (iterations, rest)
        }
        None => (DEFAULT_ITERATIONS, value),
    };
    let password = rest.strip_prefix("password=").ok_or_else(invalid)?;
    if iterations < mechanism.iterations_min() {
        anyhow::bail!(
            "Iterations {iterations} is less than the minimum {} required for {}",
            mechanism.iterations_min(),
            mechanism.name()
        );
    }
    Ok((iterations, password.to_string()))
}

/// One described quota entity: (entity type, name or None for the default) and its values.
#[derive(Debug)]
struct QuotaEntry {
    entity: Vec<(String, Option<String>)>,
    values: Vec<(String, f64)>,
}

/// DescribeClientQuotas with Kafka's `ClientQuotaFilter.containsOnly` of one component per
/// type: the named entity, the default entity ("") or any entity (no name given). Entities
/// and values in the order Kafka's tool iterates them.
async fn describe_quotas(
    client: &mut Client,
    types: &[String],
    names: &[String],
) -> anyhow::Result<Vec<QuotaEntry>> {
    if names.len() > types.len() {
        anyhow::bail!("More entity names specified than entity types");
    }
    let components = types
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let c = ComponentData::default().with_entity_type(sb(quota_type(t)));
            match names.get(i).map(String::as_str) {
                // The generated default match is "", not null.
                None => c.with_match_type(2).with_match(None),
                Some("") => c.with_match_type(1).with_match(None),
                Some(n) => c.with_match_type(0).with_match(Some(sb(n))),
            }
        })
        .collect();
    let req = DescribeClientQuotasRequest::default()
        .with_components(components)
        .with_strict(true);
    let resp = client.send(&req).await?;
    check(resp.error_code, resp.error_message.as_ref())?;
    let entries = resp.entries.unwrap_or_default();
    let n = entries.len();
    let hashed = entries
        .into_iter()
        .map(|e| {
            let entity: Vec<(String, Option<String>)> = e
                .entity
                .iter()
                .map(|d| {
                    (
                        d.entity_type.to_string(),
                        d.entity_name.as_ref().map(|n| n.to_string()),
                    )
                })
                .collect();
            // ClientQuotaEntity.hashCode = Objects.hash(map) = 31 + sum(key ^ value).
            let map_hash = entity.iter().fold(0i32, |h, (t, n)| {
                h.wrapping_add(java::string_hash(t) ^ n.as_deref().map_or(0, java::string_hash))
            });
            let m = e.values.len();
            let values = java::hash_map_order(
                e.values
                    .iter()
                    .map(|v| (java::string_hash(&v.key), (v.key.to_string(), v.value)))
                    .collect(),
                Some(m),
            );
            (31i32.wrapping_add(map_hash), QuotaEntry { entity, values })
        })
        .collect();
    Ok(java::hash_map_order(hashed, Some(n)))
}

/// Kafka's line for one quota entity.
fn quota_line(e: &QuotaEntry) -> String {
    let mut parts = Vec::new();
    for (ty, label) in [
        ("user", "user-principal"),
        ("client-id", "client-id"),
        ("ip", "ip"),
    ] {
        if let Some((_, name)) = e.entity.iter().find(|(t, _)| t == ty) {
            parts.push(match name.as_deref() {
                None | Some("") => format!("the default {label}"),
                Some(n) => format!("{label} '{n}'"),
            });
        }
    }
    let values: Vec<String> = e
        .values
        .iter()
        .map(|(k, v)| format!("{k}={}", java::double_to_string(*v)))
        .collect();
    format!(
        "Quota configs for {} are {}",
        parts.join(", "),
        values.join(", ")
    )
}

/// `--describe` of users and/or clients: quota lines, then (users only, no default) one SCRAM
/// line per user with credentials.
pub async fn describe(
    client: &mut Client,
    types: &[String],
    names: &[String],
) -> anyhow::Result<()> {
    for e in describe_quotas(client, types, names).await? {
        println!("{}", quota_line(&e));
    }
    if types.iter().any(|t| t == "clients" || t == "ips") || names.iter().any(String::is_empty) {
        return Ok(());
    }
    let req = DescribeUserScramCredentialsRequest::default().with_users(Some(
        names
            .iter()
            .map(|n| UserName::default().with_name(sb(n.as_str())))
            .collect(),
    ));
    let resp = client.send(&req).await?;
    check(resp.error_code, resp.error_message.as_ref())?;
    let not_found = kafka_protocol::error::ResponseError::ResourceNotFound.code();
    let users: Vec<_> = resp
        .results
        .iter()
        .filter(|r| r.error_code != not_found)
        .collect();
    // The admin client's users() list is in the broker's order; Kafka's broker answers from a
    // HashMap of user names.
    let users = java::hash_map_order(
        users
            .into_iter()
            .map(|r| (java::string_hash(r.user.as_str()), r))
            .collect(),
        None,
    );
    for r in users {
        let user = r.user.as_str();
        if r.error_code != 0 {
            let message = r.error_message.as_deref().unwrap_or("");
            println!(
                "Error retrieving SCRAM credential configs for user-principal '{user}': {}Exception: {message}",
                error_name(r.error_code)
            );
            continue;
        }
        let mut infos: Vec<(i8, i32)> = r
            .credential_infos
            .iter()
            .map(|c| (c.mechanism, c.iterations))
            .collect();
        infos.sort();
        let text: Vec<String> = infos
            .iter()
            .map(|(m, i)| {
                let name = Mechanism::from_wire_type(*m).map_or("UNKNOWN", Mechanism::name);
                format!("{name}=iterations={i}")
            })
            .collect();
        println!(
            "SCRAM credential configs for user-principal '{user}' are {}",
            text.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_parse_as_kafka_does() {
        let m = Mechanism::ScramSha256;
        assert_eq!(
            parse_credential(m, "password=s").unwrap(),
            (4096, "s".into())
        );
        assert_eq!(
            parse_credential(m, "iterations=8192,password=a,b").unwrap(),
            (8192, "a,b".into())
        );
        assert_eq!(
            parse_credential(m, "iterations=-1,password=x").unwrap(),
            (4096, "x".into())
        );
        assert_eq!(parse_credential(m, "password=").unwrap(), (4096, "".into()));
        let e = parse_credential(m, "iterations=100,password=x")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "Iterations 100 is less than the minimum 4096 required for SCRAM-SHA-256"
        );
        let e = parse_credential(m, "secret").unwrap_err().to_string();
        assert!(
            e.starts_with("Invalid credential property SCRAM_SHA_256=secret"),
            "{e}"
        );
        assert!(parse_credential(m, "iterations=x1,password=p").is_err());
    }

    #[test]
    fn quota_lines_match_kafka() {
        let e = QuotaEntry {
            entity: vec![
                ("client-id".into(), Some("app".into())),
                ("user".into(), Some("alice".into())),
            ],
            values: vec![
                ("consumer_byte_rate".into(), 2048.0),
                ("producer_byte_rate".into(), 1e7),
            ],
        };
        assert_eq!(
            quota_line(&e),
            "Quota configs for user-principal 'alice', client-id 'app' are consumer_byte_rate=2048.0, producer_byte_rate=1.0E7"
        );
        let d = QuotaEntry {
            entity: vec![("client-id".into(), None)],
            values: vec![("request_percentage".into(), 12.5)],
        };
        assert_eq!(
            quota_line(&d),
            "Quota configs for the default client-id are request_percentage=12.5"
        );
    }

    #[test]
    fn unexpected_names_join_like_a_java_hash_set() {
        assert_eq!(java_set(vec!["b".into(), "a".into(), "b".into()]), "a,b");
    }
}
