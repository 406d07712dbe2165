package io.taskgrid.it;

import io.swagger.v3.oas.models.OpenAPI;
import io.swagger.v3.oas.models.Operation;
import io.swagger.v3.oas.models.PathItem;
import io.swagger.v3.oas.models.media.MediaType;
import io.swagger.v3.oas.models.responses.ApiResponse;
import io.swagger.v3.oas.models.security.SecurityScheme;
import io.swagger.v3.parser.OpenAPIV3Parser;
import io.swagger.v3.parser.core.models.ParseOptions;
import io.swagger.v3.parser.core.models.SwaggerParseResult;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The OpenAPI document the server made from the application's annotations: valid (parsed and checked by
 * swagger-parser), open without a token, and complete: every resource method of the source is an operation in it,
 * with nothing extra, each with its success and every error as problem+json, under the bearer scheme.
 */
@ExtendWith(SharedCluster.class)
class OpenApiIT {

    private final TaskgridClient anonymous = SharedCluster.client().withToken(null);

    private record Endpoint(String method, String path) {
        @Override
        public String toString() {
            return method + " " + path;
        }
    }

    private OpenAPI document() {
        TaskgridClient.Reply reply = anonymous.send(HttpRequest.newBuilder(URI.create(anonymous.base() + "/openapi"))
                .header("Accept", "application/json").GET().build());
        assertThat(reply.status()).as(reply.body()).isEqualTo(200);
        assertThat(reply.contentType()).startsWith("application/json");
        ParseOptions options = new ParseOptions();
        options.setResolve(true);
        SwaggerParseResult parsed = new OpenAPIV3Parser().readContents(reply.body(), null, options);
        assertThat(parsed.getMessages()).as("what the parser found wrong with the document").isEmpty();
        assertThat(parsed.getOpenAPI()).isNotNull();
        return parsed.getOpenAPI();
    }

