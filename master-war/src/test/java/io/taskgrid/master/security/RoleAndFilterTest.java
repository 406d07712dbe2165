package io.taskgrid.master.security;

import io.taskgrid.master.api.ResourceMethods;
import jakarta.ws.rs.DELETE;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.HEAD;
import jakarta.ws.rs.OPTIONS;
import jakarta.ws.rs.PATCH;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.PUT;
import jakarta.ws.rs.Path;
import org.junit.jupiter.api.Test;

import java.lang.annotation.Annotation;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.assertj.core.api.Assertions.assertThat;

class RoleAndFilterTest {

    private static final List<Class<? extends Annotation>> HTTP_METHODS =
            List.of(GET.class, POST.class, PUT.class, DELETE.class, PATCH.class, HEAD.class, OPTIONS.class);

    @Test
    void eachRoleIncludesTheOnesBelowIt() {
        assertThat(Role.OPERATOR.includes(Role.SUBMITTER)).isTrue();
        assertThat(Role.SUBMITTER.includes(Role.VIEWER)).isTrue();
        assertThat(Role.VIEWER.includes(Role.SUBMITTER)).isFalse();
        assertThat(Role.SUBMITTER.includes(Role.OPERATOR)).isFalse();
        assertThat(Role.parse(" Operator ")).contains(Role.OPERATOR);
        assertThat(Role.parse("admin")).isEmpty();
    }

    /** A new endpoint without a declared role would answer nobody (RoleCheck fails closed); this catches it first. */
    @Test
    void everyResourceMethodDeclaresTheRoleItNeeds() throws Exception {
        List<String> undeclared = new ArrayList<>();
        for (Method method : ResourceMethods.annotatedWith(HTTP_METHODS)) {
            if (RoleCheck.declared(method, method.getDeclaringClass()).isEmpty()) {
                undeclared.add(method.getDeclaringClass().getSimpleName() + "." + method.getName());
            }
        }
        assertThat(ResourceMethods.annotatedWith(HTTP_METHODS)).hasSizeGreaterThanOrEqualTo(8);
        assertThat(undeclared).as("resource methods without @RequiresRole").isEmpty();
    }

    /** The documented contract: reading needs viewer, submitting and cancelling submitter, the rest operator. */
    @Test
    void theEndpointsNeedTheDocumentedRoles() throws Exception {
        Map<String, Role> declared = new TreeMap<>();
        for (Method method : ResourceMethods.annotatedWith(HTTP_METHODS)) {
            declared.put(httpMethod(method) + " " + path(method), RoleCheck.declared(method, method.getDeclaringClass()).orElse(null));
        }
        assertThat(declared).containsExactlyInAnyOrderEntriesOf(Map.ofEntries(
                Map.entry("POST tokens", Role.OPERATOR),
                Map.entry("GET tokens", Role.OPERATOR),
                Map.entry("DELETE tokens/{id}", Role.OPERATOR),
                Map.entry("GET secrets", Role.OPERATOR),
                Map.entry("POST secrets/keys", Role.OPERATOR),
                Map.entry("POST secrets/reseal", Role.OPERATOR),
                Map.entry("POST tasks", Role.SUBMITTER),
                Map.entry("GET tasks", Role.VIEWER),
                Map.entry("GET tasks/{id}", Role.VIEWER),
                Map.entry("GET tasks/{id}/output", Role.VIEWER),
                Map.entry("GET tasks/counts", Role.VIEWER),
                Map.entry("GET me", Role.VIEWER),
                Map.entry("DELETE tasks/{id}", Role.SUBMITTER),
                Map.entry("GET workers", Role.VIEWER),
                Map.entry("POST workers/{id}/drain", Role.OPERATOR),
                Map.entry("GET metrics", Role.VIEWER)));
    }

    private static String httpMethod(Method method) {
        return HTTP_METHODS.stream().filter(method::isAnnotationPresent).findFirst().orElseThrow().getSimpleName();
    }

    private static String path(Method method) {
        String base = method.getDeclaringClass().getAnnotation(Path.class).value();
        Path own = method.getAnnotation(Path.class);
        return own == null ? base : base + "/" + own.value();
    }
}
