package io.taskgrid.master.task;

import jakarta.annotation.PreDestroy;
import jakarta.annotation.Resource;
import jakarta.enterprise.concurrent.ManagedThreadFactory;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import jakarta.persistence.EntityManager;
import jakarta.persistence.PersistenceContext;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Duration;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.Collection;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadFactory;

/**
 * The durable record of every task and attempt. It decides nothing: {@link Task}'s lifecycle methods decide, and this
 * persists what they decided, through one writer ({@link GroupCommit}) that commits the changes of many requests
 * and reports together. Reads for the API go through JPA; the writes, the start-up load and the few lookups on the
 * hot path use plain JDBC on the same data source ({@code jdbc/taskgrid}).
 */
@ApplicationScoped
public class TaskStore {

    private static final java.util.logging.Logger LOG = java.util.logging.Logger.getLogger(TaskStore.class.getName());

    @PersistenceContext(unitName = "taskgrid")
    EntityManager em;

    @Resource(lookup = "java:comp/env/jdbc/taskgrid", shareable = false)
    DataSource dataSource;

    @Resource(lookup = "java:comp/DefaultManagedThreadFactory")
    ManagedThreadFactory threadFactory;

    @Inject
    SecretBox secrets;

    private GroupCommit writer;
    private volatile boolean severalMasters;

    /** The lease a master holds for itself is row {@code master:<id>} of TG_LEASE: its epoch fences its writes. */
    public static final String OWN_LEASE_ROW_PREFIX = "master:";

    /** For CDI. */
    protected TaskStore() {
    }

    /** A store over {@code dataSource}, without JPA (the API's reads), for tests. */
    public TaskStore(DataSource dataSource, SecretBox secrets) {
        this.dataSource = dataSource;
        this.secrets = secrets;
    }

    /** At start, before anything else reads or writes: the schema up to date, the writer running. */
    public void open() {
        open(threadFactory);
    }

    public void open(ThreadFactory threads) {
        SchemaMigrations.migrate(dataSource);
        try (Connection c = dataSource.getConnection()) {
            severalMasters = DatabaseDriver.of(c).allowsSeveralMasters();
        } catch (SQLException e) {
            throw new IllegalStateException("cannot tell the database's kind: " + e.getMessage(), e);
        }
        writer = new GroupCommit(dataSource, threads);
    }

    /**
     * Whether other masters may share this database (PostgreSQL): then each loads only the tasks it owns, and a dead
     * master's are handed on by the housekeeping master ({@link #releaseTasksOf}). On H2 the one master owns all.
     */
    public boolean severalMasters() {
        return severalMasters;
    }

    /** Writes what is queued, then stops the writer. */
    @PreDestroy
    public void close() {
        if (writer != null) {
            writer.close();
        }
    }

    /** The data source behind the store, for what shares its database (the dispatch lease). */
    public DataSource dataSource() {
        return dataSource;
    }

    public GroupCommit writer() {
        return writer;
    }

    // ---- secrets ----

    /**
     * Reads the secret keys, at start. A key file that did not exist before this start is made only for a database
     * that holds no sealed value: a new key would open none of them, and the tasks they belong to could never run.
     *
     * @throws IllegalStateException when the key file cannot be used, or was missing while sealed values wait
     */
    public void checkSecretKeys(boolean keyFileExisted, String keyFile) {
        if (!keyFileExisted) {
            long sealed = sealedValuesByKey().values().stream().mapToLong(Long::longValue).sum();
            if (sealed > 0) {
                throw new IllegalStateException("the secret key file " + keyFile + " (taskgrid.secret.key.file) does "
                        + "not exist, but the database holds " + sealed + " sealed secretEnv value(s) that only its keys "
                        + "open: restore it from a backup (a new key would open none of them)");
            }
        }
        secrets.keys().ring();
    }

    /** The keys that seal secretEnv. */
    public SecretKeys secrets() {
        return secrets.keys();
    }

    /** A task's secretEnv sealed for storage, bound to the task's id, or null when it has none. */
    public String seal(String taskId, NewTask spec) {
        return spec.secretEnv().isEmpty() ? null : secrets.seal(taskId, spec.secretEnvJson());
    }

    /** What an Idempotency-Key remembers of a request; secrets enter only as a keyed hash, under the current key. */
    public String fingerprint(NewTask spec) {
        return spec.fingerprint(secrets::mac);
    }

    /**
     * Whether {@code spec} is the request that an Idempotency-Key remembers as {@code stored}: its keyed hash may be
     * under any key of the file, for a key may have been added since.
     */
    public boolean fingerprintMatches(NewTask spec, String stored) {
        if (spec.secretEnv().isEmpty()) {
            return spec.fingerprint().equals(stored);
        }
        String json = spec.secretEnvJson();
        for (String mac : secrets.macsUnderEveryKey(json)) {
            if (spec.fingerprint(text -> mac).equals(stored)) {
                return true;
            }
        }
        return false;
    }

    /** A sealed secretEnv in clear, for the assignment only. */
    public Map<String, String> openSecretEnv(String taskId, String sealed) {
        return sealed == null ? Map.of() : new EnvConverter().convertToEntityAttribute(secrets.open(taskId, sealed));
    }

    /** How many stored secretEnv values each key sealed ("" for values from before key ids). */
    public Map<String, Long> sealedValuesByKey() {
        Map<String, Long> counts = new java.util.TreeMap<>();
        try (Connection c = dataSource.getConnection();
             PreparedStatement s = c.prepareStatement("SELECT SUBSTRING(SECRET_ENV_SEALED, 1, 40) FROM TG_TASK "
                     + "WHERE SECRET_ENV_SEALED IS NOT NULL")) {
            s.setFetchSize(1000);
            try (ResultSet r = s.executeQuery()) {
                while (r.next()) {
                    counts.merge(SecretBox.keyIdOf(r.getString(1)).orElse(""), 1L, Long::sum);
                }
            }
        } catch (SQLException e) {
            throw new IllegalStateException("cannot count sealed values: " + e.getMessage(), e);
        }
        return counts;
    }

    /** One stored value moved to the current key. */
    public record Resealed(String taskId, String before, String after) {
    }

