package io.taskgrid.master.api;

import jakarta.json.bind.annotation.JsonbNillable;
import jakarta.json.bind.annotation.JsonbPropertyOrder;

import java.util.List;

/**
 * One page of GET /tasks: summaries, newest first; {@code next} is the cursor for the following page, null on the last
 * one.
 */
@JsonbNillable
@JsonbPropertyOrder({"tasks", "next"})
public record TaskPage(List<TaskSummaryView> tasks, String next) {
}
