package io.taskgrid.master.api;

import org.eclipse.microprofile.openapi.annotations.media.Schema;

import java.util.Map;

/**
 * The body of {@code POST /tasks} as the OpenAPI document shows it. Never instantiated: the body is read as a stream
 * and checked by {@link TaskSubmissionParser} (sizes, nesting, duplicate keys) before anything binds it, so the
 * document needs a type of its own to describe it. A unit test holds its fields to the ones the parser accepts.
 */
@Schema(name = "TaskSubmission", description = "A task to run; unknown fields and duplicate keys are refused",
        additionalProperties = Schema.False.class)
public record TaskSubmissionSchema(
        @Schema(required = true, description = "run as /bin/sh -c <cmd>; not blank, no NUL, at most 64 KiB (UTF-8)",
                example = "echo hello world")
        String cmd,
        @Schema(minimum = "1", maximum = "604800", description = "seconds; past it the whole process tree is stopped "
                + "and the task is TIMED_OUT")
        Long timeoutSeconds,
        @Schema(description = "added to the agent's environment; names [A-Za-z_][A-Za-z0-9_]*, at most 256")
        Map<String, String> env,
        @Schema(description = "an absolute path on the agent", maxLength = 4096)
        String cwd,
        @Schema(minimum = "0", maximum = "100", defaultValue = "0", description = "how often a non-zero exit is run "
                + "again")
        Integer retries,
        @Schema(minimum = "1", maximum = "100", description = "how often the task may be handed out when workers are "
                + "lost under it (default taskgrid.task.max.attempts)")
        Integer maxAttempts,
        @Schema(description = "like env, for secret values: never returned, never logged, stored sealed; a name may "
                + "not be in both")
        Map<String, String> secretEnv,
        @Schema(minimum = "0", maximum = "9", defaultValue = "5", description = "higher goes first; tasks of one "
                + "priority go in the order they were submitted")
        Integer priority,
        @Schema(description = "labels the worker must carry (agent --label key=value), at most 16; keys and values "
                + "1 to 63 of [A-Za-z0-9._-], starting with a letter or digit", example = "{\"os\": \"linux\"}")
        Map<String, String> requires) {
}
