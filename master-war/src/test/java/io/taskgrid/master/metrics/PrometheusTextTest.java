package io.taskgrid.master.metrics;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class PrometheusTextTest {

    @Test
    void anObservationLandsInTheFirstBucketThatHoldsIt() {
        Histogram histogram = new Histogram(10, 100, 1000);
        histogram.observeMillis(10);
        histogram.observeMillis(11);
        histogram.observeMillis(5000);
        histogram.observeMillis(-3);
        Histogram.Snapshot s = histogram.snapshot();
        assertThat(s.cumulative()).containsExactly(2, 3, 3, 4);
        assertThat(s.count()).isEqualTo(4);
        assertThat(s.sumMillis()).as("a negative duration counts as zero").isEqualTo(10 + 11 + 5000);
    }

    @Test
    void aHistogramIsWrittenInSecondsWithCumulativeBucketsAndAMatchingCount() {
        Histogram histogram = new Histogram(5, 250, 1500);
        histogram.observeMillis(3);
        histogram.observeMillis(200);
        histogram.observeMillis(99_999);
        List<String> lines = new PrometheusText().histogram("x_seconds", "help", histogram).toString().lines().toList();
        assertThat(lines).containsExactly(
                "# HELP x_seconds help",
                "# TYPE x_seconds histogram",
                "x_seconds_bucket{le=\"0.005\"} 1",
                "x_seconds_bucket{le=\"0.25\"} 2",
                "x_seconds_bucket{le=\"1.5\"} 2",
                "x_seconds_bucket{le=\"+Inf\"} 3",
                "x_seconds_sum 100.202",
                "x_seconds_count 3");
    }

    @Test
    void countersGaugesAndLabelsFollowTheTextFormat() {
        LabeledCounter byStatus = new LabeledCounter("status", "400", "503");
        byStatus.inc("503");
        byStatus.inc("503");
        byStatus.inc("a\"b\\c\nd");
        Counter plain = new Counter();
        plain.inc();
        plain.add(4);
        plain.add(-7);
        String text = new PrometheusText().counter("a_total", "counts\nthings", plain.get())
                .counter("b_total", "by status", byStatus).gauge("c", "a gauge", 12).gauge("d", "half", 0.5).toString();
        assertThat(text.lines().toList()).containsExactly(
                "# HELP a_total counts\\nthings",
                "# TYPE a_total counter",
                "a_total 5",
                "# HELP b_total by status",
                "# TYPE b_total counter",
                "b_total{status=\"400\"} 0",
                "b_total{status=\"503\"} 2",
                "b_total{status=\"a\\\"b\\\\c\\nd\"} 1",
                "# HELP c a gauge",
                "# TYPE c gauge",
                "c 12",
                "# HELP d half",
                "# TYPE d gauge",
                "d 0.5");
    }

    @Test
    void aLabelTakesAtMostSoManyValuesAndTheRestCountAsOther() {
        LabeledCounter counter = new LabeledCounter("reason");
        for (int i = 0; i < LabeledCounter.MAX_VALUES + 50; i++) {
            counter.inc("value-" + i);
        }
        assertThat(counter.snapshot()).hasSizeLessThanOrEqualTo(LabeledCounter.MAX_VALUES + 1);
        assertThat(counter.snapshot().values().stream().mapToLong(Long::longValue).sum())
                .as("nothing is dropped").isEqualTo(LabeledCounter.MAX_VALUES + 50);
        assertThat(counter.get(LabeledCounter.OTHER)).isGreaterThanOrEqualTo(50);
    }
}
