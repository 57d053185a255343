// Interop oracle for the KPL aggregation format, using the npm package aws-kinesis-agg.
//   node agg_interop.js decode FILE   FILE: JSON lines {"pk":..,"data":base64} (Kinesis records);
//                                     prints one JSON line per user record, checksums verified:
//                                     {"entry":i,"sub":n,"pk":..,"data":base64}
//   node agg_interop.js encode N      aggregates N deterministic user records with
//                                     aws-kinesis-agg; prints {"agg":base64,"pk":..,"ehk":..}
//                                     per encoded record, then {"rec":{"pk","ehk","data"}} per
//                                     user record in input order
'use strict';
const fs = require('fs');
const agg = require('aws-kinesis-agg');

function decode(file) {
    const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.length);
    lines.forEach((line, i) => {
        const r = JSON.parse(line);
        agg.deaggregateSync({partitionKey: r.pk, data: r.data, sequenceNumber: '1'}, true,
            (err, recs) => {
                if (err) {
                    console.error('entry ' + i + ': ' + err);
                    process.exit(1);
                }
                recs.forEach((u) => {
                    process.stdout.write(JSON.stringify({
                        entry: i, sub: u.subSequenceNumber === undefined ? 0 : u.subSequenceNumber,
                        pk: u.partitionKey, data: Buffer.from(u.data, 'base64').toString('base64'),
                    }) + '\n');
                });
            });
    });
}

function encode(n) {
    const records = [];
    for (let i = 0; i < n; i++) {
        const rec = {partitionKey: 'node-key-' + (i % 37), data: Buffer.from('from-node-' + i + '-' + 'y'.repeat(i % 200))};
        if (i % 5 === 0)
            rec.explicitHashKey = String(12345678901234567890n * BigInt(i + 1));
        records.push(rec);
    }
    const out = [];
    agg.aggregate(records, (encoded, done) => {
        out.push({agg: Buffer.from(encoded.data).toString('base64'), pk: encoded.partitionKey,
                  ehk: encoded.explicitHashKey || null});
        done(null);
    }, () => {
        out.forEach((o) => process.stdout.write(JSON.stringify(o) + '\n'));
        records.forEach((r) => process.stdout.write(JSON.stringify({rec: {
            pk: r.partitionKey, ehk: r.explicitHashKey || null, data: r.data.toString('base64')}}) + '\n'));
    }, (err) => {
        console.error(String(err));
        process.exit(1);
    });
}

if (process.argv[2] === 'decode')
    decode(process.argv[3]);
else if (process.argv[2] === 'encode')
    encode(parseInt(process.argv[3], 10));
else {
    console.error('usage: agg_interop.js decode FILE | encode N');
    process.exit(2);
}
