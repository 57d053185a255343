#!/usr/bin/env bash
# The consumer correctness set in fan-out mode over h2c (HTTP/2 prior knowledge).
exec bash "$(dirname "${BASH_SOURCE[0]}")/fanout_consumer_set.sh" h2c
