package io.taskgrid.master.dispatch;

import io.taskgrid.master.task.TaskStore;
import io.taskgrid.master.task.TestDatabase;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static io.taskgrid.master.task.TaskBuilder.aQueuedTask;
import static io.taskgrid.master.task.TaskBuilder.aRunningTask;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The caps' counts on a database masters share: the database's, read at most once a second, plus what was admitted. */
class IntakeCountsTest {

    @TempDir
    Path dir;

    private TaskStore store;
    private final AtomicLong clock = new AtomicLong(1_000_000_000L);

    @BeforeEach
    void open() throws Exception {
        store = TestDatabase.openStore(dir);
        store.save(aQueuedTask().submittedBy("alice").build()).get(10, TimeUnit.SECONDS);
        store.save(aQueuedTask().submittedBy("alice").build()).get(10, TimeUnit.SECONDS);
        store.save(aRunningTask().submittedBy("alice").build()).get(10, TimeUnit.SECONDS);
        store.save(aQueuedTask().submittedBy("bob").build()).get(10, TimeUnit.SECONDS);
    }

    @AfterEach
    void close() {
        store.close();
    }

    @Test
    void theQueueCapCountsTheDatabasesQueuedTasksAndWhatWasAdmittedSince() throws Exception {
        IntakeCounts counts = new IntakeCounts(store.dataSource(), clock::get);

        counts.admit("carol", 2, 5, 100);
        assertThatThrownBy(() -> counts.admit("carol", 1, 5, 100)).isInstanceOf(Dispatcher.QueueFull.class)
                .satisfies(e -> assertThat(((Dispatcher.QueueFull) e).queued()).as("3 stored, 2 admitted").isEqualTo(5));
        counts.notStored("carol", 2);
        counts.admit("carol", 2, 5, 100);
    }

    @Test
    void aCallersShareCountsItsUnfinishedTasksQueuedOrNot() throws Exception {
        IntakeCounts counts = new IntakeCounts(store.dataSource(), clock::get);

        assertThatThrownBy(() -> counts.admit("alice", 1, 100, 3)).isInstanceOf(Dispatcher.CallerShareFull.class)
                .satisfies(e -> assertThat(((Dispatcher.CallerShareFull) e).unfinished()).isEqualTo(3));
        counts.admit("bob", 2, 100, 3);
        assertThatThrownBy(() -> counts.admit("bob", 1, 100, 3)).isInstanceOf(Dispatcher.CallerShareFull.class);
    }

    @Test
    void theDatabaseIsReadAgainOnlyOnceTheCountsAreASecondOld() throws Exception {
        IntakeCounts counts = new IntakeCounts(store.dataSource(), clock::get);
        counts.admit("carol", 1, 5, 100);
        store.save(aQueuedTask().submittedBy("dave").build()).get(10, TimeUnit.SECONDS);

        counts.admit("carol", 1, 5, 100);
        assertThatThrownBy(() -> counts.admit("carol", 1, 5, 100)).as("3 stored, 2 admitted")
                .isInstanceOf(Dispatcher.QueueFull.class);

        clock.addAndGet(IntakeCounts.FRESH.toNanos() + 1);
        // Read again: 4 queued (dave's now counted); what was admitted is in the database by now if it was stored
        // (this test stored none of it).
        counts.admit("carol", 1, 5, 100);
        assertThatThrownBy(() -> counts.admit("carol", 1, 5, 100)).isInstanceOf(Dispatcher.QueueFull.class)
                .satisfies(e -> assertThat(((Dispatcher.QueueFull) e).queued()).isEqualTo(5));
    }
}
