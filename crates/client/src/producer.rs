//! A pipelined, batching producer for one topic, shaped like Kafka's `KafkaProducer`
//! (`RecordAccumulator` + `Sender`): records are appended into one open v2 batch per partition
//! (built in place: the 61-byte header is reserved at the front and filled in when the batch
//! is drained, so a record's bytes are copied once, into the batch); one task per leader broker
//! drains ready batches (full, lingered for `linger`, or any when flushing) into Produce
//! requests on one dedicated connection, with up to `max_in_flight` requests outstanding; a
//! reader task matches responses (in order, by correlation id) and reports every batch to the
//! delivery callback.
//!
//! Idempotence: with `idempotence` on, the producer gets a producer id from InitProducerId and
//! stamps each batch with its partition's next sequence number, as Kafka's producer does. There
//! are no retries: a failed batch is reported to the callback with the error, and a broken
//! connection fails every outstanding batch and the producer (a tool reports it and exits).
//!
//! Records carry no headers (the perf tools do not need them). Keyless records go to a sticky
//! partition that moves on, round robin, after `batch_size` bytes (Kafka's KIP-794).
//!
//! Invariants:
//! - Every response is matched to the oldest outstanding request of its connection, by
//!   correlation id; a mismatch is a protocol error that fails the producer.
//! - Bytes buffered (open, ready and in-flight batches) stay within `buffer_memory` plus one
//!   record: `send` waits for deliveries to free space.
//! - Sequence numbers of a partition are assigned in drain order, which is send order on the
//!   one connection to its leader.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersionsResponse;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Message, Request, StrBytes};
use strom_protocol::batch::{self, Compression, BATCH_HEADER_BYTES, LOG_OVERHEAD};
use strom_protocol::records::{compress, put_varint, put_varlong, varlong_len};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Notify};

use crate::{
    check, decode_response, encode_frame, read_size_prefixed, topics_of, Client, ClientError,
    Result,
};

/// Settings of a [`Producer`], named after Kafka's producer configs.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    /// `acks`: 0, 1 or -1 (all).
    pub acks: i16,
    /// `linger.ms`.
    pub linger: Duration,
    /// `batch.size`, in bytes.
    pub batch_size: usize,
    /// `compression.type`.
    pub compression: Compression,
    /// `enable.idempotence`.
    pub idempotence: bool,
    /// `max.in.flight.requests.per.connection`.
    pub max_in_flight: usize,
    /// `buffer.memory`, in bytes.
    pub buffer_memory: usize,
    /// `request.timeout.ms`: the Produce timeout and the bound on each wait for a response.
    pub request_timeout: Duration,
    /// `client.id`.
    pub client_id: String,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            acks: -1,
            linger: Duration::from_millis(5),
            batch_size: 16384,
            compression: Compression::None,
            idempotence: true,
            max_in_flight: 5,
            buffer_memory: 32 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            client_id: "strom-producer".into(),
        }
    }
}

/// The outcome of one batch, as the delivery callback sees it.
#[derive(Debug)]
pub struct Delivery<'a> {
    pub partition: i32,
    /// Offset of the first record; -1 when unknown (acks=0 or an error).
    pub base_offset: i64,
    /// The tokens passed to [`Producer::send`] for the records of the batch, in order.
    pub tokens: &'a [u64],
    /// Bytes of key and value of the batch's records.
    pub payload_bytes: u64,
    /// Bytes of the batch as sent (header, records, after compression).
    pub batch_bytes: usize,
    /// `None` on success, else one line.
    pub error: Option<&'a str>,
}

