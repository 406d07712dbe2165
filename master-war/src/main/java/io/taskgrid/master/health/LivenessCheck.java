package io.taskgrid.master.health;

import io.taskgrid.master.cluster.MasterRole;
import io.taskgrid.master.cluster.ThisMaster;
import io.taskgrid.master.dispatch.Dispatcher;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Liveness;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * Alive while the dispatcher's loop runs and is not stuck. Everything that happens to a live task happens on that one
 * thread, so a loop that is stopped or hangs in one event is a master that accepts tasks and never runs them; only a
 * restart helps, which is what an orchestrator does with a master that is not alive.
 *
 * <p>A master that another took over from ({@code DEPOSED}: it lost the dispatch lease while it was cut off or
 * paused) is not alive either: its memory of the tasks is stale, and a restart makes it a standby.
 *
 * <p>The database is deliberately not part of this: a database outage is not cured by restarting the master (it
 * waits and retries its writes), so it makes the master not ready, not dead. For the same reason the bound is long:
 * no event waits for a commit, but one may read a task's command from the database, and a slow database must not get
 * a healthy master killed.
 */
@Liveness
@ApplicationScoped
public class LivenessCheck implements HealthCheck {

    static final Duration STUCK_AFTER = Duration.ofSeconds(60);

    @Inject
    Dispatcher dispatcher;

    @Inject
    ThisMaster thisMaster;

    @Override
    public HealthCheckResponse call() {
        Optional<String> trouble = thisMaster.state() == MasterRole.State.DEPOSED
                ? Optional.of("deposed: " + thisMaster.why()) : dispatcher.loopTrouble(STUCK_AFTER);
        Map<String, Object> data = new LinkedHashMap<>();
        data.put("dispatcher", trouble.map(t -> "DOWN: " + t).orElse("UP"));
        data.put("queued", (long) dispatcher.queued());
        data.put("inFlight", (long) dispatcher.inFlight());
        return new HealthCheckResponse("taskgrid-dispatcher", trouble.isEmpty() ? HealthCheckResponse.Status.UP
                : HealthCheckResponse.Status.DOWN, Optional.of(data));
    }
}
