package io.taskgrid.master.api;

import io.taskgrid.master.cluster.ThisMaster;
import io.taskgrid.master.dispatch.DatabaseIntake;
import io.taskgrid.master.dispatch.Dispatcher;
import io.taskgrid.master.dispatch.PublishedWorkers;
import io.taskgrid.master.dispatch.WorkerRegistry;
import io.taskgrid.master.security.RequiresRole;
import io.taskgrid.master.security.Role;
import io.taskgrid.master.task.Labels;
import io.taskgrid.master.task.NewTask;
import io.taskgrid.master.task.Task;
import io.taskgrid.master.task.TaskIds;
import io.taskgrid.master.task.TaskState;
import io.taskgrid.master.task.TaskStore;
import io.taskgrid.master.task.TaskSummary;
import io.taskgrid.master.text.SafeText;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.DELETE;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.HeaderParam;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.QueryParam;
import jakarta.ws.rs.core.Context;
import jakarta.ws.rs.core.HttpHeaders;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.core.SecurityContext;
import org.eclipse.microprofile.openapi.annotations.Operation;
import org.eclipse.microprofile.openapi.annotations.enums.ParameterIn;
import org.eclipse.microprofile.openapi.annotations.enums.SchemaType;
import org.eclipse.microprofile.openapi.annotations.headers.Header;
import org.eclipse.microprofile.openapi.annotations.media.Content;
import org.eclipse.microprofile.openapi.annotations.media.Schema;
import org.eclipse.microprofile.openapi.annotations.parameters.Parameter;
import org.eclipse.microprofile.openapi.annotations.parameters.RequestBody;
import org.eclipse.microprofile.openapi.annotations.responses.APIResponse;
import org.eclipse.microprofile.openapi.annotations.tags.Tag;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.sql.SQLTimeoutException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Where a task enters the system. A submitted task is stored QUEUED before the answer goes out, so a 202 means the
 * task is durable; dispatch is then triggered at once rather than waiting for any timer.
 */
@Path("tasks")
@Tag(name = "tasks")
@ApplicationScoped
@Produces(MediaType.APPLICATION_JSON)
public class TaskResource {

    private static final java.util.logging.Logger LOG = java.util.logging.Logger.getLogger(TaskResource.class.getName());

    public static final int MAX_BODY_BYTES = 1024 * 1024;
    /**
     * A batch body at most: 1,000 submissions of 4 KiB each on average. A command of a few hundred bytes with a few
     * variables is well under 1 KiB; a batch of very large commands is better sent as several batches.
     */
    public static final int MAX_BATCH_BODY_BYTES = 4 * 1024 * 1024;
    public static final int DEFAULT_LIMIT = 50;
    public static final int MAX_LIMIT = 1000;

    @Inject
    TaskStore store;

    @Inject
    Dispatcher dispatcher;

    @Inject
    HeavyReads heavyReads;

    @Inject
    WorkerRegistry workers;

    @Inject
    TaskOutputs outputs;

    @Inject
    DatabaseIntake intake;

    @Inject
    ThisMaster thisMaster;

