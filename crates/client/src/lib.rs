//! strom-client: a small async Kafka client for Strom's operator tools and tests.
//!
//! Responsibility: speak the Kafka wire protocol to any Kafka-compatible broker. A
//! [`Connection`] is one TCP connection: 4-byte size framing, request headers with increasing
//! correlation ids, and ApiVersions negotiation at connect (each request then goes out at the
//! highest version both sides support). A [`Client`] connects to the first reachable server of a
//! bootstrap list, fetches metadata and opens connections to other brokers (partition leaders)
//! on demand. [`records`] builds and decodes v2 record batches; [`scram`] turns a password
//! into the salted password that AlterUserScramCredentials carries.
//!
//! Invariants:
//! - Every network wait (connect, write, read) is bounded by the client's timeout, so a tool
//!   pointed at an unreachable server fails in bounded time with one line naming the address.
//! - A response is accepted only with the correlation id of the request it answers; anything
//!   else is a protocol error and the connection is dropped.
//! - A request is never sent at a version outside the range the broker advertised; fields a
//!   version lacks are left at their defaults by the callers (kafka-protocol refuses to encode
//!   them otherwise).
//! - Knows nothing of broker internals: only the wire format.

pub mod groups;
pub mod producer;
pub mod records;
pub mod scram;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersionsResponse;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, Message, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Default bound on each network wait.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(8);
/// Largest response frame accepted, in bytes.
pub const RESPONSE_BYTES_MAX: usize = 256 * 1024 * 1024;

/// Errors of the client. `Display` is one line meant for a human.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The TCP connection could not be made (refused, unresolvable, timed out).
    #[error(
        "cannot connect to {addr}: {reason}; is a broker running there? check --bootstrap-server"
    )]
    Connect { addr: String, reason: String },
    /// A request got no answer in time.
    #[error("no response from {addr} within {ms} ms to {api}")]
    Timeout { addr: String, ms: u128, api: String },
    /// The connection broke or the peer sent something we cannot decode.
    #[error("{0}")]
    Protocol(String),
    /// The broker does not support the API (or no version in common).
    #[error("{0}")]
    Unsupported(String),
    /// The broker answered with an error code.
    #[error("{}", kafka_error_text(*code, message.as_deref()))]
    Kafka { code: i16, message: Option<String> },
}

/// `Result` of this crate.
pub type Result<T> = std::result::Result<T, ClientError>;

/// The name of a Kafka error code (`TopicAlreadyExists`), "NONE" for 0.
pub fn error_name(code: i16) -> String {
    match kafka_protocol::error::ResponseError::try_from_code(code) {
        None => "NONE".into(),
        Some(e) => e.to_string(),
    }
}

/// One line for an error code and the broker's message, if any.
pub fn kafka_error_text(code: i16, message: Option<&str>) -> String {
    match message {
        Some(m) if !m.is_empty() => format!("{m} ({})", error_name(code)),
        _ => format!("{} (error code {code})", error_name(code)),
    }
}

/// `Err(ClientError::Kafka)` for a non-zero code.
pub fn check(code: i16, message: Option<&StrBytes>) -> Result<()> {
    if code == 0 {
        Ok(())
    } else {
        Err(ClientError::Kafka {
            code,
            message: message.map(|m| m.to_string()),
        })
    }
}

fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// One connection to one broker.
pub struct Connection {
    addr: String,
    stream: TcpStream,
    next_correlation_id: i32,
    client_id: StrBytes,
    timeout: Duration,
    /// api key -> (min, max) the broker advertised.
    versions: BTreeMap<i16, (i16, i16)>,
}

