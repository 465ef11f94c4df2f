#ifndef TALLY_METRICS_H
#define TALLY_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Prometheus metrics: series are registered once (at start, or lazily for a
 * label combination seen for the first time) and updated with atomic
 * operations, so the hot path never locks or allocates. Rendering writes
 * the text exposition format (version 0.0.4). */
typedef struct tally_metrics_t tally_metrics_t;
typedef struct tally_metric_t tally_metric_t;

typedef enum {
    TALLY_METRIC_COUNTER,
    TALLY_METRIC_GAUGE,
    TALLY_METRIC_HISTOGRAM,
} tally_metric_kind_t;

/* Returns an owned, empty registry. Never NULL (allocation failure aborts). */
tally_metrics_t *tally_metrics_new(void);

/* Frees the registry and every series; NULL is a no-op. */
void tally_metrics_free(tally_metrics_t *m);

/* Returns the series name{labels} of kind, registering it on first use;
 * later calls with the same name and labels return the same series.
 * labels is the inside of the braces, e.g. "route=\"/v1/usage\",status=\"202\""
 * or "" for none; help is used by the first registration of name. For a
 * histogram, buckets (upper bounds, ascending, at most 16) are copied; other
 * kinds ignore them. The series is owned by m and lives as long as it.
 * Thread-safe; callers on a hot path keep the pointer. */
tally_metric_t *tally_metrics_get(tally_metrics_t *m, tally_metric_kind_t kind, const char *name,
                                  const char *help, const char *labels,
                                  const double *buckets, size_t nbuckets);

/* Updates; all thread-safe and lock-free. s may be NULL (a component
 * built without a registry): nothing happens. */
void tally_metric_add(tally_metric_t *s, uint64_t n);          /* counter */
void tally_metric_set(tally_metric_t *s, int64_t v);           /* gauge */
void tally_metric_gauge_add(tally_metric_t *s, int64_t delta); /* gauge */
void tally_metric_observe(tally_metric_t *s, double v);        /* histogram */

/* Current value of a counter or gauge (for tests and readiness checks). */
int64_t tally_metric_value(const tally_metric_t *s);

/* Writes every series in the text format into a malloc'd, NUL-terminated
 * buffer that the caller frees; *len gets its length. */
char *tally_metrics_render(tally_metrics_t *m, size_t *len);

#endif