/// Called once per batch, from the producer's reader task.
pub type OnDelivery = Box<dyn FnMut(Delivery<'_>) + Send>;

struct Batch {
    /// Header placeholder plus encoded records.
    buf: Vec<u8>,
    tokens: Vec<u64>,
    payload_bytes: u64,
    /// Size as sent, known once sealed.
    wire_bytes: usize,
    count: i32,
    base_ts: i64,
    max_ts: i64,
    created: Instant,
}

impl Batch {
    fn new(capacity: usize, ts: i64) -> Batch {
        let mut buf = Vec::with_capacity(capacity.max(BATCH_HEADER_BYTES + 64));
        buf.resize(BATCH_HEADER_BYTES, 0);
        Batch {
            buf,
            tokens: Vec::with_capacity(64),
            payload_bytes: 0,
            wire_bytes: 0,
            count: 0,
            base_ts: ts,
            max_ts: ts,
            created: Instant::now(),
        }
    }
}

struct PartState {
    open: Option<Batch>,
    ready: VecDeque<Batch>,
    next_sequence: i32,
    /// Index of the sender (leader connection) of this partition.
    sender: usize,
}

struct State {
    parts: Vec<PartState>,
    /// Bytes in open, ready and in-flight batches.
    buffered: usize,
    /// Batches not yet reported to the callback.
    pending: usize,
    sticky: usize,
    sticky_bytes: usize,
    flushing: bool,
    closed: bool,
    error: Option<String>,
}

struct SenderHandle {
    wake: Notify,
    capacity: Notify,
    in_flight: AtomicUsize,
}

struct Shared {
    state: Mutex<State>,
    senders: Vec<SenderHandle>,
    /// Signalled when buffered bytes drop or the producer fails.
    space: Notify,
    /// Signalled when `pending` reaches 0 or the producer fails.
    idle: Notify,
    on_delivery: Mutex<OnDelivery>,
    config: ProducerConfig,
    topic: String,
    topic_id: [u8; 16],
    producer_id: i64,
    producer_epoch: i16,
}

/// A producer to one topic. See the module doc.
pub struct Producer {
    shared: Arc<Shared>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    partitions: usize,
}

/// Encoded size of the zig-zag varint of `v`.
fn varint_len(v: i32) -> usize {
    varlong_len(i64::from(v))
}

fn nullable_len(b: Option<&[u8]>) -> usize {
    match b {
        None => 1,
        Some(b) => varint_len(b.len() as i32) + b.len(),
    }
}

fn put_nullable(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => out.push(1), // zig-zag -1
        Some(b) => {
            put_varint(out, b.len() as i32);
            out.extend_from_slice(b);
        }
    }
}

/// Appends one header-less record to `out` without intermediate buffers.
pub fn put_record(
    out: &mut Vec<u8>,
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) {
    let body = 1
        + varlong_len(timestamp_delta)
        + varint_len(offset_delta)
        + nullable_len(key)
        + nullable_len(value)
        + 1;
    out.reserve(body + 5);
    put_varint(out, body as i32);
    out.push(0);
    put_varlong(out, timestamp_delta);
    put_varint(out, offset_delta);
    put_nullable(out, key);
    put_nullable(out, value);
    out.push(0);
}

/// Fills in the header of `b` (compressing the records first when `codec` says so) and
/// returns the finished batch bytes.
fn seal(mut b: Batch, codec: Compression, pid: i64, epoch: i16, seq: i32) -> (Vec<u8>, Batch) {
    if codec != Compression::None {
        let packed = compress(codec, &b.buf[BATCH_HEADER_BYTES..]);
        b.buf.truncate(BATCH_HEADER_BYTES);
        b.buf.extend_from_slice(&packed);
    }
    let mut buf = std::mem::take(&mut b.buf);
    let len = (buf.len() - LOG_OVERHEAD) as i32;
    let mut h = &mut buf[..BATCH_HEADER_BYTES];
    h.put_i64(0);
    h.put_i32(len);
    h.put_i32(-1);
    h.put_i8(batch::MAGIC_V2);
    h.put_u32(0);
    h.put_i16(codec as i16);
    h.put_i32(b.count - 1);
    h.put_i64(b.base_ts);
    h.put_i64(b.max_ts);
    h.put_i64(pid);
    h.put_i16(epoch);
    h.put_i32(seq);
    h.put_i32(b.count);
    let crc = batch::compute_crc(&buf);
    buf[17..21].copy_from_slice(&crc.to_be_bytes());
    b.wire_bytes = buf.len();
    (buf, b)
}

