//! librdkafka through the `rdkafka` crate against a real `strom` process: 100,000 records
//! with keys, values and headers per codec, produced and consumed back exactly, in order per
//! partition.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

const RECORDS: usize = 100_000;
const PARTITIONS: i32 = 3;

/// A strom broker on a free loopback port with a fresh data dir; killed on drop.
struct Broker {
    child: Child,
    bootstrap: String,
    _dir: tempfile::TempDir,
}

impl Broker {
    fn start() -> Broker {
        let bin = std::env::var_os("STROM_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/release/strom")
            });
        assert!(
            bin.exists(),
            "{} does not exist: run `cargo build --release` first (scripts/test.sh does)",
            bin.display()
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let listener = format!("PLAINTEXT://127.0.0.1:{port}");
        let child = Command::new(bin)
            .args([
                "server-start",
                "--override",
                &format!("listeners={listener}"),
                "--override",
                &format!("advertised.listeners={listener}"),
            ])
            .arg("--override")
            .arg(format!("log.dirs={}", dir.path().join("data").display()))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("stderr.log")).unwrap())
            .spawn()
            .unwrap();
        let bootstrap = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&bootstrap).is_err() {
            assert!(
                Instant::now() < deadline,
                "broker did not start listening on {bootstrap}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Broker {
            child,
            bootstrap,
            _dir: dir,
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn create_topic(bootstrap: &str, topic: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let rt = std::thread::spawn({
        let topic = topic.to_string();
        move || {
            let topics = [NewTopic::new(
                &topic,
                PARTITIONS,
                TopicReplication::Fixed(1),
            )];
            let opts = AdminOptions::new();
            futures_lite_block_on(admin.create_topics(&topics, &opts))
        }
    });
    let results = rt.join().unwrap().expect("create_topics");
    for r in results {
        r.expect("topic created");
    }
}

/// Minimal executor for one admin future (the crate's futures need no runtime).
fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    struct ThreadWaker(std::thread::Thread);
    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        assert!(Instant::now() < deadline, "admin call timed out");
        std::thread::park_timeout(Duration::from_millis(50));
    }
}

fn key(i: usize) -> String {
    format!("key-{i}")
}
fn value(i: usize, codec: &str) -> Vec<u8> {
    let mut v = format!("{codec}:{i:08}:").into_bytes();
    v.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, i % 200));
    v
}

fn roundtrip(codec: &str) {
    let broker = Broker::start();
    let topic = format!("rd-{codec}");
    create_topic(&broker.bootstrap, &topic);
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", &broker.bootstrap)
        .set("compression.type", codec)
        .set("linger.ms", "5")
        .set("enable.idempotence", "true")
        .create()
        .unwrap();
    for i in 0..RECORDS {
        let v = value(i, codec);
        let k = key(i);
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "n",
                value: Some(&i.to_be_bytes()),
            })
            .insert(Header {
                key: "empty",
                value: None::<&[u8]>,
            });
        let mut rec = BaseRecord::to(&topic)
            .key(&k)
            .payload(&v)
            .partition((i % PARTITIONS as usize) as i32)
            .headers(headers);
        loop {
            match producer.send(rec) {
                Ok(()) => break,
                Err((e, r)) => {
                    assert!(
                        matches!(
                            e,
                            rdkafka::error::KafkaError::MessageProduction(
                                rdkafka::types::RDKafkaErrorCode::QueueFull
                            )
                        ),
                        "produce failed: {e}"
                    );
                    rec = r;
                    producer.poll(Duration::from_millis(10));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(60)).expect("flush");
    assert_eq!(producer.in_flight_count(), 0);

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &broker.bootstrap)
        .set("group.id", "unused-rdkafka")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(&topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut next_index = [0usize, 1, 2];
    let mut got = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while got < RECORDS {
        assert!(
            Instant::now() < deadline,
            "consumed only {got} of {RECORDS} ({codec})"
        );
        let Some(m) = consumer.poll(Duration::from_millis(500)) else {
            continue;
        };
        let m = m.unwrap_or_else(|e| panic!("consume error: {e}"));
        let p = m.partition() as usize;
        let i = next_index[p];
        assert_eq!(
            m.offset() as usize,
            i / PARTITIONS as usize,
            "offset in partition {p}"
        );
        assert_eq!(
            m.key(),
            Some(key(i).as_bytes()),
            "key at partition {p} offset {}",
            m.offset()
        );
        assert_eq!(
            m.payload(),
            Some(&value(i, codec)[..]),
            "value at partition {p} offset {}",
            m.offset()
        );
        let h = m.headers().expect("headers");
        assert_eq!(h.count(), 2);
        assert_eq!(h.get(0).key, "n");
        assert_eq!(h.get(0).value, Some(&i.to_be_bytes()[..]));
        assert_eq!((h.get(1).key, h.get(1).value), ("empty", None));
        next_index[p] += PARTITIONS as usize;
        got += 1;
    }
    // Nothing more than what was written.
    for p in 0..PARTITIONS {
        let (lo, hi) = consumer
            .fetch_watermarks(&topic, p, Duration::from_secs(10))
            .unwrap();
        assert_eq!(
            (lo, hi as usize),
            (0, next_index[p as usize] / PARTITIONS as usize)
        );
    }
}

#[test]
fn rdkafka_roundtrip_uncompressed() {
    roundtrip("none");
}
#[test]
fn rdkafka_roundtrip_gzip() {
    roundtrip("gzip");
}
#[test]
fn rdkafka_roundtrip_snappy() {
    roundtrip("snappy");
}
#[test]
fn rdkafka_roundtrip_lz4() {
    roundtrip("lz4");
}
#[test]
fn rdkafka_roundtrip_zstd() {
    roundtrip("zstd");
}
