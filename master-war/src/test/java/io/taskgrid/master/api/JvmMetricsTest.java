package io.taskgrid.master.api;

import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

import static org.assertj.core.api.Assertions.assertThat;

/** The JVM and process figures on /metrics, under the names operators' dashboards look for. */
class JvmMetricsTest {

    @Test
    void heapGcThreadsCpuOpenFilesAndStartTimeAreThereUnderTheirStandardNames() throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrometheusTextFormatWriter.create().write(out, MetricsResource.jvmRegistry().scrape());
        String text = out.toString(StandardCharsets.UTF_8);
        assertThat(text).contains("jvm_memory_used_bytes{area=\"heap\"}", "jvm_memory_max_bytes{area=\"heap\"}",
                "jvm_gc_collection_seconds_count{gc=", "jvm_threads_current ", "jvm_classes_currently_loaded ",
                "process_cpu_seconds_total ", "process_start_time_seconds ", "jvm_runtime_info{");
        if (System.getProperty("os.name").startsWith("Linux")) {
            assertThat(text).contains("process_open_fds ", "process_max_fds ", "process_resident_memory_bytes ");
        }
        assertThat(text).as("only the JVM's: the master's own come from render()").doesNotContain("taskgrid_");
    }
}