/// Opens the data connection to `addr` and negotiates the Produce version.
async fn open_data_connection(
    addr: &str,
    client_id: &StrBytes,
    timeout: Duration,
) -> Result<(TcpStream, i16)> {
    let connect_err = |reason: String| ClientError::Connect {
        addr: addr.to_string(),
        reason,
    };
    let mut stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Err(_) => return Err(connect_err("timed out".into())),
        Ok(Err(e)) => return Err(connect_err(e.to_string())),
        Ok(Ok(s)) => s,
    };
    let _ = stream.set_nodelay(true);
    let req = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("strom-producer"))
        .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
    let mut buf = BytesMut::new();
    encode_frame(&mut buf, &req, 3, 0, client_id)?;
    let io = async {
        stream.write_all(&buf).await?;
        read_size_prefixed(&mut stream).await
    };
    let frame = tokio::time::timeout(timeout, io)
        .await
        .map_err(|_| ClientError::Timeout {
            addr: addr.to_string(),
            ms: timeout.as_millis(),
            api: "ApiVersions".into(),
        })?
        .map_err(|e| ClientError::Protocol(format!("connection to {addr} failed: {e}")))?;
    let resp: ApiVersionsResponse = decode_response::<ApiVersionsRequest>(frame, 3, 0, addr)?;
    check(resp.error_code, None)?;
    let Some(k) = resp
        .api_keys
        .iter()
        .find(|k| k.api_key == ProduceRequest::KEY)
    else {
        return Err(ClientError::Unsupported(format!(
            "the broker at {addr} does not support Produce"
        )));
    };
    let v = k.max_version.min(ProduceRequest::VERSIONS.max);
    if v < k.min_version.max(ProduceRequest::VERSIONS.min) {
        return Err(ClientError::Unsupported(format!(
            "no common version of Produce with {addr}"
        )));
    }
    Ok((stream, v))
}

struct InFlight {
    correlation_id: i32,
    batches: Vec<(i32, Batch)>,
    bytes: usize,
}

