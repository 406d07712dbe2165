package io.taskgrid.it.store;

import io.taskgrid.master.cluster.ChangeAnnouncer;
import io.taskgrid.master.task.DatabaseDriver;
import org.junit.jupiter.api.Test;

import javax.sql.DataSource;
import java.sql.Connection;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The announcer that tells the other masters of new tasks after their commit, on a real PostgreSQL (on H2 nothing is
 * announced): every ask is followed by an announcement sent after it, and none comes once it is closed.
 */
class ChangeAnnouncerContractTest extends DatabaseContract {

    @Test
    void everyAskIsFollowedByAnAnnouncementAndNoneOnceClosed() throws Exception {
        DataSource dataSource = database("postgresql");
        try (Connection listening = dataSource.getConnection()) {
            DatabaseDriver.Notifications heard = DatabaseDriver.of(listening).listen(listening, new StringBuilder())
                    .orElseThrow();
            try {
                ChangeAnnouncer announcer = new ChangeAnnouncer(dataSource, Executors.defaultThreadFactory()).start();
                try {
                    assertThat(heard.await(Duration.ofMillis(300))).as("nothing asked yet").isFalse();
                    long asked = System.nanoTime();
                    announcer.announce();
                    assertThat(heard.await(Duration.ofSeconds(5))).as("one ask").isTrue();
                    assertThat(System.nanoTime() - asked).isLessThan(TimeUnit.SECONDS.toNanos(1));

                    var pool = Executors.newFixedThreadPool(8);
                    for (int i = 0; i < 5_000; i++) {
                        pool.execute(announcer::announce);
                    }
                    pool.shutdown();
                    assertThat(pool.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
                    boolean heardBurst = false;
                    while (heard.await(Duration.ofMillis(500))) {
                        heardBurst = true;
                    }
                    assertThat(heardBurst).as("a burst of asks").isTrue();
                    announcer.announce();
                    assertThat(heard.await(Duration.ofSeconds(5))).as("an ask after the burst, not folded into it")
                            .isTrue();
                } finally {
                    announcer.close();
                }
                announcer.announce();
                assertThat(heard.await(Duration.ofMillis(500))).as("closed").isFalse();
            } finally {
                heard.stop();
            }
        }
    }
}
