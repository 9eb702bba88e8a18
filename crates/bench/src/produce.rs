//! `produce`: COUNT records of RECORD_SIZE bytes as fast as librdkafka gets them acknowledged.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;

use crate::common::{self, parse_prop, Deadline, Prop, Result, TopicArgs};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub target: TopicArgs,
    #[arg(long, default_value_t = 1024)]
    pub record_size: usize,
    #[arg(long)]
    pub count: u64,
    /// Wall-clock limit of the whole run; the run fails when it is reached.
    #[arg(long, default_value_t = 600.0)]
    pub timeout_secs: f64,
    /// Producer properties for librdkafka, e.g. `acks=1 linger.ms=5`.
    #[arg(value_parser = parse_prop)]
    pub props: Vec<Prop>,
}

/// Counts delivery reports; they are served on the thread that calls `poll`.
#[derive(Default)]
struct Acks {
    ok: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl ClientContext for Acks {}

impl ProducerContext for Acks {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.ok.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let mut first = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
                first.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

pub fn run(a: &Args) -> Result<serde_json::Value> {
    let deadline = Deadline::after_secs(a.timeout_secs);
    a.target.create_if_asked()?;
    let producer: BaseProducer<Acks> = common::client_config(
        &a.target.bootstrap,
        &[("client.id", "strom-bench")],
        &a.props,
    )
    .create_with_context(Acks::default())
    .map_err(|e| format!("producer: {e}"))?;
    // Connections and metadata before the clock starts.
    producer
        .client()
        .fetch_metadata(Some(&a.target.topic), Duration::from_secs(10))
        .map_err(|e| format!("metadata of {}: {e}", a.target.topic))?;
    let value = common::payload(a.record_size, 0x5eed);
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < a.count {
        let record = BaseRecord::<(), [u8]>::to(&a.target.topic).payload(&value);
        match producer.send(record) {
            Ok(()) => {
                sent += 1;
                if sent % 1024 == 0 {
                    producer.poll(Duration::ZERO);
                    deadline.check("produce")?;
                }
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                producer.poll(Duration::from_millis(1));
                deadline.check("produce")?;
            }
            Err((e, _)) => return Err(format!("send: {e}")),
        }
        check_failed(producer.context())?;
    }
    // Wait for every acknowledgement, within the time left.
    while producer.in_flight_count() > 0 {
        deadline.check("waiting for acknowledgements")?;
        producer.poll(Duration::from_millis(50));
    }
    let seconds = start.elapsed().as_secs_f64();
    check_failed(producer.context())?;
    let acked = producer.context().ok.load(Ordering::Relaxed);
    if acked != a.count {
        return Err(format!("{acked} of {} records acknowledged", a.count));
    }
    let bytes = acked * a.record_size as u64;
    Ok(serde_json::json!({
        "records": acked,
        "bytes": bytes,
        "seconds": seconds,
        "records_per_sec": acked as f64 / seconds,
        "mb_per_sec": common::mb_per_sec(bytes, seconds),
    }))
}

fn check_failed(acks: &Acks) -> Result<()> {
    if acks.failed.load(Ordering::Relaxed) == 0 {
        return Ok(());
    }
    let first = acks.first_error.lock().unwrap_or_else(|p| p.into_inner());
    Err(format!(
        "{} records failed, the first with: {}",
        acks.failed.load(Ordering::Relaxed),
        first.as_deref().unwrap_or("?")
    ))
}
