/* tally-replay export (see export.h). */
#include "export.h"

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

typedef enum check_t { CHECK_OK, CHECK_DIFFERS, CHECK_MISSING, CHECK_ONLY_MATERIALIZED, CHECK_UNVERIFIABLE } check_t;
static const char *const check_names[] = {"ok", "differs", "missing", "only_materialized", "unverifiable"};

typedef enum kind_t { KIND_API, KIND_SEATS, KIND_API_TOTAL, KIND_SEATS_TOTAL } kind_t;
static const char *const kind_names[] = {"api", "seats", "api_total", "seats_total"};

/* One line of the export. */
typedef struct line_t {
    kind_t kind;
    const char *environment;    /* NULL for seats; "*" for all environments */
    int32_t day;                /* INT32_MIN for totals: the period */
    int64_t v[TALLY_REPLAY_VALUES];
    int64_t updated_at;         /* INT64_MIN: none */
    int32_t partition;          /* -1: none or several */
    int64_t first_offset, last_offset;
    uint64_t records, ignored;
    check_t check;
} line_t;

typedef struct lines_t {
    line_t *v;
    size_t n, cap;
} lines_t;

static line_t *line_add(lines_t *l)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        if (l->v == NULL)
            abort();
    }
    line_t *x = &l->v[l->n++];
    memset(x, 0, sizeof *x);
    x->partition = -1;
    x->first_offset = x->last_offset = -1;
    x->updated_at = INT64_MIN;
    x->day = INT32_MIN;
    return x;
}

static int key_cmp(const tally_replay_row_t *a, const tally_replay_row_t *b)
{
    if (a->table != b->table)
        return a->table < b->table ? -1 : 1;
    int c = strcmp(a->environment, b->environment);
    if (c == 0 && a->day != b->day)
        c = a->day < b->day ? -1 : 1;
    return c;
}

static bool same_values(const tally_replay_row_t *a, const tally_replay_row_t *b)
{
    return memcmp(a->v, b->v, sizeof a->v) == 0 && a->updated_at == b->updated_at;
}

static void line_from_row(line_t *x, const tally_replay_row_t *r, check_t check)
{
    x->kind = r->table == TALLY_REPLAY_API ? KIND_API : KIND_SEATS;
    x->environment = r->table == TALLY_REPLAY_API ? r->environment : NULL;
    x->day = r->day;
    memcpy(x->v, r->v, sizeof x->v);
    x->updated_at = r->updated_at;
    x->partition = r->partition;
    x->first_offset = r->first_offset;
    x->last_offset = r->last_offset;
    x->records = r->records;
    x->ignored = r->ignored;
    x->check = check;
}

static int severity(check_t c)
{
    return c == CHECK_OK ? 0 : (c == CHECK_UNVERIFIABLE ? 1 : 2);
}

/* Merges a row's provenance and check into a total (its values are the
 * caller's: only the log's figures are summed). */
static void total_add(line_t *t, const line_t *x, bool *first)
{
    if (severity(x->check) > severity(t->check))
        t->check = severity(x->check) == 2 ? CHECK_DIFFERS : CHECK_UNVERIFIABLE;
    if (x->check == CHECK_ONLY_MATERIALIZED)
        return;
    if (*first) {
        t->partition = x->partition;
        t->first_offset = x->first_offset;
        t->last_offset = x->last_offset;
        *first = false;
    } else if (t->partition != x->partition) {
        t->partition = -1;
        t->first_offset = t->last_offset = -1;
    } else if (x->first_offset >= 0) {
        if (t->first_offset < 0 || x->first_offset < t->first_offset)
            t->first_offset = x->first_offset;
        if (x->last_offset > t->last_offset)
            t->last_offset = x->last_offset;
    }
    t->records += x->records;
    t->ignored += x->ignored;
    if (x->updated_at != INT64_MIN && x->updated_at > t->updated_at)
        t->updated_at = x->updated_at;
}

/* Lines: the rows of both sets merged (they are sorted alike), then the
 * totals. Returns whether every row checks ok or unverifiable. */
