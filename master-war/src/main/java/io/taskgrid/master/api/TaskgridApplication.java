package io.taskgrid.master.api;

import jakarta.ws.rs.ApplicationPath;
import jakarta.ws.rs.core.Application;

/** The REST API lives at the root of the master's context: POST /tasks, GET /tasks/{id}, GET /workers. */
@ApplicationPath("/")
public class TaskgridApplication extends Application {
}
