#!/usr/bin/env python3
"""Reads every record of a stream and prints one line per user record, deaggregated.

    kinesis_read_all.py ENDPOINT STREAM

Output lines: "SHARD SEQUENCE SUBSEQUENCE IN_RANGE KEY:DATA" where IN_RANGE is 1 when the
user record's hash key (explicit, else MD5 of its key) lies in the shard's range. KPL
aggregates are decoded here (magic, protobuf, MD5 checked), independently of the SDK.
Shards are read one after the other from TRIM_HORIZON to the tip.
"""
import hashlib
import sys

import boto3

MAGIC = b"\xf3\x89\x9a\xc2"


def varint(b, i):
    v = s = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return v, i


def fields(b):
    i = 0
    while i < len(b):
        tag, i = varint(b, i)
        num, wt = tag >> 3, tag & 7
        if wt == 0:
            v, i = varint(b, i)
        elif wt == 2:
            n, i = varint(b, i)
            v, i = b[i:i + n], i + n
        else:
            raise ValueError("unexpected wire type %d" % wt)
        yield num, v


def deaggregate(data, pk):
    if len(data) <= 20 or data[:4] != MAGIC:
        return [(pk, None, data)]
    body, digest = data[4:-16], data[-16:]
    if hashlib.md5(body).digest() != digest:
        raise ValueError("aggregate checksum mismatch")
    keys, ehks, out = [], [], []
    for num, v in fields(body):
        if num == 1:
            keys.append(v.decode())
        elif num == 2:
            ehks.append(v.decode())
        elif num == 3:
            rec = dict(fields(v))
            out.append((keys[rec[1]], ehks[rec[2]] if 2 in rec else None, rec.get(3, b"")))
    return out


def main():
    endpoint, stream = sys.argv[1], sys.argv[2]
    k = boto3.client("kinesis", endpoint_url=endpoint)
    shards, token = [], None
    while True:
        r = k.list_shards(NextToken=token) if token else k.list_shards(StreamName=stream)
        shards += r["Shards"]
        token = r.get("NextToken")
        if not token:
            break
    out = sys.stdout.buffer
    for sh in shards:
        lo = int(sh["HashKeyRange"]["StartingHashKey"])
        hi = int(sh["HashKeyRange"]["EndingHashKey"])
        it = k.get_shard_iterator(StreamName=stream, ShardId=sh["ShardId"],
                                  ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while it:
            r = k.get_records(ShardIterator=it, Limit=10000)
            for rec in r["Records"]:
                for sub, (pk, ehk, data) in enumerate(deaggregate(rec["Data"], rec["PartitionKey"])):
                    h = int(ehk) if ehk else int.from_bytes(hashlib.md5(pk.encode()).digest(), "big")
                    out.write(b"%s %s %d %d %s:%s\n" % (sh["ShardId"].encode(),
                              rec["SequenceNumber"].encode(), sub, lo <= h <= hi, pk.encode(), data))
            it = r.get("NextShardIterator")
            if not r["Records"] and r.get("MillisBehindLatest", 0) == 0:
                break


if __name__ == "__main__":
    main()
