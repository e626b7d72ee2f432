#!/usr/bin/env bash
# Packs this task's binary into $OUT/packages/hello-c-$VERSION-$CONFIG.tar.gz.
set -euo pipefail
name="hello-c-$VERSION-$CONFIG"
staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
mkdir "$staging/$name"
cp "$OUT/build/$VERSION-$CONFIG/hello" "$staging/$name/"
mkdir -p "$OUT/packages"
# Renamed into place only when complete, so done_if never sees half an archive.
tar -czf "$OUT/packages/$name.tar.gz.tmp.$$" -C "$staging" "$name"
mv "$OUT/packages/$name.tar.gz.tmp.$$" "$OUT/packages/$name.tar.gz"
echo "packed $OUT/packages/$name.tar.gz"
