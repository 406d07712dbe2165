package io.taskgrid.cli;

import jakarta.json.Json;
import jakarta.json.JsonObject;
import jakarta.json.JsonObjectBuilder;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.ArrayList;
import java.util.List;

/**
 * The API tokens an operator makes and revokes without editing the master's tokens file ({@code /tokens}). The secret
 * of a new token is printed once, alone on stdout, so that a script can take it: the master keeps only its hash.
 */
@Command(name = "token", description = "Makes, lists and revokes API tokens (operator).",
        subcommands = {TokenCommand.Create.class, TokenCommand.ListTokens.class, TokenCommand.Revoke.class},
        footer = {"", "Examples:", "  taskgrid token create ci --role submitter --expires-in-days 90 > ci.token",
                "  taskgrid token ls", "  taskgrid token revoke ID"})
final class TokenCommand implements Runnable {

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new picocli.CommandLine.ParameterException(spec.commandLine(), "say which: create, ls or revoke");
    }

    @Command(name = "create", description = "Makes a token and prints its secret (shown this once).",
            footer = {"", "Example:", "  (umask 077; taskgrid token create ci --role submitter > ci.token)"})
    static final class Create extends ApiCommand {

        @Parameters(paramLabel = "NAME", description = "who holds it, as tasks' submittedBy shows (A-Z a-z 0-9 . _ @ -)")
        String name;

        @Option(names = "--role", required = true, paramLabel = "ROLE", description = "viewer, submitter or operator")
        String role;

        @Option(names = "--expires-in-days", paramLabel = "DAYS",
                description = "how long it is valid (fractions work); without it, until revoked")
        Double days;

        @Override
        public Integer call() {
            JsonObjectBuilder body = Json.createObjectBuilder().add("name", name).add("role", role);
            if (days != null) {
                body.add("expiresInDays", days);
            }
            JsonObject made = endpoint.client().createToken(body.build());
            if (printedAsJson(made)) {
                return 0;
            }
            JsonObject token = made.getJsonObject("token");
            err().println(Output.printable("token " + Output.text(token, "id") + " for " + Output.text(token, "name")
                    + " (" + Output.text(token, "role") + "); its secret is shown this once:"));
            err().flush();
            out().println(made.getString("secret"));
            out().flush();
            return 0;
        }
    }

    @Command(name = "ls", description = "Lists the tokens made through the API, newest first (never a secret).",
            footer = {"", "Example:", "  taskgrid token ls -o json"})
    static final class ListTokens extends ApiCommand {

        @Override
        public Integer call() {
            List<JsonObject> all = allPages(endpoint.client()::tokens, "tokens");
            if (printedAsJson(Json.createObjectBuilder().add("tokens", Json.createArrayBuilder(all)).build())) {
                return 0;
            }
            List<List<String>> rows = new ArrayList<>();
            for (JsonObject token : all) {
                rows.add(List.of(Output.text(token, "id"), Output.text(token, "name"), Output.text(token, "role"),
                        token.getBoolean("active", false) ? "active" : "inactive", Output.text(token, "expiresAt"),
                        Output.text(token, "lastUsedAt")));
            }
            Output.table(out(), List.of("ID", "NAME", "ROLE", "STATUS", "EXPIRES", "LAST USED"), rows);
            return 0;
        }
    }

    @Command(name = "revoke", description = "Revokes tokens: they are refused at once.",
            footer = {"", "Example:", "  taskgrid token revoke ID1 ID2"})
    static final class Revoke extends ApiCommand {

        @Parameters(paramLabel = "ID", arity = "1..*", description = "the tokens' ids (taskgrid token ls)")
        List<String> ids;

        @Override
        public Integer call() {
            ApiClient api = endpoint.client();
            return forEachId(ids, id -> {
                JsonObject token = api.revokeToken(id);
                return json() ? token.toString() : id + " revoked";
            });
        }
    }
}
