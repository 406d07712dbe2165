package io.taskgrid.master.api;

import io.taskgrid.master.cluster.MasterRole;
import io.taskgrid.master.cluster.ThisMaster;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ActiveMasterFilterTest {

    @Test
    void aStandbyTakesSubmissionsCancelsDrainsTheWorkerListTokensAndNewKeys() {
        assertThat(ActiveMasterFilter.takenByStandby("POST", "tasks")).isTrue();
        assertThat(ActiveMasterFilter.takenByStandby("DELETE", "tasks/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")).isTrue();
        assertThat(ActiveMasterFilter.takenByStandby("POST", "workers/w1/drain")).isTrue();
        assertThat(ActiveMasterFilter.takenByStandby("GET", "workers")).isTrue();
        assertThat(ActiveMasterFilter.takenByStandby("POST", "tokens")).isTrue();
        assertThat(ActiveMasterFilter.takenByStandby("DELETE", "tokens/tok_0190a1b2")).isTrue();
        assertThat(ActiveMasterFilter.takenByStandby("POST", "secrets/keys")).isTrue();
    }

    @Test
    void theResealAndAnythingElseStayWithTheActiveMaster() {
        assertThat(ActiveMasterFilter.takenByStandby("POST", "secrets/reseal")).isFalse();
        assertThat(ActiveMasterFilter.takenByStandby("DELETE", "tokens")).isFalse();
        assertThat(ActiveMasterFilter.takenByStandby("DELETE", "tokens/a/b")).isFalse();
        assertThat(ActiveMasterFilter.takenByStandby("POST", "secrets")).isFalse();
        assertThat(ActiveMasterFilter.takenByStandby("POST", "workers/w1/drain/x")).isFalse();
        assertThat(ActiveMasterFilter.takenByStandby("DELETE", "tasks")).isFalse();
        assertThat(ActiveMasterFilter.takenByStandby("PUT", "tasks/x")).isFalse();
    }

    private static ThisMaster master(boolean mayDispatch, MasterRole.State state) {
        return new ThisMaster() {
            @Override
            public boolean isActive() {
                return mayDispatch;
            }

            @Override
            public MasterRole.State state() {
                return state;
            }
        };
    }

    /**
     * A change goes to this master's dispatcher while it may dispatch, through the database on a standby, and nowhere
     * otherwise: an active master a lease past its last renewal (or one starting, deposed) answers 503 rather than
     * storing a task for an active master that may be itself, on a database no other master reads (H2).
     */
    @Test
    void aChangeGoesToTheDispatcherToTheDatabaseOrIsRefused() {
        assertThat(ActiveMasterFilter.changesHere(master(true, MasterRole.State.ACTIVE))).isTrue();
        assertThat(ActiveMasterFilter.changesHere(master(false, MasterRole.State.STANDBY))).isFalse();
        for (MasterRole.State state : List.of(MasterRole.State.ACTIVE, MasterRole.State.SUSPENDED,
                MasterRole.State.STARTING, MasterRole.State.DEPOSED)) {
            assertThatThrownBy(() -> ActiveMasterFilter.changesHere(master(false, state))).as(state.name())
                    .isInstanceOfSatisfying(ApiProblem.class, p -> assertThat(p.status()).isEqualTo(503));
        }
    }
}
