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
        assertThat(declared).containsExactlyInAnyOrderEntriesOf(Map.of(
                "POST tasks", Role.SUBMITTER,
                "GET tasks", Role.VIEWER,
                "GET tasks/{id}", Role.VIEWER,
                "GET tasks/{id}/output", Role.VIEWER,
                "GET tasks/counts", Role.VIEWER,
                "GET me", Role.VIEWER,
                "DELETE tasks/{id}", Role.SUBMITTER,
                "GET workers", Role.VIEWER,
                "POST workers/{id}/drain", Role.OPERATOR,
                "GET metrics", Role.VIEWER));
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
