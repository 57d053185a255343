#!/usr/bin/env bash
# docs/CONFIGURATION.md must be exactly what the property table generates.
set -eu
diff -u "$KN_SOURCE_DIR/docs/CONFIGURATION.md" <("$KN_BUILD_DIR/bin/confdoc") || {
    echo "docs/CONFIGURATION.md is stale: run 'cmake --build build --target confdoc-update'" >&2
    exit 1
}
