#!/usr/bin/env bash
# Exits 0 when this task's package is already in $OUT/repo/SHA256SUMS (and so published).
set -euo pipefail
grep -qsF "  hello-c-$VERSION-$CONFIG.tar.gz" "$OUT/repo/SHA256SUMS"
