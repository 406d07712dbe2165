package io.taskgrid.master.api;

import io.taskgrid.master.dispatch.ConnectedWorker;
import io.taskgrid.master.dispatch.Dispatched;
import io.taskgrid.master.dispatch.WorkerChannel;
import io.taskgrid.master.dispatch.WorkerRegistry;
import io.taskgrid.master.task.Labels;
import org.junit.jupiter.api.Test;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** GET /workers a page at a time: every worker once, in id order, and a 400 for a limit or cursor that is not one. */
class WorkerResourcePageTest {

    private static final WorkerChannel CHANNEL = new WorkerChannel() {
        @Override
        public boolean isReady() {
            return true;
        }

        @Override
        public void send(Dispatched assignment) {
        }

        @Override
        public void cancel(String taskId, String attemptId) {
        }

        @Override
        public void giveBack(java.util.List<String> attemptIds) {
        }
    };

    private final WorkerRegistry registry = new WorkerRegistry();
    private final WorkerResource resource = new WorkerResource();

    WorkerResourcePageTest() throws Exception {
        resource.registry = registry;
        resource.thisMaster = new io.taskgrid.master.cluster.ThisMaster() {
            @Override
            public boolean isActive() {
                return true;
            }

            @Override
            public String id() {
                return "m1";
            }
        };
        for (int i = 0; i < 250; i++) {
            registry.register(new ConnectedWorker(String.format("w%03d", 249 - i), "s", 1, Labels.NONE, CHANNEL,
                    Instant.now()));
        }
    }

    @Test
    void thePagesHoldEveryWorkerOnceInIdOrder() {
        List<String> seen = new ArrayList<>();
        WorkerList page = resource.list(null, null);
        assertThat(page.workers()).hasSize(WorkerResource.DEFAULT_LIMIT);
        int pages = 1;
        while (true) {
            assertThat(page.count()).isEqualTo(250);
            page.workers().forEach(w -> seen.add(w.id()));
            assertThat(page.workers()).allSatisfy(w -> assertThat(w.master()).isEqualTo("m1"));
            if (page.next() == null) {
                break;
            }
            page = resource.list("100", page.next());
            pages++;
        }
        assertThat(pages).isEqualTo(3);
        assertThat(seen).hasSize(250).isSorted().doesNotHaveDuplicates();
        assertThat(resource.list("1000", null).workers()).hasSize(250);
        assertThat(resource.list("1000", null).next()).isNull();
    }

    @Test
    void aLimitOrCursorThatIsNotOneIsABadRequest() {
        for (String limit : new String[]{"0", "1001", "-1", "ten", "1e3", "99999999999"}) {
            assertThatThrownBy(() -> resource.list(limit, null)).as(limit)
                    .isInstanceOfSatisfying(ApiProblem.class, p -> assertThat(p.status()).isEqualTo(400));
        }
        for (String cursor : new String[]{"not-a-cursor!", WorkerResource.encodeCursor("has space"),
                WorkerResource.encodeCursor("..")}) {
            assertThatThrownBy(() -> resource.list(null, cursor)).as(cursor)
                    .isInstanceOfSatisfying(ApiProblem.class, p -> assertThat(p.status()).isEqualTo(400));
        }
    }
}
