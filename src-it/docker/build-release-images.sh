#!/usr/bin/env bash
# Builds the container images of a release: taskgrid/master and taskgrid/agent, each tagged with the release's version
# and latest, from the release directory (target/release/taskgrid-VERSION, made by the build with -Prelease). They are
# built on taskgrid/runtime:17, which build-images.sh makes from a Debian base it bootstraps itself: no image is pulled
# from a registry. Docker's build cache makes a second run of the same release take seconds.
#   build-release-images.sh RELEASE_DIR
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
release=${1:?usage: build-release-images.sh RELEASE_DIR (e.g. src-it/target/release/taskgrid-0.1.0-SNAPSHOT)}
release=$(cd "$release" && pwd)
name=$(basename "$release")
version=${name#taskgrid-}
if [ "$version" = "$name" ] || [ ! -f "$release/taskgrid-master.jar" ] || [ ! -f "$release/worker-agent.jar" ]; then
    echo "build-release-images: $release is not a release directory (taskgrid-VERSION with taskgrid-master.jar and" \
        "worker-agent.jar)" >&2
    exit 2
fi
if ! docker info >/dev/null 2>&1; then
    echo "build-release-images: no Docker engine" >&2
    exit 3
fi
if ! docker image inspect taskgrid/runtime:17 >/dev/null 2>&1; then
    bash "$here/build-images.sh"
fi
for image in master agent; do
    echo "build-release-images: building taskgrid/$image:$version"
    before=$(docker image inspect -f '{{.Id}}' "taskgrid/$image:$version" 2>/dev/null || true)
    # The release directory is the context: the jars are sent as they are, nothing else of the project is.
    docker build -q -f "$here/release/Dockerfile.$image" -t "taskgrid/$image:$version" -t "taskgrid/$image:latest" \
        --label "io.taskgrid.version=$version" "$release" >/dev/null
    # Each build of a release makes a new master jar, and so a new image: the one it replaced, now without a name,
    # goes (unless a container still uses it), or every test run would leave one behind.
    after=$(docker image inspect -f '{{.Id}}' "taskgrid/$image:$version")
    if [ -n "$before" ] && [ "$before" != "$after" ]; then
        docker image rm "$before" >/dev/null 2>&1 || true
    fi
done
echo "build-release-images: taskgrid/master:$version, taskgrid/agent:$version (and :latest)"