static bool build_lines(tally_replay_rows_t *expected, tally_replay_rows_t *actual, lines_t *out)
{
    bool ok = true;
    size_t i = 0, j = 0, ne = tally_replay_rows_count(expected), na = tally_replay_rows_count(actual);
    while (i < ne || j < na) {
        const tally_replay_row_t *e = i < ne ? tally_replay_rows_at(expected, i) : NULL;
        const tally_replay_row_t *a = j < na ? tally_replay_rows_at(actual, j) : NULL;
        int c = e == NULL ? 1 : (a == NULL ? -1 : key_cmp(e, a));
        line_t *x = line_add(out);
        if (c > 0) {
            line_from_row(x, a, CHECK_ONLY_MATERIALIZED);
            j++;
        } else {
            check_t check = (e->flags & TALLY_REPLAY_UNVERIFIABLE) ? CHECK_UNVERIFIABLE
                            : c < 0                                 ? CHECK_MISSING
                            : same_values(e, a)                     ? CHECK_OK
                                                                    : CHECK_DIFFERS;
            line_from_row(x, e, check);
            i++;
            if (c == 0)
                j++;
        }
        if (x->check != CHECK_OK && x->check != CHECK_UNVERIFIABLE)
            ok = false;
    }
    /* Totals per environment (rows are sorted by environment), then all. */
    size_t rows = out->n;
    line_t all = {.kind = KIND_API_TOTAL, .environment = "*", .day = INT32_MIN, .updated_at = INT64_MIN,
                  .partition = -1, .first_offset = -1, .last_offset = -1};
    line_t seats = {.kind = KIND_SEATS_TOTAL, .day = INT32_MIN, .updated_at = INT64_MIN, .partition = -1,
                    .first_offset = -1, .last_offset = -1};
    bool all_first = true, seats_first = true;
    int32_t last_seat_day = INT32_MIN;
    for (size_t k = 0; k < rows;) {
        if (out->v[k].kind == KIND_SEATS) {
            const line_t *x = &out->v[k];
            total_add(&seats, x, &seats_first);
            k++;
            if (x->check == CHECK_ONLY_MATERIALIZED)
                continue;
            if (x->v[1] > seats.v[1])
                seats.v[1] = x->v[1];
            if (x->day > last_seat_day) {
                last_seat_day = x->day;
                seats.v[0] = x->v[0];
            }
            continue;
        }
        line_t t = {.kind = KIND_API_TOTAL, .environment = out->v[k].environment, .day = INT32_MIN,
                    .updated_at = INT64_MIN, .partition = -1, .first_offset = -1, .last_offset = -1};
        bool first = true;
        size_t m = k;
        for (; m < rows && out->v[m].kind == KIND_API && strcmp(out->v[m].environment, t.environment) == 0; m++) {
            for (int f = 0; f < 4 && out->v[m].check != CHECK_ONLY_MATERIALIZED; f++) {
                t.v[f] += out->v[m].v[f];
                all.v[f] += out->v[m].v[f];
            }
            total_add(&t, &out->v[m], &first);
            total_add(&all, &out->v[m], &all_first);
        }
        *line_add(out) = t;
        k = m;
    }
    *line_add(out) = all;
    if (!seats_first)
        *line_add(out) = seats;
    return ok;
}

static void num(char *buf, size_t size, int64_t v, bool shown)
{
    if (shown)
        snprintf(buf, size, "%" PRId64, v);
    else
        buf[0] = '\0';
}

static void print_grid(const tally_replay_opts_t *o, const lines_t *l, bool csv)
{
    static const char *const header[] = {"kind", "tenant_id", "environment_id", "day", "api_calls", "status_4xx",
                                         "status_5xx", "exec_ms", "seats_in_use", "seats_peak", "updated_at",
                                         "topic", "partition", "first_offset", "last_offset", "records", "ignored",
                                         "check"};
    enum { NCOL = sizeof header / sizeof header[0] };
    tally_replay_grid_t *g = tally_replay_grid_new(NCOL, header);
    for (size_t i = 0; i < l->n; i++) {
        const line_t *x = &l->v[i];
        bool api = x->kind == KIND_API || x->kind == KIND_API_TOTAL;
        bool prov = x->partition >= 0;
        char day[TALLY_DATE_SIZE], at[TALLY_RFC3339_SIZE], vals[6][24], part[16], first[24], last[24], recs[24],
            ign[24];
        if (x->day == INT32_MIN)
            snprintf(day, sizeof day, "%s", o->period);
        else
            tally_replay_format_day(x->day, day);
        tally_replay_format_time(x->updated_at, at);
        if (x->updated_at == INT64_MIN)
            at[0] = '\0';
        for (int f = 0; f < 4; f++)
            num(vals[f], sizeof vals[f], x->v[f], api);
        num(vals[4], sizeof vals[4], x->v[0], !api);
        num(vals[5], sizeof vals[5], x->v[1], !api);
        num(part, sizeof part, x->partition, prov);
        num(first, sizeof first, x->first_offset, prov && x->first_offset >= 0);
        num(last, sizeof last, x->last_offset, prov && x->last_offset >= 0);
        num(recs, sizeof recs, (int64_t)x->records, x->check != CHECK_ONLY_MATERIALIZED);
        num(ign, sizeof ign, (int64_t)x->ignored, x->check != CHECK_ONLY_MATERIALIZED);
        const char *cells[NCOL] = {kind_names[x->kind], o->tenant, x->environment ? x->environment : "", day,
                                   vals[0], vals[1], vals[2], vals[3], vals[4], vals[5], at,
                                   prov ? o->usage_topic : "", part, first, last, recs, ign, check_names[x->check]};
        tally_replay_grid_add(g, cells);
    }
    if (csv) {
        tally_replay_grid_csv(g, o->out);
    } else {
        fprintf(o->out, "usage of tenant %s for %s, recomputed from %s; checked against schema %s\n\n", o->tenant,
                o->period, o->usage_topic, o->live_schema);
        tally_replay_grid_print(g, o->out);
    }
    tally_replay_grid_free(g);
}

