// Driven by test_kafkajs.py. Usage: node produce.js <bootstrap> <topic> <count> <codec: none|gzip>
// Creates the topic (3 partitions) with kafkajs' admin client, produces <count> records with
// keys, headers and explicit partitions and timestamps, and prints one JSON line per
// acknowledged batch plus a final summary with kafkajs' view of the topic offsets.
const { Kafka, CompressionTypes, logLevel } = require('kafkajs');

async function main() {
  const [bootstrap, topic, countArg, codec] = process.argv.slice(2);
  const count = parseInt(countArg, 10);
  const kafka = new Kafka({ clientId: 'strom-kafkajs', brokers: [bootstrap], logLevel: logLevel.ERROR,
                            retry: { retries: 3 } });
  const admin = kafka.admin();
  await admin.connect();
  const created = await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }],
                                             waitForLeaders: true });
  const producer = kafka.producer({ idempotent: false, allowAutoTopicCreation: false });
  await producer.connect();
  const base = Date.now() - 3600 * 1000;
  const acks = [];
  const batch = 500;
  for (let start = 0; start < count; start += batch) {
    const messages = [];
    for (let i = start; i < Math.min(count, start + batch); i++) {
      messages.push({
        partition: i % 3,
        key: `kjs-key-${i}`,
        value: i % 97 === 5 ? null : `kafkajs|${i}|` + 'x'.repeat(i % 120),
        headers: { i: String(i), kind: 'kafkajs' },
        timestamp: String(base + i),
      });
    }
    const res = await producer.send({
      topic, acks: -1, messages,
      compression: codec === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None,
    });
    for (const r of res) acks.push({ partition: r.partition, baseOffset: r.baseOffset, errorCode: r.errorCode });
  }
  const offsets = await admin.fetchTopicOffsets(topic);
  const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
  await producer.disconnect();
  await admin.disconnect();
  console.log(JSON.stringify({ created, base, acks, offsets, partitions: metadata.topics[0].partitions.length }));
}

main().catch((e) => { console.error(e && e.stack ? e.stack : e); process.exit(1); });
