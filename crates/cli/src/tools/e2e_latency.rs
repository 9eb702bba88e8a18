//! `strom e2e-latency`: Kafka's `kafka-e2e-latency.sh` (`EndToEndLatency`). For each of
//! `num_messages` messages: send it (linger 0, the given acks), wait for the acknowledgement,
//! then fetch until it comes back, and time the round trip. Prints Kafka's progress lines
//! (`i<TAB>ms` every 1000 messages), `Avg latency: X ms` and `Percentiles: 50th = ..., 99th =
//! ..., 99.9th = ...` (whole milliseconds), plus one line Kafka lacks with the same figures in
//! microseconds.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::{CreateTopicsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use strom_client::producer::{Delivery, Producer};
use strom_client::{topics_of, Client};

use super::common;
use super::consumer_perf_test::emit;
use super::consumer_perf_test::{assign, fetch_round};
use super::producer_perf_test::{percentiles, producer_config};

const USAGE: &str = "USAGE: strom e2e-latency broker_list topic num_messages producer_acks message_size_bytes [optional] properties_file";

const POLL_TIMEOUT: Duration = Duration::from_secs(60);

/// The figures Kafka prints, plus microseconds: (avg line, percentiles line, µs line).
pub fn result_lines(latencies_ns: &mut [u64]) -> (String, String, String) {
    let n = latencies_ns.len().max(1) as f64;
    let total: u64 = latencies_ns.iter().sum();
    let avg = format!("Avg latency: {:.4} ms", total as f64 / n / 1e6);
    let ms: Vec<u64> = latencies_ns.iter().map(|l| l / 1_000_000).collect();
    let mut ms = ms;
    let p = percentiles(&mut ms, &[0.5, 0.99, 0.999]);
    let pct = format!(
        "Percentiles: 50th = {}, 99th = {}, 99.9th = {}",
        p[0], p[1], p[2]
    );
    let us = percentiles(latencies_ns, &[0.5, 0.99, 0.999, 1.0]);
    let micro = format!(
        "Latency in microseconds: avg = {:.1}, 50th = {}, 99th = {}, 99.9th = {}, max = {}",
        total as f64 / n / 1e3,
        us[0] / 1000,
        us[1] / 1000,
        us[2] / 1000,
        us[3] / 1000
    );
    (avg, pct, micro)
}

/// Runs the tool.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        emit(&format!("{USAGE}\n\nMeasures the time for one message at a time to be produced (acks 1 or all) and fetched back.\nExample: strom e2e-latency localhost:9092 latency 10000 1 1024"));
        return Ok(());
    }
    if args.len() != 5 && args.len() != 6 {
        anyhow::bail!("{USAGE}");
    }
    let brokers = args[0].clone();
    let topic = args[1].clone();
    let num: usize = args[2]
        .parse()
        .map_err(|_| anyhow::anyhow!("num_messages '{}' is not a number", args[2]))?;
    let acks = args[3].as_str();
    let size: usize = args[4]
        .parse()
        .map_err(|_| anyhow::anyhow!("message_size_bytes '{}' is not a number", args[4]))?;
    if acks != "1" && acks != "all" {
        anyhow::bail!("Latency testing requires synchronous acknowledgement. Please use 1 or all");
    }
    let mut props = match args.get(5).filter(|f| !f.trim().is_empty()) {
        Some(f) => common::load_properties(f)?,
        None => BTreeMap::new(),
    };
    props.insert("bootstrap.servers".into(), brokers.clone());
    props.insert("linger.ms".into(), "0".into());
    props.insert("acks".into(), acks.into());
    let mut config = producer_config(&props)?;
    if !props.contains_key("client.id") {
        config.client_id = "e2e-latency".into();
    }
    common::block_on(async move {
        let mut client = Client::connect(&brokers, common::client_config(&props)).await?;
        let md = client.metadata(Some(std::slice::from_ref(&topic))).await?;
        if topics_of(&md).first().is_none_or(|t| t.error_code == 3) {
            emit(&format!("Topic \"{topic}\" does not exist. Will create topic with 1 partition(s) and replication factor = 1"));
            let req = CreateTopicsRequest::default()
                .with_timeout_ms(30_000)
                .with_topics(vec![CreatableTopic::default()
                    .with_name(TopicName(StrBytes::from_string(topic.clone())))
                    .with_num_partitions(1)
                    .with_replication_factor(1)]);
            let resp = client.send(&req).await?;
            for t in &resp.topics {
                if t.error_code != 0 && t.error_code != 36 {
                    emit(&format!("Creation of topic {topic} failed"));
                    strom_client::check(t.error_code, t.error_message.as_ref())?;
                }
            }
        }
        let mut parts = assign(&mut client, std::slice::from_ref(&topic), true).await?;
        let acked: Arc<Mutex<Option<Result<(), String>>>> = Arc::new(Mutex::new(None));
        let cb_acked = acked.clone();
        let producer = Producer::new(
            &mut client,
            &topic,
            config,
            Box::new(move |d: Delivery<'_>| {
                *cb_acked.lock().expect("ack slot") = Some(match d.error {
                    None => Ok(()),
                    Some(e) => Err(e.to_string()),
                });
            }),
        )
        .await?;
        let mut latencies: Vec<u64> = Vec::with_capacity(num);
        let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
        let mut message = vec![0u8; size];
        for i in 0..num {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            message.fill(b'A' + (seed % 26) as u8);
            let begin = Instant::now();
            producer
                .send(Some(0), None, Some(&message), now_ms(), i as u64)
                .await?;
            producer.flush().await?;
            if let Some(Err(e)) = acked.lock().expect("ack slot").take() {
                anyhow::bail!("sending message {i} failed: {e}");
            }
            let f = loop {
                let f =
                    fetch_round(&mut client, &mut parts, 1024 * 1024, 0, u64::MAX, true).await?;
                if !f.values.is_empty() {
                    break f;
                }
                if begin.elapsed() > POLL_TIMEOUT {
                    anyhow::bail!(
                        "poll() timed out before finding a result (timeout:[{}])",
                        POLL_TIMEOUT.as_millis()
                    );
                }
            };
            let elapsed = begin.elapsed().as_nanos() as u64;
            if f.values[0] != message {
                anyhow::bail!(
                    "The message read [{}] did not match the message sent [{}]",
                    String::from_utf8_lossy(&f.values[0]),
                    String::from_utf8_lossy(&message)
                );
            }
            if f.values.len() != 1 {
                anyhow::bail!(
                    "Only one result was expected during this test. We found [{}]",
                    f.values.len()
                );
            }
            if i % 1000 == 0 {
                emit(&format!("{i}\t{}", elapsed as f64 / 1e6));
            }
            latencies.push(elapsed);
        }
        producer.close().await?;
        let (avg, pct, micro) = result_lines(&mut latencies);
        emit(&avg);
        emit(&pct);
        emit(&micro);
        Ok(())
    })
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_in_ms_and_us() {
        let mut l: Vec<u64> = (1..=1000).map(|i| i * 10_000).collect(); // 10 µs .. 10 ms
        let (avg, pct, micro) = result_lines(&mut l);
        assert_eq!(avg, "Avg latency: 5.0050 ms");
        assert_eq!(pct, "Percentiles: 50th = 5, 99th = 9, 99.9th = 10");
        assert_eq!(
            micro,
            "Latency in microseconds: avg = 5005.0, 50th = 5010, 99th = 9910, 99.9th = 10000, max = 10000"
        );
    }
}
