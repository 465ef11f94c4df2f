/* tally-replay audit (see audit.h). */
#include "audit.h"

#include "grid.h"
#include "log.h"
#include "readmodel.h"
#include "recompute.h"
#include "rows.h"
#include "timeutil.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMPONENT "replay"

typedef struct audit_t {
    const tally_replay_opts_t *o;
    tally_replay_ranges_t ranges;
    tally_recompute_stats_t stats;
    int32_t from_day, to_day;       /* compared, whole days */
    int32_t exact_day;              /* first day every partition vouches for */
    size_t n_expected, n_actual;
    tally_replay_diffs_t diffs;
} audit_t;

static const char *const kind_names[] = {"missing", "unexpected", "differs"};

static void day_text(int32_t day, char *buf)
{
    if (day == INT32_MIN || day == INT32_MAX)
        snprintf(buf, TALLY_DATE_SIZE, "-");
    else
        tally_replay_format_day(day, buf);
}

/* The text of field k (a value column, or TALLY_REPLAY_VALUES for
 * updated_at) of row, "-" without a row. */
static void field_text(const tally_replay_row_t *row, int k, char *buf, size_t size)
{
    if (row == NULL)
        snprintf(buf, size, "-");
    else if (k == TALLY_REPLAY_VALUES)
        tally_replay_format_time(row->updated_at, buf);
    else
        snprintf(buf, size, "%" PRId64, row->v[k]);
}

/* Field indexes to show for a difference: the differing ones, or all. */
static int diff_fields(const tally_replay_diff_t *d, int out[TALLY_REPLAY_VALUES + 1])
{
    const tally_replay_row_t *row = d->expected ? d->expected : d->actual;
    int ncols, n = 0;
    (void)tally_replay_columns(row->table, &ncols);
    for (int k = 0; k < ncols; k++)
        if (d->kind != TALLY_REPLAY_DIFFERS || (d->fields & (1u << k)))
            out[n++] = k;
    if (d->kind != TALLY_REPLAY_DIFFERS || (d->fields & TALLY_REPLAY_FIELD_UPDATED_AT))
        out[n++] = TALLY_REPLAY_VALUES;
    return n;
}

static const char *field_name(tally_replay_table_t table, int k)
{
    int n;
    const char *const *cols = tally_replay_columns(table, &n);
    return k == TALLY_REPLAY_VALUES ? "updated_at" : cols[k];
}

