#!/usr/bin/env bash
# Builds the images the chaos tests run on: Debian bookworm with a Java 17 runtime (masters and agents), and the same
# base with PostgreSQL 15 (the database several masters share). No image registry is reachable, so the base is made
# here with debootstrap and imported; apt then works inside the build. The master (Liberty + master.war) and the
# agent jar come from the build and are mounted into the containers.
set -euo pipefail

BASE=taskgrid/debian-base:bookworm
RUNTIME=taskgrid/runtime:17
POSTGRES=taskgrid/postgres:15

if ! docker info >/dev/null 2>&1; then
    echo "build-images: no Docker engine; skipping" >&2
    exit 0
fi
if docker image inspect "$RUNTIME" >/dev/null 2>&1 && docker image inspect "$POSTGRES" >/dev/null 2>&1; then
    exit 0
fi
if ! docker image inspect "$BASE" >/dev/null 2>&1; then
    # The base is bootstrapped here from Debian's mirror: root, debootstrap and the network are needed once.
    if [ "$(id -u)" -ne 0 ] || ! command -v debootstrap >/dev/null 2>&1; then
        echo "build-images: making $BASE needs root and debootstrap (apt-get install debootstrap)" >&2
        exit 1
    fi
    root=$(mktemp -d)
    log=$(mktemp)
    trap 'rm -rf "$root" "$log"' EXIT
    echo "build-images: debootstrap bookworm (about a minute)"
    if ! debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >"$log" 2>&1; then
        tail -20 "$log" >&2
        echo "build-images: debootstrap failed (the lines above are the end of its log)" >&2
        exit 1
    fi
    tar -C "$root" -c . | docker import - "$BASE"
fi
if ! docker image inspect "$RUNTIME" >/dev/null 2>&1; then
echo "build-images: building $RUNTIME"
docker build -q -t "$RUNTIME" - <<DOCKERFILE
FROM $BASE
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openjdk-17-jre-headless procps \
 && rm -rf /var/lib/apt/lists/*
DOCKERFILE
fi
if ! docker image inspect "$POSTGRES" >/dev/null 2>&1; then
    echo "build-images: building $POSTGRES"
    # A trust-everyone server for a private test network: the database "taskgrid", owned by the user "taskgrid".
    docker build -q -t "$POSTGRES" - <<DOCKERFILE
FROM $BASE
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \\
 && rm -rf /var/lib/apt/lists/* \\
 && mkdir -p /var/taskgrid-pg && chown postgres /var/taskgrid-pg \\
 && su postgres -c "/usr/lib/postgresql/15/bin/initdb -D /var/taskgrid-pg/data -U taskgrid -A trust -E UTF8 --no-instructions" \\
 && echo "host all all 0.0.0.0/0 trust" >> /var/taskgrid-pg/data/pg_hba.conf \\
 && su postgres -c "/usr/lib/postgresql/15/bin/pg_ctl -D /var/taskgrid-pg/data -w start \\
      && /usr/lib/postgresql/15/bin/createdb -U taskgrid taskgrid \\
      && /usr/lib/postgresql/15/bin/pg_ctl -D /var/taskgrid-pg/data -w -m fast stop"
USER postgres
EXPOSE 5432
CMD ["/usr/lib/postgresql/15/bin/postgres", "-D", "/var/taskgrid-pg/data", "-c", "listen_addresses=*", "-c", "max_connections=200", "-c", "fsync=off"]
DOCKERFILE
fi
