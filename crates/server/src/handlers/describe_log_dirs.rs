//! DescribeLogDirs (key 35), v1-v4: every log dir of this broker with the partitions it holds
//! (size in bytes, offset lag 0, never a future replica: Strom has no intra-broker moves), and
//! from v4 the volume's total and usable bytes. A `null` topic list means every partition.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse, RequestHeader};
use strom_protocol::error::ErrorCode;

use super::{sb, tn};
use crate::broker::Broker;

pub fn handle(
    broker: &Arc<Broker>,
    h: &RequestHeader,
    req: DescribeLogDirsRequest,
) -> DescribeLogDirsResponse {
    let v = h.request_api_version;
    // (topic, partition) pairs asked for; None: all.
    let wanted: Option<Vec<(String, i32)>> = req.topics.map(|ts| {
        ts.into_iter()
            .flat_map(|t| {
                let name = t.topic.0.to_string();
                t.partitions.into_iter().map(move |p| (name.clone(), p))
            })
            .collect()
    });
    // log dir -> topic -> partitions
    let mut by_dir: BTreeMap<std::path::PathBuf, BTreeMap<String, Vec<DescribeLogDirsPartition>>> =
        broker
            .logs
            .log_dirs()
            .into_iter()
            .map(|d| (d, BTreeMap::new()))
            .collect();
    for log in broker.logs.all() {
        let tp = log.topic_partition();
        if let Some(w) = &wanted {
            if !w.iter().any(|(t, p)| *t == tp.topic && *p == tp.partition) {
                continue;
            }
        }
        let dir = log.dir();
        let Some(parent) = dir.parent() else { continue };
        let parts = by_dir
            .entry(parent.to_path_buf())
            .or_default()
            .entry(tp.topic.clone())
            .or_default();
        parts.push(
            DescribeLogDirsPartition::default()
                .with_partition_index(tp.partition)
                .with_partition_size(log.size_bytes() as i64)
                .with_offset_lag(0)
                .with_is_future_key(false),
        );
    }
    let results = by_dir
        .into_iter()
        .map(|(dir, topics)| {
            let mut r = DescribeLogDirsResult::default()
                .with_log_dir(sb(dir.display().to_string()))
                .with_topics(
                    topics
                        .into_iter()
                        .map(|(name, mut partitions)| {
                            partitions.sort_by_key(|p| p.partition_index);
                            DescribeLogDirsTopic::default()
                                .with_name(tn(name))
                                .with_partitions(partitions)
                        })
                        .collect(),
                );
            if !dir.is_dir() {
                r.error_code = ErrorCode::KafkaStorageError.code();
            }
            if v >= 4 {
                let (total, usable) = volume_bytes(&dir).unwrap_or((-1, -1));
                r.total_bytes = total;
                r.usable_bytes = usable;
            }
            r
        })
        .collect();
    DescribeLogDirsResponse::default().with_results(results)
}

/// (total, usable) bytes of the filesystem holding `dir`, from statvfs(3).
#[allow(unsafe_code)]
fn volume_bytes(dir: &Path) -> Option<(i64, i64)> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `path` is a NUL-terminated string that outlives the call, and `st` points to
    // writable memory of the size statvfs expects; it is read only after statvfs succeeded.
    let rc = unsafe { libc::statvfs(path.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled `st`.
    let st = unsafe { st.assume_init() };
    let frsize = st.f_frsize as i64;
    Some((
        (st.f_blocks as i64).saturating_mul(frsize),
        (st.f_bavail as i64).saturating_mul(frsize),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_of_tmp_has_space() {
        let (total, usable) = volume_bytes(&std::env::temp_dir()).unwrap();
        assert!(total > 0 && usable >= 0 && usable <= total);
        assert!(volume_bytes(Path::new("/no/such/dir")).is_none());
    }
}