impl Connection {
    /// Connects to `addr` (`host:port`) and negotiates API versions. Errors:
    /// [`ClientError::Connect`] when the address cannot be reached within `timeout`.
    pub async fn connect(addr: &str, client_id: &str, timeout: Duration) -> Result<Connection> {
        let connect_err = |reason: String| ClientError::Connect {
            addr: addr.to_string(),
            reason,
        };
        if !addr.contains(':') {
            return Err(connect_err(
                "no port given (expected host:port, e.g. localhost:9092)".into(),
            ));
        }
        let stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Err(_) => {
                return Err(connect_err(format!(
                    "timed out after {} ms",
                    timeout.as_millis()
                )))
            }
            Ok(Err(e)) => return Err(connect_err(io_reason(&e))),
            Ok(Ok(s)) => s,
        };
        let _ = stream.set_nodelay(true);
        let mut conn = Connection {
            addr: addr.to_string(),
            stream,
            next_correlation_id: 1,
            client_id: StrBytes::from_string(client_id.to_string()),
            timeout,
            versions: BTreeMap::new(),
        };
        let resp = conn.api_versions().await?;
        conn.versions = resp
            .api_keys
            .iter()
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect();
        Ok(conn)
    }

    /// The address this connection was opened to.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The version ranges the broker advertised: api key -> (min, max).
    pub fn broker_versions(&self) -> &BTreeMap<i16, (i16, i16)> {
        &self.versions
    }

    /// Sends ApiVersions (v3, falling back to v0 when the broker asks for it) and returns the
    /// response.
    pub async fn api_versions(&mut self) -> Result<ApiVersionsResponse> {
        let req = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("strom-tools"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let resp: ApiVersionsResponse = self.send_version(&req, 3).await?;
        if resp.error_code == 35 {
            // UNSUPPORTED_VERSION: the broker answered with v0 and its ranges; v0 it is.
            return self.send_version(&ApiVersionsRequest::default(), 0).await;
        }
        check(resp.error_code, None)?;
        Ok(resp)
    }

    /// The highest version of `R` both sides support. Errors: [`ClientError::Unsupported`].
    pub fn version_for<R: Request>(&self) -> Result<i16> {
        let name = api_name(R::KEY);
        let Some(&(bmin, bmax)) = self.versions.get(&R::KEY) else {
            return Err(ClientError::Unsupported(format!(
                "the broker at {} does not support {name}",
                self.addr
            )));
        };
        let ours = R::VERSIONS;
        let hi = bmax.min(ours.max);
        let lo = bmin.max(ours.min);
        if hi < lo {
            return Err(ClientError::Unsupported(format!(
                "no common version of {name}: broker {bmin}-{bmax}, client {}-{}",
                ours.min, ours.max
            )));
        }
        Ok(hi)
    }

    /// Sends `req` at the negotiated version and waits for its response.
    pub async fn send<R: Request>(&mut self, req: &R) -> Result<R::Response> {
        let v = self.version_for::<R>()?;
        self.send_version(req, v).await
    }

    /// Sends `req` at `version` and waits for the response.
    pub async fn send_version<R: Request>(&mut self, req: &R, version: i16) -> Result<R::Response> {
        let correlation_id = self.write_request(req, version).await?;
        let frame = self.read_frame(R::KEY).await?;
        decode_response::<R>(frame, version, correlation_id, &self.addr)
    }

    /// Sends `req` without waiting for a response (Produce with acks=0).
    pub async fn send_no_response<R: Request>(&mut self, req: &R) -> Result<()> {
        let v = self.version_for::<R>()?;
        self.write_request(req, v).await.map(|_| ())
    }

    async fn write_request<R: Request>(&mut self, req: &R, version: i16) -> Result<i32> {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        let mut buf = BytesMut::with_capacity(128);
        encode_frame(&mut buf, req, version, correlation_id, &self.client_id)?;
        let addr = self.addr.clone();
        match tokio::time::timeout(self.timeout, self.stream.write_all(&buf)).await {
            Err(_) => Err(ClientError::Timeout {
                addr,
                ms: self.timeout.as_millis(),
                api: api_name(R::KEY),
            }),
            Ok(Err(e)) => Err(ClientError::Protocol(format!(
                "connection to {addr} failed: {}",
                io_reason(&e)
            ))),
            Ok(Ok(())) => Ok(correlation_id),
        }
    }

    async fn read_frame(&mut self, api_key: i16) -> Result<Bytes> {
        let addr = self.addr.clone();
        let timeout = self.timeout;
        let read = read_size_prefixed(&mut self.stream);
        match tokio::time::timeout(timeout, read).await {
            Err(_) => Err(ClientError::Timeout {
                addr,
                ms: timeout.as_millis(),
                api: api_name(api_key),
            }),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                Err(ClientError::Protocol(format!(
                    "{addr} closed the connection during {} (the broker may not support this request)",
                    api_name(api_key)
                )))
            }
            Ok(Err(e)) => Err(ClientError::Protocol(format!(
                "connection to {addr} failed: {}",
                io_reason(&e)
            ))),
            Ok(Ok(b)) => Ok(b),
        }
    }
}

