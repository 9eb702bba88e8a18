//! State-machine tests: join/sync/heartbeat/leave, timeouts, static members, offsets.

use super::*;

const SESSION: i32 = 10_000;
const REBALANCE: i32 = 30_000;

fn coordinator(initial_delay_ms: i32) -> Coordinator {
    Coordinator::new(GroupConfig {
        initial_rebalance_delay_ms: initial_delay_ms,
        ..GroupConfig::default()
    })
}

fn join_req(member: &str, instance: Option<&str>, suffix: &str) -> JoinRequest {
    JoinRequest {
        group_id: "g".into(),
        member_id: member.into(),
        group_instance_id: instance.map(String::from),
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout_ms: SESSION,
        rebalance_timeout_ms: REBALANCE,
        protocol_type: "consumer".into(),
        protocols: vec![("range".into(), vec![1]), ("roundrobin".into(), vec![2])],
        require_known_member_id: true,
        supports_skip_assignment: false,
        new_member_suffix: suffix.into(),
    }
}

fn join_of(out: &[Output], id: RequestId) -> Option<JoinResponse> {
    out.iter().find_map(|o| match o {
        Output::Join(r, j) if *r == id => Some(j.clone()),
        _ => None,
    })
}

fn sync_of(out: &[Output], id: RequestId) -> Option<SyncResponse> {
    out.iter().find_map(|o| match o {
        Output::Sync(r, s) if *r == id => Some(s.clone()),
        _ => None,
    })
}

fn sync_req(member: &str, generation: i32, assignments: Vec<(String, Vec<u8>)>) -> SyncRequest {
    SyncRequest {
        group_id: "g".into(),
        generation_id: generation,
        member_id: member.into(),
        group_instance_id: None,
        protocol_type: Some("consumer".into()),
        protocol_name: Some("range".into()),
        assignments,
    }
}

/// Two-step join of a new dynamic member (KIP-394); returns the member id and the request id
/// parked for the second join.
fn join_new(c: &mut Coordinator, req: RequestId, suffix: &str, now: i64) -> (String, Vec<Output>) {
    let out = c.join(req, join_req("", None, suffix), now);
    let r = join_of(&out, req).unwrap();
    assert_eq!(r.error, Some(GroupError::MemberIdRequired));
    assert_eq!(r.member_id, format!("c-{suffix}"));
    let out = c.join(req + 1, join_req(&r.member_id, None, suffix), now);
    (r.member_id, out)
}

#[test]
fn single_member_join_sync_heartbeat_leave() {
    let mut c = coordinator(0);
    let (m, out) = join_new(&mut c, 1, "a", 0);
    let j = join_of(&out, 2).expect("join completes with no initial delay");
    assert_eq!(j.error, None);
    assert_eq!(j.generation_id, 1);
    assert_eq!(j.leader, m);
    assert_eq!(j.protocol_name.as_deref(), Some("range"));
    assert_eq!(j.members.len(), 1);
    assert_eq!(j.members[0].metadata, vec![1]);
    assert_eq!(c.state("g"), GroupState::CompletingRebalance);
    assert_eq!(c.heartbeat("g", &m, None, 1, 1), Ok(()));
    let out = c.sync(3, sync_req(&m, 1, vec![(m.clone(), vec![9])]), 2);
    assert_eq!(sync_of(&out, 3).unwrap().assignment, vec![9]);
    assert_eq!(c.state("g"), GroupState::Stable);
    let w = c.take_writes();
    assert!(
        w.iter().any(|w| w.value.is_some() && w.key[1] == 2),
        "group stored"
    );
    assert_eq!(
        c.heartbeat("g", &m, None, 0, 3),
        Err(GroupError::IllegalGeneration)
    );
    assert_eq!(
        c.heartbeat("g", "nope", None, 1, 3),
        Err(GroupError::UnknownMemberId)
    );
    let (r, _) = c.leave(
        "g",
        &[LeavingMember {
            member_id: m.clone(),
            group_instance_id: None,
        }],
        4,
    );
    assert_eq!(r, Ok(vec![Ok(())]));
    assert_eq!(c.state("g"), GroupState::Empty);
    assert_eq!(c.generation("g"), Some(2));
}

