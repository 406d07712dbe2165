package io.taskgrid.master.task;

import io.taskgrid.master.api.TaskSubmissionParser;
import io.taskgrid.master.security.ApiTokens;
import io.taskgrid.master.security.TokenFile;
import io.taskgrid.proto.WorkerLimits;
import jakarta.persistence.Column;
import jakarta.persistence.Table;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.reflect.Field;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The limits the code cuts and checks text to, held against the columns the migrations actually make. Each limit is
 * a number in Java and another in SQL; a migration that narrows a column, or a limit raised in code alone, would
 * otherwise be found by the first input long enough to fail its insert.
 */
class SchemaLimitsTest {

    @TempDir
    Path dir;

    private final Map<String, Integer> lengths = new HashMap<>();

    @BeforeEach
    void migrate() throws Exception {
        TestDatabase.openStore(dir).close();
        for (List<String> row : TestDatabase.rows(TestDatabase.h2(dir), "SELECT TABLE_NAME, COLUMN_NAME, "
                + "CHARACTER_MAXIMUM_LENGTH FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_NAME LIKE 'TG_%' "
                + "AND DATA_TYPE = 'CHARACTER VARYING'")) {
            lengths.put(row.get(0) + "." + row.get(1), Integer.valueOf(row.get(2)));
        }
    }

    private int column(String tableAndColumn) {
        assertThat(lengths).as("the migrated schema").containsKey(tableAndColumn);
        return lengths.get(tableAndColumn);
    }

    @Test
    void everyLengthTheEntitiesDeclareIsTheMigratedColumns() {
        int checked = 0;
        for (Class<?> entity : List.of(Task.class, Attempt.class, IdempotencyKey.class)) {
            String table = entity.getAnnotation(Table.class).name();
            for (Field field : entity.getDeclaredFields()) {
                Column column = field.getAnnotation(Column.class);
                if (column != null && field.getType() == String.class && lengths.containsKey(table + "." + column.name())) {
                    assertThat(column.length()).as(table + "." + column.name())
                            .isEqualTo(column(table + "." + column.name()));
                    checked++;
                }
            }
        }
        assertThat(checked).as("columns compared").isGreaterThanOrEqualTo(14);
    }

    @Test
    void whatTheCodeLetsInFitsTheColumnsItGoesTo() {
        assertThat(TaskSubmissionParser.MAX_CWD_LENGTH).isLessThanOrEqualTo(column("TG_TASK.CWD"));
        assertThat(TokenFile.MAX_NAME_LENGTH).isLessThanOrEqualTo(column("TG_TASK.SUBMITTED_BY"));
        assertThat(Labels.MAX_CANONICAL_LENGTH).isLessThanOrEqualTo(column("TG_TASK.REQUIRES"));
        assertThat(Task.clipReason("x".repeat(100_000)).length()).isLessThanOrEqualTo(column("TG_TASK.REASON"))
                .isLessThanOrEqualTo(column("TG_ATTEMPT.REASON"));
        assertThat(TaskIds.next().length()).isLessThanOrEqualTo(column("TG_TASK.ID"))
                .isLessThanOrEqualTo(column("TG_ATTEMPT.ID")).isLessThanOrEqualTo(column("TG_OUTPUT_CHUNK.ATTEMPT_ID"));
        assertThat("sha256:".length() + 64).as("a scoped Idempotency-Key")
                .isLessThanOrEqualTo(column("TG_IDEMPOTENCY_KEY.IDEMPOTENCY_KEY"));
        assertThat(WorkerLimits.MAX_WORKER_ID_LENGTH).as("a worker id, as agent and master agree on it")
                .isLessThanOrEqualTo(column("TG_TASK.WORKER_ID")).isLessThanOrEqualTo(column("TG_ATTEMPT.WORKER_ID"));
        assertThat(TokenFile.MAX_NAME_LENGTH).as("a caller's name, who cancelled, made or revoked")
                .isLessThanOrEqualTo(column("TG_TASK.CANCELLED_BY")).isLessThanOrEqualTo(column("TG_API_TOKEN.CREATED_BY"))
                .isLessThanOrEqualTo(column("TG_API_TOKEN.REVOKED_BY"));
        assertThat(64).as("ApiTokens.NAME allows 64 characters").isLessThanOrEqualTo(column("TG_API_TOKEN.NAME"));
        assertThat(ApiTokens.NAME.matcher("a".repeat(64)).matches()).isTrue();
        assertThat(ApiTokens.NAME.matcher("a".repeat(65)).matches()).isFalse();
        assertThat(TokenFile.sha256("t").length()).isLessThanOrEqualTo(column("TG_API_TOKEN.TOKEN_HASH"));
    }
}
