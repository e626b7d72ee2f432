#!/usr/bin/env bash
# Copies this task's package into $OUT/repo/ and lists its checksum in $OUT/repo/SHA256SUMS.
# Sibling tasks publish at the same moment: each writes its own .sha256 file, then
# SHA256SUMS is rebuilt from all of them under a lock, so no line is lost or doubled.
set -euo pipefail
file="hello-c-$VERSION-$CONFIG.tar.gz"
repo="$OUT/repo"
mkdir -p "$repo"
cp "$OUT/packages/$file" "$repo/$file.tmp.$$"
mv "$repo/$file.tmp.$$" "$repo/$file"
(cd "$repo" && sha256sum "$file") > "$repo/$file.sha256.tmp.$$"
mv "$repo/$file.sha256.tmp.$$" "$repo/$file.sha256"

exec 9> "$repo/.lock"
flock 9
cat "$repo"/*.sha256 | sort -k 2 > "$repo/SHA256SUMS.tmp"
mv "$repo/SHA256SUMS.tmp" "$repo/SHA256SUMS"
echo "published $repo/$file"
