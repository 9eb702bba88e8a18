//! The records of `__consumer_offsets`, in Kafka's own schemas (group-coordinator
//! `OffsetCommitKey.json`, `OffsetCommitValue.json`, `GroupMetadataKey.json`,
//! `GroupMetadataValue.json`), so that tools reading the topic directly understand it.
//!
//! Every key and value starts with an int16 schema version. Keys:
//! - versions 0 and 1: an offset commit, `group: string, topic: string, partition: int32`;
//! - version 2: group metadata, `group: string`;
//! - versions 3 and up belong to KIP-848 consumer groups and are skipped ([`RecordKey::Other`]).
//!
//! Values (a null value is a tombstone that deletes the key):
//! - `OffsetCommitValue` v0 `offset: int64, metadata: string, commitTimestamp: int64`; v1 adds
//!   `expireTimestamp: int64` at the end; v2 drops it again; v3 adds `leaderEpoch: int32` after
//!   `offset`; v4 is v3 flexible (compact strings, tagged fields).
//! - `GroupMetadataValue` `protocolType: string, generation: int32, protocol: string?,
//!   leader: string?, currentStateTimestamp: int64 (v2+), members: [MemberMetadata]` with
//!   `MemberMetadata` `memberId, groupInstanceId? (v3+), clientId, clientHost,
//!   rebalanceTimeout: int32 (v1+), sessionTimeout: int32, subscription: bytes,
//!   assignment: bytes`; v4 is v3 flexible.
//!
//! Kafka 3.x writes offset key v1 with value v3 (value v1 when a commit carries an explicit
//! `retention_time`), and group key v2 with value v3; so does Strom. Decoding accepts every
//! version above and never panics on malformed input.

/// A malformed record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed __consumer_offsets record: {0}")]
pub struct FormatError(pub String);

fn err<T>(m: impl Into<String>) -> Result<T, FormatError> {
    Err(FormatError(m.into()))
}

/// The key of a `__consumer_offsets` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordKey {
    /// Key v0/v1: the committed offset of one partition for a group.
    Offset {
        group: String,
        topic: String,
        partition: i32,
    },
    /// Key v2: the metadata of a group.
    Group { group: String },
    /// A key version this coordinator does not handle (KIP-848 records): skipped on load.
    Other(i16),
}

impl RecordKey {
    /// The group the record belongs to, if the key is one we handle.
    pub fn group(&self) -> Option<&str> {
        match self {
            RecordKey::Offset { group, .. } | RecordKey::Group { group } => Some(group),
            RecordKey::Other(_) => None,
        }
    }

    /// Encodes the key (offset keys as v1, group keys as v2, as Kafka 3.x does).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        match self {
            RecordKey::Offset {
                group,
                topic,
                partition,
            } => {
                w.i16(1);
                w.string(group);
                w.string(topic);
                w.i32(*partition);
            }
            RecordKey::Group { group } => {
                w.i16(2);
                w.string(group);
            }
            RecordKey::Other(v) => w.i16(*v),
        }
        w.0
    }

    pub fn decode(b: &[u8]) -> Result<RecordKey, FormatError> {
        let mut r = Reader::new(b, false);
        let v = r.i16()?;
        Ok(match v {
            0 | 1 => RecordKey::Offset {
                group: r.string()?,
                topic: r.string()?,
                partition: r.i32()?,
            },
            2 => RecordKey::Group { group: r.string()? },
            v if v < 0 => return err(format!("negative key version {v}")),
            v => RecordKey::Other(v),
        })
    }
}

/// An `OffsetCommitValue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetValue {
    pub offset: i64,
    /// -1 when unknown.
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp_ms: i64,
    /// Set only by commits carrying an explicit `retention_time` (OffsetCommit v2-v4).
    pub expire_timestamp_ms: Option<i64>,
}

impl OffsetValue {
    /// Encodes as v3, or v1 when an expire timestamp is set (as Kafka 3.x does).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        match self.expire_timestamp_ms {
            Some(exp) => {
                w.i16(1);
                w.i64(self.offset);
                w.string(&self.metadata);
                w.i64(self.commit_timestamp_ms);
                w.i64(exp);
            }
            None => {
                w.i16(3);
                w.i64(self.offset);
                w.i32(self.leader_epoch);
                w.string(&self.metadata);
                w.i64(self.commit_timestamp_ms);
            }
        }
        w.0
    }

    /// Decodes any version 0-4.
    pub fn decode(b: &[u8]) -> Result<OffsetValue, FormatError> {
        let mut r = Reader::new(b, false);
        let v = r.i16()?;
        if !(0..=4).contains(&v) {
            return err(format!("unknown OffsetCommitValue version {v}"));
        }
        r.flexible = v >= 4;
        let offset = r.i64()?;
        let leader_epoch = if v >= 3 { r.i32()? } else { -1 };
        let metadata = r.string()?;
        let commit_timestamp_ms = r.i64()?;
        let expire_timestamp_ms = if v == 1 { Some(r.i64()?) } else { None };
        if r.flexible {
            r.tagged_fields()?;
        }
        Ok(OffsetValue {
            offset,
            leader_epoch,
            metadata,
            commit_timestamp_ms,
            expire_timestamp_ms,
        })
    }
}