impl Producer {
    /// Creates a producer to `topic`: metadata (the topic must exist), InitProducerId when
    /// idempotent, one connection per leader. Errors: unknown topic, partitions without a
    /// leader, unreachable leaders.
    pub async fn new(
        client: &mut Client,
        topic: &str,
        config: ProducerConfig,
        on_delivery: OnDelivery,
    ) -> Result<Producer> {
        // As Kafka's producer: ask for auto-creation, and wait (here up to 5 s) while the topic
        // is unknown or its leaders are not elected yet.
        let waited = Instant::now();
        let info = loop {
            let resp = client
                .metadata_with(Some(&[topic.to_string()]), true)
                .await?;
            let info = topics_of(&resp)
                .into_iter()
                .find(|t| t.name == topic)
                .ok_or_else(|| ClientError::Protocol(format!("no metadata for topic {topic}")))?;
            let leaderless = info.partitions.iter().any(|p| p.leader < 0);
            let retriable = matches!(info.error_code, 3 | 5) || leaderless;
            if !retriable || waited.elapsed() >= Duration::from_secs(5) {
                if info.error_code == 3 {
                    return Err(ClientError::Kafka {
                        code: 3,
                        message: Some(format!(
                            "Topic {topic} not present in metadata after 5000 ms"
                        )),
                    });
                }
                check(info.error_code, None)?;
                break info;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let (producer_id, producer_epoch) = if config.idempotence {
            let req = InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(-1)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1);
            let r = client.send(&req).await?;
            check(r.error_code, None)?;
            (r.producer_id.0, r.producer_epoch)
        } else {
            (batch::NO_PRODUCER_ID, batch::NO_PRODUCER_EPOCH)
        };
        let mut leaders: Vec<i32> = Vec::new();
        let mut parts = Vec::new();
        for (i, p) in info.partitions.iter().enumerate() {
            if p.partition as usize != i {
                return Err(ClientError::Protocol(format!(
                    "topic {topic} has a gap in its partition numbers at {i}"
                )));
            }
            if p.leader < 0 {
                return Err(ClientError::Kafka {
                    code: 5,
                    message: Some(format!("partition {topic}-{i} has no leader")),
                });
            }
            let sender = match leaders.iter().position(|l| *l == p.leader) {
                Some(s) => s,
                None => {
                    leaders.push(p.leader);
                    leaders.len() - 1
                }
            };
            parts.push(PartState {
                open: None,
                ready: VecDeque::new(),
                next_sequence: 0,
                sender,
            });
        }
        let partitions = parts.len();
        let client_id = StrBytes::from_string(config.client_id.clone());
        let mut conns = Vec::new();
        for l in &leaders {
            let addr = client
                .brokers()
                .get(l)
                .map(|b| b.addr())
                .ok_or_else(|| ClientError::Protocol(format!("broker {l} not in metadata")))?;
            let conn = match open_data_connection(&addr, &client_id, config.request_timeout).await {
                Ok(c) => c,
                // A single broker advertising an address we cannot reach: use the bootstrap one.
                Err(_) if leaders.len() == 1 => {
                    let a = client.bootstrap().addr().to_string();
                    open_data_connection(&a, &client_id, config.request_timeout).await?
                }
                Err(e) => return Err(e),
            };
            conns.push(conn);
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                parts,
                buffered: 0,
                pending: 0,
                sticky: 0,
                sticky_bytes: 0,
                flushing: false,
                closed: false,
                error: None,
            }),
            senders: leaders
                .iter()
                .map(|_| SenderHandle {
                    wake: Notify::new(),
                    capacity: Notify::new(),
                    in_flight: AtomicUsize::new(0),
                })
                .collect(),
            space: Notify::new(),
            idle: Notify::new(),
            on_delivery: Mutex::new(on_delivery),
            config,
            topic: topic.to_string(),
            topic_id: info.topic_id,
            producer_id,
            producer_epoch,
        });
        let mut tasks = Vec::new();
        for (idx, (stream, version)) in conns.into_iter().enumerate() {
            let (rd, wr) = stream.into_split();
            let (tx, rx) = mpsc::unbounded_channel();
            tasks.push(tokio::spawn(sender_loop(
                shared.clone(),
                idx,
                wr,
                version,
                tx,
                client_id.clone(),
            )));
            tasks.push(tokio::spawn(reader_loop(
                shared.clone(),
                idx,
                rd,
                version,
                rx,
            )));
        }
        Ok(Producer {
            shared,
            tasks,
            partitions,
        })
    }

    /// Number of partitions of the topic.
    pub fn partitions(&self) -> usize {
        self.partitions
    }

    /// Appends one record to its partition's batch (`partition` `None`: the sticky partition),
    /// waiting while `buffer.memory` is used up. `token` comes back in the [`Delivery`].
    /// Errors: the producer failed (connection lost), or the partition does not exist.
    pub async fn send(
        &self,
        partition: Option<i32>,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        timestamp_ms: i64,
        token: u64,
    ) -> Result<()> {
        let size = 24 + key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len);
        loop {
            match self.append(partition, key, value, timestamp_ms, token, size)? {
                None => self.shared.space.notified().await,
                Some(None) => return Ok(()),
                Some(Some(sender)) => {
                    self.shared.senders[sender].wake.notify_one();
                    // Give the sender a chance to run on a single-threaded runtime.
                    tokio::task::yield_now().await;
                    return Ok(());
                }
            }
        }
    }

    /// The locked part of [`Producer::send`]: `None` when the buffer is full; else appended,
    /// with the sender to wake when a batch was sealed or created.
    fn append(
        &self,
        partition: Option<i32>,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        timestamp_ms: i64,
        token: u64,
        size: usize,
    ) -> Result<Option<Option<usize>>> {
        let cfg = &self.shared.config;
        let mut st = self.shared.state.lock().expect("producer state");
        if let Some(e) = &st.error {
            return Err(ClientError::Protocol(e.clone()));
        }
        if st.buffered > 0 && st.buffered + size > cfg.buffer_memory {
            return Ok(None);
        }
        let p = match partition {
            Some(p) if p >= 0 && (p as usize) < self.partitions => p as usize,
            Some(p) => {
                return Err(ClientError::Protocol(format!(
                    "partition {p} of {} does not exist",
                    self.shared.topic
                )))
            }
            None => {
                if st.sticky_bytes >= cfg.batch_size {
                    st.sticky = (st.sticky + 1) % self.partitions;
                    st.sticky_bytes = 0;
                }
                st.sticky_bytes += size;
                st.sticky
            }
        };
        st.buffered += size;
        let ps = &mut st.parts[p];
        let mut sealed = false;
        if ps
            .open
            .as_ref()
            .is_some_and(|b| b.count > 0 && b.buf.len() + size > cfg.batch_size)
        {
            let full = ps.open.take().expect("checked");
            ps.ready.push_back(full);
            sealed = true;
        }
        let created = ps.open.is_none();
        let b = ps.open.get_or_insert_with(|| {
            Batch::new(cfg.batch_size.max(size + BATCH_HEADER_BYTES), timestamp_ms)
        });
        let delta = timestamp_ms - b.base_ts;
        put_record(&mut b.buf, delta, b.count, key, value);
        b.count += 1;
        b.max_ts = b.max_ts.max(timestamp_ms);
        b.tokens.push(token);
        b.payload_bytes += (size - 24) as u64;
        if created {
            st.pending += 1;
        }
        Ok(Some((sealed || created).then_some(st.parts[p].sender)))
    }

    /// Sends every buffered record and waits until all are delivered (or the producer fails).
    pub async fn flush(&self) -> Result<()> {
        loop {
            {
                let mut st = self.shared.state.lock().expect("producer state");
                if let Some(e) = &st.error {
                    return Err(ClientError::Protocol(e.clone()));
                }
                if st.pending == 0 {
                    st.flushing = false;
                    return Ok(());
                }
                st.flushing = true;
            }
            for s in &self.shared.senders {
                s.wake.notify_one();
            }
            let _ =
                tokio::time::timeout(Duration::from_millis(50), self.shared.idle.notified()).await;
        }
    }

    /// Flushes, then stops the connection tasks.
    pub async fn close(mut self) -> Result<()> {
        let r = self.flush().await;
        self.shared.state.lock().expect("producer state").closed = true;
        for s in &self.shared.senders {
            s.wake.notify_one();
        }
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
        r
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn fail(shared: &Shared, msg: String) {
    let mut st = shared.state.lock().expect("producer state");
    if st.error.is_none() {
        st.error = Some(msg);
    }
    drop(st);
    shared.space.notify_one();
    shared.idle.notify_one();
    for s in &shared.senders {
        s.capacity.notify_one();
        s.wake.notify_one();
    }
}

/// Drains ready batches of sender `idx` into Produce requests.
async fn sender_loop(
    shared: Arc<Shared>,
    idx: usize,
    mut wr: OwnedWriteHalf,
    version: i16,
    tx: mpsc::UnboundedSender<InFlight>,
    client_id: StrBytes,
) {
    let cfg = &shared.config;
    let me = &shared.senders[idx];
    let mut correlation_id: i32 = 1;
    let mut frame = BytesMut::with_capacity(cfg.batch_size * 2 + 256);
    loop {
        while cfg.acks != 0 && me.in_flight.load(Ordering::Acquire) >= cfg.max_in_flight {
            if shared.state.lock().expect("producer state").error.is_some() {
                return;
            }
            me.capacity.notified().await;
        }
        let mut batches: Vec<(i32, Batch)> = Vec::new();
        let mut deadline: Option<Instant> = None;
        {
            let mut st = shared.state.lock().expect("producer state");
            if st.error.is_some() {
                return;
            }
            let flushing = st.flushing || st.closed;
            let now = Instant::now();
            let mut bytes = 0usize;
            for (p, ps) in st.parts.iter_mut().enumerate() {
                if ps.sender != idx {
                    continue;
                }
                // One batch per partition per request, as Kafka sends; bounded request size.
                if bytes >= 1024 * 1024 {
                    deadline = Some(now);
                    break;
                }
                let b = if let Some(b) = ps.ready.pop_front() {
                    b
                } else if let Some(open) = &ps.open {
                    let due = open.created + cfg.linger;
                    if flushing || due <= now {
                        ps.open.take().expect("checked")
                    } else {
                        deadline = Some(deadline.map_or(due, |d: Instant| d.min(due)));
                        continue;
                    }
                } else {
                    continue;
                };
                bytes += b.buf.len();
                batches.push((p as i32, b));
            }
            if batches.is_empty() && st.closed && st.pending == 0 {
                return;
            }
        }
        if batches.is_empty() {
            match deadline {
                Some(d) => {
                    tokio::select! {
                        _ = me.wake.notified() => {}
                        _ = tokio::time::sleep_until(d.into()) => {}
                    }
                }
                None => me.wake.notified().await,
            }
            continue;
        }
        // Seal: sequences (in drain order), header, CRC.
        let mut datas = Vec::with_capacity(batches.len());
        let mut sealed = Vec::with_capacity(batches.len());
        let mut bytes = 0;
        {
            let mut st = shared.state.lock().expect("producer state");
            for (p, b) in batches {
                let seq = if shared.producer_id >= 0 {
                    let ps = &mut st.parts[p as usize];
                    let s = ps.next_sequence;
                    ps.next_sequence = ps.next_sequence.wrapping_add(b.count) & i32::MAX;
                    s
                } else {
                    batch::NO_SEQUENCE
                };
                let (buf, b) = seal(
                    b,
                    cfg.compression,
                    shared.producer_id,
                    shared.producer_epoch,
                    seq,
                );
                bytes += buf.len();
                datas.push(
                    PartitionProduceData::default()
                        .with_index(p)
                        .with_records(Some(Bytes::from(buf))),
                );
                sealed.push((p, b));
            }
        }
        let mut td = TopicProduceData::default().with_partition_data(datas);
        if version >= 13 {
            td.topic_id = uuid_from(shared.topic_id);
        } else {
            td.name = TopicName(StrBytes::from_string(shared.topic.clone()));
        }
        let req = ProduceRequest::default()
            .with_acks(cfg.acks)
            .with_timeout_ms(cfg.request_timeout.as_millis().min(i32::MAX as u128) as i32)
            .with_topic_data(vec![td]);
        frame.clear();
        let cid = correlation_id;
        correlation_id = correlation_id.wrapping_add(1);
        if let Err(e) = encode_frame(&mut frame, &req, version, cid, &client_id) {
            fail(&shared, e.to_string());
            return;
        }
        drop(req);
        if cfg.acks != 0 {
            me.in_flight.fetch_add(1, Ordering::AcqRel);
            if tx
                .send(InFlight {
                    correlation_id: cid,
                    batches: sealed,
                    bytes,
                })
                .is_err()
            {
                return;
            }
            sealed = Vec::new();
        }
        let w = tokio::time::timeout(cfg.request_timeout, wr.write_all(&frame)).await;
        match w {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                fail(&shared, format!("connection to the leader failed: {e}"));
                return;
            }
            Err(_) => {
                fail(&shared, "timed out writing a Produce request".into());
                return;
            }
        }
        if cfg.acks == 0 {
            deliver(&shared, sealed, None, None, bytes);
        }
    }
}

