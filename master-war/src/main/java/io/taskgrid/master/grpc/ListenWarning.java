package io.taskgrid.master.grpc;

import java.net.InetSocketAddress;
import java.util.logging.Logger;

/** Until the master authenticates its callers, listening beyond loopback lets anyone who can reach it run commands. */
final class ListenWarning {

    private ListenWarning() {
    }

    static void warnIfNotLoopback(Logger log, String what, String configured, InetSocketAddress address) {
        if (address.getAddress() == null || !address.getAddress().isLoopbackAddress()) {
            log.warning("TASKGRID SECURITY WARNING: the " + what + " ports listen on " + address
                    + " (taskgrid.listen.host=" + configured + "). This master does not authenticate callers yet: "
                    + "anyone who can reach it can run commands on every worker. Keep it on a trusted network.");
        }
    }
}
