#!/usr/bin/env bash
# Makes a small git repository to try `slipway try` on:
#
#   examples/try/make-repo.sh /tmp/try-demo
#   cd /tmp/try-demo
#   slipway try --server http://127.0.0.1:7070 --wait      # the first try sends the history
#   echo 'hello again' > greeting.txt && git commit -qam 'a one-line change'
#   slipway try --server http://127.0.0.1:7070 --wait      # the second sends only that commit
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir=${1:?usage: make-repo.sh DIR (a directory that does not exist yet)}
if [ -e "$dir" ]; then
  echo "make-repo.sh: $dir exists; give a directory that does not" >&2
  exit 2
fi
mkdir -p "$dir"
cd "$dir"
git init --quiet --initial-branch=main
commit() { git -c user.name='Slipway Example' -c user.email=example@slipway.invalid commit --quiet "$@"; }

cp "$here/slipway.yml" slipway.yml
echo 'hello' > greeting.txt
# Some history worth not sending twice: the first try's bundle carries it, the next ones do not.
mkdir data
seq 1 40000 | awk '{ print ($1 * 7919) % 100003 }' > data/numbers.txt
git add --all
commit -m 'A pipeline, a greeting and some data'
echo "made a git repository in $dir; now: cd $dir && slipway try --server URL --wait"
