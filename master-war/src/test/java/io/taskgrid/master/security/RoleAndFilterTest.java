package io.taskgrid.master.security;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class RoleAndFilterTest {

    @Test
    void eachRoleIncludesTheOnesBelowIt() {
        assertThat(Role.OPERATOR.includes(Role.SUBMITTER)).isTrue();
        assertThat(Role.SUBMITTER.includes(Role.VIEWER)).isTrue();
        assertThat(Role.VIEWER.includes(Role.SUBMITTER)).isFalse();
        assertThat(Role.SUBMITTER.includes(Role.OPERATOR)).isFalse();
        assertThat(Role.parse(" Operator ")).contains(Role.OPERATOR);
        assertThat(Role.parse("admin")).isEmpty();
    }

    @Test
    void readingNeedsViewerSubmittingAndCancellingNeedSubmitterTheRestOperator() {
        assertThat(ApiAuthFilter.needed("GET", "/tasks")).isEqualTo(Role.VIEWER);
        assertThat(ApiAuthFilter.needed("GET", "workers")).isEqualTo(Role.VIEWER);
        assertThat(ApiAuthFilter.needed("POST", "/tasks")).isEqualTo(Role.SUBMITTER);
        assertThat(ApiAuthFilter.needed("DELETE", "/tasks/123")).isEqualTo(Role.SUBMITTER);
        assertThat(ApiAuthFilter.needed("POST", "/workers/w1/drain")).isEqualTo(Role.OPERATOR);
        assertThat(ApiAuthFilter.needed("PUT", "/anything")).isEqualTo(Role.OPERATOR);
    }
}
