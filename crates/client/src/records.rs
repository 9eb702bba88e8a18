//! Record batches for producing and consuming: [`encode_batch`] builds one v2 batch from
//! [`ProducerRecord`]s (optionally compressed); [`decode_batches`] turns fetched bytes into
//! [`ConsumerRecord`]s, skipping control batches and stopping at a trailing partial batch (a
//! fetch may end mid-batch).

use strom_protocol::batch::{self, BatchFrames, BatchHeader, Compression, BATCH_HEADER_BYTES};
use strom_protocol::records::{compress, decode_all, decompress, encode_record, RecordRef};

/// Bound on the decompressed size of one fetched batch, in bytes.
pub const DECOMPRESSED_BATCH_BYTES_MAX: usize = 256 * 1024 * 1024;

/// A record to send.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProducerRecord {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// Milliseconds since the epoch.
    pub timestamp_ms: i64,
}

/// A record read back, with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    pub offset: i64,
    pub timestamp_ms: i64,
    /// `true` when the batch carries LogAppendTime.
    pub log_append_time: bool,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

/// Builds one v2 batch with base offset 0 and no producer id from `records` (at least one),
/// compressed with `codec`.
pub fn encode_batch(records: &[ProducerRecord], codec: Compression) -> Vec<u8> {
    assert!(!records.is_empty(), "a batch holds at least one record");
    let base_ts = records[0].timestamp_ms;
    let max_ts = records
        .iter()
        .map(|r| r.timestamp_ms)
        .max()
        .unwrap_or(base_ts);
    let mut payload = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let headers: Vec<(&[u8], Option<&[u8]>)> = r
            .headers
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_deref()))
            .collect();
        encode_record(
            &mut payload,
            &RecordRef {
                timestamp_delta: r.timestamp_ms - base_ts,
                offset_delta: i as i32,
                key: r.key.as_deref(),
                value: r.value.as_deref(),
                headers: &headers,
            },
        );
    }
    let payload = compress(codec, &payload);
    let n = records.len() as i32;
    batch::build_batch(
        0,
        codec as i16,
        n - 1,
        base_ts,
        max_ts,
        batch::NO_PRODUCER_ID,
        batch::NO_PRODUCER_EPOCH,
        batch::NO_SEQUENCE,
        n,
        &payload,
    )
}

/// Decodes the records of every complete, non-control batch in `buf` (a Fetch response's
/// records), skipping records below `min_offset`. Errors: a corrupt batch (bad CRC, bad
/// record framing, undecodable compression), as one line.
pub fn decode_batches(buf: &[u8], min_offset: i64) -> Result<Vec<ConsumerRecord>, String> {
    let mut out = Vec::new();
    for frame in BatchFrames::new(buf) {
        let (range, h) = match frame {
            Ok(f) => f,
            // A fetch response may end with a partial batch: stop there.
            Err(_) => break,
        };
        let bytes = &buf[range];
        if h.magic != batch::MAGIC_V2 {
            return Err(format!(
                "batch at offset {} has magic {}; only v2 batches are supported",
                h.base_offset, h.magic
            ));
        }
        batch::validate(bytes)
            .map_err(|e| format!("corrupt batch at offset {}: {e}", h.base_offset))?;
        if h.is_control() {
            continue;
        }
        out.extend(
            batch_records(bytes, &h)?
                .into_iter()
                .filter(|r| r.offset >= min_offset),
        );
    }
    Ok(out)
}

/// The records of one validated batch `bytes` with header `h`.
pub fn batch_records(bytes: &[u8], h: &BatchHeader) -> Result<Vec<ConsumerRecord>, String> {
    let codec = h
        .compression()
        .ok_or_else(|| format!("batch at offset {} has an unknown codec", h.base_offset))?;
    let raw = &bytes[BATCH_HEADER_BYTES..];
    let payload = decompress(codec, raw, DECOMPRESSED_BATCH_BYTES_MAX)
        .map_err(|e| format!("batch at offset {}: {e}", h.base_offset))?;
    let recs = decode_all(&payload, h.records_count)
        .map_err(|e| format!("batch at offset {}: {e}", h.base_offset))?;
    let lat = h.is_log_append_time();
    Ok(recs
        .into_iter()
        .map(|r| ConsumerRecord {
            offset: h.base_offset + i64::from(r.offset_delta),
            timestamp_ms: if lat {
                h.max_timestamp
            } else {
                h.base_timestamp + r.timestamp_delta
            },
            log_append_time: lat,
            key: r.key.map(<[u8]>::to_vec),
            value: r.value.map(<[u8]>::to_vec),
            headers: r
                .headers
                .iter()
                .map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec)))
                .collect(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(
        k: Option<&str>,
        v: Option<&str>,
        h: &[(&str, Option<&str>)],
        ts: i64,
    ) -> ProducerRecord {
        ProducerRecord {
            key: k.map(|s| s.as_bytes().to_vec()),
            value: v.map(|s| s.as_bytes().to_vec()),
            headers: h
                .iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.map(|v| v.as_bytes().to_vec())))
                .collect(),
            timestamp_ms: ts,
        }
    }

    #[test]
    fn batch_round_trips_for_every_codec() {
        let recs = vec![
            rec(
                Some("k1"),
                Some("v1"),
                &[("h", Some("x")), ("n", None)],
                1000,
            ),
            rec(None, None, &[], 1005),
            rec(Some(""), Some("value"), &[], 999),
        ];
        for codec in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let mut b = encode_batch(&recs, codec);
            batch::set_base_offset(&mut b, 40);
            let mut two = b.clone();
            two.extend_from_slice(&b[..30]); // a trailing partial batch is ignored
            let got = decode_batches(&two, 41).unwrap();
            assert_eq!(got.len(), 2, "{codec:?}");
            assert_eq!(got[0].offset, 41);
            assert_eq!(got[0].key, None);
            assert_eq!(got[0].timestamp_ms, 1005);
            assert_eq!(got[1].offset, 42);
            assert_eq!(got[1].key.as_deref(), Some(&b""[..]));
            assert_eq!(got[1].timestamp_ms, 999);
            let all = decode_batches(&b, 0).unwrap();
            assert_eq!(
                all[0].headers,
                vec![(b"h".to_vec(), Some(b"x".to_vec())), (b"n".to_vec(), None)]
            );
        }
    }

    #[test]
    fn corrupt_batch_is_an_error() {
        let mut b = encode_batch(&[rec(None, Some("v"), &[], 1)], Compression::None);
        let last = b.len() - 1;
        b[last] ^= 0xff;
        assert!(decode_batches(&b, 0).unwrap_err().contains("corrupt batch"));
    }
}