fn uuid_from(b: [u8; 16]) -> uuid::Uuid {
    uuid::Uuid::from_bytes(b)
}

/// Reports `batches` to the callback and releases their buffer space.
fn deliver(
    shared: &Shared,
    batches: Vec<(i32, Batch)>,
    results: Option<&[(i32, i64, Option<String>)]>,
    error: Option<&str>,
    bytes: usize,
) {
    let n = batches.len();
    let mut freed = 0usize;
    {
        let mut cb = shared.on_delivery.lock().expect("delivery callback");
        for (p, b) in &batches {
            freed += b.payload_bytes as usize + 24 * b.tokens.len();
            let (base_offset, err) = match (error, results) {
                (Some(e), _) => (-1, Some(e.to_string())),
                (None, None) => (-1, None),
                (None, Some(rs)) => match rs.iter().find(|r| r.0 == *p) {
                    Some((_, off, e)) => (*off, e.clone()),
                    None => (-1, Some(format!("no response for partition {p}"))),
                },
            };
            cb(Delivery {
                partition: *p,
                base_offset,
                tokens: &b.tokens,
                payload_bytes: b.payload_bytes,
                batch_bytes: b.wire_bytes,
                error: err.as_deref(),
            });
        }
    }
    let _ = bytes;
    let mut st = shared.state.lock().expect("producer state");
    st.buffered = st.buffered.saturating_sub(freed);
    st.pending -= n;
    let idle = st.pending == 0;
    drop(st);
    shared.space.notify_one();
    if idle {
        shared.idle.notify_one();
    }
}

