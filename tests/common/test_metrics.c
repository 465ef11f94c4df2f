/* Prometheus metrics: families rendered once with HELP/TYPE, series updated
 * from many threads without loss, histogram buckets cumulative. */
#include "metrics.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static tally_metric_t *shared;

static void *hammer(void *arg)
{
    for (int i = 0; i < 100000; i++)
        tally_metric_add(shared, 1);
    return arg;
}

Test(metrics, counters_from_threads_lose_nothing)
{
    tally_metrics_t *m = tally_metrics_new();
    shared = tally_metrics_get(m, TALLY_METRIC_COUNTER, "t_total", "test", "", NULL, 0);
    pthread_t th[8];
    for (int i = 0; i < 8; i++)
        pthread_create(&th[i], NULL, hammer, NULL);
    for (int i = 0; i < 8; i++)
        pthread_join(th[i], NULL);
    cr_assert_eq(tally_metric_value(shared), 800000);
    tally_metrics_free(m);
}

Test(metrics, render_groups_families_and_labels)
{
    tally_metrics_t *m = tally_metrics_new();
    tally_metric_t *a = tally_metrics_get(m, TALLY_METRIC_COUNTER, "req_total", "Requests", "status=\"202\"", NULL, 0);
    tally_metric_t *g = tally_metrics_get(m, TALLY_METRIC_GAUGE, "queue", "Queue depth", "", NULL, 0);
    tally_metric_t *b = tally_metrics_get(m, TALLY_METRIC_COUNTER, "req_total", "ignored", "status=\"400\"", NULL, 0);
    cr_assert_eq(tally_metrics_get(m, TALLY_METRIC_COUNTER, "req_total", "", "status=\"202\"", NULL, 0), a,
                 "same name and labels give the same series");
    tally_metric_add(a, 3);
    tally_metric_add(b, 1);
    tally_metric_set(g, 7);
    tally_metric_gauge_add(g, -2);
    size_t len;
    char *text = tally_metrics_render(m, &len);
    cr_assert_eq(strlen(text), len);
    cr_assert_str_eq(text,
                     "# HELP req_total Requests\n# TYPE req_total counter\n"
                     "req_total{status=\"202\"} 3\nreq_total{status=\"400\"} 1\n"
                     "# HELP queue Queue depth\n# TYPE queue gauge\nqueue 5\n");
    free(text);
    tally_metrics_free(m);
}

Test(metrics, histogram_buckets_are_cumulative)
{
    tally_metrics_t *m = tally_metrics_new();
    const double bounds[] = {0.001, 0.01, 0.1};
    tally_metric_t *h = tally_metrics_get(m, TALLY_METRIC_HISTOGRAM, "lat_seconds", "Latency", "route=\"x\"",
                                          bounds, 3);
    tally_metric_observe(h, 0.0005);
    tally_metric_observe(h, 0.005);
    tally_metric_observe(h, 0.005);
    tally_metric_observe(h, 5);
    size_t len;
    char *text = tally_metrics_render(m, &len);
    cr_assert(strstr(text, "lat_seconds_bucket{route=\"x\",le=\"0.001\"} 1\n") != NULL, "%s", text);
    cr_assert(strstr(text, "lat_seconds_bucket{route=\"x\",le=\"0.01\"} 3\n") != NULL, "%s", text);
    cr_assert(strstr(text, "lat_seconds_bucket{route=\"x\",le=\"0.1\"} 3\n") != NULL, "%s", text);
    cr_assert(strstr(text, "lat_seconds_bucket{route=\"x\",le=\"+Inf\"} 4\n") != NULL, "%s", text);
    cr_assert(strstr(text, "lat_seconds_sum{route=\"x\"} 5.010500\n") != NULL, "%s", text);
    cr_assert(strstr(text, "lat_seconds_count{route=\"x\"} 4\n") != NULL, "%s", text);
    free(text);
    tally_metrics_free(m);
}