#[test]
fn validation_errors() {
    let mut c = coordinator(0);
    let mut r = join_req("", None, "a");
    r.session_timeout_ms = 10;
    assert_eq!(
        join_of(&c.join(1, r, 0), 1).unwrap().error,
        Some(GroupError::InvalidSessionTimeout)
    );
    let mut r = join_req("", None, "a");
    r.group_id.clear();
    assert_eq!(
        join_of(&c.join(1, r, 0), 1).unwrap().error,
        Some(GroupError::InvalidGroupId)
    );
    let mut r = join_req("", None, "a");
    r.protocols.clear();
    assert_eq!(
        join_of(&c.join(1, r, 0), 1).unwrap().error,
        Some(GroupError::InconsistentGroupProtocol)
    );
    assert_eq!(
        join_of(&c.join(1, join_req("ghost", None, "a"), 0), 1)
            .unwrap()
            .error,
        Some(GroupError::UnknownMemberId)
    );
    assert_eq!(
        c.state("g"),
        GroupState::Dead,
        "failed joins leave no group"
    );
    // A member whose protocols share nothing with the group's.
    let (_, _) = join_new(&mut c, 10, "a", 0);
    let mut r = join_req("", None, "b");
    r.protocols = vec![("sticky".into(), vec![])];
    assert_eq!(
        join_of(&c.join(20, r, 0), 20).unwrap().error,
        Some(GroupError::InconsistentGroupProtocol)
    );
}

#[test]
fn group_max_size() {
    let mut c = Coordinator::new(GroupConfig {
        initial_rebalance_delay_ms: 0,
        max_size: 1,
        ..GroupConfig::default()
    });
    join_new(&mut c, 1, "a", 0);
    let out = c.join(5, join_req("", None, "b"), 0);
    assert_eq!(
        join_of(&out, 5).unwrap().error,
        Some(GroupError::GroupMaxSizeReached)
    );
}

/// Brings a group of `n` members to Stable; returns member ids (leader first).
fn stable_group(c: &mut Coordinator, n: usize, now: i64) -> (Vec<String>, i32) {
    let mut ids = Vec::new();
    let mut parked = Vec::new();
    let mut outs = Vec::new();
    for i in 0..n {
        let req = 100 * (i as u64 + 1);
        let (m, out) = join_new(c, req, &format!("m{i}"), now);
        ids.push(m);
        parked.push(req + 1);
        outs.extend(out);
    }
    // With an initial delay, the join completes on the timer.
    outs.extend(c.tick(now + 30_000));
    outs.extend(c.tick(now + 60_000));
    let now = now + 60_000;
    let joins: Vec<JoinResponse> = parked.iter().map(|r| join_of(&outs, *r).unwrap()).collect();
    let generation = joins[0].generation_id;
    assert!(joins
        .iter()
        .all(|j| j.error.is_none() && j.generation_id == generation));
    let leader = joins[0].leader.clone();
    assert!(joins.iter().all(|j| j.leader == leader));
    let assignments: Vec<(String, Vec<u8>)> = ids
        .iter()
        .enumerate()
        .map(|(i, m)| (m.clone(), vec![i as u8]))
        .collect();
    let mut sync_out = Vec::new();
    for (i, m) in ids.iter().enumerate() {
        let a = if *m == leader {
            assignments.clone()
        } else {
            vec![]
        };
        sync_out.extend(c.sync(1000 + i as u64, sync_req(m, generation, a), now));
    }
    for (i, _) in ids.iter().enumerate() {
        let s = sync_of(&sync_out, 1000 + i as u64).expect("every sync answered");
        assert_eq!(s.error, None);
        assert_eq!(s.assignment, vec![i as u8]);
    }
    assert_eq!(c.state("g"), GroupState::Stable);
    (ids, generation)
}

