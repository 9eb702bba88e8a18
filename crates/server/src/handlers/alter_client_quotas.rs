//! AlterClientQuotas (key 49), v0-v1 (KIP-546): sets and removes client quotas, committed as
//! KRaft `ClientQuotaRecord`s.
//!
//! Each entry names an entity (entity types `user`, `client-id` or `ip`, each with a name or
//! null for the default entity) and a list of ops (set `key` to `value`, or remove `key`).
//! Validation is Kafka's `ClientQuotaControlManager`, with every error INVALID_REQUEST for that
//! entry alone: an empty entity, a repeated or unknown entity type, an empty name, IP combined
//! with user or client-id, an IP name that is not an IP address, a key repeated in one entry,
//! an entity repeated in one request, an unknown key for the entity kind (`producer_byte_rate`,
//! `consumer_byte_rate`, `request_percentage`, `controller_mutation_rate` for users and clients;
//! `connection_creation_rate` for IPs), a value not above 0, a fraction or an out-of-range value
//! for an integral key. Valid entries of one request are committed together; an op that sets
//! the current value, or removes an absent key, writes nothing. `validate_only` validates and
//! writes nothing.
//!
//! Differences from Kafka: an IP entity name must be an IP address (Kafka also accepts a host
//! name it can resolve; the request path here never blocks on DNS), and NaN is refused as not
//! above 0 (Kafka stores it).
//!
//! Quotas are stored and described (DescribeClientQuotas); they are not enforced yet.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::alter_client_quotas_request::EntryData;
use kafka_protocol::messages::alter_client_quotas_response::{
    EntityData as RespEntity, EntryData as RespEntry,
};
use kafka_protocol::messages::{
    AlterClientQuotasRequest, AlterClientQuotasResponse, RequestHeader,
};
use strom_protocol::error::ErrorCode;

use super::sb;
use crate::broker::{internal, ApiError, Broker};
use crate::metadata::{MetadataImage, MetadataRecord, QuotaEntity};

/// Kafka's `ClientQuotaEntity.USER`.
pub const USER: &str = "user";
/// Kafka's `ClientQuotaEntity.CLIENT_ID`.
pub const CLIENT_ID: &str = "client-id";
/// Kafka's `ClientQuotaEntity.IP`.
pub const IP: &str = "ip";

/// How a quota key's value is checked (Kafka's `ConfigDef.Type` of the key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QuotaType {
    Long,
    Int,
    Double,
}

/// The quota keys one kind of entity takes, with their types.
type QuotaKeys = &'static [(&'static str, QuotaType)];

/// Quota keys of user and client-id entities (`QuotaConfig.userAndClientQuotaConfigs`).
const USER_CLIENT_QUOTAS: QuotaKeys = &[
    ("producer_byte_rate", QuotaType::Long),
    ("consumer_byte_rate", QuotaType::Long),
    ("request_percentage", QuotaType::Double),
    ("controller_mutation_rate", QuotaType::Double),
];

/// Quota keys of IP entities (`QuotaConfig.ipConfigs`).
const IP_QUOTAS: QuotaKeys = &[("connection_creation_rate", QuotaType::Int)];

pub fn handle(
    broker: &Arc<Broker>,
    _h: &RequestHeader,
    req: AlterClientQuotasRequest,
) -> AlterClientQuotasResponse {
    let validate_only = req.validate_only;
    let committed = broker.commit_with(|img| {
        let (recs, entries) = plan(img, &req);
        (if validate_only { Vec::new() } else { recs }, entries)
    });
    let entries = committed.unwrap_or_else(|e| {
        let e = internal(e);
        req.entries
            .iter()
            .map(|entry| response_entry(entry, Err(e.clone())))
            .collect()
    });
    AlterClientQuotasResponse::default().with_entries(entries)
}

/// The records that apply `req` to `img`, and one response entry per request entry (in order).
pub fn plan(
    img: &MetadataImage,
    req: &AlterClientQuotasRequest,
) -> (Vec<MetadataRecord>, Vec<RespEntry>) {
    // An entity given twice is refused in both places (Kafka answers once per entity).
    let mut seen: BTreeMap<Vec<(String, Option<String>)>, usize> = BTreeMap::new();
    for e in &req.entries {
        *seen.entry(raw_entity(e)).or_default() += 1;
    }
    let mut recs = Vec::new();
    let mut out = Vec::with_capacity(req.entries.len());
    for e in &req.entries {
        let result = if seen[&raw_entity(e)] > 1 {
            Err(invalid(format!(
                "Ignoring duplicate entity {}",
                display(&raw_entity(e))
            )))
        } else {
            entry_records(img, e).map(|r| recs.extend(r))
        };
        out.push(response_entry(e, result));
    }
    (recs, out)
}

