//! `e2e`: end-to-end latency at a fixed rate, open loop, corrected for coordinated omission.
//!
//! The producer thread sends record `i` at its *intended* time `t0 + i / rate` and writes that
//! intended time (ns since a monotonic base of this process) into the first bytes of the
//! payload. When the producer falls behind (a blocked send, a full queue), later records keep
//! their intended times, so the wait shows up in their latency instead of being omitted. The
//! consumer thread (same process, same base) records `receive time − intended send time`.
//! Records of the first `--warmup-secs` are sent on the same schedule but not recorded.

use std::num::NonZeroU64;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use crate::common::{self, parse_prop, Deadline, Prop, Result, TopicArgs};
use crate::consume::{consumer_config, watermarks};

/// Payload header: run id, record index, intended send time (ns since the base), all u64 LE.
const HEADER: usize = 24;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub target: TopicArgs,
    /// Records per second, sent on a fixed schedule.
    #[arg(long, default_value_t = 10_000.0)]
    pub rate: f64,
    /// At least 24 (the header with the intended send time).
    #[arg(long, default_value_t = 1024)]
    pub record_size: usize,
    /// Seconds of measured records (after the warm-up).
    #[arg(long, default_value_t = 30.0)]
    pub duration_secs: f64,
    /// Seconds of records sent first and not measured.
    #[arg(long, default_value_t = 2.0)]
    pub warmup_secs: f64,
    /// At most this many measured records.
    #[arg(long)]
    pub count: Option<u64>,
    /// How long the consumer waits for the last records after the producer is done.
    #[arg(long, default_value_t = 10.0)]
    pub drain_secs: f64,
    /// A consumer property for librdkafka (repeatable).
    #[arg(long = "consumer-prop", value_parser = parse_prop)]
    pub consumer_props: Vec<Prop>,
    /// Producer properties for librdkafka, e.g. `acks=1` (defaults here: `linger.ms=0`,
    /// `socket.nagle.disable=true`, also for the consumer).
    #[arg(value_parser = parse_prop)]
    pub props: Vec<Prop>,
}

/// What the consumer thread saw.
struct Received {
    latency_ns: Histogram<u64>,
    measured: u64,
    warmup: u64,
    foreign: u64,
}

fn histogram() -> Histogram<u64> {
    // 1 ns .. 100 s at 3 significant digits; larger values saturate at the top.
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("valid histogram bounds")
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 8)
        .map(|s| u64::from_le_bytes(s.try_into().expect("8 bytes")))
}

pub fn run(a: &Args) -> Result<serde_json::Value> {
    if a.record_size < HEADER {
        return Err(format!("--record-size must be at least {HEADER}"));
    }
    if !(a.rate > 0.0 && a.rate <= 10_000_000.0) {
        return Err("--rate must be in (0, 10,000,000]".into());
    }
    let warmup_n = (a.rate * a.warmup_secs).round() as u64;
    let mut measured_n = (a.rate * a.duration_secs).round() as u64;
    if let Some(c) = a.count {
        measured_n = measured_n.min(c);
    }
    let total = warmup_n + measured_n;
    // The schedule takes total / rate seconds; allow the setup and the drain on top of it.
    let deadline = Deadline::after_secs(total as f64 / a.rate * 2.0 + a.drain_secs + 60.0);
    a.target.create_if_asked()?;
    let base = Instant::now();
    let run_id = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);

    // The consumer: assigned at the end offsets before the first record is sent.
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = mpsc::channel::<Result<()>>();
    let consumer = {
        // Kafka's Java clients always set TCP_NODELAY; librdkafka needs to be told.
        let mut props = vec![Prop {
            key: "socket.nagle.disable".into(),
            value: "true".into(),
        }];
        props.extend(a.consumer_props.iter().cloned());
        let (bootstrap, topic, stop) = (
            a.target.bootstrap.clone(),
            a.target.topic.clone(),
            stop.clone(),
        );
        std::thread::spawn(move || -> Result<Received> {
            let setup = || -> Result<BaseConsumer> {
                let c: BaseConsumer = consumer_config(&bootstrap, &props)
                    .create()
                    .map_err(|e| format!("consumer: {e}"))?;
                let mut tpl = TopicPartitionList::new();
                for (p, _, high) in watermarks(&c, &topic, deadline)? {
                    tpl.add_partition_offset(&topic, p, Offset::Offset(high))
                        .map_err(|e| format!("assignment: {e}"))?;
                }
                c.assign(&tpl).map_err(|e| format!("assign: {e}"))?;
                Ok(c)
            };
            let c = match setup() {
                Ok(c) => {
                    let _ = ready_tx.send(Ok(()));
                    c
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e.clone()));
                    return Err(e);
                }
            };
            let mut r = Received {
                latency_ns: histogram(),
                measured: 0,
                warmup: 0,
                foreign: 0,
            };
            while r.measured + r.warmup < total && !stop.load(Ordering::Relaxed) {
                deadline.check("e2e consumer")?;
                let m = match c.poll(Duration::from_millis(20)) {
                    None => continue,
                    Some(Err(e)) => return Err(format!("consume: {e}")),
                    Some(Ok(m)) => m,
                };
                let now = base.elapsed().as_nanos() as u64;
                let p = m.payload().unwrap_or_default();
                match (u64_at(p, 0), u64_at(p, 8), u64_at(p, 16)) {
                    (Some(id), Some(i), Some(sent)) if id == run_id => {
                        if i < warmup_n {
                            r.warmup += 1;
                        } else {
                            r.measured += 1;
                            r.latency_ns
                                .saturating_record(now.saturating_sub(sent).max(1));
                        }
                    }
                    _ => r.foreign += 1,
                }
            }
            Ok(r)
        })
    };
    match ready_rx.recv_timeout(Duration::from_secs(60)) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e),
        Err(_) => {
            stop.store(true, Ordering::Relaxed);
            return Err("consumer not ready within 60 s".into());
        }
    }

    let sent = produce_on_schedule(a, base, run_id, total, deadline);
    // Wait for the last records, then stop the consumer whatever it got.
    let drain_end = Instant::now() + Duration::from_secs_f64(a.drain_secs);
    while !consumer.is_finished() && Instant::now() < drain_end {
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    let received = consumer
        .join()
        .map_err(|_| "consumer thread panicked".to_string())??;
    let (sent, lag_ns, seconds) = sent?;
    let h = &received.latency_ns;
    let us = |q: f64| h.value_at_quantile(q) as f64 / 1e3;
    Ok(serde_json::json!({
        "rate": a.rate,
        "record_size": a.record_size,
        "records_sent": sent,
        "warmup_records": warmup_n,
        "records": received.measured,
        "missing": measured_n - received.measured.min(measured_n),
        "foreign_records": received.foreign,
        "seconds": seconds,
        "p50_us": us(0.50),
        "p90_us": us(0.90),
        "p99_us": us(0.99),
        "p999_us": us(0.999),
        "p9999_us": us(0.9999),
        "max_us": h.max() as f64 / 1e3,
        "mean_us": h.mean() / 1e3,
        "send_lag_p99_us": lag_ns.value_at_quantile(0.99) as f64 / 1e3,
        "send_lag_max_us": lag_ns.max() as f64 / 1e3,
    }))
}