    @Test
    void theStateFilterOfTheListNamesEveryStateOfTheLifecycle() {
        io.swagger.v3.oas.models.parameters.Parameter state = document().getPaths().get("/tasks").getGet().getParameters()
                .stream().filter(p -> p.getName().equals("state")).findFirst().orElseThrow();
        assertThat(state.getSchema().getEnum()).as("filled in from TaskState")
                .containsExactly("QUEUED", "ASSIGNED", "RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "CANCELLED", "LOST");
    }

    @Test
    void theDocumentIsValidAndDescribesEveryEndpointWithItsErrorsAndTheBearerScheme() throws IOException {
        OpenAPI api = document();
        assertThat(api.getOpenapi()).startsWith("3.");
        SecurityScheme bearer = api.getComponents().getSecuritySchemes().get("bearer");
        assertThat(bearer.getType()).isEqualTo(SecurityScheme.Type.HTTP);
        assertThat(bearer.getScheme()).isEqualTo("bearer");
        assertThat(api.getSecurity()).anySatisfy(requirement -> assertThat(requirement).containsKey("bearer"));

        List<Endpoint> expected = endpointsInTheSource();
        assertThat(expected).hasSizeGreaterThanOrEqualTo(8);
        List<Endpoint> documented = new ArrayList<>();
        api.getPaths().forEach((path, item) -> item.readOperationsMap().keySet().forEach(method ->
                documented.add(new Endpoint(method.name(), path))));
        assertThat(documented).as("operations in the document vs resource methods in the source")
                .containsExactlyInAnyOrderElementsOf(expected);

        for (Endpoint endpoint : expected) {
            Operation operation = operation(api, endpoint);
            assertThat(operation.getOperationId()).as(endpoint + " operationId").isNotBlank();
            Map<String, ApiResponse> responses = operation.getResponses();
            assertThat(responses.keySet()).as(endpoint + " documents 401 and 403").contains("401", "403");
            assertThat(responses.keySet().stream().anyMatch(code -> code.startsWith("2"))).as(endpoint + " success")
                    .isTrue();
            responses.forEach((code, response) -> {
                ApiResponse resolved = resolve(api, response);
                assertThat(resolved.getDescription()).as(endpoint + " " + code + " description").isNotBlank();
                if (code.startsWith("4") || code.startsWith("5")) {
                    MediaType problem = resolved.getContent().get("application/problem+json");
                    assertThat(problem).as(endpoint + " " + code + " is problem+json").isNotNull();
                    assertThat(problem.getSchema().get$ref()).endsWith("/Problem");
                } else {
                    assertThat(resolved.getContent()).as(endpoint + " " + code + " content").isNotEmpty();
                }
            });
        }

        Operation submit = operation(api, new Endpoint("POST", "/tasks"));
        assertThat(submit.getRequestBody().getContent().get("application/json").getSchema().get$ref())
                .endsWith("/TaskSubmission");
        assertThat(api.getComponents().getSchemas().get("TaskSubmission").getProperties().keySet())
                .contains("cmd", "timeoutSeconds", "env", "cwd", "retries", "maxAttempts", "secretEnv");
        assertThat(api.getComponents().getSchemas().get("TaskSubmission").getRequired()).containsExactly("cmd");
        assertThat(submit.getResponses().keySet()).contains("202", "200", "400", "413", "415", "422", "503");
        assertThat(submit.getResponses().get("202").getContent().get("application/json").getSchema().get$ref())
                .endsWith("/TaskView");
        assertThat(submit.getParameters()).anySatisfy(p -> assertThat(p.getName()).isEqualTo("Idempotency-Key"));
        assertThat(resolve(api, submit.getResponses().get("503")).getHeaders()).containsKey("Retry-After");
        assertThat(api.getComponents().getSchemas()).containsKeys("Problem", "TaskView", "TaskPage", "WorkerList");
        assertThat(operation(api, new Endpoint("GET", "/metrics")).getResponses().get("200").getContent().keySet())
                .anySatisfy(type -> assertThat(type).startsWith("text/plain"));
    }

    @Test
    void theUserInterfaceIsServedWithoutAToken() {
        String location = anonymous.base() + "/openapi/ui";
        TaskgridClient.Reply reply = null;
        for (int hops = 0; hops < 5; hops++) {
            reply = anonymous.send(HttpRequest.newBuilder(URI.create(location)).GET().build());
            if (reply.status() / 100 != 3) {
                break;
            }
            location = URI.create(location).resolve(reply.header("Location")).toString();
        }
        assertThat(reply.status()).isEqualTo(200);
        assertThat(reply.contentType()).startsWith("text/html");
        assertThat(reply.body().toLowerCase(Locale.ROOT)).contains("openapi");
    }

    private static Operation operation(OpenAPI api, Endpoint endpoint) {
        PathItem item = api.getPaths().get(endpoint.path());
        assertThat(item).as(endpoint.path() + " is in the document").isNotNull();
        Operation operation = item.readOperationsMap().get(PathItem.HttpMethod.valueOf(endpoint.method()));
        assertThat(operation).as(endpoint + " is in the document").isNotNull();
        return operation;
    }

    private static ApiResponse resolve(OpenAPI api, ApiResponse response) {
        if (response.get$ref() == null) {
            return response;
        }
        String name = response.get$ref().substring(response.get$ref().lastIndexOf('/') + 1);
        ApiResponse shared = api.getComponents().getResponses().get(name);
        assertThat(shared).as("component response " + name).isNotNull();
        return shared;
    }

    private static final Pattern PATH = Pattern.compile("^\\s*@Path\\(\"([^\"]*)\"\\)");
    private static final Pattern HTTP = Pattern.compile("^\\s*@(GET|POST|PUT|DELETE|PATCH|HEAD)\\s*$");

    /**
     * The resource methods, read from the source of the API package: a class's {@code @Path}, and in it every method
     * with an HTTP method annotation and its own {@code @Path}. The source rather than a list in this test, so that a
     * new endpoint missing from the document fails here without anyone remembering to add it.
     */
    static List<Endpoint> endpointsInTheSource() throws IOException {
        Path api = Path.of(SharedCluster.property("taskgrid.project.dir"),
                "master-war/src/main/java/io/taskgrid/master/api");
        List<Endpoint> endpoints = new ArrayList<>();
        try (Stream<Path> files = Files.list(api)) {
            for (Path file : new TreeSet<>(files.filter(f -> f.toString().endsWith(".java")).toList())) {
                String base = null;
                String method = null;
                String sub = null;
                for (String line : Files.readAllLines(file)) {
                    Matcher path = PATH.matcher(line);
                    Matcher http = HTTP.matcher(line);
                    if (base == null) {
                        if (path.find()) {
                            base = path.group(1);
                        }
                    } else if (http.find()) {
                        method = http.group(1);
                    } else if (path.find()) {
                        sub = path.group(1);
                    } else if (line.matches("^\\s+public .*\\(.*") && !line.contains(" class ")) {
                        if (method != null) {
                            endpoints.add(new Endpoint(method, "/" + base + (sub == null ? "" : "/" + sub)));
                        }
                        method = null;
                        sub = null;
                    }
                }
            }
        }
        return endpoints;
    }
}
