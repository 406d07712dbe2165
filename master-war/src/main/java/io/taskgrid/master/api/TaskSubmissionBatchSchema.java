package io.taskgrid.master.api;

import org.eclipse.microprofile.openapi.annotations.media.Schema;

import java.util.ArrayList;

/**
 * A batch body of {@code POST /tasks} as the OpenAPI document shows it: an array of submissions. Never instantiated
 * (see {@link TaskSubmissionSchema}); a list type so that the document shows the array's items.
 */
@Schema(name = "TaskSubmissionBatch", minItems = 1, maxItems = TaskSubmissionParser.MAX_BATCH,
        description = "1 to 1,000 tasks, checked whole and stored whole (one commit), answered with their ids in order")
public final class TaskSubmissionBatchSchema extends ArrayList<TaskSubmissionSchema> {
    private static final long serialVersionUID = 1L;

    private TaskSubmissionBatchSchema() {
    }
}
