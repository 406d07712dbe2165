package io.taskgrid.master.health;

import io.taskgrid.master.cluster.MasterRole;
import io.taskgrid.master.cluster.ThisMaster;
import io.taskgrid.master.grpc.GrpcServerLifecycle;
import io.taskgrid.master.task.GroupCommit;
import io.taskgrid.master.task.TaskStore;
import jakarta.annotation.PreDestroy;
import jakarta.annotation.Resource;
import jakarta.enterprise.concurrent.ManagedThreadFactory;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.context.Initialized;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Readiness;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Ready while the master can do its work: the database answers a trivial query within {@link #DATABASE_LIMIT}, and
 * either it is the active master of its database (it holds the dispatch lease) and agents can connect (the gRPC
 * server is serving), or it stands by, taking calls for the active master (see {@code DatabaseIntake}). A master that
 * is starting, cut off from its lease, or deposed is not. A load balancer takes a master that is not ready out of
 * rotation, and a launcher waits for it; {@code role} says which of the two a ready master is.
 *
 * <p>The database is asked on every call, never from a cached answer, so an outage shows at the next probe. The query
 * runs on a thread of its own and is waited for at most {@link #DATABASE_LIMIT}: a connection attempt to a database
 * host that silently drops packets can block far longer than a JDBC query timeout covers, and a probe must answer in
 * time whatever the database does. One query at a time: probes that come while one is out wait for it rather than
 * pile up threads on a database that hangs, and once it has been out for the limit they report DOWN at once.
 */
@Readiness
@ApplicationScoped
public class ReadinessCheck implements HealthCheck {

    static final Duration DATABASE_LIMIT = Duration.ofSeconds(2);

    @Inject
    GrpcServerLifecycle grpc;

    @Inject
    TaskStore store;

    @Inject
    ThisMaster thisMaster;

    @Resource(lookup = "java:comp/DefaultManagedThreadFactory")
    ManagedThreadFactory threadFactory;

    private ExecutorService prober;

    /**
     * Made when the application starts, on a thread of the application. Left to the first probe, WildFly makes it on
     * its management thread, where {@code java:comp} does not exist, and every probe after that fails.
     */
    void madeAtStart(@Observes @Initialized(ApplicationScoped.class) Object started) {
        // The observer's only work is that the container makes this bean here.
    }
    private Future<Boolean> pending;
    private long pendingSince;

    @Override
    public HealthCheckResponse call() {
        boolean grpcServing = grpc.isServing();
        String database = database();
        Map<String, Object> data = new LinkedHashMap<>();
        data.put("grpc", grpcServing ? "UP" : thisMaster.state() == MasterRole.State.STANDBY
                ? "standing by: agents connect to the active master" : "DOWN: the gRPC server is not serving");
        data.put("database", database);
        boolean active = thisMaster.isActive();
        boolean serves = active ? grpcServing : thisMaster.state() == MasterRole.State.STANDBY;
        data.put("master", thisMaster.id());
        data.put("role", (serves ? "UP: " : "DOWN: ") + thisMaster.state().name().toLowerCase(java.util.Locale.ROOT)
                + ", " + thisMaster.why());
        GroupCommit writer = store.writer();
        if (writer != null) {
            data.put("writeBacklog", (long) writer.backlog());
        }
        // Built directly rather than through HealthCheckResponse.named(): the same on every server, and in unit tests.
        return new HealthCheckResponse("taskgrid-ready", serves && database.equals("UP")
                ? HealthCheckResponse.Status.UP : HealthCheckResponse.Status.DOWN, Optional.of(data));
    }

    /** "UP", or "DOWN: " and why. */
    private String database() {
        Future<Boolean> probe;
        long age;
        synchronized (this) {
            if (pending == null || pending.isDone()) {
                if (prober == null) {
                    prober = Executors.newSingleThreadExecutor(threadFactory);
                }
                pending = prober.submit(() -> store.answers(DATABASE_LIMIT));
                pendingSince = System.nanoTime();
            }
            // Probes that arrive while a query is out wait for that same query: no result is kept once it is done.
            probe = pending;
            age = System.nanoTime() - pendingSince;
        }
        long left = DATABASE_LIMIT.toNanos() - age;
        if (left <= 0) {
            return "DOWN: a query has been waiting for the database for more than " + DATABASE_LIMIT.toSeconds() + " s";
        }
        try {
            return probe.get(left, TimeUnit.NANOSECONDS) ? "UP" : "DOWN: the database did not answer a trivial query";
        } catch (TimeoutException e) {
            return "DOWN: the database did not answer within " + DATABASE_LIMIT.toSeconds() + " s";
        } catch (ExecutionException e) {
            return "DOWN: " + e.getCause().getClass().getSimpleName();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "DOWN: interrupted";
        }
    }

    @PreDestroy
    synchronized void stop() {
        if (prober != null) {
            prober.shutdownNow();
        }
    }
}