    /**
     * Seals every stored secretEnv that is not under the current key again, under it: after this the older keys are
     * needed for nothing and may leave the file. Each row changes only if it still holds what was read (another
     * master, or a task ending meanwhile, wins). Values that do not open are left and counted in {@code failed}.
     */
    public List<Resealed> resealStoredSecrets(List<String> failed) {
        List<Resealed> done = new ArrayList<>();
        String after = "";
        try (Connection c = dataSource.getConnection()) {
            while (true) {
                List<String[]> page = new ArrayList<>();
                try (PreparedStatement s = c.prepareStatement("SELECT ID, SECRET_ENV_SEALED FROM TG_TASK WHERE "
                        + "SECRET_ENV_SEALED IS NOT NULL AND ID > ? ORDER BY ID")) {
                    s.setMaxRows(500);
                    s.setString(1, after);
                    try (ResultSet r = s.executeQuery()) {
                        while (r.next()) {
                            page.add(new String[] {r.getString(1), r.getString(2)});
                        }
                    }
                }
                if (page.isEmpty()) {
                    return done;
                }
                after = page.get(page.size() - 1)[0];
                try (PreparedStatement update = c.prepareStatement("UPDATE TG_TASK SET SECRET_ENV_SEALED = ? "
                        + "WHERE ID = ? AND SECRET_ENV_SEALED = ?")) {
                    for (String[] row : page) {
                        if (secrets.isUnderCurrentKey(row[1])) {
                            continue;
                        }
                        String resealed;
                        try {
                            resealed = secrets.reseal(row[0], row[1]);
                        } catch (IllegalStateException e) {
                            failed.add(row[0]);
                            continue;
                        }
                        update.setString(1, resealed);
                        update.setString(2, row[0]);
                        update.setString(3, row[1]);
                        if (update.executeUpdate() == 1) {
                            done.add(new Resealed(row[0], row[1], resealed));
                        }
                    }
                }
            }
        } catch (SQLException e) {
            throw new IllegalStateException("cannot reseal stored secrets: " + e.getMessage(), e);
        }
    }

    // ---- writes ----

    /**
     * Changes collected while the dispatcher handles one event, written in one transaction when it is done: a result
     * and the assignment it frees a slot for, say, go to the database together. Not thread-safe: one per event.
     */
    public final class Batch {
        private final List<Rows.Change> changes = new ArrayList<>();
        private final List<CompletableFuture<Void>> futures = new ArrayList<>();
        /** Groups stored all or none, each with its one future; written before the other changes of the event. */
        private final List<List<Rows.Change>> wholes = new ArrayList<>();
        private final List<CompletableFuture<Void>> wholeFutures = new ArrayList<>();

        private Batch() {
        }

        /** Like {@link TaskStore#save}; the future completes once the whole batch is written. */
        public CompletableFuture<Void> save(Task task) {
            return add(changeOf(task, null));
        }

        /** Like {@link TaskStore#insert}. */
        public CompletableFuture<Void> insert(Task task, String scopedKey, String requestHash) {
            return add(changeOf(task, keyRow(task, scopedKey, requestHash)));
        }

        /**
         * New tasks stored all or none, in one transaction (a batch submission); the future completes once all are
         * committed, or fails with none stored. With an Idempotency-Key, the key names the first task and each other
         * task gets a row of its own ({@link #batchMemberKey}), so that a repeat finds every id in order.
         */
        public CompletableFuture<Void> insertAll(List<Task> tasks, String scopedKey, String requestHash) {
            List<Rows.Change> group = batchChanges(tasks, scopedKey, requestHash);
            CompletableFuture<Void> future = new CompletableFuture<>();
            wholes.add(group);
            wholeFutures.add(future);
            return future;
        }

        private CompletableFuture<Void> add(Rows.Change change) {
            CompletableFuture<Void> future = new CompletableFuture<>();
            changes.add(change);
            futures.add(future);
            return future;
        }

        /** Hands the changes to the writer. */
        public void flush() {
            for (int i = 0; i < wholes.size(); i++) {
                CompletableFuture<Void> mine = wholeFutures.get(i);
                CompletableFuture.allOf(writer.writeWhole(wholes.get(i)).toArray(CompletableFuture[]::new))
                        .whenComplete((v, e) -> {
                            if (e == null) {
                                mine.complete(null);
                            } else {
                                mine.completeExceptionally(e instanceof java.util.concurrent.CompletionException
                                        && e.getCause() != null ? e.getCause() : e);
                            }
                        });
            }
            wholes.clear();
            wholeFutures.clear();
            if (changes.isEmpty()) {
                return;
            }
            List<CompletableFuture<Void>> written = writer.write(List.copyOf(changes));
            for (int i = 0; i < written.size(); i++) {
                CompletableFuture<Void> mine = futures.get(i);
                written.get(i).whenComplete((v, e) -> {
                    if (e == null) {
                        mine.complete(null);
                    } else {
                        mine.completeExceptionally(e);
                    }
                });
            }
            changes.clear();
            futures.clear();
        }
    }

    /** A batch of changes to be written together; see {@link Batch}. */
    public Batch batch() {
        return new Batch();
    }

    /**
     * The rows of new tasks stored together: with an Idempotency-Key, the key names the first task and each other
     * task gets a row of its own ({@link #batchMemberKey}).
     */
    private static List<Rows.Change> batchChanges(List<Task> tasks, String scopedKey, String requestHash) {
        List<Rows.Change> changes = new ArrayList<>(tasks.size());
        String firstId = tasks.get(0).getId();
        for (int i = 0; i < tasks.size(); i++) {
            Task task = tasks.get(i);
            String key = scopedKey == null ? null : i == 0 ? scopedKey : batchMemberKey(scopedKey, firstId, i);
            changes.add(changeOf(task, keyRow(task, key, requestHash)));
        }
        return changes;
    }

    private static Rows.KeyRow keyRow(Task task, String scopedKey, String requestHash) {
        return scopedKey == null ? null : new Rows.KeyRow(scopedKey, task.getId(), requestHash, task.getSubmittedAt());
    }

    /**
     * The key row of task {@code position} (from 1) of a batch whose first task is {@code firstId}: the first task's id
     * in it keeps a later batch under the same key (once retention removed the first) from colliding with these rows.
     */
    static String batchMemberKey(String scopedKey, String firstId, int position) {
        return scopedKey + "#" + firstId + "#" + position;
    }

    /** What an Idempotency-Key remembers of a batch: the fingerprints of its submissions, in order. */
    public String fingerprint(List<NewTask> specs) {
        return batchFingerprint(specs, this::fingerprint);
    }

    /** Like {@link #fingerprintMatches(NewTask, String)}, for a batch: every secret under the same key of the file. */
    public boolean fingerprintMatches(List<NewTask> specs, String stored) {
        if (specs.stream().allMatch(spec -> spec.secretEnv().isEmpty())) {
            return batchFingerprint(specs, NewTask::fingerprint).equals(stored);
        }
        int keys = secrets.macsUnderEveryKey("").size();
        for (int k = 0; k < keys; k++) {
            int key = k;
            String candidate = batchFingerprint(specs, spec -> spec.secretEnv().isEmpty() ? spec.fingerprint()
                    : spec.fingerprint(json -> secrets.macsUnderEveryKey(json).get(key)));
            if (candidate.equals(stored)) {
                return true;
            }
        }
        return false;
    }

    private static String batchFingerprint(List<NewTask> specs, java.util.function.Function<NewTask, String> each) {
        // "batch" first: no batch, not even one of one, has the fingerprint of a single submission.
        StringBuilder canonical = new StringBuilder("batch:").append(specs.size());
        for (NewTask spec : specs) {
            canonical.append(';').append(each.apply(spec));
        }
        return NewTask.sha256(canonical.toString());
    }

