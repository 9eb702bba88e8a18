//! CreateTopics (key 19), v2-v7: Kafka's name rules, partitions and replication factor (or
//! manual assignments), configs validated, `validate_only`; v5+ results carry the topic's
//! partitions, replication factor and configs, v7+ its id.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse, RequestHeader};
use strom_protocol::error::ErrorCode;

use super::sb;
use crate::broker::Broker;
use crate::config::ConfigSource;

pub fn handle(
    broker: &Arc<Broker>,
    h: &RequestHeader,
    req: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let v = h.request_api_version;
    let mut resp = CreateTopicsResponse::default();
    let mut seen = std::collections::HashSet::new();
    for t in req.topics {
        let name = t.name.0.to_string();
        let mut r = CreatableTopicResult::default()
            .with_name(t.name.clone())
            .with_num_partitions(-1)
            .with_replication_factor(-1)
            .with_error_message(None);
        if !seen.insert(name.clone()) {
            r.error_code = ErrorCode::InvalidRequest.code();
            r.error_message = Some(sb(format!(
                "Create topics request from client contains duplicate topic {name}"
            )));
            resp.topics.push(r);
            continue;
        }
        let assignments: BTreeMap<i32, Vec<i32>> = t
            .assignments
            .iter()
            .map(|a| {
                (
                    a.partition_index,
                    a.broker_ids.iter().map(|b| b.0).collect(),
                )
            })
            .collect();
        let mut configs = BTreeMap::new();
        let mut null_config = None;
        for c in &t.configs {
            match &c.value {
                Some(val) => {
                    configs.insert(c.name.to_string(), val.to_string());
                }
                None => null_config = Some(c.name.to_string()),
            }
        }
        let result = match null_config {
            Some(k) => Err(crate::broker::ApiError::new(
                ErrorCode::InvalidConfig,
                format!("Null value not supported for topic configs: {k}"),
            )),
            None => broker.create_topic(
                &name,
                t.num_partitions,
                t.replication_factor,
                &assignments,
                &configs,
                req.validate_only,
            ),
        };
        match result {
            Ok((id, n, rf)) => {
                if v >= 7 {
                    r.topic_id = id;
                }
                if v >= 5 {
                    r.num_partitions = n;
                    r.replication_factor = rf;
                    let img = broker.image();
                    let mut eff = broker.effective_topic_configs(&img, &name);
                    for (k, val) in &configs {
                        if let Some(e) = eff.get_mut(k.as_str()) {
                            *e = (val.clone(), ConfigSource::DynamicTopic, None);
                        }
                    }
                    r.configs = Some(
                        eff.into_iter()
                            .map(|(k, (val, src, _))| {
                                CreatableTopicConfigs::default()
                                    .with_name(sb(k))
                                    .with_value(Some(sb(val)))
                                    .with_config_source(src as i8)
                            })
                            .collect(),
                    );
                }
            }
            Err(e) => {
                r.error_code = e.code.code();
                if v >= 1 {
                    r.error_message = e.message.map(sb);
                }
            }
        }
        resp.topics.push(r);
    }
    resp
}
