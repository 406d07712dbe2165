package io.taskgrid.proto;

import java.time.Duration;

/**
 * The keepalive contract between agent and master, in the one module both sides share. An agent pings an idle
 * connection every {@link #AGENT_PING_INTERVAL}; a gRPC server that receives pings more often than it permits answers
 * with GOAWAY (too_many_pings) and drops the connection, so the master must permit at least that rate whatever its own
 * keepalive settings are. Deriving the permitted rate from the master's own interval (as an earlier version did) made
 * a master with a keepalive of 22 s or more drop every agent.
 */
public final class Keepalive {

    /** How often an agent pings the master when the connection is idle. */
    public static final Duration AGENT_PING_INTERVAL = Duration.ofSeconds(10);
    /** How long an agent waits for the answer to a ping before it calls the master gone. */
    public static final Duration AGENT_PING_TIMEOUT = Duration.ofSeconds(5);
    /** The shortest interval between an agent's pings that the master accepts: half the agent's, for clock slack. */
    public static final Duration MASTER_PERMITS_PINGS_EVERY = AGENT_PING_INTERVAL.dividedBy(2);

    private Keepalive() {
    }
}
