#!/usr/bin/env bash
# Installs the Debian packages the test suite needs (PostgreSQL server binaries), only when missing.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "The tests need PostgreSQL's server binaries: run 'sudo apt-get install postgresql' and try again." >&2
  exit 1
fi
echo "Installing PostgreSQL (Debian package) for the test suite ..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq postgresql >/dev/null
