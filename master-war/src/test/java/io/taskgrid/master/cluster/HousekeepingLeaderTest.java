package io.taskgrid.master.cluster;

import io.taskgrid.master.task.SchemaMigrations;
import io.taskgrid.master.task.TestDatabase;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.sql.DataSource;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;

/** One master at a time runs the cluster's housekeeping, and another does once it gives the lease up. */
class HousekeepingLeaderTest {

    private static final Duration LEASE = Duration.ofSeconds(5);

    @TempDir
    Path dir;

    private DataSource dataSource;
    private final AtomicLong clock = new AtomicLong(1_000_000_000L);

    @BeforeEach
    void database() {
        dataSource = TestDatabase.h2(dir);
        SchemaMigrations.migrate(dataSource);
    }

    /** What a master's duties saw, in order. */
    private static final class Duties implements HousekeepingLeader.Duties {
        final List<String> events = new CopyOnWriteArrayList<>();

        @Override
        public void lead() {
            events.add("lead");
        }

        @Override
        public void stepDown() {
            events.add("step down");
        }

        @Override
        public void turn() {
            events.add("turn");
        }
    }

    private HousekeepingLeader leader(String id, Duties duties) {
        return new HousekeepingLeader(id, new DispatchLease(dataSource, Duration.ofSeconds(2)), LEASE, clock::get,
                duties);
    }

    @Test
    void oneMasterRunsTheDutiesAndAnotherTakesThemOverWhenItGivesTheLeaseUp() {
        Duties dutiesOfA = new Duties();
        Duties dutiesOfB = new Duties();
        HousekeepingLeader a = leader("a", dutiesOfA);
        HousekeepingLeader b = leader("b", dutiesOfB);

        a.tick();
        b.tick();
        a.tick();
        b.tick();

        assertThat(a.leads()).isTrue();
        assertThat(dutiesOfA.events).containsExactly("lead", "turn", "turn");
        assertThat(b.leads()).isFalse();
        assertThat(dutiesOfB.events).as("no duty while another leads").isEmpty();

        a.close();
        b.tick();

        assertThat(dutiesOfA.events).endsWith("step down");
        assertThat(b.leads()).isTrue();
        assertThat(dutiesOfB.events).containsExactly("lead", "turn");
    }
}
