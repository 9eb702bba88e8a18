//! AlterConfigs (key 33), v0-v2, which replaces a resource's whole set of dynamic configs, and
//! IncrementalAlterConfigs (key 44), v0-v1, with SET, DELETE, APPEND and SUBTRACT (the last two
//! for list configs only). Unknown names and invalid values are refused with INVALID_CONFIG;
//! `validate_only` checks without committing. Changes are ConfigRecords in the metadata log.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse as IncResult;
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse, RequestHeader,
};
use strom_protocol::error::ErrorCode;

use super::describe_configs::is_dynamic_broker_key;
use super::sb;
use crate::broker::{internal, ApiError, Broker};
use crate::config::{self, ConfigDef, ConfigType};
use crate::metadata::{MetadataRecord, RESOURCE_BROKER, RESOURCE_TOPIC};

const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
const OP_APPEND: i8 = 2;
const OP_SUBTRACT: i8 = 3;

pub fn handle(
    broker: &Arc<Broker>,
    _h: &RequestHeader,
    req: AlterConfigsRequest,
) -> AlterConfigsResponse {
    let mut resp = AlterConfigsResponse::default();
    for res in req.resources {
        let name = res.resource_name.to_string();
        let mut r = AlterConfigsResourceResponse::default()
            .with_error_message(None)
            .with_resource_type(res.resource_type)
            .with_resource_name(res.resource_name.clone());
        let mut next = BTreeMap::new();
        let mut null = None;
        for c in &res.configs {
            match &c.value {
                Some(v) => {
                    next.insert(c.name.to_string(), v.to_string());
                }
                None => null = Some(c.name.to_string()),
            }
        }
        let result = match null {
            Some(k) => Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!("Null value not supported for : {k}"),
            )),
            None => replace(broker, res.resource_type, &name, next, req.validate_only),
        };
        if let Err(e) = result {
            r.error_code = e.code.code();
            r.error_message = e.message.map(sb);
        }
        resp.responses.push(r);
    }
    resp
}

pub fn handle_incremental(
    broker: &Arc<Broker>,
    _h: &RequestHeader,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let mut resp = IncrementalAlterConfigsResponse::default();
    for res in req.resources {
        let name = res.resource_name.to_string();
        let mut r = IncResult::default()
            .with_error_message(None)
            .with_resource_type(res.resource_type)
            .with_resource_name(res.resource_name.clone());
        let result = (|| {
            let mut next = current(broker, res.resource_type, &name)?;
            let mut seen = std::collections::HashSet::new();
            for c in &res.configs {
                let key = c.name.to_string();
                if !seen.insert(key.clone()) {
                    return Err(ApiError::new(
                        ErrorCode::InvalidRequest,
                        format!("Error due to duplicate config keys : {key}"),
                    ));
                }
                let d = def_for(res.resource_type, &key)?;
                let value = c.value.as_ref().map(|v| v.to_string());
                match c.config_operation {
                    OP_SET => {
                        let v = value.ok_or_else(|| {
                            ApiError::new(
                                ErrorCode::InvalidRequest,
                                format!("Null value not supported for : {key}"),
                            )
                        })?;
                        next.insert(key, v);
                    }
                    OP_DELETE => {
                        next.remove(&key);
                    }
                    OP_APPEND | OP_SUBTRACT => {
                        if d.kind != ConfigType::List {
                            return Err(ApiError::new(
                                ErrorCode::InvalidConfig,
                                format!("Config value append is not allowed for config key: {key}"),
                            ));
                        }
                        let base = next
                            .get(&key)
                            .cloned()
                            .unwrap_or_else(|| effective(broker, res.resource_type, &name, d));
                        let mut items: Vec<String> = base
                            .split(',')
                            .map(|s| s.trim().to_string())
                            .filter(|s| !s.is_empty())
                            .collect();
                        let args: Vec<String> = value
                            .unwrap_or_default()
                            .split(',')
                            .map(|s| s.trim().to_string())
                            .filter(|s| !s.is_empty())
                            .collect();
                        if c.config_operation == OP_APPEND {
                            for a in args {
                                if !items.contains(&a) {
                                    items.push(a);
                                }
                            }
                        } else {
                            items.retain(|i| !args.contains(i));
                        }
                        next.insert(key, items.join(","));
                    }
                    op => {
                        return Err(ApiError::new(
                            ErrorCode::InvalidRequest,
                            format!("Unknown config operation {op}"),
                        ))
                    }
                }
            }
            replace(broker, res.resource_type, &name, next, req.validate_only)
        })();
        if let Err(e) = result {
            r.error_code = e.code.code();
            r.error_message = e.message.map(sb);
        }
        resp.responses.push(r);
    }
    resp
}