/// One member in a `GroupMetadataValue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberValue {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub subscription: Vec<u8>,
    pub assignment: Vec<u8>,
}

/// A `GroupMetadataValue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupValue {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    /// -1 when unknown (values before v2).
    pub current_state_timestamp_ms: i64,
    pub members: Vec<MemberValue>,
}

impl GroupValue {
    /// Encodes as v3 (Kafka 3.x's non-flexible latest).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.i16(3);
        w.string(&self.protocol_type);
        w.i32(self.generation);
        w.nullable_string(self.protocol.as_deref());
        w.nullable_string(self.leader.as_deref());
        w.i64(self.current_state_timestamp_ms);
        w.i32(self.members.len() as i32);
        for m in &self.members {
            w.string(&m.member_id);
            w.nullable_string(m.group_instance_id.as_deref());
            w.string(&m.client_id);
            w.string(&m.client_host);
            w.i32(m.rebalance_timeout_ms);
            w.i32(m.session_timeout_ms);
            w.bytes(&m.subscription);
            w.bytes(&m.assignment);
        }
        w.0
    }

    /// Decodes any version 0-4.
    pub fn decode(b: &[u8]) -> Result<GroupValue, FormatError> {
        let mut r = Reader::new(b, false);
        let v = r.i16()?;
        if !(0..=4).contains(&v) {
            return err(format!("unknown GroupMetadataValue version {v}"));
        }
        r.flexible = v >= 4;
        let protocol_type = r.string()?;
        let generation = r.i32()?;
        let protocol = r.nullable_string()?;
        let leader = r.nullable_string()?;
        let current_state_timestamp_ms = if v >= 2 { r.i64()? } else { -1 };
        let n = r.array_len()?;
        let mut members = Vec::new();
        for _ in 0..n {
            let member_id = r.string()?;
            let group_instance_id = if v >= 3 { r.nullable_string()? } else { None };
            let client_id = r.string()?;
            let client_host = r.string()?;
            let session_or_rebalance = r.i32()?;
            let (rebalance_timeout_ms, session_timeout_ms) = if v >= 1 {
                (session_or_rebalance, r.i32()?)
            } else {
                (session_or_rebalance, session_or_rebalance)
            };
            let subscription = r.bytes()?;
            let assignment = r.bytes()?;
            if r.flexible {
                r.tagged_fields()?;
            }
            members.push(MemberValue {
                member_id,
                group_instance_id,
                client_id,
                client_host,
                rebalance_timeout_ms,
                session_timeout_ms,
                subscription,
                assignment,
            });
        }
        if r.flexible {
            r.tagged_fields()?;
        }
        Ok(GroupValue {
            protocol_type,
            generation,
            protocol,
            leader,
            current_state_timestamp_ms,
            members,
        })
    }
}

/// Reads the topics of a consumer-protocol subscription (`ConsumerProtocolSubscription`:
/// `version: int16, topics: [string], ...`), used to decide which offsets a group still uses.
/// `None` when the bytes are not a consumer subscription.
pub fn subscription_topics(b: &[u8]) -> Option<Vec<String>> {
    let mut r = Reader::new(b, false);
    let v = r.i16().ok()?;
    if v < 0 {
        return None;
    }
    let n = r.i32().ok()?;
    if n < 0 {
        return None;
    }
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(r.string().ok()?);
    }
    Some(out)
}

#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn i16(&mut self, v: i16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn i32(&mut self, v: i32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn string(&mut self, s: &str) {
        // Kafka strings are at most i16::MAX bytes; longer ones are cut at a char boundary
        // (callers validate lengths before they get here).
        let mut end = s.len().min(i16::MAX as usize);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.i16(end as i16);
        self.0.extend_from_slice(&s.as_bytes()[..end]);
    }
    fn nullable_string(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.string(s),
            None => self.i16(-1),
        }
    }
    fn bytes(&mut self, b: &[u8]) {
        self.i32(b.len() as i32);
        self.0.extend_from_slice(b);
    }
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
    flexible: bool,
}