#[test]
fn initial_delay_waits_then_includes_all() {
    let mut c = coordinator(3000);
    let (_, out) = join_new(&mut c, 1, "a", 0);
    assert!(
        join_of(&out, 2).is_none(),
        "parked during the initial delay"
    );
    let (_, out) = join_new(&mut c, 3, "b", 1000);
    assert!(join_of(&out, 4).is_none());
    // The delay is extended once because a member arrived during it.
    assert!(c.tick(3000).is_empty());
    let out = c.tick(6000);
    let a = join_of(&out, 2).unwrap();
    let b = join_of(&out, 4).unwrap();
    assert_eq!(a.generation_id, 1);
    assert_eq!(
        a.members.len() + b.members.len(),
        2,
        "only the leader gets members"
    );
}

#[test]
fn session_timeout_removes_member_and_rebalances() {
    let mut c = coordinator(3000);
    let (ids, generation) = stable_group(&mut c, 3, 0);
    let t = 60_000;
    // Members 0 and 1 heartbeat; member 2 is silent.
    for s in 1..=3 {
        let now = t + s * 4000;
        assert_eq!(c.heartbeat("g", &ids[0], None, generation, now), Ok(()));
        assert_eq!(c.heartbeat("g", &ids[1], None, generation, now), Ok(()));
        c.tick(now);
    }
    assert_eq!(c.state("g"), GroupState::PreparingRebalance);
    let now = t + 13_000;
    assert_eq!(
        c.heartbeat("g", &ids[0], None, generation, now),
        Err(GroupError::RebalanceInProgress)
    );
    let mut out = c.join(50, join_req(&ids[0], None, ""), now);
    assert!(join_of(&out, 50).is_none());
    out.extend(c.join(51, join_req(&ids[1], None, ""), now));
    let a = join_of(&out, 50).unwrap();
    let b = join_of(&out, 51).unwrap();
    assert_eq!(a.generation_id, generation + 1);
    assert_eq!(b.generation_id, generation + 1);
    let leader_resp = if a.members.is_empty() { b } else { a };
    assert_eq!(leader_resp.members.len(), 2);
    assert_eq!(
        c.heartbeat("g", &ids[2], None, generation, now),
        Err(GroupError::UnknownMemberId)
    );
}

#[test]
fn rebalance_timeout_drops_members_that_do_not_rejoin() {
    let mut c = coordinator(3000);
    let (ids, generation) = stable_group(&mut c, 2, 0);
    let now = 61_000;
    // Member 0 changes its metadata: rebalance.
    let mut r = join_req(&ids[0], None, "");
    r.protocols = vec![("range".into(), vec![7])];
    let out = c.join(70, r, now);
    assert!(join_of(&out, 70).is_none());
    assert_eq!(c.state("g"), GroupState::PreparingRebalance);
    // Member 1 keeps heartbeating but never rejoins; the rebalance timeout expires.
    c.heartbeat("g", &ids[1], None, generation, now + 5000)
        .unwrap_err();
    let out = c.tick(now + REBALANCE as i64);
    let j = join_of(&out, 70).unwrap();
    assert_eq!(j.error, None);
    assert_eq!(j.members.len(), 1);
    assert_eq!(j.members[0].metadata, vec![7]);
}