static void print_table(const audit_t *a)
{
    const tally_replay_opts_t *o = a->o;
    FILE *out = o->out;
    char d1[TALLY_DATE_SIZE], d2[TALLY_DATE_SIZE];
    fprintf(out, "audit of %s against schema %s%s%s\n", o->usage_topic, o->live_schema,
            o->tenant ? ", tenant " : "", o->tenant ? o->tenant : "");
    fprintf(out, "  read:      %zu partition(s), %" PRIu64 " record(s):", a->ranges.n,
            tally_replay_ranges_records(&a->ranges));
    for (size_t i = 0; i < a->ranges.n; i++)
        fprintf(out, " [%" PRId32 "] %" PRId64 "..%" PRId64, a->ranges.v[i].partition, a->ranges.v[i].start,
                a->ranges.v[i].end);
    fputc('\n', out);
    const tally_recompute_stats_t *s = &a->stats;
    fprintf(out, "  applied:   %" PRIu64 "; changed nothing: %" PRIu64 " duplicate, %" PRIu64 " stale, %" PRIu64
            " too late; not applied (the aggregator dead-letters them): %" PRIu64 " invalid, %" PRIu64
            " undecodable, %" PRIu64 " not a usage record, %" PRIu64 " wrong key\n",
            s->applied, s->duplicate, s->stale, s->too_late, s->invalid, s->undecodable, s->unsupported,
            s->wrong_key);
    day_text(a->from_day, d1);
    day_text(a->to_day, d2);
    if (a->from_day == INT32_MIN && a->to_day == INT32_MAX)
        fprintf(out, "  days:      all\n");
    else
        fprintf(out, "  days:      %s .. %s (whole UTC days)\n", d1, d2);
    fprintf(out, "  rows:      %zu recomputed, %zu materialized, %zu unverifiable (not compared)\n", a->n_expected,
            a->n_actual, a->diffs.unverifiable);
    if (a->diffs.unverifiable > 0)
        fprintf(out, "             unverifiable: read without the whole history (--from or retention): seat rows, "
                "and %" PRIu64 " reporter(s) whose baseline predates the read\n", s->uncertain_reporters);
    if (a->diffs.n > 0) {
        static const char *const header[] = {"DIFFERENCE", "TABLE", "TENANT", "ENVIRONMENT", "DAY", "FIELD",
                                             "EXPECTED", "MATERIALIZED"};
        tally_replay_grid_t *g = tally_replay_grid_new(8, header);
        for (size_t i = 0; i < a->diffs.n; i++) {
            const tally_replay_diff_t *d = &a->diffs.v[i];
            const tally_replay_row_t *row = d->expected ? d->expected : d->actual;
            int fields[TALLY_REPLAY_VALUES + 1];
            int nf = diff_fields(d, fields);
            char day[TALLY_DATE_SIZE], ev[TALLY_RFC3339_SIZE], av[TALLY_RFC3339_SIZE];
            tally_replay_format_day(row->day, day);
            for (int f = 0; f < nf; f++) {
                field_text(d->expected, fields[f], ev, sizeof ev);
                field_text(d->actual, fields[f], av, sizeof av);
                const char *cells[8] = {kind_names[d->kind], tally_replay_table_name(row->table), row->tenant,
                                        row->table == TALLY_REPLAY_SEAT ? "-" : row->environment, day,
                                        field_name(row->table, fields[f]), ev, av};
                tally_replay_grid_add(g, cells);
            }
        }
        fputc('\n', out);
        tally_replay_grid_print(g, out);
        tally_replay_grid_free(g);
        fprintf(out, "\nRESULT: %zu row(s) differ\n", a->diffs.n);
    } else {
        fprintf(out, "\nRESULT: identical\n");
    }
}

static json_t *day_json(int32_t day)
{
    char buf[TALLY_DATE_SIZE];
    if (day == INT32_MIN || day == INT32_MAX)
        return json_null();
    tally_replay_format_day(day, buf);
    return json_string(buf);
}

static json_t *field_json(const tally_replay_row_t *row, int k)
{
    char buf[TALLY_RFC3339_SIZE];
    if (row == NULL)
        return json_null();
    if (k == TALLY_REPLAY_VALUES) {
        tally_replay_format_time(row->updated_at, buf);
        return json_string(buf);
    }
    return json_integer((json_int_t)row->v[k]);
}