/// Reads the responses of sender `idx`'s requests, in order.
async fn reader_loop(
    shared: Arc<Shared>,
    idx: usize,
    rd: OwnedReadHalf,
    version: i16,
    mut rx: mpsc::UnboundedReceiver<InFlight>,
) {
    let me = &shared.senders[idx];
    let timeout = shared.config.request_timeout + Duration::from_secs(5);
    let addr = rd.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    let mut rd = BufReader::with_capacity(64 * 1024, rd);
    while let Some(f) = rx.recv().await {
        let frame = match tokio::time::timeout(timeout, read_size_prefixed(&mut rd)).await {
            Ok(Ok(fr)) => fr,
            Ok(Err(e)) => {
                let msg = format!("connection to the leader failed: {e}");
                deliver(&shared, f.batches, None, Some(&msg), f.bytes);
                fail(&shared, msg);
                return;
            }
            Err(_) => {
                let msg = format!("no Produce response within {} ms", timeout.as_millis());
                deliver(&shared, f.batches, None, Some(&msg), f.bytes);
                fail(&shared, msg);
                return;
            }
        };
        let resp: ProduceResponse =
            match decode_response::<ProduceRequest>(frame, version, f.correlation_id, &addr) {
                Ok(r) => r,
                Err(e) => {
                    let msg = e.to_string();
                    deliver(&shared, f.batches, None, Some(&msg), f.bytes);
                    fail(&shared, msg);
                    return;
                }
            };
        let mut results: Vec<(i32, i64, Option<String>)> = Vec::with_capacity(f.batches.len());
        for t in &resp.responses {
            for pr in &t.partition_responses {
                let e = (pr.error_code != 0).then(|| {
                    crate::kafka_error_text(
                        pr.error_code,
                        pr.error_message.as_ref().map(|m| m.as_str()),
                    )
                });
                results.push((pr.index, pr.base_offset, e));
            }
        }
        deliver(&shared, f.batches, Some(&results), None, f.bytes);
        me.in_flight.fetch_sub(1, Ordering::AcqRel);
        me.capacity.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strom_protocol::records::decode_all;

    #[test]
    fn sealed_batch_is_valid_and_decodes() {
        let mut b = Batch::new(1024, 1000);
        for (i, v) in [&b"a"[..], b"bcd", b""].iter().enumerate() {
            put_record(&mut b.buf, i as i64, b.count, None, Some(v));
            b.count += 1;
            b.max_ts = 1000 + i as i64;
        }
        put_record(&mut b.buf, 5, b.count, Some(b"k"), None);
        b.count += 1;
        for codec in [Compression::None, Compression::Lz4] {
            let copy = Batch {
                buf: b.buf.clone(),
                tokens: vec![],
                payload_bytes: 0,
                wire_bytes: 0,
                count: b.count,
                base_ts: b.base_ts,
                max_ts: 1005,
                created: b.created,
            };
            let (bytes, _) = seal(copy, codec, 7, 1, 42);
            let h = batch::validate(&bytes).unwrap();
            assert_eq!(h.records_count, 4);
            assert_eq!(h.base_sequence, 42);
            assert_eq!(h.producer_id, 7);
            assert_eq!(h.max_timestamp, 1005);
            let recs = crate::records::batch_records(&bytes, &h).unwrap();
            assert_eq!(recs[1].value.as_deref(), Some(&b"bcd"[..]));
            assert_eq!(recs[3].key.as_deref(), Some(&b"k"[..]));
            assert_eq!(recs[3].value, None);
            assert_eq!(recs[3].timestamp_ms, 1005);
        }
        let payload = &b.buf[BATCH_HEADER_BYTES..];
        assert_eq!(decode_all(payload, 4).unwrap().len(), 4);
    }
}
