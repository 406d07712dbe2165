package io.taskgrid.master.api;

import org.eclipse.microprofile.openapi.annotations.media.Schema;

import java.util.List;

/** The answer to a batch submission: the new tasks' ids, in the order of the submissions. */
@Schema(name = "BatchIds", description = "the ids of a batch's tasks, in the order of its submissions")
public record BatchIds(@Schema(description = "one id per submission, in order") List<String> ids) {
}
