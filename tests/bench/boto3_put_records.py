#!/usr/bin/env python3
"""The benchmark workload through boto3's put_records (no aggregation; the plain
way to batch from Python), for comparison with bench_producer_bench.

    boto3_put_records.py ENDPOINT STREAM N SIZE KEYS

Sends N records of SIZE bytes over KEYS partition keys in put_records calls of
500, retrying failed entries, and prints records/s and records per CPU-second of
this process.
"""
import sys
import time

import boto3
from botocore.config import Config


def main():
    endpoint, stream = sys.argv[1], sys.argv[2]
    n, size, keys = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    k = boto3.client("kinesis", endpoint_url=endpoint, region_name="us-east-1",
                     aws_access_key_id="AKIDBENCHBENCHBENCH",
                     aws_secret_access_key="benchsecretbenchsecretbenchsecret0000000",
                     config=Config(retries={"max_attempts": 1}, max_pool_connections=4))
    data = b"x" * size
    pks = ["key-%d" % i for i in range(keys)]
    cpu0, t0 = time.process_time(), time.monotonic()
    sent = 0
    while sent < n:
        batch = [{"Data": data, "PartitionKey": pks[(sent + i) % keys]}
                 for i in range(min(500, n - sent))]
        while batch:
            r = k.put_records(StreamName=stream, Records=batch)
            batch = [e for e, res in zip(batch, r["Records"]) if "ErrorCode" in res]
        sent += min(500, n - sent)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - t0
    print("boto3 put_records: records=%d size=%d keys=%d" % (n, size, keys))
    print("user records/s: %.0f" % (n / wall))
    print("user records per CPU-second: %.0f (cpu %.3f s)" % (n / cpu, cpu))


if __name__ == "__main__":
    main()