/// Encodes one request frame (size, header v1/v2, body) into `out`.
pub(crate) fn encode_frame<R: Request>(
    out: &mut BytesMut,
    req: &R,
    version: i16,
    correlation_id: i32,
    client_id: &StrBytes,
) -> Result<()> {
    let key = ApiKey::try_from(R::KEY)
        .map_err(|_| ClientError::Protocol(format!("unknown api key {}", R::KEY)))?;
    let start = out.len();
    out.put_i32(0);
    RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(client_id.clone()))
        .encode(out, key.request_header_version(version))
        .map_err(|e| ClientError::Protocol(format!("encoding request header: {e}")))?;
    req.encode(out, version).map_err(|e| {
        ClientError::Protocol(format!(
            "bug: cannot encode {} v{version}: {e}",
            api_name(R::KEY)
        ))
    })?;
    let len = (out.len() - start - 4) as i32;
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

/// Reads one size-prefixed frame (a response, without its size). Errors: the socket's, or
/// `InvalidData` for a size outside `0..=RESPONSE_BYTES_MAX` (the peer is not a Kafka broker).
pub(crate) async fn read_size_prefixed<S: tokio::io::AsyncRead + Unpin>(
    s: &mut S,
) -> std::io::Result<Bytes> {
    let len = s.read_i32().await?;
    if len < 0 || len as usize > RESPONSE_BYTES_MAX {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "the peer does not speak the Kafka protocol (response size {len} out of range); check --bootstrap-server"
            ),
        ));
    }
    let mut body = vec![0u8; len as usize];
    s.read_exact(&mut body).await?;
    Ok(Bytes::from(body))
}

/// Decodes a response frame (header and body) to a `req` of `R` sent at `version` with
/// `correlation_id` to `addr`. Errors: a header or body that does not decode, or a correlation
/// id that is not the request's, as [`ClientError::Protocol`].
pub(crate) fn decode_response<R: Request>(
    mut frame: Bytes,
    version: i16,
    correlation_id: i32,
    addr: &str,
) -> Result<R::Response> {
    let key = ApiKey::try_from(R::KEY)
        .map_err(|_| ClientError::Protocol(format!("unknown api key {}", R::KEY)))?;
    let header = ResponseHeader::decode(&mut frame, key.response_header_version(version))
        .map_err(|e| ClientError::Protocol(format!("bad response header: {e}")))?;
    if header.correlation_id != correlation_id {
        return Err(ClientError::Protocol(format!(
            "response correlation id {} does not match request {correlation_id}",
            header.correlation_id
        )));
    }
    R::Response::decode(&mut frame, version).map_err(|e| {
        ClientError::Protocol(format!(
            "cannot decode {} v{version} response from {addr}: {e}",
            api_name(R::KEY),
        ))
    })
}

/// Kafka's name of an API key (`Produce`, `DescribeLogDirs`), or `UNKNOWN(n)`.
pub fn api_name(key: i16) -> String {
    match ApiKey::try_from(key) {
        Ok(k) => format!("{k:?}"),
        Err(()) => format!("UNKNOWN({key})"),
    }
}

