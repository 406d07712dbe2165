package io.taskgrid.master.api;

import jakarta.json.bind.annotation.JsonbPropertyOrder;

import java.time.Instant;
import java.util.Map;

/**
 * GET /tasks/counts: how many tasks are in each state (every state named, in lifecycle order), their total, the
 * queue depth the dispatcher holds in memory ({@code queued}, exact at {@code at}), when the counts were taken, and
 * how many tasks ended since this master started ({@code endedSinceStart}): a counter that only grows, unlike the
 * counts by state, which fall when retention deletes old tasks; a dashboard's throughput is its change over time.
 */
@JsonbPropertyOrder({"counts", "total", "queued", "endedSinceStart", "at"})
public record TaskCounts(Map<String, Long> counts, long total, int queued, long endedSinceStart, Instant at) {
}
