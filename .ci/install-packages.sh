#!/usr/bin/env bash
# Installs what the tests need from Debian and that a new machine lacks: PostgreSQL (PostgresIT and the benchmark
# start a server of their own from its binaries; the package's own cluster is not used and is stopped), and Chromium
# with its chromedriver (DashboardIT drives the web dashboard in it, headless; nothing is downloaded at test time),
# and systemd's systemd-analyze.
# Needs root (CI and these machines are).
set -euo pipefail

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
# The package may have started its default cluster on port 5432; the tests use their own.
if command -v pg_lsclusters >/dev/null 2>&1; then
    pg_lsclusters --no-header 2>/dev/null | while read -r version name _; do
        pg_ctlcluster "$version" "$name" stop 2>/dev/null || true
    done
fi
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi
# systemd-analyze checks the service units (SystemdUnitTest).
if ! command -v systemd-analyze >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null
fi
# unzip unpacks WildFly for WildFlyDeploymentIT, as docs/operations.md does.
if ! command -v unzip >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq unzip >/dev/null
fi
echo "install-packages: $(chromium --version 2>/dev/null | head -1), $(chromedriver --version 2>/dev/null | head -1)"
echo "install-packages: PostgreSQL $(ls /usr/lib/postgresql | sort -n | tail -1) is installed"
