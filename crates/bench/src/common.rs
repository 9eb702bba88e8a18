//! What the subcommands share: `k=v` properties, client configs, CPU pinning, topic creation.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::types::RDKafkaErrorCode;

/// Errors are one line for stderr; the harness records them as the reason a run failed.
pub type Result<T> = std::result::Result<T, String>;

/// A `key=value` property (a librdkafka setting or a topic config).
#[derive(Clone, Debug)]
pub struct Prop {
    pub key: String,
    pub value: String,
}

pub fn parse_prop(s: &str) -> Result<Prop> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok(Prop {
            key: k.to_string(),
            value: v.to_string(),
        }),
        _ => Err(format!("expected key=value, got {s:?}")),
    }
}

/// The broker and topic a producing subcommand works on.
#[derive(clap::Args)]
pub struct TopicArgs {
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub bootstrap: String,
    #[arg(long)]
    pub topic: String,
    /// Create the topic with this many partitions first (not timed); without it the topic
    /// must exist.
    #[arg(long)]
    pub partitions: Option<i32>,
    /// A config of the topic created with --partitions, e.g. `flush.messages=1` (repeatable).
    #[arg(long = "topic-config", value_parser = parse_prop)]
    pub topic_configs: Vec<Prop>,
}

impl TopicArgs {
    /// Creates the topic when --partitions asks for it.
    pub fn create_if_asked(&self) -> Result<()> {
        match self.partitions {
            Some(p) => create_topic(&self.bootstrap, &self.topic, p, &self.topic_configs, 30.0),
            None => Ok(()),
        }
    }
}

/// A librdkafka config: `bootstrap.servers`, then `defaults`, then the user's props (which win).
pub fn client_config(bootstrap: &str, defaults: &[(&str, &str)], props: &[Prop]) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap);
    for (k, v) in defaults {
        c.set(*k, *v);
    }
    for p in props {
        c.set(&p.key, &p.value);
    }
    c
}

/// Pins the calling thread to one CPU (threads it spawns afterwards inherit the mask).
pub fn pin_thread(cpu: Option<usize>) -> Result<()> {
    let Some(cpu) = cpu else { return Ok(()) };
    let mut set = rustix::thread::CpuSet::new();
    set.set(cpu);
    rustix::thread::sched_setaffinity(None, &set).map_err(|e| format!("pin to CPU {cpu}: {e}"))
}

/// Wall-clock limit of a run: `deadline.check("what")?` inside every loop.
#[derive(Clone, Copy)]
pub struct Deadline {
    at: Instant,
    secs: f64,
}

impl Deadline {
    pub fn after_secs(secs: f64) -> Deadline {
        Deadline {
            at: Instant::now() + Duration::from_secs_f64(secs),
            secs,
        }
    }

    pub fn passed(&self) -> bool {
        Instant::now() >= self.at
    }

    pub fn check(&self, what: &str) -> Result<()> {
        if self.passed() {
            Err(format!("{what}: time limit of {:.0} s reached", self.secs))
        } else {
            Ok(())
        }
    }
}

/// Bytes of a payload that is not trivially compressible (xorshift), so a codec set by a
/// property does not turn the benchmark into a compression test.
pub fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Runs one future to completion on this thread. The admin futures of the rdkafka crate need no
/// runtime: librdkafka's background thread completes them and wakes this one.
pub fn block_on<F: Future>(f: F) -> F::Output {
    struct Unpark(Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = pin!(f);
    loop {
        match f.as_mut().poll(&mut cx) {
            Poll::Ready(v) => return v,
            Poll::Pending => std::thread::park_timeout(Duration::from_millis(100)),
        }
    }
}

#[derive(clap::Args)]
pub struct CreateTopicArgs {
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub bootstrap: String,
    #[arg(long)]
    pub topic: String,
    #[arg(long, default_value_t = 1)]
    pub partitions: i32,
    /// A topic config, e.g. `flush.messages=1` (repeatable).
    #[arg(long = "config", value_parser = parse_prop)]
    pub configs: Vec<Prop>,
    #[arg(long, default_value_t = 30.0)]
    pub timeout_secs: f64,
}

pub fn create_topic_cmd(a: &CreateTopicArgs) -> Result<serde_json::Value> {
    let start = Instant::now();
    create_topic(
        &a.bootstrap,
        &a.topic,
        a.partitions,
        &a.configs,
        a.timeout_secs,
    )?;
    Ok(serde_json::json!({
        "topic": a.topic,
        "partitions": a.partitions,
        "seconds": start.elapsed().as_secs_f64(),
    }))
}

/// Creates a topic with replication factor 1; an existing topic is an error (a benchmark run
/// wants a fresh one).
pub fn create_topic(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    configs: &[Prop],
    timeout_secs: f64,
) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = client_config(bootstrap, &[], &[])
        .create()
        .map_err(|e| format!("admin client: {e}"))?;
    let mut new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    for c in configs {
        new = new.set(&c.key, &c.value);
    }
    let opts = AdminOptions::new()
        .operation_timeout(Some(Duration::from_secs_f64(timeout_secs)))
        .request_timeout(Some(Duration::from_secs_f64(timeout_secs)));
    let results = block_on(admin.create_topics([&new], &opts))
        .map_err(|e| format!("CreateTopics {topic}: {e}"))?;
    for r in results {
        match r {
            Ok(_) => {}
            Err((t, RDKafkaErrorCode::TopicAlreadyExists)) => {
                return Err(format!("topic {t} already exists"))
            }
            Err((t, code)) => return Err(format!("CreateTopics {t}: {code}")),
        }
    }
    Ok(())
}

/// Megabytes (10^6 bytes) per second, the unit Kafka's perf tools print as "MB/sec".
pub fn mb_per_sec(bytes: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        bytes as f64 / 1e6 / secs
    } else {
        0.0
    }
}
