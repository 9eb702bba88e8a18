//! Request dispatch: header decoding, version checks, one handler per API (in `handlers/`),
//! response framing. [`SUPPORTED_APIS`] is what ApiVersions advertises, and every entry has a
//! handler for every version in its range.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable};

use crate::broker::Broker;
use crate::handlers;
use crate::response::{Reply, Response};

/// Per-connection facts handlers may need.
pub struct Context {
    pub peer: Option<SocketAddr>,
}

/// (api, min version, max version) advertised in ApiVersions.
pub const SUPPORTED_APIS: &[(ApiKey, i16, i16)] = &[
    // Produce v0-v2 are advertised as Kafka 4 does (KAFKA-18659: older librdkafka disables
    // compression otherwise) and answered with UNSUPPORTED_VERSION per partition.
    (ApiKey::Produce, 0, 13),
    (ApiKey::Fetch, 4, 18),
    (ApiKey::ListOffsets, 0, 10),
    (ApiKey::Metadata, 0, 13),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 0, 7),
    (ApiKey::DeleteTopics, 0, 6),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::DescribeConfigs, 0, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::DescribeCluster, 0, 2),
    (ApiKey::DescribeLogDirs, 1, 4),
    (ApiKey::OffsetCommit, 0, 9),
    (ApiKey::OffsetFetch, 0, 9),
    (ApiKey::FindCoordinator, 0, 6),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::DescribeGroups, 0, 6),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::OffsetDelete, 0, 0),
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::DescribeProducers, 0, 0),
    (ApiKey::DescribeClientQuotas, 0, 1),
    (ApiKey::AlterClientQuotas, 0, 1),
    (ApiKey::DescribeUserScramCredentials, 0, 0),
    (ApiKey::AlterUserScramCredentials, 0, 0),
];

/// The advertised version range of `api_key`, if supported.
pub fn supported(api_key: i16) -> Option<(ApiKey, i16, i16)> {
    SUPPORTED_APIS
        .iter()
        .copied()
        .find(|(k, _, _)| *k as i16 == api_key)
}