    @POST
    @Consumes(MediaType.APPLICATION_JSON)
    @RequiresRole(Role.SUBMITTER)
    @Operation(operationId = "submitTask", summary = "Submit a task, or a batch of 1 to 1,000 (submitter)",
            description = "One task (an object) or a batch (an array of 1 to 1,000 such objects), stored QUEUED before "
                    + "the answer goes out. A batch is checked whole first and refused whole, naming the first bad "
                    + "submission by its index from 0 (detail and an index member); it is stored in one commit, all or "
                    + "none, and answered with the ids in order ({\"ids\": [...]}, no Location). The schemas below show "
                    + "the single form. At most 1 MiB for one task and 4 MiB for a batch, "
                    + "nested at most 32 levels, no number longer than 32 characters.")
    @RequestBody(required = true, content = @Content(mediaType = MediaType.APPLICATION_JSON,
            schema = @Schema(implementation = TaskSubmissionSchema.class)))
    @APIResponse(responseCode = "202", description = "accepted and stored: one task's view (with Location), or a "
            + "batch's ids in order",
            headers = @Header(name = "Location", description = "/tasks/{id}, for one task", schema = @Schema(type = SchemaType.STRING)),
            content = @Content(mediaType = MediaType.APPLICATION_JSON, schema = @Schema(implementation = TaskView.class)))
    @APIResponse(responseCode = "200", description = "a repeat of an earlier request with the same Idempotency-Key: "
            + "its task (or its batch's ids), nothing created",
            content = @Content(mediaType = MediaType.APPLICATION_JSON, schema = @Schema(implementation = TaskView.class)))
    @APIResponse(responseCode = "400", ref = "BadRequest")
    @APIResponse(responseCode = "401", ref = "Unauthorized")
    @APIResponse(responseCode = "403", ref = "Forbidden")
    @APIResponse(responseCode = "409", ref = "Conflict")
    @APIResponse(responseCode = "413", ref = "TooLarge")
    @APIResponse(responseCode = "415", ref = "UnsupportedMediaType")
    @APIResponse(responseCode = "422", ref = "Unprocessable")
    @APIResponse(responseCode = "429", ref = "TooManyRequests")
    @APIResponse(responseCode = "503", ref = "Busy")
    public Response submit(InputStream body,
                           @Parameter(hidden = true) @HeaderParam("Content-Length") String contentLength,
                           @Parameter(name = "Idempotency-Key", in = ParameterIn.HEADER, description = "1 to 255 "
                                   + "visible ASCII characters; a repeat of the same request answers 200 with the "
                                   + "original task", schema = @Schema(type = SchemaType.STRING, minLength = 1,
                                   maxLength = 255))
                           @HeaderParam("Idempotency-Key") String idempotencyKey,
                           @Context SecurityContext security, @Context HttpHeaders headers) {
        List<String> keys = headers.getRequestHeader("Idempotency-Key");
        if (keys != null && keys.size() > 1) {
            // Which one would the client have meant? Taking the first silently could replay the wrong task.
            throw ApiProblem.badRequest("send one Idempotency-Key header, not " + keys.size());
        }
        TaskSubmissionParser.Submissions submissions = TaskSubmissionParser.parseSubmissions(
                readSubmissionBody(body, contentLength));
        String caller = security.getUserPrincipal().getName();
        if (submissions.batch()) {
            return submitBatch(submissions.tasks(), caller, idempotencyKey);
        }
        NewTask spec = submissions.tasks().get(0);
        String key = IdempotencyKeys.scoped(caller, IdempotencyKeys.validate(idempotencyKey));
        String requestHash = key == null ? null : store.fingerprint(spec);
        if (key != null) {
            Optional<TaskStore.KeyedTask> earlier = store.findByIdempotencyKey(key);
            if (earlier.isPresent()) {
                return replay(earlier.get(), spec, idempotencyKey);
            }
        }
        Dispatcher.Submission submission;
        String id = TaskIds.next();
        try {
            String sealed = store.seal(id, spec);
            submission = await(ActiveMasterFilter.submitsHere(thisMaster) ? dispatcher.submit(id, spec, caller, key, requestHash, sealed)
                    : intake.submit(id, spec, caller, key, requestHash, sealed));
        } catch (Dispatcher.CallerShareFull share) {
            throw ApiProblem.tooManyTasks(SafeText.oneLine(caller, 128) + " has " + share.unfinished()
                    + " unfinished tasks, its whole share of the queue (" + share.share()
                    + ": taskgrid.queue.per.caller.share of taskgrid.queue.max); nothing was accepted. Wait for some to "
                    + "finish, or cancel some, then try again", 5);
        } catch (Dispatcher.QueueFull full) {
            throw ApiProblem.busy(full.queued() + " tasks are queued, the most this master holds (taskgrid.queue.max); "
                    + "nothing was accepted, try again later", 5);
        }
        if (submission.keyInUse()) {
            // Another request with this key was being stored at the same moment: answer as for a retry of it.
            return store.findByIdempotencyKey(key).map(earlier -> replay(earlier, spec, idempotencyKey))
                    .orElseThrow(() -> ApiProblem.busy("a request with this Idempotency-Key was not stored; try again", 1));
        }
        Task task = submission.task();
        return Response.accepted(TaskView.of(task, List.of(), waiting(task))).location(URI.create("/tasks/" + task.getId())).build();
    }

