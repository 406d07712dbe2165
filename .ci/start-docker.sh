#!/usr/bin/env bash
# Makes a Docker engine available for the chaos tests and ContainerImagesIT: installs docker.io, debootstrap and
# docker-compose (1.29, which ContainerImagesIT runs the release's compose file with) from Debian if they are
# missing, starts dockerd if it is not running, and waits for its socket. Needs root (CI and these machines are).
# Exits 0 without an engine only where none can be had; the Docker tests then skip with a message.
set -uo pipefail

if ! command -v dockerd >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1 \
        || ! command -v docker-compose >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "start-docker: not root, cannot install docker.io; Docker tests will be skipped" >&2
        exit 0
    fi
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap docker-compose >/dev/null \
        || { echo "start-docker: could not install docker.io; Docker tests will be skipped" >&2; exit 0; }
fi
if ! docker info >/dev/null 2>&1; then
    nohup dockerd >/tmp/dockerd.log 2>&1 &
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && break
        sleep 1
    done
fi
if docker info >/dev/null 2>&1; then
    echo "start-docker: Docker engine $(docker version --format '{{.Server.Version}}') is up"
else
    echo "start-docker: dockerd did not come up (see /tmp/dockerd.log); Docker tests will be skipped" >&2
fi
exit 0
