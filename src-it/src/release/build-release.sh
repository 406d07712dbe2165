#!/usr/bin/env bash
# Lays out the release: target/release/taskgrid-VERSION/ and its .tar.gz, with SHA256SUMS inside and a .sha256 of the
# archive beside it. Run by the build (-Prelease, and -Pcluster, whose ReleaseArchiveIT installs and runs it) after
# the Liberty server of this module is laid out: the one-file master is that server's configuration and master.war,
# packaged fresh (never the server directory the tests and the quick start write their state into).
#   build-release.sh PROJECT_DIR TARGET_DIR VERSION WLP_DIR
set -euo pipefail

project=$1
target=$2
version=$3
wlp=$4

config=$project/server-config/src/main/liberty/config
server=$wlp/usr/servers/taskgrid
name=taskgrid-$version
out=$target/release
stage=$out/$name
usr=$target/release-server/usr

rm -rf "$out" "$target/release-server"
mkdir -p "$stage/server-config" "$stage/systemd" "$usr/servers/taskgrid/apps" "$usr/servers/taskgrid/jdbc" \
    "$usr/servers/taskgrid/configDropins/overrides"

# The one-file master: Liberty's runnable jar of a server made here from server-config, master.war and the JDBC
# drivers, with only the features it uses (minify). Without jvm.options the server runs in the JVM that `java -jar`
# starts, so signals, -Xmx and exit codes are that process's.
cp "$config/server.xml" "$config/bootstrap.properties" "$config"/taskgrid-db-*.xml "$usr/servers/taskgrid/"
cp "$project/server-config/src/main/runnable/taskgrid-master-jar.xml" "$usr/servers/taskgrid/configDropins/overrides/"
cp "$server/apps/master.war" "$usr/servers/taskgrid/apps/"
cp "$server/jdbc/h2.jar" "$server/jdbc/postgresql.jar" "$usr/servers/taskgrid/jdbc/"
WLP_USER_DIR=$usr "$wlp/bin/server" package taskgrid --archive="$stage/taskgrid-master.jar" --include=minify,runnable \
    > "$target/release-server/package.log" 2>&1 || { cat "$target/release-server/package.log" >&2; exit 1; }

cp "$server/apps/master.war" "$stage/master.war"
cp "$target/cluster/worker-agent.jar" "$target/cluster/taskgrid.jar" "$project/cli/src/main/sh/taskgrid" "$stage/"
cp "$config/server.xml" "$config/bootstrap.properties" "$config/jvm.options" "$config"/taskgrid-db-*.xml \
    "$stage/server-config/"
cp "$project/master-war/src/main/systemd/taskgrid-master.service" \
    "$project/worker-agent/src/main/systemd/taskgrid-agent.service" "$stage/systemd/"
sed "s/@VERSION@/$version/g" "$project/src-it/src/release/INSTALL.md" > "$stage/INSTALL.md"
# Modes and owners of their own, not the builder's umask and uid: files 644, folders and the launcher 755, root's.
chmod -R u=rwX,go=rX "$stage"
chmod 755 "$stage/taskgrid"
(cd "$stage" && find . -type f ! -name SHA256SUMS | sed 's|^\./||' | LC_ALL=C sort | xargs sha256sum > SHA256SUMS)
tar -C "$out" --owner=0 --group=0 --numeric-owner --sort=name -czf "$out/$name.tar.gz" "$name"
(cd "$out" && sha256sum "$name.tar.gz" > "$name.tar.gz.sha256")
echo "release: $out/$name.tar.gz ($(du -h "$out/$name.tar.gz" | cut -f1))"