fn invalid(m: String) -> ApiError {
    ApiError::new(ErrorCode::InvalidRequest, m)
}

fn raw_entity(e: &EntryData) -> Vec<(String, Option<String>)> {
    e.entity
        .iter()
        .map(|d| {
            (
                d.entity_type.to_string(),
                d.entity_name.as_ref().map(|n| n.to_string()),
            )
        })
        .collect()
}

/// Kafka's `ClientQuotaEntity` text: `ClientQuotaEntity(entries={user=alice, client-id=null})`.
fn display(entity: &[(String, Option<String>)]) -> String {
    let parts: Vec<String> = entity
        .iter()
        .map(|(t, n)| format!("{t}={}", n.as_deref().unwrap_or("null")))
        .collect();
    format!("ClientQuotaEntity(entries={{{}}})", parts.join(", "))
}

fn response_entry(e: &EntryData, result: Result<(), ApiError>) -> RespEntry {
    let (code, message) = match result {
        Ok(()) => (0, None),
        Err(err) => (err.code.code(), err.message.map(sb)),
    };
    RespEntry::default()
        .with_error_code(code)
        .with_error_message(message)
        .with_entity(
            e.entity
                .iter()
                .map(|d| {
                    RespEntity::default()
                        .with_entity_type(d.entity_type.clone())
                        .with_entity_name(d.entity_name.clone())
                })
                .collect(),
        )
}

/// Validates the entity of `e` (Kafka's `validateEntity` and `configKeysForEntityType`) and
/// returns it with the quota keys its kind takes.
fn validate_entity(raw: &[(String, Option<String>)]) -> Result<(QuotaEntity, QuotaKeys), ApiError> {
    if raw.is_empty() {
        return Err(invalid("Invalid empty client quota entity".into()));
    }
    let mut entity = QuotaEntity::new();
    for (t, n) in raw {
        if entity.contains_key(t) {
            return Err(invalid(format!(
                "Invalid client quota entity, duplicate entity entry {t}"
            )));
        }
        if t != USER && t != CLIENT_ID && t != IP {
            return Err(invalid(format!("Unhandled client quota entity type: {t}")));
        }
        if n.as_deref() == Some("") {
            return Err(invalid(format!("Empty {t} not supported")));
        }
        entity.insert(t.clone(), n.clone());
    }
    if let Some(ip) = entity.get(IP) {
        if entity.len() > 1 {
            return Err(invalid(
                "Invalid quota entity combination, IP entity should not be combined with User or ClientId".into(),
            ));
        }
        if let Some(ip) = ip {
            if ip.parse::<std::net::IpAddr>().is_err() {
                return Err(invalid(format!(
                    "{ip} is not a valid IP or resolvable host."
                )));
            }
        }
        return Ok((entity, IP_QUOTAS));
    }
    Ok((entity, USER_CLIENT_QUOTAS))
}

/// Kafka's `validateQuotaKeyValue`.
fn validate_value(keys: &[(&str, QuotaType)], key: &str, value: f64) -> Result<(), ApiError> {
    let Some((_, ty)) = keys.iter().find(|(k, _)| *k == key) else {
        return Err(invalid(format!("Invalid configuration key {key}")));
    };
    if value.is_nan() || value <= 0.0 {
        return Err(invalid(format!("Quota {key} must be greater than 0")));
    }
    let (max, article, name) = match ty {
        QuotaType::Double => return Ok(()),
        QuotaType::Int => (i32::MAX as f64, "an", "INT"),
        QuotaType::Long => (i64::MAX as f64, "a", "LONG"),
    };
    if value > max {
        return Err(invalid(format!(
            "Proposed value for {key} is too large for {article} {name}."
        )));
    }
    if (value % 1.0).abs() > 1e-6 {
        return Err(invalid(format!("{key} cannot be a fractional value.")));
    }
    Ok(())
}

