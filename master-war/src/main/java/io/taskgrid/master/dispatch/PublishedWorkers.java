package io.taskgrid.master.dispatch;

import io.taskgrid.master.cluster.DispatchLease;
import io.taskgrid.master.task.Labels;
import jakarta.json.Json;
import jakarta.json.JsonArray;
import jakarta.json.JsonArrayBuilder;
import jakarta.json.JsonObject;
import jakarta.json.JsonObjectBuilder;
import jakarta.json.JsonReader;
import jakarta.json.JsonValue;

import javax.sql.DataSource;
import java.io.StringReader;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadFactory;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The agents connected to the active master, as the other masters see them: the active master looks at its list every
 * {@link #EVERY} and writes it into its {@code TG_MASTER} row when it changed (ignoring the agents' last-seen times),
 * at least every {@link #HEARTBEAT}, and at once after a drain another master asked for; the other masters answer
 * {@code GET /workers} from the list of the master that holds the dispatch lease, if written within {@link #FRESH}.
 */
public final class PublishedWorkers implements AutoCloseable {

    private static final Logger LOG = Logger.getLogger(PublishedWorkers.class.getName());
    static final Duration EVERY = Duration.ofSeconds(1);
    /** Written at least this often, changed or not, so that readers can tell a live list from a dead master's. */
    static final Duration HEARTBEAT = Duration.ofSeconds(4);
    /** A list older than this is of a master that is gone (or cut off): not shown. */
    public static final Duration FRESH = Duration.ofSeconds(10);

    /** One agent as a master published it; {@code master} is the master it is connected to. */
    public record Seen(String id, String master, Map<String, String> labels, int slots, int prefetch, int running,
                       boolean draining, String drainReason, String drainedBy, int refused, Instant connectedAt,
                       Instant lastSeenAt) {

        /** What this worker offers a queued task. */
        public WorkerRegistry.Offer offer() {
            return new WorkerRegistry.Offer(Labels.of(labels), draining);
        }
    }

    private final DataSource dataSource;
    private final WorkerRegistry registry;
    private final String masterId;
    private final Object wake = new Object();
    private Thread thread;
    private volatile boolean closed;
    private boolean soon;
    private String lastShape;
    private long lastWriteAt;

    public PublishedWorkers(DataSource dataSource, WorkerRegistry registry, String masterId) {
        this.dataSource = dataSource;
        this.registry = registry;
        this.masterId = masterId;
    }

    /** Writes the list every {@link #EVERY} from now on. */
    public PublishedWorkers start(ThreadFactory threads) {
        thread = threads.newThread(this::run);
        thread.setName("taskgrid-published-workers");
        thread.setDaemon(true);
        thread.start();
        return this;
    }

    /** Wakes the writing thread (to stop). */
    private void wakeUp() {
        synchronized (wake) {
            soon = true;
            wake.notifyAll();
        }
    }

    private void run() {
        while (!closed) {
            try {
                publishIfChanged();
            } catch (SQLException | RuntimeException e) {
                LOG.log(Level.FINE, "the list of workers was not written; tried again in " + EVERY.toSeconds() + " s", e);
            }
            synchronized (wake) {
                long until = System.nanoTime() + EVERY.toNanos();
                while (!soon && !closed && System.nanoTime() < until) {
                    try {
                        java.util.concurrent.TimeUnit.NANOSECONDS.timedWait(wake, until - System.nanoTime());
                    } catch (InterruptedException e) {
                        return;
                    }
                }
                soon = false;
            }
        }
    }

    /** Writes the list now, changed or not: after a drain, before the master that asked for it is told. */
    public synchronized void publishNow() {
        try {
            publish(registry.all());
        } catch (SQLException e) {
            LOG.log(Level.FINE, "the list of workers was not written", e);
        }
    }

    private synchronized void publishIfChanged() throws SQLException {
        List<ConnectedWorker> workers = registry.all();
        String shape = json(workers, false);
        if (!shape.equals(lastShape) || System.nanoTime() - lastWriteAt >= HEARTBEAT.toNanos()) {
            publish(workers);
        }
    }

    private void publish(List<ConnectedWorker> workers) throws SQLException {
        String json = json(workers, true);
        write(json);
        lastShape = json(workers, false);
        lastWriteAt = System.nanoTime();
    }

    private void write(String workers) throws SQLException {
        try (Connection c = dataSource.getConnection();
             PreparedStatement s = c.prepareStatement("UPDATE TG_MASTER SET WORKERS = ?, WORKERS_AT = "
                     + "CURRENT_TIMESTAMP WHERE ID = ?")) {
            s.setString(1, workers);
            s.setString(2, masterId);
            s.executeUpdate();
        }
    }

    /** The list as written; without {@code lastSeen}, what tells whether it changed. */
    static String json(List<ConnectedWorker> workers, boolean lastSeen) {
        JsonArrayBuilder list = Json.createArrayBuilder();
        for (ConnectedWorker worker : workers) {
            JsonObjectBuilder labels = Json.createObjectBuilder();
            worker.labels().asMap().forEach(labels::add);
            JsonObjectBuilder one = Json.createObjectBuilder().add("id", worker.id()).add("labels", labels)
                    .add("slots", worker.slots()).add("prefetch", worker.prefetch()).add("running", worker.running())
                    .add("draining", worker.isDraining()).add("refused", worker.refusedTotal())
                    .add("connectedAt", worker.connectedAt().toString());
            if (lastSeen) {
                one.add("lastSeenAt", worker.lastSeenAt().toString());
            }
            if (worker.drainReason() != null) {
                one.add("drainReason", worker.drainReason());
            }
            if (worker.drainedBy() != null) {
                one.add("drainedBy", worker.drainedBy());
            }
            list.add(one);
        }
        return list.build().toString();
    }

    /**
     * The agents of every master that holds its own lease and published its list within {@link #FRESH}, in id order
     * (a worker listed by two, having moved a moment ago, once: the later list's); none of masters that are gone.
     */
    public static List<Seen> read(DataSource dataSource) throws SQLException {
        Map<String, Seen> byId = new LinkedHashMap<>();
        try (Connection c = dataSource.getConnection();
             PreparedStatement s = c.prepareStatement("SELECT M.ID, M.WORKERS, M.WORKERS_AT, CURRENT_TIMESTAMP FROM "
                     + "TG_MASTER M JOIN TG_LEASE L ON L.HOLDER = M.ID WHERE L.NAME = '" + DispatchLease.MASTER_ROW_PREFIX
                     + "' || M.ID AND M.WORKERS IS NOT NULL ORDER BY M.WORKERS_AT");
             ResultSet r = s.executeQuery()) {
            while (r.next()) {
                Instant at = r.getTimestamp(3).toInstant();
                Instant now = r.getTimestamp(4).toInstant();
                if (at.isBefore(now.minus(FRESH))) {
                    continue;
                }
                String master = r.getString(1);
                try (JsonReader reader = Json.createReader(new StringReader(r.getString(2)))) {
                    JsonArray list = reader.readArray();
                    for (JsonValue value : list) {
                        Seen seen = seen(value.asJsonObject(), master);
                        byId.put(seen.id(), seen);
                    }
                } catch (RuntimeException e) {
                    LOG.log(Level.WARNING, "the list of workers master " + master + " published cannot be read", e);
                }
            }
        }
        List<Seen> all = new ArrayList<>(byId.values());
        all.sort(Comparator.comparing(Seen::id));
        return all;
    }

    /** {@code worker} as this master, {@code master}, would publish it now. */
    public static Seen seen(ConnectedWorker worker, String master) {
        return new Seen(worker.id(), master, worker.labels().asMap(), worker.slots(), worker.prefetch(),
                worker.running(), worker.isDraining(), worker.drainReason(), worker.drainedBy(), worker.refusedTotal(),
                worker.connectedAt(), worker.lastSeenAt());
    }

    private static Seen seen(JsonObject o, String master) {
        Map<String, String> labels = new LinkedHashMap<>();
        o.getJsonObject("labels").forEach((k, v) -> labels.put(k, ((jakarta.json.JsonString) v).getString()));
        return new Seen(o.getString("id"), master, labels, o.getInt("slots"), o.getInt("prefetch"), o.getInt("running"),
                o.getBoolean("draining"), o.getString("drainReason", null), o.getString("drainedBy", null),
                o.getInt("refused"), Instant.parse(o.getString("connectedAt")), Instant.parse(o.getString("lastSeenAt")));
    }

    /** Stops writing and takes the list down: this master's agents are not connected to it any more. */
    @Override
    public void close() {
        close(true);
    }

    /**
     * Stops writing; {@code takeDown}: and empties the list (not for a deposed master, whose database may be away: its
     * list is not the lease holder's any more, so no one reads it).
     */
    public void close(boolean takeDown) {
        closed = true;
        wakeUp();
        if (thread != null) {
            thread.interrupt();
            try {
                thread.join(2000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if (!takeDown) {
            return;
        }
        try {
            write(null);
        } catch (SQLException e) {
            LOG.log(Level.FINE, "the list of workers was not taken down", e);
        }
    }
}