#[test]
fn sync_errors_and_rebalance_during_sync() {
    let mut c = coordinator(0);
    let (a, _) = join_new(&mut c, 1, "a", 0);
    let (b, out) = join_new(&mut c, 3, "b", 0);
    // Member a already completed a join alone (generation 1); b's join triggered a rebalance.
    assert!(join_of(&out, 4).is_none());
    let out = c.sync(9, sync_req(&a, 1, vec![]), 0);
    assert_eq!(
        sync_of(&out, 9).unwrap().error,
        Some(GroupError::RebalanceInProgress)
    );
    let out = c.join(10, join_req(&a, None, ""), 0);
    let ja = join_of(&out, 10).unwrap();
    let jb = join_of(&out, 4).unwrap();
    assert_eq!(ja.generation_id, 2);
    let (leader, follower) = if ja.leader == a {
        (a.clone(), b.clone())
    } else {
        (b.clone(), a.clone())
    };
    assert_eq!(jb.leader, leader);
    let out = c.sync(11, sync_req(&follower, 1, vec![]), 0);
    assert_eq!(
        sync_of(&out, 11).unwrap().error,
        Some(GroupError::IllegalGeneration)
    );
    let mut bad = sync_req(&follower, 2, vec![]);
    bad.protocol_name = Some("roundrobin".into());
    assert_eq!(
        sync_of(&c.sync(12, bad, 0), 12).unwrap().error,
        Some(GroupError::InconsistentGroupProtocol)
    );
    // The follower's sync parks; a new member's join resets it with REBALANCE_IN_PROGRESS.
    let out = c.sync(13, sync_req(&follower, 2, vec![]), 0);
    assert!(sync_of(&out, 13).is_none());
    let out = c.join(20, join_req("", None, "c"), 0);
    let (cid, out2) = (
        join_of(&out, 20).unwrap().member_id,
        c.join(21, join_req("c-c", None, "c"), 0),
    );
    assert_eq!(cid, "c-c");
    let all: Vec<Output> = out.into_iter().chain(out2).collect();
    assert_eq!(
        sync_of(&all, 13).unwrap().error,
        Some(GroupError::RebalanceInProgress)
    );
    assert_eq!(c.state("g"), GroupState::PreparingRebalance);
}

#[test]
fn pending_member_expires() {
    let mut c = coordinator(0);
    let out = c.join(1, join_req("", None, "a"), 0);
    assert_eq!(
        join_of(&out, 1).unwrap().error,
        Some(GroupError::MemberIdRequired)
    );
    c.tick(SESSION as i64 + 1);
    let out = c.join(2, join_req("c-a", None, "a"), SESSION as i64 + 2);
    assert_eq!(
        join_of(&out, 2).unwrap().error,
        Some(GroupError::UnknownMemberId)
    );
}

#[test]
fn static_member_rejoins_without_rebalance() {
    let mut c = coordinator(0);
    let out = c.join(1, join_req("", Some("i1"), "a"), 0);
    let j = join_of(&out, 1).unwrap();
    assert_eq!(j.error, None, "static members skip MEMBER_ID_REQUIRED");
    let m1 = j.member_id.clone();
    c.sync(2, sync_req(&m1, 1, vec![(m1.clone(), vec![5])]), 0);
    let out = c.join(3, join_req("", Some("i2"), "b"), 0);
    let m2 = join_of(&out, 3);
    assert!(m2.is_none(), "second static member triggers a rebalance");
    let mut out = c.join(4, join_req(&m1, Some("i1"), ""), 1);
    out.extend(c.tick(2));
    let g = join_of(&out, 4).unwrap().generation_id;
    let m2 = join_of(&out, 3).unwrap().member_id;
    let all = vec![(m1.clone(), vec![1]), (m2.clone(), vec![2])];
    c.sync(5, sync_req(&m1, g, all), 3);
    c.sync(6, sync_req(&m2, g, vec![]), 3);
    assert_eq!(c.state("g"), GroupState::Stable);
    c.take_writes();

    // i2 restarts (new process: empty member id) within the session timeout.
    let out = c.join(7, join_req("", Some("i2"), "z"), 4000);
    let j = join_of(&out, 7).unwrap();
    assert_eq!(j.error, None);
    assert_eq!(j.generation_id, g, "no new generation");
    assert_eq!(j.member_id, "c-z");
    assert!(j.members.is_empty());
    assert_eq!(c.state("g"), GroupState::Stable);
    assert!(!c.take_writes().is_empty(), "new member id persisted");
    let out = c.sync(8, sync_req("c-z", g, vec![]), 4001);
    assert_eq!(
        sync_of(&out, 8).unwrap().assignment,
        vec![2],
        "same partitions"
    );
    // The old incarnation is fenced.
    let mut fenced = sync_req(&m2, g, vec![]);
    fenced.group_instance_id = Some("i2".into());
    assert_eq!(
        sync_of(&c.sync(9, fenced, 4002), 9).unwrap().error,
        Some(GroupError::FencedInstanceId)
    );
    assert_eq!(
        c.heartbeat("g", &m2, Some("i2"), g, 4002),
        Err(GroupError::FencedInstanceId)
    );
    // Leaving by instance id.
    let (r, _) = c.leave(
        "g",
        &[
            LeavingMember {
                member_id: String::new(),
                group_instance_id: Some("i2".into()),
            },
            LeavingMember {
                member_id: "x".into(),
                group_instance_id: Some("i1".into()),
            },
        ],
        5000,
    );
    assert_eq!(r, Ok(vec![Ok(()), Err(GroupError::FencedInstanceId)]));
    assert_eq!(c.state("g"), GroupState::PreparingRebalance);
}

