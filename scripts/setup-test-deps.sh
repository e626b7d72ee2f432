#!/usr/bin/env bash
# Installs what the tests need when it is missing: the npm packages, and the Debian
# packages of the real components the tests use.
set -euo pipefail
cd "$(dirname "$0")/.."
# npm packages first: a fresh clone has none, and every suite needs them.
if [ ! -x node_modules/.bin/vitest ] || [ ! -x node_modules/.bin/node ]; then
  echo "setup: installing npm packages" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
need=()
command -v bash >/dev/null || need+=(bash)
command -v tar >/dev/null || need+=(tar)
command -v gcc >/dev/null || need+=(gcc)
command -v make >/dev/null || need+=(make)
command -v ps >/dev/null || need+=(procps)
# Agents start their scripts through a Python spawner (and fork themselves without one).
[ -x /usr/bin/python3 ] || need+=(python3)
# The browser tests drive Debian's Chromium (playwright-core never downloads a browser).
[ -x /usr/bin/chromium ] || need+=(chromium)
# The ssh provider's tests start their own sshd instances, as separate hosts.
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh-keygen >/dev/null || need+=(openssh-client)
# Revisions come from real repositories: the VCS tests make git and Mercurial ones.
command -v git >/dev/null || need+=(git)
command -v hg >/dev/null || need+=(mercurial)
# The store's suites run on PostgreSQL too, in a private cluster the tests start.
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
# Windows workers pin the server's certificate with C# that PowerShell compiles: the tests
# compile and run that C# with Mono, which has the same ServicePointManager.
command -v mcs >/dev/null || need+=(mono-mcs)
command -v mono >/dev/null || need+=(mono-runtime)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  echo "setup: installing ${need[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >&2
fi
# The ssh provider's tests log in to their sshd hosts as this unprivileged user, whose
# rc file is slow on purpose, as real hosts' often are: Slipway must cope with such hosts
# without depending on this machine's own root account. A '*' password (not '!') keeps
# the account unlocked for key logins while no password can log in.
if [ "$(id -u)" = 0 ]; then
  ssh_user=slipway-ssh-test
  id "$ssh_user" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash --password '*' "$ssh_user" 2>/dev/null || id "$ssh_user" >/dev/null
  ssh_home=$(getent passwd "$ssh_user" | cut -d: -f6)
  cat > "$ssh_home/.bashrc.$$" <<'RC'
# Slow on purpose: the ssh tests prove Slipway copes with hosts like this.
sleep 0.3
RC
  chown "$ssh_user:" "$ssh_home/.bashrc.$$"
  mv "$ssh_home/.bashrc.$$" "$ssh_home/.bashrc"
fi
# The server serves the built web UI, and the browser tests load it: build it when the
# build is missing or older than any of its sources.
if [ ! -f dist/web/index.html ] || [ -n "$(find src/web src/engine -newer dist/web/index.html -print -quit)" ]; then
  echo "setup: building the web UI" >&2
  PATH="$PWD/node_modules/.bin:$PATH" npm run --silent build:web >&2
fi
