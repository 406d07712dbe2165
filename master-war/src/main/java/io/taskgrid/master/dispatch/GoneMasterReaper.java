package io.taskgrid.master.dispatch;

import io.taskgrid.master.cluster.MasterLeases;
import io.taskgrid.master.task.TaskStore;
import io.taskgrid.master.task.WriteFence;

import java.sql.SQLException;
import java.time.Duration;
import java.util.logging.Logger;

/**
 * The housekeeping master's turn for masters that are gone (stopped, died, or cut off past their lease): takes each
 * run-out lease from its master, which fences that master off for good, then hands its tasks on. Its queued tasks go
 * back to the cluster at once, for any master to claim; its tasks in flight stay for their agents to reclaim on the
 * master they reach, for {@code reclaimFor} after its lease ended, and are then settled here as a lost worker's are.
 */
public final class GoneMasterReaper {

    private static final Logger LOG = Logger.getLogger(GoneMasterReaper.class.getName());

    private final MasterLeases leases;
    private final TaskStore store;
    private final Dispatcher dispatcher;
    private final WriteFence fence;
    private final Duration reclaimFor;

    public GoneMasterReaper(MasterLeases leases, TaskStore store, Dispatcher dispatcher, WriteFence fence,
                            Duration reclaimFor) {
        this.leases = leases;
        this.store = store;
        this.dispatcher = dispatcher;
        this.fence = fence;
        this.reclaimFor = reclaimFor;
    }

    /** One turn; a failure is logged, and the next turn tries again. */
    public void turn() {
        try {
            for (MasterLeases.RunOut gone : leases.runOut()) {
                if (leases.takeFrom(gone)) {
                    LOG.warning("master " + gone.master() + " let its lease run out: taken from it (it writes nothing "
                            + "more); its queued tasks go to the other masters, its agents have " + reclaimFor.toSeconds()
                            + " s to bring their attempts to another master");
                }
            }
            for (String owner : store.ownersOfUnfinished()) {
                TaskStore.Released released = store.releaseTasksOf(owner, reclaimFor, Dispatcher.SPEC_IN_MEMORY_CHARS,
                        fence);
                if (released.queued() > 0) {
                    LOG.info(() -> released.queued() + " queued task(s) of master " + owner + " (gone) handed back");
                }
                if (!released.inFlight().isEmpty()) {
                    LOG.warning(released.inFlight().size() + " attempt(s) of master " + owner + " (gone) were not "
                            + "reclaimed by their agents within " + reclaimFor.toSeconds() + " s: settled here as lost");
                    dispatcher.adoptLost(released.inFlight(), owner);
                }
            }
        } catch (SQLException e) {
            LOG.warning("handing on the tasks of masters that are gone failed (" + e.getMessage() + "); tried again at "
                    + "the next turn");
        }
    }
}
