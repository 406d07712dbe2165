#!/usr/bin/env bash
# Builds the one image the chaos tests run master and agents on: Debian bookworm with a Java 17 runtime. No image
# registry is reachable, so the base is made here with debootstrap and imported; apt then works inside the build.
# The master (Liberty + master.war) and the agent jar come from the build and are mounted into the containers.
set -euo pipefail

BASE=taskgrid/debian-base:bookworm
RUNTIME=taskgrid/runtime:17

if ! docker info >/dev/null 2>&1; then
    echo "build-images: no Docker engine; skipping" >&2
    exit 0
fi
if docker image inspect "$RUNTIME" >/dev/null 2>&1; then
    exit 0
fi
if ! docker image inspect "$BASE" >/dev/null 2>&1; then
    root=$(mktemp -d)
    trap 'rm -rf "$root"' EXIT
    echo "build-images: debootstrap bookworm (about a minute)"
    debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >/tmp/debootstrap.log 2>&1
    tar -C "$root" -c . | docker import - "$BASE"
fi
echo "build-images: building $RUNTIME"
docker build -q -t "$RUNTIME" - <<DOCKERFILE
FROM $BASE
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openjdk-17-jre-headless procps \
 && rm -rf /var/lib/apt/lists/*
DOCKERFILE
