//! The group coordinator's pure core (DESIGN decision 5): Kafka's classic consumer-group state
//! machine and the binary formats of the `__consumer_offsets` records.
//!
//! - [`group`]: [`group::Coordinator`] holds every group this node coordinates (members,
//!   generation, protocol, assignments, committed offsets). Each operation takes a request and
//!   the current time in ms and returns [`group::Output`]s (JoinGroup and SyncGroup responses,
//!   possibly for requests parked earlier); [`group::Coordinator::tick`] fires timers (session,
//!   rebalance, initial-delay and pending-sync timeouts). Records to persist are queued and
//!   taken with [`group::Coordinator::take_writes`].
//! - [`records`]: `OffsetCommitKey`/`OffsetCommitValue` and `GroupMetadataKey`/
//!   `GroupMetadataValue` in Kafka's own schemas and versions.
//! - [`partition_for`]: which `__consumer_offsets` partition holds a group.
//!
//! Invariants: no IO, no clock, no randomness (new member ids take a suffix from the caller);
//! nothing a client sends can make it panic.

pub mod group;
pub mod records;

/// The `__consumer_offsets` partition of `group_id`, as Kafka's
/// `Utils.abs(groupId.hashCode()) % partitions`: Java's `String.hashCode` over UTF-16 code
/// units, `Utils.abs` mapping `i32::MIN` to 0. `partitions` must be positive.
pub fn partition_for(group_id: &str, partitions: i32) -> i32 {
    assert!(
        partitions > 0,
        "offsets.topic.num.partitions must be positive"
    );
    let mut h: i32 = 0;
    for u in group_id.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(u as i32);
    }
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % partitions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_matches_java_string_hash_code() {
        // "hello".hashCode() == 99162322; 99162322 % 50 == 22.
        assert_eq!(partition_for("hello", 50), 22);
        assert_eq!(partition_for("", 50), 0);
        // "polygenelubricants".hashCode() == Integer.MIN_VALUE, which Utils.abs maps to 0.
        assert_eq!(partition_for("polygenelubricants", 50), 0);
        // A negative hash: "my-group-99".hashCode() is computed over UTF-16 units.
        let p = partition_for("my-group-99", 50);
        assert!((0..50).contains(&p));
        // Non-BMP characters count as two UTF-16 code units (a surrogate pair).
        let s = "\u{1F600}";
        let mut h: i32 = 0;
        for u in [0xD83Du16, 0xDE00] {
            h = h.wrapping_mul(31).wrapping_add(u as i32);
        }
        assert_eq!(partition_for(s, 1000), h.abs() % 1000);
    }
}