/// The records of one valid entry; an error for an invalid one (then it writes nothing).
fn entry_records(img: &MetadataImage, e: &EntryData) -> Result<Vec<MetadataRecord>, ApiError> {
    let raw = raw_entity(e);
    let (entity, keys) = validate_entity(&raw)?;
    let mut ops: BTreeMap<&str, Option<f64>> = BTreeMap::new();
    for op in &e.ops {
        if ops.contains_key(op.key.as_str()) {
            return Err(invalid(format!(
                "Duplicate quota key {} not updating quota for this entity {}",
                op.key.as_str(),
                display(&raw)
            )));
        }
        ops.insert(op.key.as_str(), (!op.remove).then_some(op.value));
    }
    let current = img.client_quotas.get(&entity);
    let mut recs = Vec::new();
    for (key, value) in ops {
        let now = current.and_then(|q| q.get(key)).copied();
        let record = |value: f64, remove: bool| MetadataRecord::ClientQuota {
            entity: entity.clone(),
            key: key.to_string(),
            value,
            remove,
        };
        match value {
            None => {
                if now.is_some() {
                    recs.push(record(0.0, true));
                }
            }
            Some(v) => {
                validate_value(keys, key, v)?;
                if now != Some(v) {
                    recs.push(record(v, false));
                }
            }
        }
    }
    Ok(recs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::alter_client_quotas_request::{EntityData, OpData};

    fn entry(entity: &[(&str, Option<&str>)], ops: &[(&str, f64, bool)]) -> EntryData {
        EntryData::default()
            .with_entity(
                entity
                    .iter()
                    .map(|(t, n)| {
                        EntityData::default()
                            .with_entity_type(sb(*t))
                            .with_entity_name(n.map(sb))
                    })
                    .collect(),
            )
            .with_ops(
                ops.iter()
                    .map(|(k, v, r)| {
                        OpData::default()
                            .with_key(sb(*k))
                            .with_value(*v)
                            .with_remove(*r)
                    })
                    .collect(),
            )
    }

    fn run(img: &mut MetadataImage, entries: Vec<EntryData>) -> Vec<(i16, Option<String>)> {
        let req = AlterClientQuotasRequest::default().with_entries(entries);
        let (recs, resp) = plan(img, &req);
        for r in &recs {
            img.apply(r);
        }
        resp.iter()
            .map(|e| {
                (
                    e.error_code,
                    e.error_message.as_ref().map(|m| m.to_string()),
                )
            })
            .collect()
    }

    #[test]
    fn set_change_and_remove_through_records() {
        let mut img = MetadataImage::default();
        let alice = [(USER, Some("alice"))];
        let r = run(
            &mut img,
            vec![entry(
                &alice,
                &[
                    ("producer_byte_rate", 1024.0, false),
                    ("request_percentage", 12.5, false),
                ],
            )],
        );
        assert_eq!(r, vec![(0, None)]);
        let key: QuotaEntity = [(USER.to_string(), Some("alice".to_string()))].into();
        assert_eq!(img.client_quotas[&key]["producer_byte_rate"], 1024.0);
        assert_eq!(img.client_quotas[&key]["request_percentage"], 12.5);
        // Same value: no record; removal of an absent key: no record, no error.
        let req = AlterClientQuotasRequest::default().with_entries(vec![entry(
            &alice,
            &[
                ("producer_byte_rate", 1024.0, false),
                ("consumer_byte_rate", 0.0, true),
            ],
        )]);
        assert!(plan(&img, &req).0.is_empty());
        run(
            &mut img,
            vec![entry(
                &alice,
                &[
                    ("producer_byte_rate", 0.0, true),
                    ("request_percentage", 0.0, true),
                ],
            )],
        );
        assert!(
            img.client_quotas.is_empty(),
            "an entity without quotas is gone"
        );
    }

    #[test]
    fn default_and_combined_entities() {
        let mut img = MetadataImage::default();
        let r = run(
            &mut img,
            vec![
                entry(&[(USER, None)], &[("consumer_byte_rate", 100.0, false)]),
                entry(
                    &[(USER, Some("alice")), (CLIENT_ID, Some("app"))],
                    &[("consumer_byte_rate", 200.0, false)],
                ),
                entry(
                    &[(IP, Some("127.0.0.1"))],
                    &[("connection_creation_rate", 5.0, false)],
                ),
            ],
        );
        assert_eq!(r, vec![(0, None); 3]);
        assert_eq!(img.client_quotas.len(), 3);
    }

    #[test]
    fn invalid_entries_are_refused_alone() {
        let mut img = MetadataImage::default();
        let bad = ErrorCode::InvalidRequest.code();
        let cases: Vec<(EntryData, &str)> = vec![
            (
                entry(&[], &[("producer_byte_rate", 1.0, false)]),
                "Invalid empty client quota entity",
            ),
            (
                entry(
                    &[("group", Some("g"))],
                    &[("producer_byte_rate", 1.0, false)],
                ),
                "Unhandled client quota entity type: group",
            ),
            (
                entry(&[(USER, Some(""))], &[("producer_byte_rate", 1.0, false)]),
                "Empty user not supported",
            ),
            (
                entry(
                    &[(USER, Some("a")), (USER, Some("b"))],
                    &[("producer_byte_rate", 1.0, false)],
                ),
                "duplicate entity entry user",
            ),
            (
                entry(
                    &[(USER, Some("u")), (IP, Some("1.2.3.4"))],
                    &[("producer_byte_rate", 1.0, false)],
                ),
                "IP entity should not be combined",
            ),
            (
                entry(
                    &[(IP, Some("not-an-ip"))],
                    &[("connection_creation_rate", 1.0, false)],
                ),
                "not-an-ip is not a valid IP",
            ),
            (
                entry(
                    &[(USER, Some("u"))],
                    &[("connection_creation_rate", 1.0, false)],
                ),
                "Invalid configuration key connection_creation_rate",
            ),
            (
                entry(&[(IP, Some("::1"))], &[("producer_byte_rate", 1.0, false)]),
                "Invalid configuration key producer_byte_rate",
            ),
            (
                entry(&[(USER, Some("u"))], &[("bogus", 1.0, false)]),
                "Invalid configuration key bogus",
            ),
            (
                entry(&[(USER, Some("u"))], &[("producer_byte_rate", 0.0, false)]),
                "Quota producer_byte_rate must be greater than 0",
            ),
            (
                entry(
                    &[(USER, Some("u"))],
                    &[("producer_byte_rate", f64::NAN, false)],
                ),
                "must be greater than 0",
            ),
            (
                entry(&[(USER, Some("u"))], &[("producer_byte_rate", 1.5, false)]),
                "producer_byte_rate cannot be a fractional value.",
            ),
            (
                entry(
                    &[(USER, Some("u"))],
                    &[("producer_byte_rate", 1e300, false)],
                ),
                "too large for a LONG",
            ),
            (
                entry(&[(IP, None)], &[("connection_creation_rate", 3e9, false)]),
                "too large for an INT",
            ),
            (
                entry(
                    &[(USER, Some("u"))],
                    &[
                        ("producer_byte_rate", 1.0, false),
                        ("producer_byte_rate", 2.0, false),
                    ],
                ),
                "Duplicate quota key producer_byte_rate",
            ),
        ];
        for (e, want) in cases {
            let r = run(&mut img, vec![e]);
            assert_eq!(r[0].0, bad, "{want}");
            let msg = r[0].1.clone().unwrap();
            assert!(msg.contains(want), "{msg:?} lacks {want:?}");
        }
        assert!(img.client_quotas.is_empty());
    }

    #[test]
    fn a_bad_entry_does_not_stop_a_good_one_and_duplicates_fail_both() {
        let mut img = MetadataImage::default();
        let r = run(
            &mut img,
            vec![
                entry(&[(USER, Some("u"))], &[("bogus", 1.0, false)]),
                entry(
                    &[(CLIENT_ID, Some("c"))],
                    &[("producer_byte_rate", 1.0, false)],
                ),
                entry(&[(USER, Some("d"))], &[("producer_byte_rate", 1.0, false)]),
                entry(&[(USER, Some("d"))], &[("consumer_byte_rate", 1.0, false)]),
            ],
        );
        assert_ne!(r[0].0, 0);
        assert_eq!(r[1].0, 0);
        assert!(r[2]
            .1
            .as_deref()
            .unwrap()
            .starts_with("Ignoring duplicate entity"));
        assert!(r[3]
            .1
            .as_deref()
            .unwrap()
            .starts_with("Ignoring duplicate entity"));
        assert_eq!(img.client_quotas.len(), 1);
    }
}
