package io.taskgrid.master.api;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class ActiveMasterFilterTest {

    @Test
    void aStandbyTakesSubmissionsCancelsDrainsAndTheWorkerList() {
        assertThat(ActiveMasterFilter.takenByStandby("POST", "tasks")).isTrue();
        assertThat(ActiveMasterFilter.takenByStandby("DELETE", "tasks/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")).isTrue();
        assertThat(ActiveMasterFilter.takenByStandby("POST", "workers/w1/drain")).isTrue();
        assertThat(ActiveMasterFilter.takenByStandby("GET", "workers")).isTrue();
    }

    @Test
    void tokensSecretsAndAnythingElseStayWithTheActiveMaster() {
        assertThat(ActiveMasterFilter.takenByStandby("POST", "tokens")).isFalse();
        assertThat(ActiveMasterFilter.takenByStandby("DELETE", "tokens/abc")).isFalse();
        assertThat(ActiveMasterFilter.takenByStandby("POST", "secrets/reseal")).isFalse();
        assertThat(ActiveMasterFilter.takenByStandby("POST", "workers/w1/drain/x")).isFalse();
        assertThat(ActiveMasterFilter.takenByStandby("DELETE", "tasks")).isFalse();
        assertThat(ActiveMasterFilter.takenByStandby("PUT", "tasks/x")).isFalse();
    }
}