/// Settings of a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Sent as the client id of every request.
    pub client_id: String,
    /// Bound on each connect, write and read.
    pub timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            client_id: "strom-tools".into(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// A broker as metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

impl BrokerInfo {
    /// `host:port`.
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// A client of a cluster: the bootstrap connection plus connections to brokers by node id.
pub struct Client {
    config: ClientConfig,
    bootstrap: Connection,
    brokers: HashMap<i32, BrokerInfo>,
    conns: HashMap<i32, Connection>,
}

/// Splits a comma-separated bootstrap list, trimming blanks.
pub fn parse_bootstrap(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

impl Client {
    /// Connects to the first reachable server of `bootstrap` (comma-separated `host:port`).
    /// Errors: the last connect error when none is reachable.
    pub async fn connect(bootstrap: &str, config: ClientConfig) -> Result<Client> {
        let servers = parse_bootstrap(bootstrap);
        if servers.is_empty() {
            return Err(ClientError::Connect {
                addr: bootstrap.to_string(),
                reason: "empty server list".into(),
            });
        }
        let mut last = None;
        for s in &servers {
            match Connection::connect(s, &config.client_id, config.timeout).await {
                Ok(conn) => {
                    return Ok(Client {
                        config,
                        bootstrap: conn,
                        brokers: HashMap::new(),
                        conns: HashMap::new(),
                    })
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("at least one server tried"))
    }

    /// The connection to the bootstrap server.
    pub fn bootstrap(&mut self) -> &mut Connection {
        &mut self.bootstrap
    }

    /// Sends `req` to the bootstrap server.
    pub async fn send<R: Request>(&mut self, req: &R) -> Result<R::Response> {
        self.bootstrap.send(req).await
    }

    /// Metadata for `topics` (`None`: all topics), without auto-creating topics. Remembers
    /// the brokers for [`Client::send_to`].
    pub async fn metadata(&mut self, topics: Option<&[String]>) -> Result<MetadataResponse> {
        self.metadata_with(topics, false).await
    }

    /// Metadata for `topics`, optionally asking the broker to auto-create missing ones
    /// (honoured from Metadata v4; earlier versions always allow it).
    pub async fn metadata_with(
        &mut self,
        topics: Option<&[String]>,
        allow_auto_create: bool,
    ) -> Result<MetadataResponse> {
        let v = self.bootstrap.version_for::<MetadataRequest>()?;
        let mut req = MetadataRequest::default();
        req.topics = match topics {
            None if v == 0 => Some(Vec::new()),
            None => None,
            Some(ts) => Some(
                ts.iter()
                    .map(|t| {
                        MetadataRequestTopic::default()
                            .with_name(Some(TopicName(StrBytes::from_string(t.clone()))))
                    })
                    .collect(),
            ),
        };
        if v >= 4 {
            req.allow_auto_topic_creation = allow_auto_create;
        }
        let resp: MetadataResponse = self.bootstrap.send_version(&req, v).await?;
        for b in &resp.brokers {
            self.brokers.insert(
                b.node_id.0,
                BrokerInfo {
                    node_id: b.node_id.0,
                    host: b.host.to_string(),
                    port: b.port,
                    rack: b.rack.as_ref().map(|r| r.to_string()),
                },
            );
        }
        Ok(resp)
    }

    /// Brokers seen in the last metadata response, by node id.
    pub fn brokers(&self) -> &HashMap<i32, BrokerInfo> {
        &self.brokers
    }

    /// The connection to broker `node_id` (opened on first use; the broker must have been
    /// seen in metadata). Falls back to the bootstrap connection when the broker's address
    /// is the bootstrap address.
    pub async fn conn(&mut self, node_id: i32) -> Result<&mut Connection> {
        let Some(b) = self.brokers.get(&node_id).cloned() else {
            return Err(ClientError::Protocol(format!(
                "broker {node_id} is not in the cluster metadata"
            )));
        };
        if b.addr() == self.bootstrap.addr {
            return Ok(&mut self.bootstrap);
        }
        if !self.conns.contains_key(&node_id) {
            let c =
                match Connection::connect(&b.addr(), &self.config.client_id, self.config.timeout)
                    .await
                {
                    Ok(c) => c,
                    // A broker advertising an address we cannot reach while the bootstrap address
                    // works (a single node behind a port mapping): use the bootstrap connection.
                    Err(_) if self.brokers.len() == 1 => return Ok(&mut self.bootstrap),
                    Err(e) => return Err(e),
                };
            self.conns.insert(node_id, c);
        }
        Ok(self.conns.get_mut(&node_id).expect("inserted above"))
    }

    /// Sends `req` to broker `node_id`.
    pub async fn send_to<R: Request>(&mut self, node_id: i32, req: &R) -> Result<R::Response> {
        self.conn(node_id).await?.send(req).await
    }
}

/// Partition facts from metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    pub partition: i32,
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub error_code: i16,
}

/// Topic facts from metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    pub name: String,
    pub topic_id: [u8; 16],
    pub is_internal: bool,
    pub error_code: i16,
    /// Sorted by partition index.
    pub partitions: Vec<PartitionInfo>,
}

impl TopicInfo {
    /// The topic id in Kafka's text form (URL-safe base64 without padding), as Kafka's tools
    /// print it.
    pub fn topic_id_string(&self) -> String {
        uuid_to_kafka_string(&self.topic_id)
    }

    /// Whether the topic id is all zeros (the broker did not send one).
    pub fn topic_id_is_zero(&self) -> bool {
        self.topic_id == [0u8; 16]
    }
}

/// Kafka's `Uuid.toString()`: URL-safe base64 of the 16 bytes, no padding.
pub fn uuid_to_kafka_string(bytes: &[u8; 16]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(22);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Flattens a metadata response into [`TopicInfo`]s, in response order.
pub fn topics_of(resp: &MetadataResponse) -> Vec<TopicInfo> {
    resp.topics
        .iter()
        .map(|t| {
            let mut partitions: Vec<PartitionInfo> = t
                .partitions
                .iter()
                .map(|p| PartitionInfo {
                    partition: p.partition_index,
                    leader: p.leader_id.0,
                    leader_epoch: p.leader_epoch,
                    replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                    isr: p.isr_nodes.iter().map(|b| b.0).collect(),
                    error_code: p.error_code,
                })
                .collect();
            partitions.sort_by_key(|p| p.partition);
            TopicInfo {
                name: t.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default(),
                topic_id: *t.topic_id.as_bytes(),
                is_internal: t.is_internal,
                error_code: t.error_code,
                partitions,
            }
        })
        .collect()
}

/// Reads a big-endian i32 at the front of `buf` (helper for callers framing by hand).
pub fn get_i32(buf: &mut Bytes) -> Option<i32> {
    (buf.remaining() >= 4).then(|| buf.get_i32())
}

/// The `VERSIONS` range kafka-protocol implements for request type `R`: (min, max).
pub fn client_range<R: Message>() -> (i16, i16) {
    (R::VERSIONS.min, R::VERSIONS.max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_uuid_text_matches_java() {
        // Java: new Uuid(0x0123456789abcdefL, 0xfedcba9876543210L).toString()
        let b: [u8; 16] = [
            0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54,
            0x32, 0x10,
        ];
        assert_eq!(uuid_to_kafka_string(&b), "ASNFZ4mrze_-3LqYdlQyEA");
        assert_eq!(uuid_to_kafka_string(&[0; 16]), "AAAAAAAAAAAAAAAAAAAAAA");
    }

    #[test]
    fn bootstrap_list_splits_and_trims() {
        assert_eq!(
            parse_bootstrap(" a:1, b:2 ,,"),
            vec!["a:1".to_string(), "b:2".to_string()]
        );
    }

    #[test]
    fn error_text_names_code() {
        assert_eq!(
            kafka_error_text(36, Some("Topic 'x' already exists.")),
            "Topic 'x' already exists. (TopicAlreadyExists)"
        );
        assert_eq!(
            kafka_error_text(3, None),
            "UnknownTopicOrPartition (error code 3)"
        );
    }

    #[tokio::test]
    async fn refused_connection_is_one_line() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        drop(l);
        let e = Client::connect(&addr, ClientConfig::default())
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(e.starts_with(&format!("cannot connect to {addr}: ")), "{e}");
        assert!(e.contains("check --bootstrap-server"), "{e}");
        assert!(!e.contains('\n'));
    }
}
