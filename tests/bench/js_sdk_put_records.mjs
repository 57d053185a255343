// The benchmark workload through the AWS SDK for JavaScript v3 (@aws-sdk/client-kinesis)
// with KPL aggregation by aws-kinesis-agg, for comparison with bench_producer_bench.
//
//   NODE_PATH=<dir with @aws-sdk/client-kinesis and aws-kinesis-agg> \
//     node js_sdk_put_records.mjs ENDPOINT STREAM N SIZE KEYS
//
// Aggregates N records of SIZE bytes over KEYS keys with RecordAggregator (no shard
// prediction: it packs up to its 1 MB limit, whatever shards the keys map to), sends the aggregates in PutRecords
// calls of up to 500 entries / 5 MiB, retries failed entries, and prints records/s
// and records per CPU-second of this process.
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(path.join(process.env.NODE_PATH || '.', 'x.js'));
const { KinesisClient, PutRecordsCommand } = require('@aws-sdk/client-kinesis');
const agg = require('aws-kinesis-agg');
// The Kinesis client defaults to HTTP/2; the local sink (like kinesalite) speaks HTTP/1.1.
const { NodeHttpHandler } = require('@smithy/node-http-handler');

const [endpoint, stream, nArg, sizeArg, keysArg] = process.argv.slice(2);
const n = parseInt(nArg, 10), size = parseInt(sizeArg, 10), keys = parseInt(keysArg, 10);
const client = new KinesisClient({
    endpoint, region: 'us-east-1', maxAttempts: 1, requestHandler: new NodeHttpHandler(),
    credentials: { accessKeyId: 'AKIDBENCHBENCHBENCH',
                   secretAccessKey: 'benchsecretbenchsecretbenchsecret0000000' },
});
const data = Buffer.alloc(size, 'x');
const cpu0 = process.cpuUsage(), t0 = process.hrtime.bigint();

const encoded = [];
const aggregator = new agg.RecordAggregator();
for (let i = 0; i < n; i++) {
    const rec = { partitionKey: 'key-' + (i % keys), data };
    if (!aggregator.checkIfUserRecordFits(rec))
        encoded.push(aggregator.build());
    aggregator.addUserRecord(rec);
}
if (aggregator.length())
    encoded.push(aggregator.build());

let entries = encoded.map((e) => ({ Data: e.data, PartitionKey: e.partitionKey,
                                    ExplicitHashKey: e.explicitHashKey }));
while (entries.length) {
    const batch = [];
    let bytes = 0;
    while (entries.length && batch.length < 500 && bytes + entries[0].Data.length < 5 * 1024 * 1024) {
        bytes += entries[0].Data.length;
        batch.push(entries.shift());
    }
    const r = await client.send(new PutRecordsCommand({ StreamName: stream, Records: batch }));
    entries = batch.filter((_, i) => r.Records[i].ErrorCode).concat(entries);
}
const cpu = process.cpuUsage(cpu0), wall = Number(process.hrtime.bigint() - t0) / 1e9;
const cpuS = (cpu.user + cpu.system) / 1e6;
console.log(`JS SDK v3 + aws-kinesis-agg: records=${n} size=${size} keys=${keys} aggregates=${encoded.length}`);
console.log(`user records/s: ${(n / wall).toFixed(0)}`);
console.log(`user records per CPU-second: ${(n / cpuS).toFixed(0)} (cpu ${cpuS.toFixed(3)} s)`);
