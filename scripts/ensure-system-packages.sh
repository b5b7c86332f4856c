#!/usr/bin/env bash
# Installs the Debian packages the test suite needs, only when missing: PostgreSQL's server
# binaries (a throwaway cluster per run) and Chromium (browser tests drive it with Playwright).
set -euo pipefail
missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "The tests need: ${missing[*]}. Run 'sudo apt-get install ${missing[*]}' and try again." >&2
  exit 1
fi
echo "Installing ${missing[*]} (Debian packages) for the test suite ..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
