//! DescribeConfigs (key 32), v1-v4: topic and broker resources; every config with its value,
//! source, sensitivity, synonyms (when asked), type (v3+) and documentation (v3+, when asked).
//! A broker resource named "" describes the cluster-wide dynamic defaults.

use std::sync::Arc;

use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse, RequestHeader};
use strom_protocol::error::ErrorCode;

use super::sb;
use crate::broker::Broker;
use crate::config::{self, ConfigDef, ConfigSource, BROKER_CONFIGS, TOPIC_CONFIGS};
use crate::metadata::{RESOURCE_BROKER, RESOURCE_TOPIC};

/// Kafka's BROKER_LOGGER resource type.
pub const RESOURCE_BROKER_LOGGER: i8 = 8;

struct Entry {
    def: &'static ConfigDef,
    value: String,
    source: ConfigSource,
    synonyms: Vec<(String, String, ConfigSource)>,
}

pub fn handle(
    broker: &Arc<Broker>,
    h: &RequestHeader,
    req: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let v = h.request_api_version;
    let mut resp = DescribeConfigsResponse::default();
    for res in &req.resources {
        let name = res.resource_name.to_string();
        let mut out = DescribeConfigsResult::default()
            .with_error_message(None)
            .with_resource_type(res.resource_type)
            .with_resource_name(res.resource_name.clone());
        let entries = match res.resource_type {
            RESOURCE_TOPIC => topic_entries(broker, &name),
            RESOURCE_BROKER => broker_entries(broker, &name),
            RESOURCE_BROKER_LOGGER => {
                if name == broker.node_id.to_string() {
                    Ok(vec![])
                } else {
                    Err((
                        ErrorCode::InvalidRequest,
                        format!(
                            "Unexpected broker id, expected {} but received {name}",
                            broker.node_id
                        ),
                    ))
                }
            }
            t => Err((
                ErrorCode::InvalidRequest,
                format!("Unsupported resource type {t}"),
            )),
        };
        match entries {
            Err((code, msg)) => {
                out.error_code = code.code();
                out.error_message = Some(sb(msg));
            }
            Ok(entries) => {
                for e in entries {
                    if let Some(keys) = &res.configuration_keys {
                        if !keys.iter().any(|k| &**k == e.def.name) {
                            continue;
                        }
                    }
                    let sensitive = e.def.kind == config::ConfigType::Password;
                    let mut r = DescribeConfigsResourceResult::default()
                        .with_name(sb(e.def.name))
                        .with_value(if sensitive { None } else { Some(sb(e.value)) })
                        .with_read_only(
                            res.resource_type == RESOURCE_BROKER
                                && e.source != ConfigSource::DynamicBroker
                                && e.source != ConfigSource::DynamicDefaultBroker
                                && !is_dynamic_broker_key(e.def.name),
                        )
                        .with_config_source(e.source as i8)
                        .with_is_sensitive(sensitive);
                    if req.include_synonyms {
                        r.synonyms = e
                            .synonyms
                            .into_iter()
                            .map(|(n, val, s)| {
                                DescribeConfigsSynonym::default()
                                    .with_name(sb(n))
                                    .with_value(Some(sb(val)))
                                    .with_source(s as i8)
                            })
                            .collect();
                    }
                    if v >= 3 {
                        r.config_type = e.def.kind as i8;
                        if req.include_documentation {
                            r.documentation = Some(sb(e.def.doc));
                        }
                    }
                    out.configs.push(r);
                }
            }
        }
        resp.results.push(out);
    }
    resp
}

fn topic_entries(broker: &Broker, topic: &str) -> Result<Vec<Entry>, (ErrorCode, String)> {
    let img = broker.image();
    if img.topic(topic).is_none() {
        return Err((
            ErrorCode::UnknownTopicOrPartition,
            format!("Topic {topic} does not exist."),
        ));
    }
    let eff = broker.effective_topic_configs(&img, topic);
    let mut out = Vec::new();
    for d in TOPIC_CONFIGS {
        let (value, source, _) = eff[d.name].clone();
        let mut synonyms = Vec::new();
        if source == ConfigSource::DynamicTopic {
            synonyms.push((d.name.to_string(), value.clone(), source));
        }
        for s in d.synonyms {
            if let Some(v) = img
                .broker_configs
                .get(&broker.node_id.to_string())
                .and_then(|m| m.get(*s))
            {
                synonyms.push((s.to_string(), v.clone(), ConfigSource::DynamicBroker));
            }
            if let Some(v) = img.broker_configs.get("").and_then(|m| m.get(*s)) {
                synonyms.push((s.to_string(), v.clone(), ConfigSource::DynamicDefaultBroker));
            }
            if let Some(v) = broker.config.set.get(*s) {
                synonyms.push((s.to_string(), v.clone(), ConfigSource::StaticBroker));
            }
        }
        // Kafka lists the broker key whose built-in default applies (log.retention.hours for
        // retention.ms), else the topic config's own default.
        match d
            .synonyms
            .iter()
            .find_map(|s| config::broker_def(s).and_then(|b| b.default.map(|v| (*s, v))))
        {
            Some((name, v)) => {
                synonyms.push((name.to_string(), v.to_string(), ConfigSource::Default))
            }
            None => {
                if let Some(v) = d.default {
                    synonyms.push((d.name.to_string(), v.to_string(), ConfigSource::Default));
                }
            }
        }
        out.push(Entry {
            def: d,
            value,
            source,
            synonyms,
        });
    }
    Ok(out)
}

/// Broker keys that may be changed at runtime (cluster-wide or per broker).
pub fn is_dynamic_broker_key(k: &str) -> bool {
    TOPIC_CONFIGS.iter().any(|d| d.synonyms.contains(&k))
}

fn broker_entries(broker: &Broker, name: &str) -> Result<Vec<Entry>, (ErrorCode, String)> {
    let img = broker.image();
    let dyn_default = img.broker_configs.get("").cloned().unwrap_or_default();
    if name.is_empty() {
        return Ok(dyn_default
            .iter()
            .filter_map(|(k, v)| {
                config::broker_def(k).map(|d| Entry {
                    def: d,
                    value: v.clone(),
                    source: ConfigSource::DynamicDefaultBroker,
                    synonyms: vec![(k.clone(), v.clone(), ConfigSource::DynamicDefaultBroker)],
                })
            })
            .collect());
    }
    if name != broker.node_id.to_string() {
        return Err((
            ErrorCode::InvalidRequest,
            format!(
                "Unexpected broker id, expected {} but received {name}",
                broker.node_id
            ),
        ));
    }
    let dyn_broker = img.broker_configs.get(name).cloned().unwrap_or_default();
    let mut out = Vec::new();
    for d in BROKER_CONFIGS {
        let mut synonyms = Vec::new();
        if let Some(v) = dyn_broker.get(d.name) {
            synonyms.push((d.name.to_string(), v.clone(), ConfigSource::DynamicBroker));
        }
        if let Some(v) = dyn_default.get(d.name) {
            synonyms.push((
                d.name.to_string(),
                v.clone(),
                ConfigSource::DynamicDefaultBroker,
            ));
        }
        if let Some(v) = broker.config.set.get(d.name) {
            synonyms.push((d.name.to_string(), v.clone(), ConfigSource::StaticBroker));
        }
        if let Some(v) = d.default {
            synonyms.push((d.name.to_string(), v.to_string(), ConfigSource::Default));
        }
        let (value, source) = match synonyms.first() {
            Some((_, v, s)) => (v.clone(), *s),
            None => continue,
        };
        out.push(Entry {
            def: d,
            value,
            source,
            synonyms,
        });
    }
    Ok(out)
}
