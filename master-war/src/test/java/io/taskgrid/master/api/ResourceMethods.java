package io.taskgrid.master.api;

import jakarta.ws.rs.Path;

import java.lang.annotation.Annotation;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * The REST API's resource methods, for tests that hold every endpoint to a rule (a declared role, an OpenAPI
 * operation): every class of the API package with {@code @Path}, found on disk, so that a new resource is included
 * without anyone adding it to a list.
 */
public final class ResourceMethods {

    private ResourceMethods() {
    }

    /** The methods of those classes that carry one of {@code httpMethods}, classes in name order. */
    public static List<Method> annotatedWith(List<Class<? extends Annotation>> httpMethods) throws Exception {
        String pkg = TaskgridApplication.class.getPackageName();
        java.nio.file.Path dir = Paths.get(TaskgridApplication.class.getResource("TaskgridApplication.class").toURI())
                .getParent();
        List<Method> methods = new ArrayList<>();
        try (Stream<java.nio.file.Path> files = Files.list(dir)) {
            for (java.nio.file.Path file : files.filter(f -> f.toString().endsWith(".class")).sorted().toList()) {
                String name = file.getFileName().toString();
                Class<?> type = Class.forName(pkg + "." + name.substring(0, name.length() - ".class".length()));
                if (!type.isAnnotationPresent(Path.class)) {
                    continue;
                }
                for (Method method : type.getDeclaredMethods()) {
                    if (httpMethods.stream().anyMatch(method::isAnnotationPresent)) {
                        methods.add(method);
                    }
                }
            }
        }
        return methods;
    }
}
