package io.taskgrid.master.cluster;

import jakarta.enterprise.context.ApplicationScoped;

import java.util.Optional;

/**
 * This master's role among the masters of its database, for those that answer by it: the health checks and the API,
 * which takes changes only on the active master. Until the master has joined, it is {@code STARTING}.
 */
@ApplicationScoped
public class ThisMaster {

    private volatile MasterRole role;
    private volatile boolean sharesDatabase;

    /** Set once, by the start sequence. */
    public void joined(MasterRole joined) {
        joined(joined, false);
    }

    /**
     * Set once, by the start sequence; {@code sharing}: the database is one several masters may share (PostgreSQL),
     * where every master dispatches to its own agents and takes submissions through the database.
     */
    public void joined(MasterRole joined, boolean sharing) {
        this.sharesDatabase = sharing;
        this.role = joined;
    }

    /**
     * Whether other masters may share this master's database: then tasks are stored for whichever master's agents have
     * room, a task may run under another master, and the worker list is every master's.
     */
    public boolean sharesDatabase() {
        return sharesDatabase;
    }

    public MasterRole.State state() {
        MasterRole r = role;
        return r == null ? MasterRole.State.STARTING : r.state();
    }

    public String id() {
        MasterRole r = role;
        return r == null ? "" : r.id();
    }

    /** One line: what this master does and why. */
    public String why() {
        MasterRole r = role;
        return r == null ? "starting" : r.why();
    }

    /** Whether this master takes changes and hands out work now. */
    public boolean isActive() {
        MasterRole r = role;
        return r != null && r.mayDispatch();
    }

    /**
     * Whether this master's memory holds every unfinished task and its registry every agent: active, and alone on its
     * database. Otherwise the queue's depth, the workers and where a task runs are the database's to say.
     */
    public boolean holdsEveryTask() {
        return isActive() && !sharesDatabase;
    }

    /** The master that held the lease when this one last looked, if another. */
    public Optional<String> activeMaster() {
        MasterRole r = role;
        return r == null ? Optional.empty() : r.lastSeenHolder().map(LeaseStore.Holder::id)
                .filter(holder -> !holder.equals(r.id()));
    }
}