static void print_json(const audit_t *a)
{
    const tally_replay_opts_t *o = a->o;
    const tally_recompute_stats_t *s = &a->stats;
    json_t *root = json_object(), *parts = json_array(), *diffs = json_array();
    json_object_set_new(root, "command", json_string("audit"));
    json_object_set_new(root, "topic", json_string(o->usage_topic));
    json_object_set_new(root, "schema", json_string(o->live_schema));
    json_object_set_new(root, "tenant_id", o->tenant ? json_string(o->tenant) : json_null());
    json_object_set_new(root, "first_day", day_json(a->from_day));
    json_object_set_new(root, "last_day", day_json(a->to_day));
    for (size_t i = 0; i < a->ranges.n; i++) {
        const tally_replay_range_t *r = &a->ranges.v[i];
        json_array_append_new(parts, json_pack("{s:i, s:I, s:I, s:I, s:b}", "partition", (int)r->partition,
                                               "start", (json_int_t)r->start, "end", (json_int_t)r->end, "records",
                                               (json_int_t)r->records, "whole", r->start == 0));
    }
    json_object_set_new(root, "partitions", parts);
    json_object_set_new(root, "records",
                        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "read", (json_int_t)s->records,
                                  "applied", (json_int_t)s->applied, "duplicate", (json_int_t)s->duplicate, "stale",
                                  (json_int_t)s->stale, "too_late", (json_int_t)s->too_late, "invalid",
                                  (json_int_t)s->invalid, "undecodable", (json_int_t)s->undecodable,
                                  "not_usage", (json_int_t)s->unsupported, "wrong_key", (json_int_t)s->wrong_key));
    json_object_set_new(root, "rows", json_pack("{s:I, s:I, s:I}", "recomputed", (json_int_t)a->n_expected,
                                                "materialized", (json_int_t)a->n_actual, "unverifiable",
                                                (json_int_t)a->diffs.unverifiable));
    json_object_set_new(root, "identical", json_boolean(a->diffs.n == 0));
    for (size_t i = 0; i < a->diffs.n; i++) {
        const tally_replay_diff_t *d = &a->diffs.v[i];
        const tally_replay_row_t *row = d->expected ? d->expected : d->actual;
        int fields[TALLY_REPLAY_VALUES + 1];
        int nf = diff_fields(d, fields);
        json_t *fj = json_array();
        for (int f = 0; f < nf; f++)
            json_array_append_new(fj, json_pack("{s:s, s:o, s:o}", "field", field_name(row->table, fields[f]),
                                                "expected", field_json(d->expected, fields[f]), "materialized",
                                                field_json(d->actual, fields[f])));
        json_t *dj = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o}", "kind", kind_names[d->kind], "table",
                               tally_replay_table_name(row->table), "tenant_id", row->tenant, "environment_id",
                               row->table == TALLY_REPLAY_SEAT ? json_null() : json_string(row->environment), "day",
                               day_json(row->day), "fields", fj);
        if (dj == NULL)     /* an id that is not UTF-8: still listed, never dropped */
            dj = json_pack("{s:s, s:s, s:b}", "kind", kind_names[d->kind], "table",
                           tally_replay_table_name(row->table), "ids_not_utf8", 1);
        json_array_append_new(diffs, dj);
    }
    json_object_set_new(root, "differences", diffs);
    json_dumpf(root, o->out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', o->out);
    json_decref(root);
}

