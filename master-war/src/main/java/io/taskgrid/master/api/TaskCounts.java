package io.taskgrid.master.api;

import jakarta.json.bind.annotation.JsonbPropertyOrder;

import java.time.Instant;
import java.util.Map;

/**
 * GET /tasks/counts: how many tasks are in each state (every state named, in lifecycle order), their total, the
 * queue depth the dispatcher holds in memory ({@code queued}, exact at {@code at}), and when the counts were taken.
 */
@JsonbPropertyOrder({"counts", "total", "queued", "at"})
public record TaskCounts(Map<String, Long> counts, long total, int queued, Instant at) {
}
