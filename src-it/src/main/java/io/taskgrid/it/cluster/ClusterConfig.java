package io.taskgrid.it.cluster;

import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

/**
 * What a {@link LocalCluster} starts: a master on the Liberty installation at {@code libertyDir} and {@code workers}
 * agents named {@code baseWorkerId + 1 .. n}: ports, worker count, master host, base worker id, reconnect delay, and
 * where things are on disk.
 *
 * @param logDir        where master.log and one log per agent go; null sends every line to this process's output,
 *                      prefixed with who wrote it
 * @param ownSession    start each process in a session of its own, so that a terminal's Ctrl-C reaches only the
 *                      launcher, which then stops agents before the master instead of everything at once
 * @param stateDir      each agent keeps its unreported results in {@code stateDir/<worker id>}
 * @param masterEnv     extra environment for the master process (server.xml variables such as
 *                      TASKGRID_OUTPUT_LIMIT_BYTES)
 * @param taskUser      who the agents run tasks as: {@link TaskUser#AUTO} (the default: a user of their own when the
 *                      launcher runs as root, see {@link TaskUser}), {@link TaskUser#SAME} (the launcher's own user,
 *                      as tests that start agents of their own do), or the name of an existing unprivileged user
 * @param prefetchPerWorker each agent's {@code --prefetch}: tasks it may hold beyond its slots; -1 leaves the
 *                      agent's default (one per slot)
 * @param agentMasters  each agent's {@code --master}: null for this master's gRPC address; a list of several masters'
 *                      addresses for agents that fail over between them
 * @param mayStandBy    whether the master may start as a standby (another master of its database is active): then
 *                      its start does not wait for its agents, which connect to the active master
 */
public record ClusterConfig(Path libertyDir, String serverName, Path agentJar, Path logDir, String masterHost,
                            int apiPort, int grpcPort, int workers, String baseWorkerId, Duration reconnectDelay,
                            int slotsPerWorker, boolean ownSession, Path stateDir, Map<String, String> masterEnv,
                            String taskUser, int prefetchPerWorker, String agentMasters, boolean mayStandBy) {

    public ClusterConfig {
        if (workers < 0) {
            throw new IllegalArgumentException("workers must not be negative");
        }
        masterEnv = Map.copyOf(masterEnv);
        if (prefetchPerWorker < -1) {
            throw new IllegalArgumentException("prefetchPerWorker must be -1 (the agent's default) or more");
        }
        if (taskUser == null || taskUser.isBlank()) {
            throw new IllegalArgumentException("taskUser must be auto, same or a user name");
        }
    }

    /** Defaults: three agents with one slot each, master on localhost:9092 (REST) and :50051 (gRPC). */
    public static Builder builder(Path libertyDir, Path agentJar) {
        return new Builder(libertyDir, agentJar);
    }

    public String apiBase() {
        return "http://" + masterHost + ":" + apiPort;
    }

    public String grpcTarget() {
        return masterHost + ":" + grpcPort;
    }

    /** What the agents get as {@code --master}. */
    public String agentMasterList() {
        return agentMasters != null ? agentMasters : grpcTarget();
    }

    public static final class Builder {
        private final Path libertyDir;
        private final Path agentJar;
        private String serverName = "taskgrid";
        private Path logDir;
        private String masterHost = "localhost";
        private int apiPort = 9092;
        private int grpcPort = 50051;
        private int workers = 3;
        private String baseWorkerId = "w";
        private Duration reconnectDelay = Duration.ofSeconds(5);
        private int slotsPerWorker = 1;
        private boolean ownSession;
        private Path stateDir = Path.of(System.getProperty("java.io.tmpdir"), "taskgrid-cluster-state");
        private final Map<String, String> masterEnv = new HashMap<>();
        private String taskUser = TaskUser.AUTO;
        private int prefetchPerWorker = -1;
        private String agentMasters;
        private boolean mayStandBy;

        private Builder(Path libertyDir, Path agentJar) {
            this.libertyDir = libertyDir;
            this.agentJar = agentJar;
        }

        public Builder serverName(String name) {
            this.serverName = name;
            return this;
        }

        public Builder logDir(Path dir) {
            this.logDir = dir;
            return this;
        }

        public Builder masterHost(String host) {
            this.masterHost = host;
            return this;
        }

        public Builder ports(int api, int grpc) {
            this.apiPort = api;
            this.grpcPort = grpc;
            return this;
        }

        public Builder workers(int n) {
            this.workers = n;
            return this;
        }

        public Builder baseWorkerId(String base) {
            this.baseWorkerId = base;
            return this;
        }

        public Builder reconnectDelay(Duration delay) {
            this.reconnectDelay = delay;
            return this;
        }

        public Builder slotsPerWorker(int slots) {
            this.slotsPerWorker = slots;
            return this;
        }

        public Builder ownSession(boolean own) {
            this.ownSession = own;
            return this;
        }

        public Builder stateDir(Path dir) {
            this.stateDir = dir;
            return this;
        }

        public Builder masterEnv(String name, String value) {
            this.masterEnv.put(name, value);
            return this;
        }

        /** Who the agents run tasks as: {@code auto} (the default), {@code same} or a user name; see {@link TaskUser}. */
        public Builder taskUser(String user) {
            this.taskUser = user;
            return this;
        }

        /** Each agent's {@code --prefetch}; -1 (the default) leaves the agent's own, one per slot. */
        public Builder prefetchPerWorker(int prefetch) {
            this.prefetchPerWorker = prefetch;
            return this;
        }

        /** The agents' {@code --master}: several masters' gRPC addresses, comma-separated. */
        public Builder agentMasters(String addresses) {
            this.agentMasters = addresses;
            return this;
        }

        /** The master may start as a standby of another master on its database. */
        public Builder mayStandBy(boolean standBy) {
            this.mayStandBy = standBy;
            return this;
        }

        public ClusterConfig build() {
            return new ClusterConfig(libertyDir, serverName, agentJar, logDir, masterHost, apiPort, grpcPort, workers,
                    baseWorkerId, reconnectDelay, slotsPerWorker, ownSession, stateDir, masterEnv, taskUser,
                    prefetchPerWorker, agentMasters, mayStandBy);
        }
    }
}