    /**
     * The ids of the batch an Idempotency-Key stored, in order, given the first and the batch's size; empty when some
     * of them are gone (retention removed them).
     */
    public Optional<List<String>> batchIds(String scopedKey, String firstId, int size) {
        Map<String, Integer> positions = new HashMap<>();
        for (int i = 1; i < size; i++) {
            positions.put(batchMemberKey(scopedKey, firstId, i), i);
        }
        String[] ids = new String[size];
        ids[0] = firstId;
        List<String> keys = List.copyOf(positions.keySet());
        try (Connection c = dataSource.getConnection()) {
            for (List<String> chunk : inParts(keys)) {
                try (PreparedStatement s = c.prepareStatement("SELECT IDEMPOTENCY_KEY, TASK_ID FROM TG_IDEMPOTENCY_KEY "
                        + "WHERE IDEMPOTENCY_KEY IN " + placeholders(chunk.size()))) {
                    for (int i = 0; i < chunk.size(); i++) {
                        s.setString(i + 1, chunk.get(i));
                    }
                    try (ResultSet r = s.executeQuery()) {
                        while (r.next()) {
                            ids[positions.get(r.getString(1))] = r.getString(2);
                        }
                    }
                }
            }
        } catch (SQLException e) {
            throw new IllegalStateException("cannot read the tasks of a batch: " + e.getMessage(), e);
        }
        List<String> found = java.util.Arrays.asList(ids);
        return found.contains(null) ? Optional.empty() : Optional.of(List.copyOf(found));
    }

    /** Stores a new task, with the caller's Idempotency-Key (scoped) when there is one. */
    public CompletableFuture<Void> insert(Task task, String scopedKey, String requestHash) {
        return writer.write(changeOf(task, keyRow(task, scopedKey, requestHash)));
    }

    /** Stores what the task's last lifecycle change did to it and its attempts. */
    public CompletableFuture<Void> save(Task task) {
        return writer.write(changeOf(task, null));
    }

    /**
     * Stores {@code ended} (a task whose result the database refused) as FAILED, with {@code why} and no output, and
     * its attempt ended the same way.
     */
    public CompletableFuture<Void> saveUnstorable(Task ended, String attemptId, String why) {
        String reason = Task.clipReason(why);
        Rows.TaskRow row = Rows.TaskRow.of(ended, false);
        Rows.TaskRow failed = new Rows.TaskRow(false, row.id(), null, TaskState.FAILED.name(), null, row.cwd(),
                row.timeoutSeconds(), row.workerId(), row.attemptId(), null, "", "", false, false, reason,
                row.submittedAt(), row.assignedAt(), row.startedAt(), row.finishedAt(), row.maxAttempts(),
                row.retries(), row.attemptCount(), row.retriesUsed(), row.cancelRequested(), row.submittedBy(),
                row.secretEnvSealed(), row.refusals(), row.priority(), row.requires(), row.cancelledBy());
        LocalDateTime when = ended.getFinishedAt() != null ? ended.getFinishedAt() : Task.nowUtc();
        Rows.AttemptRow attempt = new Rows.AttemptRow(false, attemptId, ended.getId(), ended.getWorkerId(),
                ended.getAssignedAt(), ended.getStartedAt(), when, TaskState.FAILED.name(), reason);
        return writer.write(new Rows.Change(failed, List.of(attempt), null));
    }

    private static Rows.Change changeOf(Task task, Rows.KeyRow key) {
        Rows.TaskRow row = Rows.TaskRow.of(task, task.isUnsaved());
        task.saved();
        List<Attempt> changed = task.takeChangedAttempts();
        List<Rows.AttemptRow> attempts = new ArrayList<>(changed.size());
        for (Attempt attempt : changed) {
            attempts.add(Rows.AttemptRow.of(attempt));
            attempt.saved();
        }
        return new Rows.Change(row, attempts, key);
    }

    // ---- the live tasks, at start and at dispatch ----

    /**
     * Every task that has not ended and that this master owns, oldest first, with its attempt in flight. On a database
     * only one master uses (H2), it first takes over, in a transaction the writer's fence guards, every unfinished
     * task a master took before (under another id, say): the one place that counts on being the only master. Tasks
     * not claimed yet stay for {@link #claimWaiting}. Commands and
     * environments longer than {@code specChars} are left out (see {@link #loadSpec}), so that a long queue of large
     * tasks does not fill the heap.
     */
    public List<Task> loadUnfinished(int specChars) {
        String me = owner();
        Map<String, Attempt> inFlight = new HashMap<>();
        try (Connection c = dataSource.getConnection()) {
            if (!severalMasters) {
                takeOverOwned(c, me);
            }
            try (PreparedStatement s = c.prepareStatement("SELECT A.ID, A.TASK_ID, A.WORKER_ID, A.ASSIGNED_AT, "
                    + "A.STARTED_AT FROM TG_ATTEMPT A JOIN TG_TASK T ON T.ATTEMPT_ID = A.ID "
                    + "WHERE T.STATE IN " + TaskState.sqlList(TaskTransitions.inFlight()) + " AND T.OWNER = ?")) {
                s.setString(1, me);
                try (ResultSet r = s.executeQuery()) {
                    while (r.next()) {
                        inFlight.put(r.getString(1), Attempt.restored(r.getString(1), r.getString(2), r.getString(3),
                                time(r.getTimestamp(4)), time(r.getTimestamp(5))));
                    }
                }
            }
            try (PreparedStatement s = c.prepareStatement(liveTaskQuery(specChars, "STATE IN "
                    + TaskState.sqlList(TaskState.unfinished()) + " AND OWNER = ?"))) {
                s.setString(1, me);
                return liveTasks(s, inFlight);
            }
        } catch (SQLException e) {
            throw new IllegalStateException("cannot load the unfinished tasks: " + e.getMessage(), e);
        }
    }

    /**
     * Makes {@code me} the owner of every unfinished task some master took (owned, or marked taken by a master of the
     * version before V9, or no longer queued), in one fenced transaction: a master that lost the dispatch lease
     * meanwhile changes nothing.
     */
    private void takeOverOwned(Connection c, String me) throws SQLException {
        c.setAutoCommit(false);
        try {
            if (writer != null) {
                writer.fence().check(c);
            }
            try (PreparedStatement s = c.prepareStatement("UPDATE TG_TASK SET OWNER = ?, ADOPTED = TRUE WHERE STATE IN "
                    + TaskState.sqlList(TaskState.unfinished()) + " AND (OWNER IS NOT NULL OR ADOPTED = TRUE OR STATE "
                    + "<> 'QUEUED') AND (OWNER IS NULL OR OWNER <> ?)")) {
                s.setString(1, me);
                s.setString(2, me);
                int taken = s.executeUpdate();
                if (taken > 0) {
                    LOG.info(() -> "master " + me + " took over " + taken + " unfinished task(s) another master held");
                }
            }
            c.commit();
        } catch (SQLException | RuntimeException e) {
            try {
                c.rollback();
            } catch (SQLException rollback) {
                e.addSuppressed(rollback);
            }
            throw e;
        } finally {
            c.setAutoCommit(true);
        }
    }

