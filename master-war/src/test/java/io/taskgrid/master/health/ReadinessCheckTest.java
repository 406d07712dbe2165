package io.taskgrid.master.health;

import io.taskgrid.master.cluster.MasterRole;
import io.taskgrid.master.cluster.ThisMaster;
import io.taskgrid.master.grpc.GrpcServerLifecycle;
import io.taskgrid.master.task.TaskStore;
import jakarta.enterprise.concurrent.ManagedThreadFactory;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinWorkerThread;
import java.util.function.Supplier;

import static org.assertj.core.api.Assertions.assertThat;

/** Readiness asks the database every time, within its bound, and says which part is down. */
class ReadinessCheckTest {

    private final ReadinessCheck check = new ReadinessCheck();

    private void given(boolean grpcServing, Supplier<Boolean> database) {
        given(grpcServing, database, true);
    }

    private void given(boolean grpcServing, Supplier<Boolean> database, boolean active) {
        check.thisMaster = new ThisMaster() {
            @Override
            public boolean isActive() {
                return active;
            }

            @Override
            public MasterRole.State state() {
                return active ? MasterRole.State.ACTIVE : MasterRole.State.STANDBY;
            }

            @Override
            public String why() {
                return active ? "holds the dispatch lease (epoch 1)" : "stands by: master a holds the dispatch lease";
            }
        };
        check.grpc = new GrpcServerLifecycle() {
            @Override
            public boolean isServing() {
                return grpcServing;
            }
        };
        check.store = new TaskStore(null, null) {
            @Override
            public boolean answers(Duration limit) {
                return database.get();
            }
        };
        check.threadFactory = new ManagedThreadFactory() {
            @Override
            public Thread newThread(Runnable runnable) {
                Thread thread = new Thread(runnable);
                thread.setDaemon(true);
                return thread;
            }

            @Override
            public ForkJoinWorkerThread newThread(ForkJoinPool pool) {
                throw new UnsupportedOperationException();
            }
        };
    }

    @AfterEach
    void stop() {
        check.stop();
    }

    private static String data(HealthCheckResponse response, String key) {
        return response.getData().orElseThrow().get(key).toString();
    }

    @Test
    void upWhileThisMasterStandsByForAnotherThatIsActiveForItTakesCallsForIt() {
        given(false, () -> true, false);
        HealthCheckResponse response = check.call();
        assertThat(response.getStatus()).isEqualTo(HealthCheckResponse.Status.UP);
        assertThat(data(response, "role")).isEqualTo("UP: standby, stands by: master a holds the dispatch lease");
        assertThat(data(response, "grpc")).startsWith("standing by");
        assertThat(data(response, "database")).isEqualTo("UP");
    }

    @Test
    void aStandbyWhoseDatabaseFailsIsDown() {
        given(false, () -> false, false);
        assertThat(check.call().getStatus()).isEqualTo(HealthCheckResponse.Status.DOWN);
    }

    @Test
    void anActiveMasterWhoseAgentsCannotConnectIsDown() {
        given(false, () -> true, true);
        HealthCheckResponse response = check.call();
        assertThat(response.getStatus()).isEqualTo(HealthCheckResponse.Status.DOWN);
        assertThat(data(response, "role")).startsWith("DOWN: active");
    }

    @Test
    void upWhenAgentsCanConnectAndTheDatabaseAnswers() {
        given(true, () -> true);
        HealthCheckResponse response = check.call();
        assertThat(response.getStatus()).isEqualTo(HealthCheckResponse.Status.UP);
        assertThat(data(response, "database")).isEqualTo("UP");
        assertThat(data(response, "grpc")).isEqualTo("UP");
    }

    @Test
    void downWhileTheDatabaseFailsAndUpAgainAtTheNextProbeOnceItAnswers() {
        boolean[] answering = {false};
        given(true, () -> answering[0]);
        HealthCheckResponse down = check.call();
        assertThat(down.getStatus()).isEqualTo(HealthCheckResponse.Status.DOWN);
        assertThat(data(down, "database")).startsWith("DOWN");
        assertThat(data(down, "grpc")).isEqualTo("UP");
        answering[0] = true;
        assertThat(check.call().getStatus()).as("nothing cached").isEqualTo(HealthCheckResponse.Status.UP);
    }

    @Test
    void aDatabaseThatHangsIsDownWithinTheBoundAndLaterProbesDoNotPileUp() {
        given(true, () -> {
            try {
                Thread.sleep(20_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return true;
        });
        long start = System.nanoTime();
        HealthCheckResponse first = check.call();
        assertThat(first.getStatus()).isEqualTo(HealthCheckResponse.Status.DOWN);
        assertThat(data(first, "database")).contains("within 2 s");
        long second = System.nanoTime();
        HealthCheckResponse again = check.call();
        assertThat(again.getStatus()).isEqualTo(HealthCheckResponse.Status.DOWN);
        assertThat(data(again, "database")).contains("more than 2 s");
        assertThat(Duration.ofNanos(second - start)).isLessThan(Duration.ofSeconds(4));
        assertThat(Duration.ofNanos(System.nanoTime() - second)).as("answered at once").isLessThan(Duration.ofSeconds(1));
    }

    @Test
    void downWhileTheGrpcServerIsNotServing() {
        given(false, () -> true);
        HealthCheckResponse response = check.call();
        assertThat(response.getStatus()).isEqualTo(HealthCheckResponse.Status.DOWN);
        assertThat(data(response, "grpc")).startsWith("DOWN");
        assertThat(data(response, "database")).isEqualTo("UP");
    }
}
