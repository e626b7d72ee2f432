#!/usr/bin/env bash
# Installs the Debian packages of the real components the tests use, when missing.
set -euo pipefail
need=()
command -v bash >/dev/null || need+=(bash)
command -v tar >/dev/null || need+=(tar)
command -v gcc >/dev/null || need+=(gcc)
command -v make >/dev/null || need+=(make)
command -v ps >/dev/null || need+=(procps)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  echo "setup: installing ${need[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >&2
fi
