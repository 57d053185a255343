#!/usr/bin/env bash
# The consumer correctness set in fan-out mode over TLS (HTTP/2 by ALPN, test CA, verified).
exec bash "$(dirname "${BASH_SOURCE[0]}")/fanout_consumer_set.sh" tls