int tally_replay_audit(const tally_replay_opts_t *o)
{
    char err[1024];
    int rc = TALLY_REPLAY_EXIT_FAILED;
    audit_t a;
    memset(&a, 0, sizeof a);
    a.o = o;
    tally_replay_reader_t *reader = NULL;
    tally_recompute_t *re = NULL;
    tally_replay_rows_t *expected = tally_replay_rows_new(), *actual = tally_replay_rows_new();
    PGconn *conn = tally_replay_pg_connect(o, "tally-replay-audit");
    if (conn == NULL)
        goto cleanup;
    if (tally_readmodel_check(conn, o->live_schema, err, sizeof err) != 0) {
        tally_log_error(COMPONENT, "%s", err);
        goto cleanup;
    }
    if (o->tenant != NULL) {
        bool known = false;
        if (tally_readmodel_tenant_known(conn, o->live_schema, o->tenant, &known, err, sizeof err) != 0) {
            tally_log_error(COMPONENT, "%s", err);
            goto cleanup;
        }
        if (!known) {
            tally_log_error(COMPONENT, "unknown tenant %s: not registered and no usage in schema %s (an audit "
                            "without --tenant also lists usage that was never materialized)", o->tenant,
                            o->live_schema);
            rc = TALLY_REPLAY_EXIT_USAGE;
            goto cleanup;
        }
    }
    if ((reader = tally_replay_reader_open(o, "audit")) == NULL)
        goto cleanup;
    int64_t seek = o->has_from ? o->from_ms - o->warmup_ms : -1;
    if (tally_replay_reader_plan(reader, o->usage_topic, 0, seek, &a.ranges, err, sizeof err) != 0) {
        tally_log_error(COMPONENT, "%s", err);
        goto cleanup;
    }
    tally_recompute_opts_t ro = {.catalog = o->catalog, .open_days = o->open_days,
                                 .reporter_idle_ms = o->reporter_idle_ms, .skew_ms = o->skew_ms,
                                 .warmup_ms = o->warmup_ms};
    if ((re = tally_recompute_new(&ro, err, sizeof err)) == NULL) {
        tally_log_error(COMPONENT, "%s", err);
        rc = TALLY_REPLAY_EXIT_USAGE;
        goto cleanup;
    }
    for (size_t i = 0; i < a.ranges.n; i++) {
        const tally_replay_range_t *r = &a.ranges.v[i];
        /* Skipped by time: the read starts at the seek time; cut by
         * retention: at its first record. */
        tally_recompute_partition(re, r->partition, r->start > 0, seek >= 0 && r->start > r->log_start ? seek : -1);
    }
    tally_log_info(COMPONENT, "audit: reading %" PRIu64 " offset(s) of %s (%zu partition(s))",
                   tally_replay_ranges_span(&a.ranges), o->usage_topic, a.ranges.n);
    int run = tally_replay_reader_run(reader, &a.ranges, tally_recompute_record, re, o->stop, err, sizeof err);
    if (run != 0) {
        tally_log_error(COMPONENT, "%s: %s", o->usage_topic, err);
        goto cleanup;
    }
    tally_recompute_stats(re, &a.stats);

    a.from_day = o->has_from ? tally_replay_first_whole_day(o->from_ms) : INT32_MIN;
    a.to_day = o->has_to ? tally_replay_last_whole_day(o->to_ms) : INT32_MAX;
    a.exact_day = tally_recompute_first_exact_day(re);
    if (a.exact_day > a.from_day) {
        char d[TALLY_DATE_SIZE];
        day_text(a.exact_day, d);
        tally_log_warn(COMPONENT, "audit: the log is read without its oldest records; API rows are compared from %s, "
                       "the first day the warm-up vouches for", d);
        a.from_day = a.exact_day;
    }
    tally_recompute_rows(re, o->tenant, a.from_day, a.to_day, true, expected);
    if (a.from_day <= a.to_day &&
        tally_readmodel_load(conn, o->live_schema, o->tenant, a.from_day, a.to_day, true, actual, err,
                             sizeof err) != 0) {
        tally_log_error(COMPONENT, "%s", err);
        goto cleanup;
    }
    tally_replay_rows_sort(expected);
    tally_replay_rows_sort(actual);
    a.n_expected = tally_replay_rows_count(expected);
    a.n_actual = tally_replay_rows_count(actual);
    tally_replay_rows_diff(expected, actual, &a.diffs);
    if (o->format == TALLY_REPLAY_FORMAT_JSON)
        print_json(&a);
    else
        print_table(&a);
    if (fflush(o->out) != 0 || ferror(o->out)) {
        tally_log_error(COMPONENT, "cannot write the report");
        goto cleanup;
    }
    tally_log_info(COMPONENT, "audit: %s (%zu row(s) compared, %zu difference(s), %zu unverifiable)",
                   a.diffs.n ? "DIFFERENCES FOUND" : "identical", a.n_expected, a.diffs.n, a.diffs.unverifiable);
    rc = a.diffs.n ? TALLY_REPLAY_EXIT_DIFFERENT : TALLY_REPLAY_EXIT_OK;
cleanup:
    tally_replay_diffs_free(&a.diffs);
    tally_replay_rows_free(expected);
    tally_replay_rows_free(actual);
    tally_recompute_free(re);
    tally_replay_reader_free(reader);
    tally_replay_ranges_free(&a.ranges);
    PQfinish(conn);
    return rc;
}