    /**
     * A batch: stored all or none in one commit, answered with the ids in order once it is. The answer is the ids only
     * (about 40 bytes a task), not a view of each task: the caller knows what it sent.
     */
    private Response submitBatch(List<NewTask> specs, String caller, String idempotencyKey) {
        String key = IdempotencyKeys.scoped(caller, IdempotencyKeys.validate(idempotencyKey));
        String requestHash = key == null ? null : store.fingerprint(specs);
        if (key != null) {
            Optional<TaskStore.KeyedTask> earlier = store.findByIdempotencyKey(key);
            if (earlier.isPresent()) {
                return replayBatch(earlier.get(), specs, key, idempotencyKey);
            }
        }
        List<String> ids = new ArrayList<>(specs.size());
        List<String> sealed = new ArrayList<>(specs.size());
        for (NewTask spec : specs) {
            String id = TaskIds.next();
            ids.add(id);
            sealed.add(store.seal(id, spec));
        }
        Dispatcher.BatchSubmission submission;
        try {
            submission = await(ActiveMasterFilter.submitsHere(thisMaster) ? dispatcher.submitBatch(ids, specs, caller, key, requestHash, sealed)
                    : intake.submitBatch(ids, specs, caller, key, requestHash, sealed));
        } catch (Dispatcher.CallerShareFull share) {
            throw ApiProblem.tooManyTasks(SafeText.oneLine(caller, 128) + " has " + share.unfinished()
                    + " unfinished tasks; " + specs.size() + " more would exceed its share of the queue ("
                    + share.share() + ": taskgrid.queue.per.caller.share of taskgrid.queue.max); nothing of the batch was "
                    + "accepted. Wait for some to finish, or send fewer, then try again", 5);
        } catch (Dispatcher.QueueFull full) {
            throw ApiProblem.busy(full.queued() + " tasks are queued; " + specs.size() + " more would exceed the most "
                    + "this master holds (taskgrid.queue.max); nothing of the batch was accepted, try again later", 5);
        }
        if (submission.keyInUse()) {
            return store.findByIdempotencyKey(key).map(earlier -> replayBatch(earlier, specs, key, idempotencyKey))
                    .orElseThrow(() -> ApiProblem.busy("a request with this Idempotency-Key was not stored; try again", 1));
        }
        return Response.accepted(new BatchIds(submission.ids())).build();
    }

    /** The same key again for a batch: its ids if the request is the same, 422 as for a single submission if not. */
    private Response replayBatch(TaskStore.KeyedTask earlier, List<NewTask> specs, String scopedKey, String key) {
        String first = earlier.task().getId();
        if (!store.fingerprintMatches(specs, earlier.requestHash())) {
            throw ApiProblem.unprocessable("Idempotency-Key '" + SafeText.echo(key) + "' was already used for a different "
                    + "request (task " + first + "); use a new key for a new task");
        }
        List<String> ids = store.batchIds(scopedKey, first, specs.size()).orElseThrow(() -> ApiProblem.conflict(
                "the batch stored under Idempotency-Key '" + SafeText.echo(key) + "' has tasks that were since removed "
                        + "(taskgrid.retention); nothing was created; use a new key to submit it again"));
        return Response.ok(new BatchIds(ids)).build();
    }

