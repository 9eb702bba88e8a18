//! DeleteTopics (key 20), v1-v6: by name (v1-v5 `topic_names`, v6 `topics`) or by topic id
//! (v6); TOPIC_DELETION_DISABLED when `delete.topic.enable=false`.

use std::sync::Arc;

use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, RequestHeader};
use strom_protocol::error::ErrorCode;

use super::{sb, tn};
use crate::broker::Broker;

pub fn handle(
    broker: &Arc<Broker>,
    h: &RequestHeader,
    req: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    let v = h.request_api_version;
    let mut resp = DeleteTopicsResponse::default();
    let targets: Vec<(Option<String>, uuid::Uuid)> = if v >= 6 {
        req.topics
            .iter()
            .map(|t| (t.name.as_ref().map(|n| n.0.to_string()), t.topic_id))
            .collect()
    } else {
        req.topic_names
            .iter()
            .map(|n| (Some(n.0.to_string()), uuid::Uuid::nil()))
            .collect()
    };
    for (name, id) in targets {
        let mut r = DeletableTopicResult::default();
        let img = broker.image();
        let resolved = match &name {
            Some(n) => Some(n.clone()),
            None => img.topic_by_id(&id).map(|t| t.name.clone()),
        };
        if v >= 6 {
            r.topic_id = id;
        }
        r.name = name.clone().map(tn);
        let Some(n) = resolved else {
            r.error_code = ErrorCode::UnknownTopicId.code();
            if v >= 5 {
                r.error_message = Some(sb("This server does not host this topic ID."));
            }
            resp.responses.push(r);
            continue;
        };
        match broker.delete_topic(&n) {
            Ok(deleted_id) => {
                if v >= 6 {
                    r.topic_id = deleted_id;
                    r.name = Some(tn(n));
                }
            }
            Err(e) => {
                r.error_code = e.code.code();
                if v >= 5 {
                    r.error_message = e.message.map(sb);
                }
            }
        }
        resp.responses.push(r);
    }
    resp
}