static json_t *opt_int(int64_t v, bool shown)
{
    return shown ? json_integer((json_int_t)v) : json_null();
}

static void print_json(const tally_replay_opts_t *o, const lines_t *l, const tally_replay_ranges_t *ranges)
{
    json_t *root = json_object(), *rows = json_array(), *parts = json_array();
    json_object_set_new(root, "command", json_string("export"));
    json_object_set_new(root, "tenant_id", json_string(o->tenant));
    json_object_set_new(root, "period", json_string(o->period));
    json_object_set_new(root, "topic", json_string(o->usage_topic));
    json_object_set_new(root, "schema", json_string(o->live_schema));
    for (size_t i = 0; i < ranges->n; i++)
        json_array_append_new(parts, json_pack("{s:i, s:I, s:I}", "partition", (int)ranges->v[i].partition,
                                               "start", (json_int_t)ranges->v[i].start, "end",
                                               (json_int_t)ranges->v[i].end));
    json_object_set_new(root, "read", parts);
    for (size_t i = 0; i < l->n; i++) {
        const line_t *x = &l->v[i];
        bool api = x->kind == KIND_API || x->kind == KIND_API_TOTAL;
        bool prov = x->partition >= 0;
        char day[TALLY_DATE_SIZE], at[TALLY_RFC3339_SIZE];
        if (x->day == INT32_MIN)
            snprintf(day, sizeof day, "%s", o->period);
        else
            tally_replay_format_day(x->day, day);
        tally_replay_format_time(x->updated_at, at);
        json_t *r = json_object();
        json_object_set_new(r, "kind", json_string(kind_names[x->kind]));
        json_object_set_new(r, "environment_id", x->environment ? json_string(x->environment) : json_null());
        json_object_set_new(r, x->day == INT32_MIN ? "period" : "day", json_string(day));
        if (api) {
            json_object_set_new(r, "api_calls", json_integer((json_int_t)x->v[0]));
            json_object_set_new(r, "status_4xx", json_integer((json_int_t)x->v[1]));
            json_object_set_new(r, "status_5xx", json_integer((json_int_t)x->v[2]));
            json_object_set_new(r, "exec_ms", json_integer((json_int_t)x->v[3]));
        } else {
            json_object_set_new(r, "seats_in_use", json_integer((json_int_t)x->v[0]));
            json_object_set_new(r, "seats_peak", json_integer((json_int_t)x->v[1]));
        }
        json_object_set_new(r, "updated_at", x->updated_at == INT64_MIN ? json_null() : json_string(at));
        json_object_set_new(r, "source",
                            prov ? json_pack("{s:s, s:i, s:o, s:o}", "topic", o->usage_topic, "partition",
                                             (int)x->partition, "first_offset",
                                             opt_int(x->first_offset, x->first_offset >= 0), "last_offset",
                                             opt_int(x->last_offset, x->last_offset >= 0))
                                 : json_null());
        json_object_set_new(r, "records", opt_int((int64_t)x->records, x->check != CHECK_ONLY_MATERIALIZED));
        json_object_set_new(r, "ignored", opt_int((int64_t)x->ignored, x->check != CHECK_ONLY_MATERIALIZED));
        json_object_set_new(r, "check", json_string(check_names[x->check]));
        json_array_append_new(rows, r);
    }
    json_object_set_new(root, "rows", rows);
    json_dumpf(root, o->out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', o->out);
    json_decref(root);
}

int tally_replay_export(const tally_replay_opts_t *o)
{
    char err[1024];
    int rc = TALLY_REPLAY_EXIT_FAILED;
    tally_replay_ranges_t ranges = {0};
    lines_t lines = {0};
    tally_replay_reader_t *reader = NULL;
    tally_recompute_t *re = NULL;
    tally_replay_rows_t *expected = tally_replay_rows_new(), *actual = tally_replay_rows_new();
    PGconn *conn = tally_replay_pg_connect(o, "tally-replay-export");
    if (conn == NULL)
        goto cleanup;
    bool known = false;
    if (tally_readmodel_check(conn, o->live_schema, err, sizeof err) != 0 ||
        tally_readmodel_tenant_known(conn, o->live_schema, o->tenant, &known, err, sizeof err) != 0) {
        tally_log_error(COMPONENT, "%s", err);
        goto cleanup;
    }
    if (!known) {
        tally_log_error(COMPONENT, "unknown tenant %s: not registered and no usage in schema %s", o->tenant,
                        o->live_schema);
        rc = TALLY_REPLAY_EXIT_USAGE;
        goto cleanup;
    }
    if ((reader = tally_replay_reader_open(o, "export")) == NULL)
        goto cleanup;
    if (tally_replay_reader_plan(reader, o->usage_topic, 0, -1, &ranges, err, sizeof err) != 0) {
        tally_log_error(COMPONENT, "%s", err);
        goto cleanup;
    }
    tally_recompute_opts_t ro = {.catalog = o->catalog, .open_days = o->open_days,
                                 .reporter_idle_ms = o->reporter_idle_ms, .skew_ms = o->skew_ms,
                                 .warmup_ms = o->warmup_ms, .track_tenant = o->tenant,
                                 .track_from_day = o->period_first_day, .track_to_day = o->period_last_day};
    if ((re = tally_recompute_new(&ro, err, sizeof err)) == NULL) {
        tally_log_error(COMPONENT, "%s", err);
        rc = TALLY_REPLAY_EXIT_USAGE;
        goto cleanup;
    }
    for (size_t i = 0; i < ranges.n; i++)
        tally_recompute_partition(re, ranges.v[i].partition, ranges.v[i].start > 0, -1);
    tally_log_info(COMPONENT, "export: reading %" PRIu64 " offset(s) of %s (%zu partition(s))",
                   tally_replay_ranges_span(&ranges), o->usage_topic, ranges.n);
    int run = tally_replay_reader_run(reader, &ranges, tally_recompute_record, re, o->stop, err, sizeof err);
    if (run != 0) {
        tally_log_error(COMPONENT, "%s: %s", o->usage_topic, err);
        goto cleanup;
    }
    if (tally_recompute_partial(re))
        tally_log_warn(COMPONENT, "export: %s no longer holds its oldest records; rows that depend on them are "
                       "marked unverifiable", o->usage_topic);
    tally_recompute_rows(re, o->tenant, o->period_first_day, o->period_last_day, true, expected);
    if (tally_readmodel_load(conn, o->live_schema, o->tenant, o->period_first_day, o->period_last_day, true, actual,
                             err, sizeof err) != 0) {
        tally_log_error(COMPONENT, "%s", err);
        goto cleanup;
    }
    tally_replay_rows_sort(expected);
    tally_replay_rows_sort(actual);
    bool ok = build_lines(expected, actual, &lines);
    if (o->format == TALLY_REPLAY_FORMAT_JSON)
        print_json(o, &lines, &ranges);
    else
        print_grid(o, &lines, o->format == TALLY_REPLAY_FORMAT_CSV);
    if (fflush(o->out) != 0 || ferror(o->out)) {
        tally_log_error(COMPONENT, "cannot write the export");
        goto cleanup;
    }
    if (!ok)
        tally_log_warn(COMPONENT, "export: the log and schema %s disagree on some rows (see the check column; "
                       "tally-replay audit --tenant lists them)", o->live_schema);
    rc = ok ? TALLY_REPLAY_EXIT_OK : TALLY_REPLAY_EXIT_DIFFERENT;
cleanup:
    free(lines.v);
    tally_replay_rows_free(expected);
    tally_replay_rows_free(actual);
    tally_recompute_free(re);
    tally_replay_reader_free(reader);
    tally_replay_ranges_free(&ranges);
    PQfinish(conn);
    return rc;
}
