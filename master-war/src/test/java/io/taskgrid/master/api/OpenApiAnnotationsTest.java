package io.taskgrid.master.api;

import io.taskgrid.master.http.Problems;
import jakarta.ws.rs.DELETE;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.PUT;
import org.eclipse.microprofile.openapi.annotations.OpenAPIDefinition;
import org.eclipse.microprofile.openapi.annotations.Operation;
import org.eclipse.microprofile.openapi.annotations.responses.APIResponse;
import org.junit.jupiter.api.Test;

import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.lang.reflect.RecordComponent;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What the OpenAPI document is made from, checked without a server: every resource method is an operation with
 * its statuses, every shared error it names exists, and the documented request body has the fields the parser
 * takes. ({@code OpenApiIT} reads the document the server made from these.)
 */
class OpenApiAnnotationsTest {

    @Test
    void theDocumentedSubmissionHasExactlyTheFieldsTheParserAccepts() throws Exception {
        Field fields = TaskSubmissionParser.class.getDeclaredField("FIELDS");
        fields.setAccessible(true);
        @SuppressWarnings("unchecked")
        Set<String> accepted = (Set<String>) fields.get(null);
        assertThat(Arrays.stream(TaskSubmissionSchema.class.getRecordComponents()).map(RecordComponent::getName))
                .containsExactlyInAnyOrderElementsOf(accepted);
    }

    @Test
    void everyResourceMethodIsAnOperationWithItsStatusesAndEveryReferencedErrorExists() throws Exception {
        Map<String, String> components = new HashMap<>();
        for (APIResponse shared : TaskgridApplication.class.getAnnotation(OpenAPIDefinition.class).components()
                .responses()) {
            assertThat(shared.content()).as(shared.name()).isNotEmpty();
            assertThat(shared.content()[0].mediaType()).as(shared.name()).isEqualTo(Problems.PROBLEM_JSON);
            components.put(shared.name(), shared.responseCode());
        }
        Set<String> operationIds = new HashSet<>();
        List<Method> methods = ResourceMethods.annotatedWith(List.of(GET.class, POST.class, PUT.class, DELETE.class));
        assertThat(methods).hasSizeGreaterThanOrEqualTo(8);
        for (Method method : methods) {
            String where = method.getDeclaringClass().getSimpleName() + "." + method.getName();
            Operation operation = method.getAnnotation(Operation.class);
            assertThat(operation).as(where + " has @Operation").isNotNull();
            assertThat(operationIds.add(operation.operationId())).as(where + " has a unique operationId").isTrue();
            APIResponse[] responses = method.getAnnotationsByType(APIResponse.class);
            Set<String> codes = new HashSet<>();
            for (APIResponse response : responses) {
                codes.add(response.responseCode());
                if (!response.ref().isEmpty()) {
                    assertThat(components).as(where + " refers to a declared error").containsKey(response.ref());
                    assertThat(components.get(response.ref())).as(where + " " + response.ref())
                            .isEqualTo(response.responseCode());
                } else {
                    assertThat(response.content()).as(where + " " + response.responseCode() + " has content")
                            .isNotEmpty();
                }
            }
            assertThat(codes).as(where + " documents the authentication errors").contains("401", "403");
            assertThat(codes.stream().anyMatch(c -> c.startsWith("2"))).as(where + " documents a success").isTrue();
        }
    }
}
