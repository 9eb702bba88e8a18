//! FindCoordinator (key 10), v0-v6: this node coordinates every group. GROUP keys (type 0)
//! get this node (creating `__consumer_offsets` on first need, as Kafka does); TRANSACTION
//! keys (type 1) get COORDINATOR_NOT_AVAILABLE until transactions exist; other key types
//! INVALID_REQUEST. v0-v3 carry one key; v4+ a batch of `coordinator_keys`.

use std::sync::Arc;

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{
    BrokerId, FindCoordinatorRequest, FindCoordinatorResponse, RequestHeader,
};
use kafka_protocol::protocol::StrBytes;
use strom_protocol::error::ErrorCode;

use super::sb;
use crate::broker::Broker;
use crate::groups;

const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;

pub fn handle(
    broker: &Arc<Broker>,
    h: &RequestHeader,
    req: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let v = h.request_api_version;
    let key_type = if v >= 1 { req.key_type } else { KEY_TYPE_GROUP };
    let mut resp = FindCoordinatorResponse::default();
    if v >= 4 {
        resp.coordinators = req
            .coordinator_keys
            .iter()
            .map(|k| {
                let mut c = Coordinator::default().with_key(k.clone());
                match lookup(broker, key_type, k) {
                    Ok((node, host, port)) => {
                        c.node_id = BrokerId(node);
                        c.host = sb(host);
                        c.port = port;
                    }
                    Err((code, msg)) => {
                        c.node_id = BrokerId(-1);
                        c.port = -1;
                        c.error_code = code.code();
                        c.error_message = Some(sb(msg));
                    }
                }
                c
            })
            .collect();
        return resp;
    }
    match lookup(broker, key_type, &req.key) {
        Ok((node, host, port)) => {
            resp.node_id = BrokerId(node);
            resp.host = sb(host);
            resp.port = port;
        }
        Err((code, msg)) => {
            resp.error_code = code.code();
            resp.node_id = BrokerId(-1);
            resp.port = -1;
            if v >= 1 {
                resp.error_message = Some(sb(msg));
            }
        }
    }
    resp
}

fn lookup(
    broker: &Broker,
    key_type: i8,
    key: &StrBytes,
) -> Result<(i32, String, i32), (ErrorCode, String)> {
    match key_type {
        KEY_TYPE_GROUP => {}
        KEY_TYPE_TRANSACTION => {
            return Err((
                ErrorCode::CoordinatorNotAvailable,
                "Transactions are not supported yet.".into(),
            ))
        }
        t => {
            return Err((
                ErrorCode::InvalidRequest,
                format!("Invalid coordinator key type {t}."),
            ))
        }
    }
    if key.is_empty() {
        return Err((ErrorCode::InvalidRequest, "Group id is empty.".into()));
    }
    if let Err(e) = groups::ensure_offsets_topic(broker) {
        return Err((
            ErrorCode::CoordinatorNotAvailable,
            e.message.unwrap_or_default(),
        ));
    }
    let l = broker.advertised.first().ok_or((
        ErrorCode::CoordinatorNotAvailable,
        "No advertised listener.".to_string(),
    ))?;
    Ok((broker.node_id, l.host.clone(), l.port as i32))
}
