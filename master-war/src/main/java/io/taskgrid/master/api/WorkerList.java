package io.taskgrid.master.api;

import jakarta.json.bind.annotation.JsonbNillable;
import jakarta.json.bind.annotation.JsonbPropertyOrder;

import java.util.List;

/**
 * One page of GET /workers: {@code count} workers are connected in all; {@code workers} are this page's, in id order;
 * {@code next} is the cursor for the following page, null on the last one.
 */
@JsonbNillable
@JsonbPropertyOrder({"count", "workers", "next"})
public record WorkerList(int count, List<WorkerView> workers, String next) {
}