#[test]
fn static_leader_with_skip_assignment() {
    let mut c = coordinator(0);
    let out = c.join(1, join_req("", Some("i1"), "a"), 0);
    let m1 = join_of(&out, 1).unwrap().member_id;
    c.sync(2, sync_req(&m1, 1, vec![(m1.clone(), vec![5])]), 0);
    let mut r = join_req("", Some("i1"), "b");
    r.supports_skip_assignment = true;
    let j = join_of(&c.join(3, r, 10), 3).unwrap();
    assert!(j.skip_assignment);
    assert_eq!(j.leader, "c-b");
    assert_eq!(j.members.len(), 1);
    // Without KIP-814 the leader is told the old leader id.
    let j = join_of(&c.join(4, join_req("", Some("i1"), "c"), 20), 4).unwrap();
    assert!(!j.skip_assignment);
    assert_eq!(j.leader, "c-b");
    assert_ne!(j.member_id, j.leader);
}

#[test]
fn offsets_commit_fetch_validate() {
    let mut c = coordinator(3000);
    // Outside group management: generation -1 to a new group.
    assert_eq!(c.validate_commit("s", "", None, -1), Ok(()));
    assert_eq!(
        c.validate_commit("s", "", None, 3),
        Err(GroupError::IllegalGeneration)
    );
    let commits = [OffsetCommit {
        topic: "t".into(),
        partition: 0,
        offset: 42,
        leader_epoch: -1,
        metadata: Some("meta".into()),
    }];
    assert_eq!(c.commit_offsets("s", "", &commits, -1, 5), vec![Ok(())]);
    let w = c.take_writes();
    assert_eq!(w.len(), 1);
    let f = c.fetch_offsets("s", None);
    assert_eq!(f[0].1.as_ref().unwrap().offset, 42);
    assert_eq!(f[0].1.as_ref().unwrap().metadata, "meta");
    assert_eq!(c.state("s"), GroupState::Empty);
    let long = [OffsetCommit {
        metadata: Some("x".repeat(5000)),
        ..commits[0].clone()
    }];
    assert_eq!(
        c.commit_offsets("s", "", &long, -1, 5),
        vec![Err(GroupError::OffsetMetadataTooLarge)]
    );

    let (ids, generation) = stable_group(&mut c, 2, 0);
    assert_eq!(c.validate_commit("g", &ids[0], None, generation), Ok(()));
    assert_eq!(
        c.validate_commit("g", &ids[0], None, generation - 1),
        Err(GroupError::IllegalGeneration)
    );
    assert_eq!(
        c.validate_commit("g", "x", None, generation),
        Err(GroupError::UnknownMemberId)
    );
    assert_eq!(
        c.validate_commit("g", "", None, -1),
        Err(GroupError::UnknownMemberId)
    );
    assert_eq!(c.delete_group("g"), Err(GroupError::NonEmptyGroup));
    assert_eq!(c.delete_group("nope"), Err(GroupError::GroupIdNotFound));
    c.take_writes();
    assert_eq!(c.delete_group("s"), Ok(()));
    assert_eq!(c.take_writes().len(), 2, "offset and group tombstones");
    assert_eq!(c.fetch_offsets("s", None), vec![]);
}