fn def_for(resource_type: i8, key: &str) -> Result<&'static ConfigDef, ApiError> {
    let d = match resource_type {
        RESOURCE_TOPIC => config::topic_def(key),
        RESOURCE_BROKER => config::broker_def(key),
        t => {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!("Unsupported resource type {t}"),
            ))
        }
    };
    d.ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidConfig,
            format!(
                "Unknown {} config name: {key}",
                if resource_type == RESOURCE_TOPIC {
                    "topic"
                } else {
                    "broker"
                }
            ),
        )
    })
}

fn effective(broker: &Broker, resource_type: i8, name: &str, d: &ConfigDef) -> String {
    if resource_type == RESOURCE_TOPIC {
        let img = broker.image();
        return broker
            .effective_topic_configs(&img, name)
            .get(d.name)
            .map(|e| e.0.clone())
            .unwrap_or_default();
    }
    broker.config.get(d.name).unwrap_or_default()
}

/// The dynamic configs currently set on the resource. Errors: UNKNOWN_TOPIC_OR_PARTITION.
fn current(
    broker: &Broker,
    resource_type: i8,
    name: &str,
) -> Result<BTreeMap<String, String>, ApiError> {
    let img = broker.image();
    match resource_type {
        RESOURCE_TOPIC => img.topic(name).map(|t| t.configs.clone()).ok_or_else(|| {
            ApiError::new(
                ErrorCode::UnknownTopicOrPartition,
                format!("Topic {name} does not exist."),
            )
        }),
        RESOURCE_BROKER => {
            if !name.is_empty() && name != broker.node_id.to_string() {
                return Err(ApiError::new(
                    ErrorCode::InvalidRequest,
                    format!(
                        "Unexpected broker id, expected {} or empty string, but received {name}",
                        broker.node_id
                    ),
                ));
            }
            Ok(img.broker_configs.get(name).cloned().unwrap_or_default())
        }
        t => Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("Unsupported resource type {t}"),
        )),
    }
}

/// Validates `next` as the resource's full dynamic config set and commits the difference.
fn replace(
    broker: &Broker,
    resource_type: i8,
    name: &str,
    next: BTreeMap<String, String>,
    validate_only: bool,
) -> Result<(), ApiError> {
    let cur = current(broker, resource_type, name)?;
    for (k, v) in &next {
        let d = def_for(resource_type, k)?;
        if resource_type == RESOURCE_BROKER && !is_dynamic_broker_key(k) {
            return Err(ApiError::new(
                ErrorCode::InvalidConfig,
                format!("Cannot update these configs dynamically: [{k}]"),
            ));
        }
        config::validate_value(d, v).map_err(|m| ApiError::new(ErrorCode::InvalidConfig, m))?;
    }
    if validate_only {
        return Ok(());
    }
    let mut recs = Vec::new();
    for k in cur.keys() {
        if !next.contains_key(k) {
            recs.push(MetadataRecord::Config {
                resource_type,
                resource_name: name.to_string(),
                name: k.clone(),
                value: None,
            });
        }
    }
    for (k, v) in &next {
        if cur.get(k) != Some(v) {
            recs.push(MetadataRecord::Config {
                resource_type,
                resource_name: name.to_string(),
                name: k.clone(),
                value: Some(v.clone()),
            });
        }
    }
    broker.commit(recs).map_err(internal)
}