    /** A change is answered once durable; a master that cannot make it durable soon says so rather than hang. */
    private static <T> T await(CompletableFuture<T> change) {
        try {
            return change.get(30, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException runtime) {
                throw runtime;
            }
            // The writer could not make it durable (the database failed the transaction, or this master lost its
            // lease): nothing was acknowledged, and the client may send it again.
            LOG.warning("a change could not be stored: " + SafeText.oneLine(String.valueOf(e.getCause()), 500));
            throw ApiProblem.busy("the master could not store the change; try again", 2);
        } catch (TimeoutException e) {
            throw ApiProblem.busy("the master could not store the change within 30 s (its database is slow or away); "
                    + "try again", 5);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** The same key again: the original task if the request is the same, 422 if it is not. */
    private Response replay(TaskStore.KeyedTask earlier, NewTask spec, String key) {
        Task task = earlier.task();
        if (!store.fingerprintMatches(spec, earlier.requestHash())) {
            throw ApiProblem.unprocessable("Idempotency-Key '" + SafeText.echo(key) + "' was already used for a different request"
                    + " (task " + task.getId() + "); use a new key for a new task");
        }
        return Response.ok(view(task)).location(URI.create("/tasks/" + task.getId())).build();
    }

    @GET
    @Path("{id}")
    @RequiresRole(Role.VIEWER)
    @Operation(operationId = "getTask", summary = "A task, with its output and attempts (viewer)")
    @APIResponse(responseCode = "200", description = "the task",
            content = @Content(mediaType = MediaType.APPLICATION_JSON, schema = @Schema(implementation = TaskView.class)))
    @APIResponse(responseCode = "401", ref = "Unauthorized")
    @APIResponse(responseCode = "403", ref = "Forbidden")
    @APIResponse(responseCode = "404", ref = "NotFound")
    @APIResponse(responseCode = "503", ref = "Busy")
    public Response get(@Parameter(description = "the task's id") @PathParam("id") String id) {
        // The permit is held until the answer is written: its bytes live as long as the client takes to read them.
        return heavyReads.answer(() -> Response.ok(JsonAnswers.bytes(view(existing(id))), MediaType.APPLICATION_JSON_TYPE)
                .build());
    }

    /**
     * Cancels a task: a queued one is CANCELLED at once (200); one in flight is stopped by its agent, whole process
     * tree, and becomes CANCELLED when the agent reports it (202). A task in a final state: 409, nothing changes.
     */
    @DELETE
    @Path("{id}")
    @RequiresRole(Role.SUBMITTER)
    @Operation(operationId = "cancelTask", summary = "Cancel a task (submitter: its own; operator: any)")
    @APIResponse(responseCode = "200", description = "it was queued and is CANCELLED now",
            content = @Content(mediaType = MediaType.APPLICATION_JSON, schema = @Schema(implementation = TaskView.class)))
    @APIResponse(responseCode = "202", description = "it is in flight: its agent stops it, then it is CANCELLED",
            content = @Content(mediaType = MediaType.APPLICATION_JSON, schema = @Schema(implementation = TaskView.class)))
    @APIResponse(responseCode = "401", ref = "Unauthorized")
    @APIResponse(responseCode = "403", ref = "Forbidden")
    @APIResponse(responseCode = "404", ref = "NotFound")
    @APIResponse(responseCode = "409", ref = "Conflict")
    @APIResponse(responseCode = "503", ref = "Busy")
    public Response cancel(@Parameter(description = "the task's id") @PathParam("id") String id,
                           @Context SecurityContext caller) {
        if (!TaskIds.looksValid(id)) {
            throw ApiProblem.notFound("no task with id '" + SafeText.echo(id) + "'");
        }
        String name = caller.getUserPrincipal().getName();
        boolean operator = caller.isUserInRole("operator");
        Dispatcher.Cancellation cancellation = await(ActiveMasterFilter.changesHere(thisMaster) ? dispatcher.cancel(id, name, operator)
                : intake.cancel(id, name, operator));
        if (cancellation.outcome() == Dispatcher.Cancellation.Outcome.NOT_TAKEN_YET) {
            // Submitted through another master a moment ago: this master's wake-up takes it, then the cancel.
            cancellation = await(intake.cancel(id, name, operator));
        }
        Task task = cancellation.task();
        return switch (cancellation.outcome()) {
            case NOT_FOUND -> throw ApiProblem.notFound("no task with id '" + id + "'");
            case FORBIDDEN -> throw new ApiProblem(403, "Forbidden",
                    "a submitter may cancel only its own tasks; this needs the operator role");
            case ALREADY_FINAL -> throw ApiProblem.conflict("task " + id + " is already " + task.getState()
                    + "; there is nothing to cancel");
            case CANCELLED -> Response.ok(TaskView.of(task, store.attempts(id))).build();
            case IN_FLIGHT, NOT_TAKEN_YET -> Response.accepted(TaskView.of(task, store.attempts(id))).build();
        };
    }

    private Task existing(String id) {
        if (!TaskIds.looksValid(id)) {
            throw ApiProblem.notFound("no task with id '" + SafeText.echo(id) + "'");
        }
        return store.find(id).orElseThrow(() -> ApiProblem.notFound("no task with id '" + id + "'"));
    }

    private TaskView view(Task task) {
        return TaskView.of(task, store.attempts(task.getId()), waiting(task));
    }

    /** Why a queued task is not running yet; null for a task in any other state. */
    private String waiting(Task task) {
        if (task.getState() != TaskState.QUEUED) {
            return null;
        }
        return thisMaster.holdsEveryTask() ? workers.whyWaiting(task.getRequires())
                : WorkerRegistry.whyWaiting(task.getRequires(), intake.workers().stream()
                .map(PublishedWorkers.Seen::offer).toList());
    }

    @GET
    @RequiresRole(Role.VIEWER)
    @Operation(operationId = "listTasks", summary = "Tasks, newest first, as summaries (viewer)")
    @APIResponse(responseCode = "200", description = "one page; pass next as cursor for the following one",
            content = @Content(mediaType = MediaType.APPLICATION_JSON, schema = @Schema(implementation = TaskPage.class)))
    @APIResponse(responseCode = "400", ref = "BadRequest")
    @APIResponse(responseCode = "401", ref = "Unauthorized")
    @APIResponse(responseCode = "403", ref = "Forbidden")
    // The enumeration of states is filled in from TaskState by OpenApiStates.
    public Response list(@Parameter(description = "only tasks in this state (case-insensitive)",
                                 schema = @Schema(type = SchemaType.STRING))
                         @QueryParam("state") String state,
                         @Parameter(description = "page size", schema = @Schema(type = SchemaType.INTEGER,
                                 minimum = "1", maximum = "1000", defaultValue = "50"))
                         @QueryParam("limit") String limit,
                         @Parameter(description = "the next value of the previous page")
                         @QueryParam("cursor") String cursor,
                         @Parameter(description = "only tasks that require this label, key=value (repeat for several)")
                         @QueryParam("label") List<String> label) {
        TaskState wanted = parseState(state);
        Labels labels = parseLabels(label);
        int size = parseLimit(limit);
        String before = parseCursor(cursor);
        // One more than asked tells whether a next page exists without a count query.
        List<TaskSummary> found = labels.isEmpty() ? store.list(wanted, before, size + 1)
                : labelFiltered(wanted, labels, before, size + 1);
        boolean more = found.size() > size;
        List<TaskSummary> page = more ? found.subList(0, size) : found;
        String next = more ? encodeCursor(page.get(page.size() - 1).id()) : null;
        // Written against a deadline: a client that stops reading a page of 1,000 tasks must not keep it and a
        // request thread for ever.
        return Response.ok(HeavyReads.bounded(JsonAnswers.bytes(new TaskPage(page.stream().map(TaskSummaryView::of)
                .toList(), next))), MediaType.APPLICATION_JSON_TYPE).build();
    }

    /**
     * A task's output from a byte offset on, as plain text; or followed as Server-Sent Events until the task ends
     * ({@code follow=true} or {@code Accept: text/event-stream}). See {@link TaskOutputs}.
     */
    @GET
    @Path("{id}/output")
    // Not SERVER_SENT_EVENTS: a method declaring it gets a JAX-RS runtime's own SSE handling (an SseEventSink, an
    // asynchronous response) also for its plain reads. The answer names its own type, text/plain or text/event-stream.
    @Produces({MediaType.TEXT_PLAIN, MediaType.WILDCARD})
    @RequiresRole(Role.VIEWER)
    @Operation(operationId = "getTaskOutput", summary = "A task's output, stored so far or followed live (viewer)",
            description = "Plain text from a byte offset on; with follow=true or Accept: text/event-stream, "
                    + "Server-Sent Events until the task ends (event ids are byte offsets; resume with Last-Event-ID)")
    @APIResponse(responseCode = "200", description = "the output kept so far (UTF-8), or an SSE stream",
            headers = @Header(name = "Taskgrid-Output-Truncated", description = "whether the command printed more "
                    + "than the cap", schema = @Schema(type = SchemaType.BOOLEAN)),
            content = {@Content(mediaType = MediaType.TEXT_PLAIN, schema = @Schema(type = SchemaType.STRING)),
                    @Content(mediaType = MediaType.SERVER_SENT_EVENTS, schema = @Schema(type = SchemaType.STRING))})
    @APIResponse(responseCode = "400", ref = "BadRequest")
    @APIResponse(responseCode = "401", ref = "Unauthorized")
    @APIResponse(responseCode = "403", ref = "Forbidden")
    @APIResponse(responseCode = "404", ref = "NotFound")
    @APIResponse(responseCode = "429", ref = "TooManyRequests")
    @APIResponse(responseCode = "503", ref = "Busy")
    public Response output(@Parameter(description = "the task's id") @PathParam("id") String id,
                           @Parameter(description = "which stream", schema = @Schema(type = SchemaType.STRING,
                                   enumeration = {"stdout", "stderr", "both"}, defaultValue = "stdout"))
                           @QueryParam("stream") String stream,
                           @Parameter(description = "the first byte to return (default 0)") @QueryParam("offset")
                           String offset,
                           @Parameter(description = "true: follow as Server-Sent Events until the task ends")
                           @QueryParam("follow") String follow,
                           @HeaderParam("Accept") String accept,
                           @Parameter(description = "resume a followed stream after this event id")
                           @HeaderParam("Last-Event-ID") String lastEventId,
                           @Context SecurityContext caller) {
        return outputs.serve(id, stream, offset, follow, accept, lastEventId, caller.getUserPrincipal().getName());
    }

    private static TaskState parseState(String state) {
        if (state == null || state.isEmpty()) {
            return null;
        }
        try {
            return TaskState.valueOf(state.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw ApiProblem.badRequest("unknown state '" + SafeText.echo(state) + "'; use one of " + Arrays.toString(TaskState.values()));
        }
    }

    /**
     * Label-filtered lists read rows no index finds, so few run at once and none runs long: a viewer sending many
     * cannot hold the data source's connections that dispatch and intake need.
     */
    private static final Semaphore LABEL_LISTS = new Semaphore(4);

    private List<TaskSummary> labelFiltered(TaskState state, Labels labels, String before, int limit) {
        boolean permitted;
        try {
            permitted = LABEL_LISTS.tryAcquire(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            permitted = false;
        }
        if (!permitted) {
            throw ApiProblem.busy("too many label-filtered lists at once; try again", 2);
        }
        try {
            return store.list(state, labels, before, limit);
        } catch (IllegalStateException e) {
            if (e.getCause() instanceof SQLTimeoutException) {
                throw ApiProblem.busy("the label filter took longer than " + TaskStore.LIST_TIMEOUT_SECONDS
                        + " s; narrow it with state=", 5);
            }
            throw e;
        } finally {
            LABEL_LISTS.release();
        }
    }

    /** {@code key=value} each, checked as a task's requirements are; none: no filter. */
    static Labels parseLabels(List<String> labels) {
        if (labels == null || labels.isEmpty()) {
            return Labels.NONE;
        }
        if (labels.size() > Labels.MAX_LABELS) {
            throw ApiProblem.badRequest(labels.size() + " label filters; at most " + Labels.MAX_LABELS);
        }
        Map<String, String> wanted = new LinkedHashMap<>();
        for (String label : labels) {
            int eq = label == null ? -1 : label.indexOf('=');
            if (eq < 0) {
                throw ApiProblem.badRequest("label '" + SafeText.echo(label) + "' is not key=value");
            }
            if (wanted.put(label.substring(0, eq), label.substring(eq + 1)) != null) {
                // Two values of one key: no task requires both, and keeping the last would answer another question.
                throw ApiProblem.badRequest("label '" + SafeText.echo(label.substring(0, eq)) + "' is given twice");
            }
        }
        try {
            return Labels.of(wanted);
        } catch (IllegalArgumentException e) {
            throw ApiProblem.badRequest(e.getMessage());
        }
    }

    private static int parseLimit(String limit) {
        return PageRequest.limit(limit, DEFAULT_LIMIT, MAX_LIMIT);
    }

    static String encodeCursor(String id) {
        return PageRequest.encodeCursor(id);
    }

    static String parseCursor(String cursor) {
        return PageRequest.cursor(cursor, TaskIds::looksValid);
    }

    /** Reads at most 1 MiB; a larger body is refused without reading it all. */
    static String readBody(InputStream body, String contentLength) {
        return readBody(body, contentLength, false);
    }

    /**
     * A POST /tasks body: at most 1 MiB for one task, and at most {@link #MAX_BATCH_BODY_BYTES} for a batch (a body
     * whose first character is '['). Either is refused as soon as it is known to be too large.
     */
    static String readSubmissionBody(InputStream body, String contentLength) {
        return readBody(body, contentLength, true);
    }

    private static String readBody(InputStream body, String contentLength, boolean batchAllowed) {
        int most = batchAllowed ? MAX_BATCH_BODY_BYTES : MAX_BODY_BYTES;
        if (contentLength != null) {
            try {
                if (Long.parseLong(contentLength.trim()) > most) {
                    throw ApiProblem.tooLarge("the body is " + SafeText.echo(contentLength.trim()) + " bytes; at most "
                            + limits(batchAllowed) + " are accepted");
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
            int limit = most;
            boolean shapeKnown = !batchAllowed;
            int n;
            while ((n = body.read(chunk)) != -1) {
                if (!shapeKnown) {
                    for (int i = 0; i < n && !shapeKnown; i++) {
                        byte b = chunk[i];
                        if (b != ' ' && b != '\t' && b != '\r' && b != '\n') {
                            shapeKnown = true;
                            limit = b == '[' ? MAX_BATCH_BODY_BYTES : MAX_BODY_BYTES;
                        }
                    }
                }
                buffer.write(chunk, 0, n);
                if (buffer.size() > limit) {
                    throw ApiProblem.tooLarge("the body is larger than " + limit + " bytes; at most "
                            + limits(batchAllowed) + " are accepted");
                }
            }
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(buffer.toByteArray())).toString();
        } catch (CharacterCodingException e) {
            throw ApiProblem.badRequest("the body is not valid UTF-8");
        } catch (IOException e) {
            throw ApiProblem.badRequest("the body could not be read: " + SafeText.echo(e.getMessage()));
        }
    }

    private static String limits(boolean batchAllowed) {
        return batchAllowed ? MAX_BODY_BYTES + " (1 MiB) for one task, " + MAX_BATCH_BODY_BYTES + " (4 MiB) for a batch"
                : MAX_BODY_BYTES + " (1 MiB)";
    }
}
