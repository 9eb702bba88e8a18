//! Metadata (key 3), v0-v13: brokers, cluster id, controller id, topics with partitions,
//! leaders, epochs, replicas and ISR; auto-creation when `auto.create.topics.enable` and the
//! request allow it. In v0 an empty topic list means "all topics"; from v1 on null does.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, RequestHeader};
use strom_protocol::error::ErrorCode;
use uuid::Uuid;

use super::{sb, tn};
use crate::broker::{validate_topic_name, Broker};
use crate::metadata::TopicImage;

/// Kafka's "authorized operations not requested" value.
const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

pub fn handle(broker: &Arc<Broker>, h: &RequestHeader, req: MetadataRequest) -> MetadataResponse {
    let v = h.request_api_version;
    let mut resp = MetadataResponse::default();
    resp.brokers = broker
        .advertised
        .iter()
        .take(1)
        .map(|l| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(broker.node_id))
                .with_host(sb(l.host.clone()))
                .with_port(l.port as i32)
        })
        .collect();
    if v >= 2 {
        resp.cluster_id = Some(sb(broker.cluster_id.clone()));
    }
    if v >= 1 {
        resp.controller_id = BrokerId(broker.node_id);
    }
    let all = match &req.topics {
        None => true,
        Some(t) => t.is_empty() && v == 0,
    };
    let mut img = broker.image();
    let topic_ops = AUTHORIZED_OPERATIONS_OMITTED;
    if all {
        for t in img.topics.values() {
            resp.topics.push(topic_entry(t, v, topic_ops));
        }
        return resp;
    }
    let auto_create =
        broker.config.auto_create_topics() && (v < 4 || req.allow_auto_topic_creation);
    for rt in req.topics.unwrap_or_default() {
        let name = rt.name.as_ref().map(|n| n.0.to_string());
        let found: Option<TopicImage> = match &name {
            Some(n) => img.topic(n).cloned(),
            None => img.topic_by_id(&rt.topic_id).cloned(),
        };
        if let Some(t) = found {
            resp.topics.push(topic_entry(&t, v, topic_ops));
            continue;
        }
        let mut e = MetadataResponseTopic::default().with_topic_authorized_operations(topic_ops);
        let Some(n) = name else {
            e.error_code = ErrorCode::UnknownTopicId.code();
            e.topic_id = rt.topic_id;
            resp.topics.push(e);
            continue;
        };
        e.name = Some(tn(n.clone()));
        if let Err(err) = validate_topic_name(&n) {
            e.error_code = err.code.code();
        } else if auto_create {
            let r = broker.create_topic(&n, -1, -1, &BTreeMap::new(), &BTreeMap::new(), false);
            match r {
                Ok(_) => {
                    img = broker.image();
                    // As Kafka: the creating request reports LEADER_NOT_AVAILABLE; clients retry.
                    e.error_code = ErrorCode::LeaderNotAvailable.code();
                    if let Some(t) = img.topic(&n) {
                        if v >= 10 {
                            e.topic_id = t.id;
                        }
                    }
                }
                Err(err) if err.code == ErrorCode::TopicAlreadyExists => {
                    img = broker.image();
                    if let Some(t) = img.topic(&n) {
                        resp.topics.push(topic_entry(t, v, topic_ops));
                        continue;
                    }
                }
                Err(err) => e.error_code = err.code.code(),
            }
        } else {
            e.error_code = ErrorCode::UnknownTopicOrPartition.code();
        }
        resp.topics.push(e);
    }
    resp
}

fn topic_entry(t: &TopicImage, v: i16, ops: i32) -> MetadataResponseTopic {
    let mut e = MetadataResponseTopic::default()
        .with_name(Some(tn(t.name.clone())))
        .with_is_internal(crate::broker::is_internal_topic(&t.name))
        .with_topic_authorized_operations(ops);
    if v >= 10 {
        e.topic_id = t.id;
    } else {
        e.topic_id = Uuid::nil();
    }
    e.partitions = t
        .partitions
        .iter()
        .map(|(i, p)| {
            MetadataResponsePartition::default()
                .with_partition_index(*i)
                .with_leader_id(BrokerId(p.leader))
                .with_leader_epoch(if v >= 7 { p.leader_epoch } else { -1 })
                .with_replica_nodes(p.replicas.iter().map(|b| BrokerId(*b)).collect())
                .with_isr_nodes(p.isr.iter().map(|b| BrokerId(*b)).collect())
        })
        .collect();
    e
}
