package io.taskgrid.master.api;

import io.taskgrid.master.task.TaskState;
import org.eclipse.microprofile.openapi.OASFilter;
import org.eclipse.microprofile.openapi.models.parameters.Parameter;

import java.util.Arrays;
import java.util.List;

/**
 * Writes the task states into the OpenAPI document from {@link TaskState} itself, so that the document cannot name a
 * state the lifecycle lost or miss one it gained. (An annotation can only hold constants written out by hand, and
 * the server does not read the enum's class when it builds the document from this package's annotations alone.)
 */
public class OpenApiStates implements OASFilter {

    static List<Object> stateNames() {
        return Arrays.stream(TaskState.values()).map(state -> (Object) state.name()).toList();
    }

    @Override
    public Parameter filterParameter(Parameter parameter) {
        if ("state".equals(parameter.getName()) && parameter.getIn() == Parameter.In.QUERY
                && parameter.getSchema() != null) {
            parameter.getSchema().setEnumeration(stateNames());
        }
        return parameter;
    }
}