/// Sends `total` records at their intended times; returns (records acknowledged, histogram of
/// actual − intended send time, seconds of the schedule).
fn produce_on_schedule(
    a: &Args,
    base: Instant,
    run_id: u64,
    total: u64,
    deadline: Deadline,
) -> Result<(u64, Histogram<u64>, f64)> {
    let producer: BaseProducer = common::client_config(
        &a.target.bootstrap,
        &[
            ("client.id", "strom-bench-e2e"),
            ("linger.ms", "0"),
            ("socket.nagle.disable", "true"),
        ],
        &a.props,
    )
    .create()
    .map_err(|e| format!("producer: {e}"))?;
    producer
        .client()
        .fetch_metadata(Some(&a.target.topic), Duration::from_secs(10))
        .map_err(|e| format!("metadata of {}: {e}", a.target.topic))?;
    // Linux lets a sleep overrun by the thread's timer slack, 50 us by default: half an
    // interval at 10,000 records/s.
    rustix::thread::set_current_timer_slack(NonZeroU64::new(1))
        .map_err(|e| format!("timer slack: {e}"))?;
    let mut value = common::payload(a.record_size, 0xe2e);
    value[..8].copy_from_slice(&run_id.to_le_bytes());
    let mut lag = histogram();
    let interval_ns = 1e9 / a.rate;
    let t0 = Instant::now() + Duration::from_millis(1);
    for i in 0..total {
        let intended = t0 + Duration::from_nanos((i as f64 * interval_ns) as u64);
        wait_until(intended);
        value[8..16].copy_from_slice(&i.to_le_bytes());
        let sent_ns = intended.duration_since(base).as_nanos() as u64;
        value[16..24].copy_from_slice(&sent_ns.to_le_bytes());
        loop {
            match producer.send(BaseRecord::<(), [u8]>::to(&a.target.topic).payload(&value)) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    producer.poll(Duration::from_millis(1));
                    deadline.check("e2e producer")?;
                }
                Err((e, _)) => return Err(format!("send: {e}")),
            }
        }
        lag.saturating_record((Instant::now() - intended).as_nanos() as u64 + 1);
        producer.poll(Duration::ZERO);
        if i % 1024 == 0 {
            deadline.check("e2e producer")?;
        }
    }
    let seconds = t0.elapsed().as_secs_f64();
    producer
        .flush(Duration::from_secs_f64(a.drain_secs))
        .map_err(|e| format!("flush: {e}"))?;
    Ok((total, lag, seconds))
}

/// Sleeps until `t`. No spinning: the load generator shares its core with librdkafka's threads
/// and the consumer. The producer thread's timer slack is 1 ns (see [`produce_on_schedule`]),
/// so a wake-up is late by the scheduler's latency only; `send_lag_*` in the output says how
/// late sends were, and that lateness counts in the measured latency.
fn wait_until(t: Instant) {
    loop {
        let now = Instant::now();
        if now >= t {
            return;
        }
        std::thread::sleep(t - now);
    }
}
