#!/usr/bin/env bash
# Runs this task's binary and checks that it names the version and configuration it was
# built for; leaves a marker that done_if looks for.
set -euo pipefail
binary="$OUT/build/$VERSION-$CONFIG/hello"
expected="hello-c $VERSION ($CONFIG build)"
actual=$("$binary")
if [ "$actual" != "$expected" ]; then
  echo "expected: $expected" >&2
  echo "got:      $actual" >&2
  exit 1
fi
mkdir -p "$OUT/tests"
echo "$actual" > "$OUT/tests/$VERSION-$CONFIG.passed"
echo "ok: $actual"
