package io.taskgrid.agent;

/**
 * The state directory cannot be this agent's: it cannot be made, belongs to another user, is held by another agent,
 * or holds results of another worker. Retrying cannot help, so the agent ends at start and says which (one line).
 */
final class UnusableStateDirectory extends RuntimeException {

    UnusableStateDirectory(String message) {
        super(message);
    }
}