#[test]
fn offsets_expire_after_group_is_empty() {
    let mut c = Coordinator::new(GroupConfig {
        initial_rebalance_delay_ms: 0,
        offsets_retention_ms: 1000,
        ..GroupConfig::default()
    });
    let commits = [OffsetCommit {
        topic: "t".into(),
        partition: 1,
        offset: 1,
        leader_epoch: -1,
        metadata: None,
    }];
    c.commit_offsets("s", "", &commits, -1, 0);
    c.commit_offsets("r", "", &commits, 50_000, 0);
    c.take_writes();
    assert_eq!(c.expire_offsets(999), 0);
    assert_eq!(
        c.expire_offsets(1000),
        1,
        "the default retention applies to s"
    );
    assert_eq!(c.state("s"), GroupState::Dead);
    assert_eq!(
        c.state("r"),
        GroupState::Empty,
        "explicit retention_time kept r"
    );
    assert_eq!(c.expire_offsets(50_000), 1);
    let w = c.take_writes();
    assert!(w.iter().all(|w| w.value.is_none()));
    assert_eq!(w.len(), 4, "two offset tombstones, two group tombstones");
}

#[test]
fn reload_from_records() {
    let mut c = coordinator(3000);
    let (ids, generation) = stable_group(&mut c, 2, 0);
    let commits = [OffsetCommit {
        topic: "t".into(),
        partition: 0,
        offset: 7,
        leader_epoch: 3,
        metadata: None,
    }];
    assert_eq!(
        c.commit_offsets("g", &ids[0], &commits, -1, 1),
        vec![Ok(())]
    );
    let writes = c.take_writes();
    let mut d = coordinator(0);
    for w in &writes {
        d.load_record(&w.key, w.value.as_deref(), 100).unwrap();
    }
    assert_eq!(d.state("g"), GroupState::Stable);
    assert_eq!(d.generation("g"), Some(generation));
    assert_eq!(
        d.fetch_offsets("g", None)[0]
            .1
            .as_ref()
            .unwrap()
            .leader_epoch,
        3
    );
    assert_eq!(d.heartbeat("g", &ids[1], None, generation, 200), Ok(()));
    // Members that do not come back expire and the group empties; offsets stay.
    d.tick(100 + SESSION as i64 + 1);
    d.tick(100 + SESSION as i64 + 2 + REBALANCE as i64);
    assert_eq!(d.state("g"), GroupState::Empty);
    assert_eq!(d.fetch_offsets("g", None).len(), 1);
}

#[test]
fn list_and_describe() {
    let mut c = coordinator(3000);
    let (ids, _) = stable_group(&mut c, 2, 0);
    let l = c.list(&[], &[]);
    assert_eq!(l.len(), 1);
    assert_eq!(l[0].state, GroupState::Stable);
    assert_eq!(c.list(&["empty".into()], &[]).len(), 0);
    assert_eq!(c.list(&["STABLE".into()], &["classic".into()]).len(), 1);
    assert_eq!(c.list(&[], &["consumer".into()]).len(), 0);
    let d = c.describe("g").unwrap();
    assert_eq!(d.protocol, "range");
    assert_eq!(d.members.len(), 2);
    assert_eq!(d.members[0].member_id, ids[0]);
    assert!(c.describe("nope").is_none());
}

#[test]
fn offset_delete_respects_subscriptions() {
    let mut c = coordinator(0);
    let mut sub = vec![0, 0, 0, 0, 0, 1, 0, 1, b't'];
    sub.extend_from_slice(&(-1i32).to_be_bytes());
    let mut r = join_req("", Some("i"), "a");
    r.protocols = vec![("range".into(), sub)];
    let m = join_of(&c.join(1, r, 0), 1).unwrap().member_id;
    c.sync(2, sync_req(&m, 1, vec![]), 0);
    let commits: Vec<OffsetCommit> = ["t", "u"]
        .iter()
        .map(|t| OffsetCommit {
            topic: t.to_string(),
            partition: 0,
            offset: 1,
            leader_epoch: -1,
            metadata: None,
        })
        .collect();
    c.commit_offsets("g", &m, &commits, -1, 1);
    let r = c
        .delete_offsets("g", &[("t".into(), 0), ("u".into(), 0)])
        .unwrap();
    assert_eq!(r, vec![Err(GroupError::GroupSubscribedToTopic), Ok(())]);
    assert_eq!(c.delete_offsets("x", &[]), Err(GroupError::GroupIdNotFound));
}