/// Handles one request frame: its effects happen before this returns; the response may wait
/// ([`Reply::Later`], a Produce waiting for its fsync). `Err`: close the connection
/// (malformed or unsupported request), with the reason.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &Context,
    mut frame: Bytes,
) -> Result<Reply, String> {
    if frame.len() < 8 {
        return Err(format!(
            "request of {} bytes is shorter than a request header",
            frame.len()
        ));
    }
    let api_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let Some((key, min, max)) = supported(api_key) else {
        return Err(format!(
            "unsupported api key {api_key} (correlation id {correlation_id})"
        ));
    };
    if version < min || version > max {
        if key == ApiKey::ApiVersions {
            // KIP-511: answer an unknown ApiVersions version with a v0 response carrying
            // UNSUPPORTED_VERSION and our ranges, so the client can retry with one we know.
            return Ok(Reply::Now(api_versions_fallback(correlation_id).into()));
        }
        return Err(format!(
            "unsupported version {version} of {key:?} (supported {min}..={max})"
        ));
    }
    let header_version = key.request_header_version(version);
    let header = RequestHeader::decode(&mut frame, header_version)
        .map_err(|e| format!("bad request header: {e}"))?;
    if handlers::legacy::legacy_versions(key).is_some_and(|r| r.contains(&version)) {
        // Versions Kafka 3.x served that the generated codec no longer knows.
        return Ok(handlers::legacy::handle(broker, &header, key, frame)?
            .map(Response::from)
            .into());
    }
    let resp = match key {
        ApiKey::ApiVersions => {
            let req = decode::<ApiVersionsRequest>(&mut frame, version)?;
            Some(encode(
                &header,
                key,
                version,
                &handlers::api_versions::handle(&header, req),
            )?)
        }
        ApiKey::Metadata => reply(
            &header,
            key,
            version,
            handlers::metadata::handle(broker, &header, decode(&mut frame, version)?),
        )?,
        ApiKey::Produce => {
            let produced = handlers::produce::handle(broker, &header, decode(&mut frame, version)?);
            if produced.waits.is_empty() {
                match produced.resp {
                    Some(r) => Some(encode(&header, key, version, &r)?),
                    None => None,
                }
            } else {
                let broker = broker.clone();
                return Ok(Reply::Later(tokio::spawn(async move {
                    match handlers::produce::finish(broker, produced).await {
                        Some(r) => Ok(Some(encode(&header, key, version, &r)?.into())),
                        None => Ok(None),
                    }
                })));
            }
        }
        ApiKey::Fetch => {
            let answer =
                handlers::fetch::handle(broker, &header, decode(&mut frame, version)?).await;
            return handlers::fetch::encode(&header, version, answer).map(Reply::Now);
        }
        ApiKey::ListOffsets => reply(
            &header,
            key,
            version,
            handlers::list_offsets::handle(broker, &header, decode(&mut frame, version)?),
        )?,
        ApiKey::CreateTopics => reply(
            &header,
            key,
            version,
            handlers::create_topics::handle(broker, &header, decode(&mut frame, version)?),
        )?,
        ApiKey::DeleteTopics => reply(
            &header,
            key,
            version,
            handlers::delete_topics::handle(broker, &header, decode(&mut frame, version)?),
        )?,
        ApiKey::CreatePartitions => reply(
            &header,
            key,
            version,
            handlers::create_partitions::handle(broker, &header, decode(&mut frame, version)?),
        )?,
        ApiKey::DeleteRecords => reply(
            &header,
            key,
            version,
            handlers::delete_records::handle(broker, &header, decode(&mut frame, version)?),
        )?,
        ApiKey::DescribeConfigs => reply(
            &header,
            key,
            version,
            handlers::describe_configs::handle(broker, &header, decode(&mut frame, version)?),
        )?,
        ApiKey::AlterConfigs => reply(
            &header,
            key,
            version,
            handlers::alter_configs::handle(broker, &header, decode(&mut frame, version)?),
        )?,
        ApiKey::IncrementalAlterConfigs => reply(
            &header,
            key,
            version,
            handlers::alter_configs::handle_incremental(
                broker,
                &header,
                decode(&mut frame, version)?,
            ),
        )?,
        ApiKey::InitProducerId => reply(
            &header,
            key,
            version,
            handlers::init_producer_id::handle(broker, &header, decode(&mut frame, version)?),
        )?,
        ApiKey::DescribeProducers => reply(
            &header,
            key,
            version,
            handlers::describe_producers::handle(broker, &header, decode(&mut frame, version)?),
        )?,
        ApiKey::FindCoordinator => reply(
            &header,
            key,
            version,
            handlers::find_coordinator::handle(broker, &header, decode(&mut frame, version)?),
        )?,
        ApiKey::JoinGroup => {
            let req = decode(&mut frame, version)?;
            let resp = handlers::join_group::handle(broker, ctx, &header, req).await;
            reply(&header, key, version, resp)?
        }
        ApiKey::SyncGroup => {
            let req = decode(&mut frame, version)?;
            let resp = handlers::sync_group::handle(broker, &header, req).await;
            reply(&header, key, version, resp)?
        }
        ApiKey::Heartbeat => reply(
            &header,
            key,
            version,
            handlers::heartbeat::handle(broker, &header, decode(&mut frame, version)?),
        )?,
        ApiKey::LeaveGroup => reply(
            &header,
            key,
            version,
            handlers::leave_group::handle(broker, &header, decode(&mut frame, version)?),
        )?,
        ApiKey::OffsetCommit => reply(
            &header,
            key,
            version,
            handlers::offset_commit::handle(broker, &header, decode(&mut frame, version)?),
        )?,
        ApiKey::OffsetFetch => reply(
            &header,
            key,
            version,
            handlers::offset_fetch::handle(broker, &header, decode(&mut frame, version)?),
        )?,
        ApiKey::ListGroups => reply(
            &header,
            key,
            version,
            handlers::list_groups::handle(broker, &header, decode(&mut frame, version)?),
        )?,
        ApiKey::DescribeGroups => reply(
            &header,
            key,
            version,
            handlers::describe_groups::handle(broker, &header, decode(&mut frame, version)?),
        )?,
        ApiKey::DeleteGroups => reply(
            &header,
            key,
            version,
            handlers::delete_groups::handle(broker, &header, decode(&mut frame, version)?),
        )?,
        ApiKey::OffsetDelete => reply(
            &header,
            key,
            version,
            handlers::offset_delete::handle(broker, &header, decode(&mut frame, version)?),
        )?,
        ApiKey::DescribeCluster => reply(
            &header,
            key,
            version,
            handlers::describe_cluster::handle(broker, &header, decode(&mut frame, version)?),
        )?,
        ApiKey::DescribeLogDirs => reply(
            &header,
            key,
            version,
            handlers::describe_log_dirs::handle(broker, &header, decode(&mut frame, version)?),
        )?,
        ApiKey::DescribeClientQuotas => reply(
            &header,
            key,
            version,
            handlers::describe_client_quotas::handle(broker, &header, decode(&mut frame, version)?),
        )?,
        ApiKey::AlterClientQuotas => reply(
            &header,
            key,
            version,
            handlers::alter_client_quotas::handle(broker, &header, decode(&mut frame, version)?),
        )?,
        ApiKey::DescribeUserScramCredentials => reply(
            &header,
            key,
            version,
            handlers::describe_user_scram_credentials::handle(
                broker,
                &header,
                decode(&mut frame, version)?,
            ),
        )?,
        ApiKey::AlterUserScramCredentials => reply(
            &header,
            key,
            version,
            handlers::alter_user_scram_credentials::handle(
                broker,
                &header,
                decode(&mut frame, version)?,
            ),
        )?,
        other => unreachable!("{other:?} is advertised but has no handler"),
    };
    Ok(resp.map(Response::from).into())
}

