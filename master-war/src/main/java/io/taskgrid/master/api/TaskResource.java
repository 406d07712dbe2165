package io.taskgrid.master.api;

import io.taskgrid.master.dispatch.Dispatcher;
import io.taskgrid.master.task.NewTask;
import io.taskgrid.master.task.Task;
import io.taskgrid.master.task.TaskIds;
import io.taskgrid.master.task.TaskState;
import io.taskgrid.master.task.TaskStore;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.HeaderParam;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.QueryParam;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Locale;

/**
 * Where a task enters the system. A submitted task is stored QUEUED before the answer goes out, so a 202 means the
 * task is durable; dispatch is then triggered at once rather than waiting for any timer.
 */
@Path("tasks")
@ApplicationScoped
@Produces(MediaType.APPLICATION_JSON)
public class TaskResource {

    public static final int MAX_BODY_BYTES = 1024 * 1024;
    public static final int DEFAULT_LIMIT = 50;
    public static final int MAX_LIMIT = 1000;

    @Inject
    TaskStore store;

    @Inject
    Dispatcher dispatcher;

    @POST
    @Consumes(MediaType.APPLICATION_JSON)
    public Response submit(InputStream body, @HeaderParam("Content-Length") String contentLength) {
        NewTask spec = TaskSubmissionParser.parse(readBody(body, contentLength));
        Task task = store.create(spec);
        dispatcher.requestDispatch();
        return Response.accepted(TaskView.of(task)).location(URI.create("/tasks/" + task.getId())).build();
    }

    @GET
    @Path("{id}")
    public TaskView get(@PathParam("id") String id) {
        if (!TaskIds.looksValid(id)) {
            throw ApiProblem.notFound("no task with id '" + id + "'");
        }
        return store.find(id).map(TaskView::of)
                .orElseThrow(() -> ApiProblem.notFound("no task with id '" + id + "'"));
    }

    @GET
    public TaskPage list(@QueryParam("state") String state, @QueryParam("limit") String limit,
                         @QueryParam("cursor") String cursor) {
        TaskState wanted = parseState(state);
        int size = parseLimit(limit);
        String before = parseCursor(cursor);
        // One more than asked tells whether a next page exists without a count query.
        List<Task> found = store.list(wanted, before, size + 1);
        boolean more = found.size() > size;
        List<Task> page = more ? found.subList(0, size) : found;
        String next = more ? encodeCursor(page.get(page.size() - 1).getId()) : null;
        return new TaskPage(page.stream().map(TaskView::of).toList(), next);
    }

    private static TaskState parseState(String state) {
        if (state == null || state.isEmpty()) {
            return null;
        }
        try {
            return TaskState.valueOf(state.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw ApiProblem.badRequest("unknown state '" + state + "'; use one of " + Arrays.toString(TaskState.values()));
        }
    }

    private static int parseLimit(String limit) {
        if (limit == null || limit.isEmpty()) {
            return DEFAULT_LIMIT;
        }
        try {
            int value = Integer.parseInt(limit);
            if (value >= 1 && value <= MAX_LIMIT) {
                return value;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw ApiProblem.badRequest("'limit' must be a whole number from 1 to " + MAX_LIMIT + "; got '" + limit + "'");
    }

    static String encodeCursor(String id) {
        return Base64.getUrlEncoder().withoutPadding().encodeToString(id.getBytes(StandardCharsets.US_ASCII));
    }

    static String parseCursor(String cursor) {
        if (cursor == null || cursor.isEmpty()) {
            return null;
        }
        try {
            String id = new String(Base64.getUrlDecoder().decode(cursor), StandardCharsets.US_ASCII);
            if (TaskIds.looksValid(id)) {
                return id;
            }
        } catch (IllegalArgumentException e) {
            // reported below
        }
        throw ApiProblem.badRequest("'cursor' is not one this API handed out; use the 'next' value of the previous page");
    }

    /** Reads at most 1 MiB; a larger body is refused without reading it all. */
    private static String readBody(InputStream body, String contentLength) {
        if (contentLength != null) {
            try {
                if (Long.parseLong(contentLength.trim()) > MAX_BODY_BYTES) {
                    throw ApiProblem.tooLarge("the body is " + contentLength.trim() + " bytes; at most "
                            + MAX_BODY_BYTES + " (1 MiB) are accepted");
                }
            } catch (NumberFormatException e) {
                throw ApiProblem.badRequest("Content-Length is not a number");
            }
        }
        if (body == null) {
            return "";
        }
        try {
            ByteArrayOutputStream buffer = new ByteArrayOutputStream();
            byte[] chunk = new byte[16 * 1024];
            int n;
            while ((n = body.read(chunk)) != -1) {
                buffer.write(chunk, 0, n);
                if (buffer.size() > MAX_BODY_BYTES) {
                    throw ApiProblem.tooLarge("the body is larger than " + MAX_BODY_BYTES + " bytes (1 MiB)");
                }
            }
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(buffer.toByteArray())).toString();
        } catch (CharacterCodingException e) {
            throw ApiProblem.badRequest("the body is not valid UTF-8");
        } catch (IOException e) {
            throw ApiProblem.badRequest("the body could not be read: " + e.getMessage());
        }
    }
}