    /** The master this store's tasks belong to: the one its writer's fence names. */
    public String owner() {
        return writer == null ? GroupCommit.UNNAMED_OWNER : writer.owner();
    }

    /** Work on a connection, returning a result, inside a transaction of the store's. */
    @FunctionalInterface
    private interface SqlCall<T> {
        T call(Connection c) throws SQLException;
    }

    /**
     * {@code work} in a transaction of its own that {@code fence} guards: committed with its result, or rolled back
     * when it throws, the fence's refusal included.
     */
    private <T> T fenced(WriteFence fence, SqlCall<T> work) throws SQLException {
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(false);
            try {
                fence.check(c);
                T result = work.call(c);
                c.commit();
                return result;
            } catch (SQLException | RuntimeException e) {
                c.rollback();
                throw e;
            }
        }
    }

    /** The most tasks one {@link #claimWaiting} takes. */
    public static final int CLAIM_AT_ONCE = 1000;

    /**
     * Claims for this master up to {@code limit} (at most {@link #CLAIM_AT_ONCE}) of the queued tasks no master owns
     * yet and that {@code runnable} accepts (its agents offer what they require), highest priority first, then
     * oldest, in a transaction {@code fence} guards, and returns them as {@link #loadUnfinished} would. A task is
     * claimed once: rows another claim has locked are skipped rather than waited for, so masters claiming at once
     * take disjoint sets, and a claim never waits behind another. Rows looked at and not taken are free again at
     * the commit.
     */
    public List<Task> claimWaiting(int limit, int specChars, WriteFence fence,
                                   java.util.function.Predicate<Labels> runnable) throws SQLException {
        int wanted = Math.max(0, Math.min(limit, CLAIM_AT_ONCE));
        if (wanted == 0) {
            return List.of();
        }
        String me = owner();
        return fenced(fence, c -> {
            List<String> ids = new ArrayList<>();
            boolean passedOver = false;
            try (PreparedStatement s = c.prepareStatement("SELECT ID, REQUIRES FROM TG_TASK WHERE OWNER IS NULL "
                    + "AND ADOPTED = FALSE AND STATE = 'QUEUED' ORDER BY PRIORITY DESC, ID FETCH FIRST ? ROWS ONLY "
                    + DatabaseDriver.of(c).claimLock())) {
                s.setInt(1, Math.min(CLAIM_AT_ONCE, wanted * 4));
                try (ResultSet r = s.executeQuery()) {
                    while (r.next() && ids.size() < wanted) {
                        String requires = r.getString(2);
                        if (runnable.test(requires == null ? Labels.NONE : Labels.parse(requires))) {
                            ids.add(r.getString(1));
                        } else {
                            passedOver = true;
                        }
                    }
                }
            }
            if (ids.size() < wanted && passedOver) {
                // Tasks none of this master's agents can run lie in front (more urgent, or older): look past them
                // at the tasks whose requirements these agents meet, whatever lies in front of those.
                ids.addAll(claimableBehind(c, wanted - ids.size(), ids, runnable));
            }
            List<Task> taken = take(c, ids, me, specChars, true);
            return taken;
        });
    }

    /**
     * Up to {@code wanted} unowned queued tasks, not in {@code taken}, whose requirements {@code runnable} accepts,
     * most urgent first, locked for the caller's transaction: the requirements waiting are read first (few distinct
     * ones), then only tasks with those this master's agents meet.
     */
    private static List<String> claimableBehind(Connection c, int wanted, List<String> taken,
                                                java.util.function.Predicate<Labels> runnable) throws SQLException {
        List<String> accepted = new ArrayList<>();
        boolean anyLabelFree = false;
        try (PreparedStatement s = c.prepareStatement("SELECT DISTINCT REQUIRES FROM TG_TASK WHERE OWNER IS NULL "
                + "AND ADOPTED = FALSE AND STATE = 'QUEUED'")) {
            try (ResultSet r = s.executeQuery()) {
                while (r.next() && accepted.size() < 200) {
                    String requires = r.getString(1);
                    if (requires == null) {
                        anyLabelFree |= runnable.test(Labels.NONE);
                    } else if (runnable.test(Labels.parse(requires))) {
                        accepted.add(requires);
                    }
                }
            }
        }
        if (accepted.isEmpty() && !anyLabelFree) {
            return List.of();
        }
        String which = (anyLabelFree ? "REQUIRES IS NULL" : "")
                + (accepted.isEmpty() ? "" : (anyLabelFree ? " OR " : "") + "REQUIRES IN " + placeholders(accepted.size()));
        List<String> ids = new ArrayList<>();
        try (PreparedStatement s = c.prepareStatement("SELECT ID FROM TG_TASK WHERE OWNER IS NULL AND ADOPTED = FALSE "
                + "AND STATE = 'QUEUED' AND (" + which + ") ORDER BY PRIORITY DESC, ID FETCH FIRST ? ROWS ONLY "
                + DatabaseDriver.of(c).claimLock())) {
            int i = 1;
            for (String requires : accepted) {
                s.setString(i++, requires);
            }
            s.setInt(i, Math.min(CLAIM_AT_ONCE, wanted + taken.size()));
            try (ResultSet r = s.executeQuery()) {
                while (r.next() && ids.size() < wanted) {
                    if (!taken.contains(r.getString(1))) {
                        ids.add(r.getString(1));
                    }
                }
            }
        }
        return ids;
    }

    /**
     * Which of {@code taskIds} this master owns in the database: after a give-back whose answer was lost, the ones it
     * must hold again (the others went to the cluster).
     */
    public List<String> stillOwned(Collection<String> taskIds) throws SQLException {
        List<String> owned = new ArrayList<>();
        List<String> ids = new ArrayList<>(taskIds);
        try (Connection c = dataSource.getConnection()) {
            for (List<String> part : inParts(ids)) {
                try (PreparedStatement s = c.prepareStatement("SELECT ID FROM TG_TASK WHERE OWNER = ? AND ID IN "
                        + placeholders(part.size()))) {
                    s.setString(1, owner());
                    for (int i = 0; i < part.size(); i++) {
                        s.setString(i + 2, part.get(i));
                    }
                    try (ResultSet r = s.executeQuery()) {
                        while (r.next()) {
                            owned.add(r.getString(1));
                        }
                    }
                }
            }
        }
        return owned;
    }

    /** As {@link #claimWaiting(int, int, WriteFence, java.util.function.Predicate)}, whatever the tasks require. */
    public List<Task> claimWaiting(int limit, int specChars, WriteFence fence) throws SQLException {
        return claimWaiting(limit, specChars, fence, labels -> true);
    }

    /**
     * Claims these tasks if they are queued and no master owns them (a cancel asked for them: the claiming master
     * cancels them at once), in a transaction {@code fence} guards; the ones claimed.
     */
    public List<Task> claimNamed(Collection<String> taskIds, int specChars, WriteFence fence) throws SQLException {
        if (taskIds.isEmpty()) {
            return List.of();
        }
        String me = owner();
        // Waits for a row another master's claim has locked rather than skipping it: a claim looks at more rows than
        // it takes, and a cancel that skipped one of those would find the task neither taken nor cancelled. The wait
        // is as long as that claim's transaction; the rows are locked in one order, so two masters never deadlock.
        List<String> sorted = new ArrayList<>(new java.util.TreeSet<>(taskIds));
        return fenced(fence, c -> {
            DatabaseDriver.of(c).waitForLocksAtMost(c, 2000);
            List<String> ids = new ArrayList<>();
            for (String id : sorted) {
                try (PreparedStatement s = c.prepareStatement("SELECT ID FROM TG_TASK WHERE ID = ? AND OWNER IS NULL "
                        + "AND ADOPTED = FALSE AND STATE = 'QUEUED' FOR UPDATE")) {
                    s.setString(1, id);
                    try (ResultSet r = s.executeQuery()) {
                        if (r.next()) {
                            ids.add(r.getString(1));
                        }
                    }
                }
            }
            List<Task> taken = take(c, ids, me, specChars, true);
            return taken;
        });
    }

    /**
     * Gives queued tasks this master holds back to the cluster (its agents left): no master owns them once this
     * commits, and the others are told; those still queued and owned by this master only. Fenced.
     */
    public int giveBack(Collection<String> taskIds, WriteFence fence) throws SQLException {
        if (taskIds.isEmpty()) {
            return 0;
        }
        return fenced(fence, c -> {
            int given = 0;
            List<String> ids = new ArrayList<>(taskIds);
            for (List<String> part : inParts(ids)) {
                try (PreparedStatement s = c.prepareStatement("UPDATE TG_TASK SET OWNER = NULL, ADOPTED = FALSE "
                        + "WHERE STATE = 'QUEUED' AND OWNER = ? AND ID IN " + placeholders(part.size()))) {
                    s.setString(1, owner());
                    for (int i = 0; i < part.size(); i++) {
                        s.setString(i + 2, part.get(i));
                    }
                    given += s.executeUpdate();
                }
            }
            DatabaseDriver.of(c).announce(c);
            return given;
        });
    }

    /**
     * Takes attempts an agent claims on reconnecting to this master, of tasks whose owner no longer holds its own
     * lease (it stopped, died, or was cut off and fenced): owned by this master from the commit on, returned with
     * their attempts. The owner's lease row is locked for the check, so the owner cannot take its lease back and load
     * them in between. Fenced; attempts that are not current, or whose owner lives, are not taken.
     */
    public Reclaimed reclaim(Map<String, String> attemptsByTask, int specChars, WriteFence fence)
            throws SQLException {
        if (attemptsByTask.isEmpty()) {
            return new Reclaimed(List.of(), java.util.Set.of());
        }
        String me = owner();
        return fenced(fence, c -> {
            List<String> ids = new ArrayList<>();
            java.util.Set<String> ownerLives = new java.util.HashSet<>();
            Map<String, Boolean> alive = new HashMap<>();
            for (Map.Entry<String, String> claim : attemptsByTask.entrySet()) {
                String owner = null;
                boolean found = false;
                try (PreparedStatement s = c.prepareStatement("SELECT OWNER FROM TG_TASK WHERE ID = ? AND "
                        + "ATTEMPT_ID = ? AND STATE IN " + TaskState.sqlList(TaskTransitions.inFlight()))) {
                    s.setString(1, claim.getKey());
                    s.setString(2, claim.getValue());
                    try (ResultSet r = s.executeQuery()) {
                        if (r.next()) {
                            found = true;
                            owner = r.getString(1);
                        }
                    }
                }
                if (!found || me.equals(owner)) {
                    continue;
                }
                Boolean lives = owner == null ? Boolean.FALSE : alive.get(owner);
                if (lives == null) {
                    lives = ownerLives(c, owner);
                    alive.put(owner, lives);
                }
                if (lives) {
                    ownerLives.add(claim.getKey());
                    continue;
                }
                try (PreparedStatement s = c.prepareStatement("UPDATE TG_TASK SET OWNER = ?, ADOPTED = TRUE WHERE "
                        + "ID = ? AND ATTEMPT_ID = ? AND " + (owner == null ? "OWNER IS NULL" : "OWNER = ?"))) {
                    s.setString(1, me);
                    s.setString(2, claim.getKey());
                    s.setString(3, claim.getValue());
                    if (owner != null) {
                        s.setString(4, owner);
                    }
                    if (s.executeUpdate() == 1) {
                        ids.add(claim.getKey());
                    }
                }
            }
            List<Task> taken = load(c, ids, specChars);
            return new Reclaimed(taken, ownerLives);
        });
    }

    /**
     * What {@link #reclaim} took, and the tasks it left because their owner still holds its lease: a master that died
     * a moment ago holds it until it runs out, so the agent's claim is asked again until then.
     */
    public record Reclaimed(List<Task> taken, java.util.Set<String> ownerLives) {
    }

    /**
     * Whether {@code owner} holds its own lease, under the row's exclusive lock, which waits for the owner's writes in
     * progress and keeps it from taking its lease back meanwhile. A lease that ran out is taken from it here, as the
     * housekeeping master would: a new epoch, so that nothing the owner still tries to write commits. A master with no
     * row (of a version before leases per master) holds none.
     */
    private static boolean ownerLives(Connection c, String owner) throws SQLException {
        String name = OWN_LEASE_ROW_PREFIX + owner;
        // First without a lock: a master that holds its lease is left alone, its writes not held up.
        try (PreparedStatement s = c.prepareStatement("SELECT 1 FROM TG_LEASE WHERE NAME = ? AND HOLDER = ? AND "
                + "EXPIRES_AT >= CURRENT_TIMESTAMP")) {
            s.setString(1, name);
            s.setString(2, owner);
            try (ResultSet r = s.executeQuery()) {
                if (r.next()) {
                    return true;
                }
            }
        }
        DatabaseDriver.of(c).waitForLocksAtMost(c, 2000);
        long epoch;
        try (PreparedStatement s = c.prepareStatement("SELECT HOLDER, EPOCH, CASE WHEN EXPIRES_AT < "
                + "CURRENT_TIMESTAMP THEN 1 ELSE 0 END FROM TG_LEASE WHERE NAME = ? FOR UPDATE")) {
            s.setString(1, name);
            try (ResultSet r = s.executeQuery()) {
                if (!r.next() || !owner.equals(r.getString(1))) {
                    return false;
                }
                if (r.getInt(3) == 0) {
                    return true;
                }
                epoch = r.getLong(2);
            }
        }
        takeRunOutLease(c, owner, epoch);
        LOG.warning(() -> "master " + owner + " let its lease run out: taken from it, so that an agent that "
                + "reached this master brings its attempts here");
        return false;
    }

    /**
     * Takes the lease of {@code master}, held under {@code epoch}, from it if it has run out: no holder, a new epoch,
     * so that none of that master's writes commits from now on. The caller holds the row's exclusive lock, which
     * waited for the master's writes in progress. Whether it was taken (not if the master renewed meanwhile).
     */
    public static boolean takeRunOutLease(Connection c, String master, long epoch) throws SQLException {
        try (PreparedStatement s = c.prepareStatement("UPDATE TG_LEASE SET HOLDER = NULL, EPOCH = EPOCH + 1, "
                + "EXPIRES_AT = CURRENT_TIMESTAMP WHERE NAME = ? AND HOLDER = ? AND EPOCH = ? AND EXPIRES_AT < "
                + "CURRENT_TIMESTAMP")) {
            s.setString(1, OWN_LEASE_ROW_PREFIX + master);
            s.setString(2, master);
            s.setLong(3, epoch);
            return s.executeUpdate() == 1;
        }
    }

    /** What {@link #releaseTasksOf} did with a master's tasks. */
    public record Released(int queued, List<Task> inFlight) {
    }

    /**
     * Hands on the tasks of a master that does not hold its own lease (it stopped, or the housekeeping master took
     * the lease from it when it ran out): its queued tasks go back to the cluster at once, unowned; its tasks in flight
     * stay its own for {@code reclaimFor} after its lease ended, for their agents to reclaim on another master, and
     * are then taken by this master ({@code Released.inFlight}), which settles them as lost. Nothing happens if the
     * master holds its lease again. Under a lock on its lease row, so that it cannot take its lease back and load its
     * tasks meanwhile. Fenced by this master's own.
     */
    public Released releaseTasksOf(String master, java.time.Duration reclaimFor, int specChars, WriteFence fence)
            throws SQLException {
        String me = owner();
        return fenced(fence, c -> {
            boolean ended;
            try (PreparedStatement s = c.prepareStatement("SELECT HOLDER, CASE WHEN EXPIRES_AT < "
                    + DatabaseDriver.of(c).nowPlusMillis() + " THEN 1 ELSE 0 END "
                    + "FROM TG_LEASE WHERE NAME = ? FOR UPDATE")) {
                s.setLong(1, -reclaimFor.toMillis());
                s.setString(2, OWN_LEASE_ROW_PREFIX + master);
                try (ResultSet r = s.executeQuery()) {
                    if (r.next()) {
                        if (master.equals(r.getString(1))) {
                            return new Released(0, List.of());
                        }
                        ended = r.getInt(2) == 1;
                    } else {
                        // No row: a master of a version before leases per master; its tasks wait for no one.
                        ended = true;
                    }
                }
            }
            int queued;
            try (PreparedStatement s = c.prepareStatement("UPDATE TG_TASK SET OWNER = NULL, ADOPTED = FALSE WHERE "
                    + "STATE = 'QUEUED' AND OWNER = ?")) {
                s.setString(1, master);
                queued = s.executeUpdate();
            }
            List<String> inFlight = new ArrayList<>();
            if (ended) {
                try (PreparedStatement s = c.prepareStatement("SELECT ID FROM TG_TASK WHERE OWNER = ? AND STATE IN "
                        + TaskState.sqlList(TaskTransitions.inFlight()) + " FOR UPDATE")) {
                    s.setString(1, master);
                    try (ResultSet r = s.executeQuery()) {
                        while (r.next()) {
                            inFlight.add(r.getString(1));
                        }
                    }
                }
            }
            List<Task> taken = take(c, inFlight, me, specChars, false);
            if (queued > 0) {
                DatabaseDriver.of(c).announce(c);
            }
            return new Released(queued, taken);
        });
    }

    /**
     * The masters other than this one that own unfinished tasks and do not hold their own lease (as last committed):
     * those the housekeeping master hands on ({@link #releaseTasksOf}, which checks again under a lock).
     */
    public List<String> ownersOfUnfinished() throws SQLException {
        try (Connection c = dataSource.getConnection();
             PreparedStatement s = c.prepareStatement("SELECT DISTINCT T.OWNER FROM TG_TASK T WHERE T.STATE IN "
                     + TaskState.sqlList(TaskState.unfinished()) + " AND T.OWNER IS NOT NULL AND T.OWNER <> ? AND NOT "
                     + "EXISTS (SELECT 1 FROM TG_LEASE L WHERE L.NAME = '"
                     + OWN_LEASE_ROW_PREFIX + "' || T.OWNER AND L.HOLDER = "
                     + "T.OWNER)")) {
            s.setString(1, owner());
            List<String> owners = new ArrayList<>();
            try (ResultSet r = s.executeQuery()) {
                while (r.next()) {
                    owners.add(r.getString(1));
                }
            }
            return owners;
        }
    }

    /**
     * Makes {@code me} the owner of {@code ids} (if {@code onlyUnowned}, of those no master owns) and loads them with
     * their attempts, inside the caller's transaction, which holds their rows locked.
     */
    private List<Task> take(Connection c, List<String> ids, String me, int specChars, boolean onlyUnowned)
            throws SQLException {
        for (List<String> part : inParts(ids)) {
            try (PreparedStatement s = c.prepareStatement("UPDATE TG_TASK SET OWNER = ?, ADOPTED = TRUE WHERE ID IN "
                    + placeholders(part.size()) + (onlyUnowned ? " AND OWNER IS NULL" : ""))) {
                s.setString(1, me);
                for (int i = 0; i < part.size(); i++) {
                    s.setString(i + 2, part.get(i));
                }
                s.executeUpdate();
            }
        }
        return load(c, ids, specChars);
    }

    /** The tasks {@code ids} as {@link #loadUnfinished} returns them, with their attempts in flight. */
    private List<Task> load(Connection c, List<String> ids, int specChars) throws SQLException {
        List<Task> loaded = new ArrayList<>(ids.size());
        for (List<String> part : inParts(ids)) {
            String in = placeholders(part.size());
            Map<String, Attempt> inFlight = new HashMap<>();
            try (PreparedStatement s = c.prepareStatement("SELECT A.ID, A.TASK_ID, A.WORKER_ID, A.ASSIGNED_AT, "
                    + "A.STARTED_AT FROM TG_ATTEMPT A JOIN TG_TASK T ON T.ATTEMPT_ID = A.ID WHERE T.ID IN " + in)) {
                for (int i = 0; i < part.size(); i++) {
                    s.setString(i + 1, part.get(i));
                }
                try (ResultSet r = s.executeQuery()) {
                    while (r.next()) {
                        inFlight.put(r.getString(1), Attempt.restored(r.getString(1), r.getString(2), r.getString(3),
                                time(r.getTimestamp(4)), time(r.getTimestamp(5))));
                    }
                }
            }
            try (PreparedStatement s = c.prepareStatement(liveTaskQuery(specChars, "ID IN " + in))) {
                for (int i = 0; i < part.size(); i++) {
                    s.setString(i + 1, part.get(i));
                }
                loaded.addAll(liveTasks(s, inFlight));
            }
        }
        return loaded;
    }

    /** {@code ids} in parts of at most 100, for statements with {@code IN (?, ...)}. */
    private static List<List<String>> inParts(List<String> ids) {
        List<List<String>> parts = new ArrayList<>();
        for (int from = 0; from < ids.size(); from += 100) {
            parts.add(ids.subList(from, Math.min(ids.size(), from + 100)));
        }
        return parts;
    }

    private static String placeholders(int count) {
        return "(" + String.join(", ", java.util.Collections.nCopies(count, "?")) + ")";
    }

    /**
     * Stores new tasks for the active master, from a master that is not active: QUEUED, owned by no master yet, all or
     * none in one transaction with the Idempotency-Key's rows, and announced so that the active master claims them at
     * once (see {@link #claimWaiting}). {@code first} runs at the start of the
     * transaction (the caps' check, under a lock); what it throws stores nothing.
     *
     * @throws SQLException as the database says; a duplicate Idempotency-Key as its unique constraint does
     */
    public void insertForActive(List<Task> tasks, String scopedKey, String requestHash, SqlWork first,
                                SqlWork announce) throws SQLException {
        List<Rows.Change> changes = batchChanges(tasks, scopedKey, requestHash);
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(false);
            try {
                first.run(c);
                try (PreparedStatement insertTask = c.prepareStatement(Rows.TaskRow.INSERT);
                     PreparedStatement insertKey = c.prepareStatement(Rows.KeyRow.INSERT)) {
                    for (Rows.Change change : changes) {
                        change.task().bindInsert(insertTask, null);
                        insertTask.addBatch();
                    }
                    insertTask.executeBatch();
                    // One by one: a key another request stored first fails with the database's own error, which
                    // the caller tells from others (a batch's error wraps it differently on each driver).
                    for (Rows.Change change : changes) {
                        if (change.key() != null) {
                            change.key().bindInsert(insertKey);
                            insertKey.executeUpdate();
                        }
                    }
                }
                announce.run(c);
                c.commit();
            } catch (SQLException | RuntimeException e) {
                c.rollback();
                throw e;
            }
        }
    }

    /** Work on a connection inside a transaction of the store's. */
    @FunctionalInterface
    public interface SqlWork {
        void run(Connection c) throws SQLException;
    }

    private static String liveTaskQuery(int specChars, String where) {
        String small = "COALESCE(LENGTH(CMD), 0) + COALESCE(LENGTH(ENV_JSON), 0) <= " + specChars;
        return "SELECT ID, CASE WHEN " + small + " THEN CMD END, STATE, CASE WHEN " + small + " THEN ENV_JSON END, "
                + "CWD, TIMEOUT_SECONDS, WORKER_ID, ATTEMPT_ID, SUBMITTED_AT, ASSIGNED_AT, STARTED_AT, MAX_ATTEMPTS, "
                + "RETRIES, ATTEMPT_COUNT, RETRIES_USED, CANCEL_REQUESTED, SUBMITTED_BY, SECRET_ENV_SEALED, REFUSALS, "
                + "PRIORITY, REQUIRES, CANCELLED_BY FROM TG_TASK WHERE " + where + " ORDER BY ID";
    }

    private List<Task> liveTasks(PreparedStatement s, Map<String, Attempt> inFlight) throws SQLException {
        List<Task> tasks = new ArrayList<>();
        EnvConverter env = new EnvConverter();
        s.setFetchSize(1000);
        try (ResultSet r = s.executeQuery()) {
            while (r.next()) {
                String cmd = r.getString(2);
                Task task = Task.fromRow(r.getString(1), cmd, TaskState.valueOf(r.getString(3)),
                        cmd == null ? null : env.convertToEntityAttribute(r.getString(4)), r.getString(5),
                        r.getObject(6, Long.class), r.getString(7), r.getString(8),
                        time(r.getTimestamp(9)), time(r.getTimestamp(10)), time(r.getTimestamp(11)),
                        r.getInt(12), r.getInt(13), r.getInt(14), r.getInt(15), r.getBoolean(16),
                        r.getString(17), r.getString(18), r.getInt(19), r.getInt(20), r.getString(21));
                task.restoreCancelledBy(r.getString(22));
                tasks.add(Task.restored(task, task.getAttemptId() == null ? null
                        : inFlight.get(task.getAttemptId())));
            }
        }
        return tasks;
    }

    /** Reads the command and environment of a task loaded without them. */
    public void loadSpec(Task task) {
        try (Connection c = dataSource.getConnection();
             PreparedStatement s = c.prepareStatement("SELECT CMD, ENV_JSON FROM TG_TASK WHERE ID = ?")) {
            s.setString(1, task.getId());
            try (ResultSet r = s.executeQuery()) {
                if (r.next()) {
                    task.fillSpec(r.getString(1), new EnvConverter().convertToEntityAttribute(r.getString(2)));
                }
            }
        } catch (SQLException e) {
            throw new IllegalStateException("cannot read task " + task.getId() + ": " + e.getMessage(), e);
        }
    }

    /** The owners of the given attempts that exist, by attempt id. */
    public Map<String, AttemptOwner> attemptOwners(Collection<String> attemptIds) {
        Map<String, AttemptOwner> owners = new HashMap<>();
        List<String> ids = List.copyOf(attemptIds);
        try (Connection c = dataSource.getConnection()) {
            for (List<String> chunk : inParts(ids)) {
                try (PreparedStatement s = c.prepareStatement("SELECT ID, TASK_ID, WORKER_ID FROM TG_ATTEMPT WHERE ID IN "
                        + placeholders(chunk.size()))) {
                    for (int i = 0; i < chunk.size(); i++) {
                        s.setString(i + 1, chunk.get(i));
                    }
                    try (ResultSet r = s.executeQuery()) {
                        while (r.next()) {
                            owners.put(r.getString(1), new AttemptOwner(r.getString(1), r.getString(2), r.getString(3)));
                        }
                    }
                }
            }
        } catch (SQLException e) {
            throw new IllegalStateException("cannot read attempts: " + e.getMessage(), e);
        }
        return owners;
    }

    /** A task's state and submitter, without reading its command or output: for a cancel of a task not in memory. */
    public Optional<Task> findHeader(String id) {
        try (Connection c = dataSource.getConnection();
             PreparedStatement s = c.prepareStatement("SELECT STATE, SUBMITTED_BY, SUBMITTED_AT FROM TG_TASK WHERE ID = ?")) {
            s.setString(1, id);
            try (ResultSet r = s.executeQuery()) {
                if (!r.next()) {
                    return Optional.empty();
                }
                return Optional.of(Task.fromRow(id, null, TaskState.valueOf(r.getString(1)), null, null, null, null,
                        null, time(r.getTimestamp(3)), null, null, 0, 0, 0, 0, false, r.getString(2), null, 0,
                        Task.DEFAULT_PRIORITY, null));
            }
        } catch (SQLException e) {
            throw new IllegalStateException("cannot read task " + id + ": " + e.getMessage(), e);
        }
    }

    /** How full the queue is, from the database: what the caps are checked against where no queue is in memory. */
    public record QueueCounts(long queued, long unfinishedOfCaller) {
    }

    public static QueueCounts queueCounts(Connection c, String caller) throws SQLException {
        try (PreparedStatement s = c.prepareStatement("SELECT COALESCE(SUM(CASE WHEN STATE = 'QUEUED' THEN 1 ELSE 0 END), 0), "
                     + "COALESCE(SUM(CASE WHEN SUBMITTED_BY = ? THEN 1 ELSE 0 END), 0) FROM TG_TASK WHERE STATE IN "
                     + TaskState.sqlList(TaskState.unfinished()))) {
            s.setString(1, caller);
            try (ResultSet r = s.executeQuery()) {
                r.next();
                return new QueueCounts(r.getLong(1), r.getLong(2));
            }
        }
    }

    /**
     * Whether the database answers a trivial query within {@code limit}: for the readiness check. No table named: an
     * unquoted name is folded to lower case by PostgreSQL, and Flyway made its history table in upper case there.
     */
    public boolean answers(Duration limit) {
        try (Connection c = dataSource.getConnection();
             PreparedStatement s = c.prepareStatement("SELECT 1")) {
            s.setQueryTimeout((int) Math.max(1, limit.toSeconds()));
            s.executeQuery().close();
            return true;
        } catch (SQLException e) {
            return false;
        }
    }

    // ---- reads for the API (JPA) ----

    public Optional<Task> find(String id) {
        return Optional.ofNullable(em.find(Task.class, id));
    }

    /** The task an Idempotency-Key created, with the fingerprint of the request that created it. */
    public record KeyedTask(Task task, String requestHash) {
    }

    public Optional<KeyedTask> findByIdempotencyKey(String key) {
        IdempotencyKey entry = em.find(IdempotencyKey.class, key);
        if (entry == null) {
            return Optional.empty();
        }
        return Optional.ofNullable(em.find(Task.class, entry.getTaskId()))
                .map(task -> new KeyedTask(task, entry.getRequestHash()));
    }

    public List<Attempt> attempts(String taskId) {
        return em.createQuery("SELECT a FROM Attempt a WHERE a.taskId = :task ORDER BY a.id", Attempt.class)
                .setParameter("task", taskId).getResultList();
    }

    /**
     * Newest first, strictly older than {@code beforeId} when it is given. A projection: the output, environment and
     * secret columns are never read, and of the command only its first characters.
     */
    public List<TaskSummary> list(TaskState state, String beforeId, int limit) {
        return list(state, Labels.NONE, beforeId, limit);
    }

    /**
     * As {@link #list(TaskState, String, int)}, only tasks that require every one of {@code labels} (and maybe more).
     * The canonical form ({@code k1=v1,k2=v2}, keys sorted) of a task's requirements is matched whole-pair by LIKE:
     * keys and values hold no ',' or '=', and the one LIKE wildcard they may hold, '_', is escaped.
     */
    public static final int LIST_TIMEOUT_SECONDS = 10;

    public List<TaskSummary> list(TaskState state, Labels labels, String beforeId, int limit) {
        // Plain SQL, not JPQL: Hibernate (WildFly's JPA) refuses SUBSTRING of a @Lob column, which EclipseLink allows.
        StringBuilder sql = new StringBuilder("SELECT ID, SUBSTRING(CMD FROM 1 FOR "
                + (TaskSummary.CMD_PREVIEW_CHARS + 1) + "), STATE, WORKER_ID, EXIT_CODE, SUBMITTED_BY, SUBMITTED_AT, "
                + "STARTED_AT, FINISHED_AT, TIMEOUT_SECONDS, REASON, ATTEMPT_COUNT, CANCEL_REQUESTED FROM TG_TASK "
                + "WHERE 1 = 1");
        if (state != null) {
            sql.append(" AND STATE = ?");
        }
        if (beforeId != null) {
            sql.append(" AND ID < ?");
        }
        List<String> pairs = labels.asMap().entrySet().stream()
                .map(label -> (label.getKey() + "=" + label.getValue()).replace("_", "!_")).toList();
        for (int p = 0; p < pairs.size(); p++) {
            sql.append(" AND (',' || REQUIRES || ',') LIKE ? ESCAPE '!'");
        }
        // With a state, ordered by (state, id) too: that is the index's order, read backwards, so a page costs the
        // same however many tasks have that state (H2 sorts them all otherwise).
        sql.append(state != null ? " ORDER BY STATE DESC, ID DESC" : " ORDER BY ID DESC")
                .append(" FETCH FIRST ").append(limit).append(" ROWS ONLY");
        try (Connection c = dataSource.getConnection();
             PreparedStatement s = c.prepareStatement(sql.toString())) {
            // A label filter cannot use an index: on a large table that matches little it reads every row. Bounded,
            // so that a viewer's requests cannot hold the pool's connections for long.
            s.setQueryTimeout(LIST_TIMEOUT_SECONDS);
            int i = 1;
            if (state != null) {
                s.setString(i++, state.name());
            }
            if (beforeId != null) {
                s.setString(i++, beforeId);
            }
            for (String pair : pairs) {
                s.setString(i++, "%," + pair + ",%");
            }
            List<TaskSummary> tasks = new ArrayList<>();
            try (ResultSet r = s.executeQuery()) {
                while (r.next()) {
                    tasks.add(new TaskSummary(r.getString(1), r.getString(2), TaskState.valueOf(r.getString(3)),
                            r.getString(4), r.getObject(5, Integer.class), r.getString(6), time(r.getTimestamp(7)),
                            time(r.getTimestamp(8)), time(r.getTimestamp(9)), r.getObject(10, Long.class),
                            r.getString(11), r.getInt(12), r.getBoolean(13)));
                }
            }
            return tasks;
        } catch (SQLException e) {
            throw new IllegalStateException("cannot list tasks: " + e.getMessage(), e);
        }
    }

    /**
     * How many tasks are in each state, every state present (0 when none): one grouped count over the (STATE, ID)
     * index, so the table's wide columns are never read.
     */
    public Map<TaskState, Long> countByState() {
        Map<TaskState, Long> counts = new EnumMap<>(TaskState.class);
        for (TaskState state : TaskState.values()) {
            counts.put(state, 0L);
        }
        try (Connection c = dataSource.getConnection();
             PreparedStatement s = c.prepareStatement("SELECT STATE, COUNT(*) FROM TG_TASK GROUP BY STATE");
             ResultSet r = s.executeQuery()) {
            while (r.next()) {
                counts.put(TaskState.valueOf(r.getString(1)), r.getLong(2));
            }
        } catch (SQLException e) {
            throw new IllegalStateException("cannot count tasks: " + e.getMessage(), e);
        }
        return counts;
    }

    private static LocalDateTime time(Timestamp timestamp) {
        return timestamp == null ? null : timestamp.toLocalDateTime();
    }
}