fn reply<T: Encodable>(
    header: &RequestHeader,
    key: ApiKey,
    version: i16,
    resp: T,
) -> Result<Option<Bytes>, String> {
    encode(header, key, version, &resp).map(Some)
}

fn decode<T: Decodable>(frame: &mut Bytes, version: i16) -> Result<T, String> {
    let v = T::decode(frame, version).map_err(|e| format!("malformed request body: {e}"))?;
    Ok(v)
}

/// Frames a response: size, response header (v0 or v1 by API and version), body.
/// An encoding failure is a bug in a handler (a field set that the version lacks): it is
/// logged and the connection closed.
pub fn encode<T: Encodable>(
    header: &RequestHeader,
    key: ApiKey,
    version: i16,
    body: &T,
) -> Result<Bytes, String> {
    let mut buf = BytesMut::with_capacity(256);
    buf.put_i32(0);
    let rh = ResponseHeader::default().with_correlation_id(header.correlation_id);
    rh.encode(&mut buf, key.response_header_version(version))
        .map_err(|e| format!("encoding response header: {e}"))?;
    body.encode(&mut buf, version).map_err(|e| {
        tracing::error!("bug: cannot encode {key:?} v{version} response: {e}");
        format!("internal error encoding {key:?} v{version} response")
    })?;
    let len = (buf.len() - 4) as i32;
    buf[0..4].copy_from_slice(&len.to_be_bytes());
    Ok(buf.freeze())
}

fn api_versions_fallback(correlation_id: i32) -> Bytes {
    let mut body = handlers::api_versions::response();
    body.error_code = kafka_protocol::error::ResponseError::UnsupportedVersion.code();
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    buf.put_i32(correlation_id);
    body.encode(&mut buf, 0)
        .expect("ApiVersions v0 always encodes");
    let len = (buf.len() - 4) as i32;
    buf[0..4].copy_from_slice(&len.to_be_bytes());
    buf.freeze()
}