impl<'a> Reader<'a> {
    fn new(b: &'a [u8], flexible: bool) -> Self {
        Reader {
            b,
            pos: 0,
            flexible,
        }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        if self.b.len() - self.pos < n {
            return err(format!(
                "needs {n} bytes at {} but only {} remain",
                self.pos,
                self.b.len() - self.pos
            ));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn i16(&mut self) -> Result<i16, FormatError> {
        Ok(i16::from_be_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }
    fn i32(&mut self) -> Result<i32, FormatError> {
        Ok(i32::from_be_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn i64(&mut self) -> Result<i64, FormatError> {
        Ok(i64::from_be_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn uvarint(&mut self) -> Result<u32, FormatError> {
        let mut v: u32 = 0;
        for i in 0..5 {
            let b = self.take(1)?[0];
            v |= ((b & 0x7f) as u32) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        err("varint longer than 5 bytes")
    }
    /// Length of a string/bytes/array: `None` for null.
    fn len(&mut self, wide: bool) -> Result<Option<usize>, FormatError> {
        if self.flexible {
            let n = self.uvarint()?;
            return Ok(if n == 0 { None } else { Some(n as usize - 1) });
        }
        let n = if wide {
            self.i32()? as i64
        } else {
            self.i16()? as i64
        };
        Ok(if n < 0 { None } else { Some(n as usize) })
    }
    fn nullable_string(&mut self) -> Result<Option<String>, FormatError> {
        match self.len(false)? {
            None => Ok(None),
            Some(n) => {
                let s = self.take(n)?;
                String::from_utf8(s.to_vec())
                    .map(Some)
                    .map_err(|_| FormatError("string is not UTF-8".into()))
            }
        }
    }
    fn string(&mut self) -> Result<String, FormatError> {
        self.nullable_string()?
            .ok_or_else(|| FormatError("null where a string is required".into()))
    }
    fn bytes(&mut self) -> Result<Vec<u8>, FormatError> {
        match self.len(true)? {
            None => Ok(Vec::new()),
            Some(n) => Ok(self.take(n)?.to_vec()),
        }
    }
    fn array_len(&mut self) -> Result<usize, FormatError> {
        let n = self.len(true)?.unwrap_or(0);
        // Every element takes at least one byte: refuse counts the bytes cannot hold.
        if n > self.b.len() - self.pos {
            return err(format!("array of {n} elements in {} bytes", self.b.len()));
        }
        Ok(n)
    }
    fn tagged_fields(&mut self) -> Result<(), FormatError> {
        let n = self.uvarint()?;
        for _ in 0..n {
            self.uvarint()?;
            let size = self.uvarint()? as usize;
            self.take(size)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_key_bytes_match_kafka() {
        let k = RecordKey::Offset {
            group: "g".into(),
            topic: "t".into(),
            partition: 3,
        };
        let b = k.encode();
        assert_eq!(b, [0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 3]);
        assert_eq!(RecordKey::decode(&b).unwrap(), k);
        // v0 keys have the same layout.
        let mut v0 = b.clone();
        v0[1] = 0;
        assert_eq!(RecordKey::decode(&v0).unwrap(), k);
        let g = RecordKey::Group { group: "g".into() };
        assert_eq!(g.encode(), [0, 2, 0, 1, b'g']);
        assert_eq!(RecordKey::decode(&g.encode()).unwrap(), g);
        assert_eq!(
            RecordKey::decode(&[0, 3, 1, 2]).unwrap(),
            RecordKey::Other(3)
        );
    }

    #[test]
    fn offset_value_v3_and_v1() {
        let v = OffsetValue {
            offset: 42,
            leader_epoch: 7,
            metadata: "m".into(),
            commit_timestamp_ms: 1000,
            expire_timestamp_ms: None,
        };
        let b = v.encode();
        let mut want = vec![0, 3];
        want.extend_from_slice(&42i64.to_be_bytes());
        want.extend_from_slice(&7i32.to_be_bytes());
        want.extend_from_slice(&[0, 1, b'm']);
        want.extend_from_slice(&1000i64.to_be_bytes());
        assert_eq!(b, want);
        assert_eq!(OffsetValue::decode(&b).unwrap(), v);
        let v1 = OffsetValue {
            leader_epoch: -1,
            expire_timestamp_ms: Some(5000),
            ..v
        };
        let b1 = v1.encode();
        assert_eq!(&b1[..2], &[0, 1]);
        assert_eq!(OffsetValue::decode(&b1).unwrap(), v1);
    }

    #[test]
    fn offset_value_v0_v2_v4_decode() {
        let mut v0 = vec![0, 0];
        v0.extend_from_slice(&9i64.to_be_bytes());
        v0.extend_from_slice(&[0, 0]);
        v0.extend_from_slice(&77i64.to_be_bytes());
        let d = OffsetValue::decode(&v0).unwrap();
        assert_eq!(
            (d.offset, d.leader_epoch, d.commit_timestamp_ms),
            (9, -1, 77)
        );
        let mut v2 = v0.clone();
        v2[1] = 2;
        assert_eq!(OffsetValue::decode(&v2).unwrap(), d);
        // v4: flexible, compact string (len+1) and an empty tagged-field section.
        let mut v4 = vec![0, 4];
        v4.extend_from_slice(&9i64.to_be_bytes());
        v4.extend_from_slice(&5i32.to_be_bytes());
        v4.extend_from_slice(&[3, b'a', b'b']);
        v4.extend_from_slice(&77i64.to_be_bytes());
        v4.push(0);
        let d4 = OffsetValue::decode(&v4).unwrap();
        assert_eq!((d4.leader_epoch, d4.metadata.as_str()), (5, "ab"));
    }

    fn sample_group() -> GroupValue {
        GroupValue {
            protocol_type: "consumer".into(),
            generation: 4,
            protocol: Some("range".into()),
            leader: Some("c-1".into()),
            current_state_timestamp_ms: 123,
            members: vec![MemberValue {
                member_id: "c-1".into(),
                group_instance_id: Some("i1".into()),
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout_ms: 300000,
                session_timeout_ms: 10000,
                subscription: vec![1, 2],
                assignment: vec![3],
            }],
        }
    }

    #[test]
    fn group_value_round_trip_v3() {
        let g = sample_group();
        let b = g.encode();
        assert_eq!(&b[..2], &[0, 3]);
        assert_eq!(GroupValue::decode(&b).unwrap(), g);
        let empty = GroupValue {
            protocol: None,
            leader: None,
            members: vec![],
            ..g
        };
        assert_eq!(GroupValue::decode(&empty.encode()).unwrap(), empty);
    }

    #[test]
    fn group_value_v0_and_v4_decode() {
        // v0: no currentStateTimestamp, no instance id, one timeout.
        let mut b = vec![0, 0, 0, 1, b'c', 0, 0, 0, 2, 0, 1, b'r', 0xff, 0xff];
        b.extend_from_slice(&1i32.to_be_bytes());
        b.extend_from_slice(&[0, 1, b'm', 0, 1, b'c', 0, 1, b'h']);
        b.extend_from_slice(&10i32.to_be_bytes());
        b.extend_from_slice(&0i32.to_be_bytes());
        b.extend_from_slice(&(-1i32).to_be_bytes());
        let g = GroupValue::decode(&b).unwrap();
        assert_eq!(g.generation, 2);
        assert_eq!(g.leader, None);
        assert_eq!(g.members[0].session_timeout_ms, 10);
        assert_eq!(g.members[0].rebalance_timeout_ms, 10);
        assert_eq!(g.current_state_timestamp_ms, -1);
        // v4 flexible.
        let mut b4 = vec![0, 4, 2, b'c', 0, 0, 0, 2, 0, 0];
        b4.extend_from_slice(&5i64.to_be_bytes());
        b4.push(2); // one member
        b4.extend_from_slice(&[2, b'm', 0, 2, b'c', 2, b'h']);
        b4.extend_from_slice(&20i32.to_be_bytes());
        b4.extend_from_slice(&10i32.to_be_bytes());
        b4.extend_from_slice(&[2, 9, 1, 0]); // subscription [9], empty assignment, no tags
        b4.push(0);
        let g4 = GroupValue::decode(&b4).unwrap();
        assert_eq!(g4.members[0].subscription, vec![9]);
        assert_eq!(g4.members[0].rebalance_timeout_ms, 20);
        assert_eq!(g4.current_state_timestamp_ms, 5);
    }

    #[test]
    fn malformed_records_are_errors() {
        let g = sample_group().encode();
        for n in 0..g.len() {
            assert!(GroupValue::decode(&g[..n]).is_err(), "prefix {n}");
        }
        let mut huge = vec![0, 3, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
        huge.extend_from_slice(&0i64.to_be_bytes());
        huge.extend_from_slice(&i32::MAX.to_be_bytes());
        assert!(GroupValue::decode(&huge).is_err());
        assert!(OffsetValue::decode(&[0, 9]).is_err());
        assert!(RecordKey::decode(&[0xff, 0xff]).is_err());
    }

    #[test]
    fn consumer_subscription_topics() {
        let mut b = vec![0, 1, 0, 0, 0, 2, 0, 1, b'a', 0, 2, b'b', b'c'];
        b.extend_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(subscription_topics(&b).unwrap(), vec!["a", "bc"]);
        assert_eq!(subscription_topics(&[0]), None);
    }
}
