/*
 * pages_vendor_product.c: vendor staff only. One month of product
 * analytics: events per day by event name; installations per week and
 * version (whole weeks, Monday to Sunday, touching the month); project
 * creation success (project.create.end / project.create.start) by CLI
 * version; events carrying an error by version, and the most frequent
 * scrubbed error messages; the share of events run in CI.
 *
 * Privacy: opt-out is honoured upstream (the client does not send, the
 * gateway drops the events of opted-out projects), so nothing of an
 * opted-out project reaches the read model and every figure here respects
 * it. Every figure computed from 1 to TALLY_PAGE_MIN_INSTALLS - 1 distinct
 * installations is withheld: the model gives null and "suppressed": true
 * for the whole row (a ratio and both of its counts), the page shows
 * "< 5"; an error message sent by fewer installations is not returned by
 * the database at all (its text could point at one of them).
 *
 * The figures come from the functions of 0009, each bounded to the
 * period's days; every list is bounded too (the model says when one was
 * cut).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "page_defs.h"
#include "page_util.h"
#include "period.h"
#include "timeutil.h"

#define MAX_DAILY_ROWS 2000
#define MAX_VERSION_ROWS 1000
#define MAX_TOP_ERRORS 10

static const char events_sql[] =
    "SELECT day, event, events, installs FROM tally.console_product_events_daily($1::date, $2::date) LIMIT $3";
static const char versions_sql[] =
    "SELECT week, source, version, installs FROM tally.console_product_versions_weekly($1::date, $2::date) LIMIT $3";
static const char create_sql[] =
    "SELECT version, starts, start_installs, ends, end_installs "
    "FROM tally.console_product_create_rate($1::date, $2::date) LIMIT $3";
static const char errors_sql[] =
    "SELECT source, version, events, installs, errors, error_installs "
    "FROM tally.console_product_errors($1::date, $2::date) LIMIT $3";
static const char top_errors_sql[] =
    "SELECT error_message, events, installs "
    "FROM tally.console_product_top_errors($1::date, $2::date, $3::integer, $4::integer)";
static const char ci_sql[] =
    "SELECT source, events, installs, ci_events, ci_installs FROM tally.console_product_ci($1::date, $2::date)";

/* A count, or null when suppressed. */
static json_t *count_json(int64_t v, int suppressed)
{
    return suppressed ? json_null() : json_integer(v);
}

/* num / den as a fraction, or null (suppressed, or no denominator). */
static json_t *ratio_json(int64_t num, int64_t den, int suppressed)
{
    return suppressed || den <= 0 ? json_null() : json_real((double)num / (double)den);
}

static json_t *events_daily(const PGresult *r, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) {
        int64_t installs = tally_page_cell_i64(r, i, 3);
        int s = tally_page_suppressed(installs);
        json_t *o = json_object();
        json_object_set_new(o, "day", tally_page_cell_str(r, i, 0));
        json_object_set_new(o, "event", tally_page_cell_str(r, i, 1));
        json_object_set_new(o, "events", count_json(tally_page_cell_i64(r, i, 2), s));
        json_object_set_new(o, "installs", count_json(installs, s));
        json_object_set_new(o, "suppressed", json_boolean(s));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *versions_weekly(const PGresult *r, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) {
        int64_t installs = tally_page_cell_i64(r, i, 3);
        int s = tally_page_suppressed(installs);
        json_t *o = json_object();
        json_object_set_new(o, "week", tally_page_cell_str(r, i, 0));
        json_object_set_new(o, "source", tally_page_cell_str(r, i, 1));
        json_object_set_new(o, "version", tally_page_cell_str(r, i, 2));
        json_object_set_new(o, "installs", count_json(installs, s));
        json_object_set_new(o, "suppressed", json_boolean(s));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *project_create(const PGresult *r, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) {
        int64_t starts = tally_page_cell_i64(r, i, 1), ends = tally_page_cell_i64(r, i, 3);
        int s = tally_page_suppressed(tally_page_cell_i64(r, i, 2)) || tally_page_suppressed(tally_page_cell_i64(r, i, 4));
        json_t *o = json_object();
        json_object_set_new(o, "version", tally_page_cell_str(r, i, 0));
        json_object_set_new(o, "starts", count_json(starts, s));
        json_object_set_new(o, "ends", count_json(ends, s));
        json_object_set_new(o, "success_rate", ratio_json(ends, starts, s));
        json_object_set_new(o, "suppressed", json_boolean(s));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *errors_by_version(const PGresult *r, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) {
        int64_t events = tally_page_cell_i64(r, i, 2), errors = tally_page_cell_i64(r, i, 4);
        int s = tally_page_suppressed(tally_page_cell_i64(r, i, 3)) || tally_page_suppressed(tally_page_cell_i64(r, i, 5));
        json_t *o = json_object();
        json_object_set_new(o, "source", tally_page_cell_str(r, i, 0));
        json_object_set_new(o, "version", tally_page_cell_str(r, i, 1));
        json_object_set_new(o, "events", count_json(events, s));
        json_object_set_new(o, "errors", count_json(errors, s));
        json_object_set_new(o, "error_rate", ratio_json(errors, events, s));
        json_object_set_new(o, "suppressed", json_boolean(s));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *top_errors(const PGresult *r, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) {
        int64_t installs = tally_page_cell_i64(r, i, 2);
        if (installs < TALLY_PAGE_MIN_INSTALLS)
            continue;   /* the database already left these out */
        json_t *o = json_object();
        json_object_set_new(o, "message", tally_page_cell_str(r, i, 0));
        json_object_set_new(o, "events", json_integer(tally_page_cell_i64(r, i, 1)));
        json_object_set_new(o, "installs", json_integer(installs));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *ci_share(const PGresult *r, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) {
        int64_t events = tally_page_cell_i64(r, i, 1), ci = tally_page_cell_i64(r, i, 3);
        int s = tally_page_suppressed(tally_page_cell_i64(r, i, 2)) || tally_page_suppressed(tally_page_cell_i64(r, i, 4));
        json_t *o = json_object();
        json_object_set_new(o, "source", tally_page_cell_str(r, i, 0));
        json_object_set_new(o, "events", count_json(events, s));
        json_object_set_new(o, "ci_events", count_json(ci, s));
        json_object_set_new(o, "ci_share", ratio_json(ci, events, s));
        json_object_set_new(o, "suppressed", json_boolean(s));
        json_array_append_new(a, o);
    }
    return a;
}

typedef json_t *(*section_fn)(const PGresult *r, int n);

/* Runs one section's query and sets model[key] to its rows (at most max;
 * model["truncated"] becomes true when there were more). */
static int section(PGconn *pg, json_t *m, const char *key, const char *sql, int nparams, const char *const *params,
                   int max, section_fn fn, char *errbuf, size_t errsize)
{
    PGresult *r;
    int rc = tally_page_sql(pg, sql, nparams, params, &r, errbuf, errsize);
    if (rc != 0)
        return rc;
    int n = PQntuples(r) > max ? max : PQntuples(r);
    if (PQntuples(r) > max)
        json_object_set_new(m, "truncated", json_true());
    json_object_set_new(m, key, fn(r, n));
    PQclear(r);
    return 0;
}

int tally_page_product_load(PGconn *pg, const tally_page_query_t *q, json_t **model, char *errbuf,
                            size_t errsize)
{
    if (!q->staff) {
        snprintf(errbuf, errsize, "vendor staff only");
        return TALLY_PAGE_NOT_FOUND;
    }
    tally_period_t p;
    if (tally_period_parse(q->period, q->now_ms, &p, errbuf, errsize) != 0)
        return TALLY_PAGE_BAD_QUERY;
    /* [first, until) the month; [wfirst, wuntil) the whole weeks touching
     * it (1970-01-01 was a Thursday: day 4 was a Monday). */
    int64_t wfirst = p.first_day - ((p.first_day - 4) % 7 + 7) % 7;
    int64_t wuntil = p.last_day + 1 + (7 - ((p.last_day + 1 - 4) % 7 + 7) % 7) % 7;
    char first[TALLY_DATE_SIZE], until[TALLY_DATE_SIZE], wf[TALLY_DATE_SIZE], wu[TALLY_DATE_SIZE];
    if (tally_date_format(p.first_day, first) != 0 || tally_date_format(p.last_day + 1, until) != 0 ||
        tally_date_format(wfirst, wf) != 0 || tally_date_format(wuntil, wu) != 0) {
        snprintf(errbuf, errsize, "period out of range");
        return TALLY_PAGE_BAD_QUERY;
    }
    char lim_daily[16], lim_versions[16], min_installs[16], lim_top[16];
    snprintf(lim_daily, sizeof lim_daily, "%d", MAX_DAILY_ROWS + 1);
    snprintf(lim_versions, sizeof lim_versions, "%d", MAX_VERSION_ROWS + 1);
    snprintf(min_installs, sizeof min_installs, "%d", TALLY_PAGE_MIN_INSTALLS);
    snprintf(lim_top, sizeof lim_top, "%d", MAX_TOP_ERRORS);
    const char *month_daily[3] = {first, until, lim_daily};
    const char *weeks[3] = {wf, wu, lim_versions};
    const char *month_versions[3] = {first, until, lim_versions};
    const char *top[4] = {first, until, min_installs, lim_top};

    json_t *m = tally_page_model_new("product", q);
    json_object_set_new(m, "period", json_string(p.text));
    json_object_set_new(m, "first_day", tally_page_day_json(p.first_day));
    json_object_set_new(m, "last_day", tally_page_day_json(p.last_day));
    json_object_set_new(m, "weeks_from", tally_page_day_json(wfirst));
    json_object_set_new(m, "weeks_until", tally_page_day_json(wuntil - 1));
    json_object_set_new(m, "min_installs", json_integer(TALLY_PAGE_MIN_INSTALLS));
    json_object_set_new(m, "truncated", json_false());
    int rc = section(pg, m, "events_daily", events_sql, 3, month_daily, MAX_DAILY_ROWS, events_daily, errbuf,
                     errsize);
    if (rc == 0)
        rc = section(pg, m, "versions_weekly", versions_sql, 3, weeks, MAX_VERSION_ROWS, versions_weekly, errbuf,
                     errsize);
    if (rc == 0)
        rc = section(pg, m, "project_create", create_sql, 3, month_versions, MAX_VERSION_ROWS, project_create,
                     errbuf, errsize);
    if (rc == 0)
        rc = section(pg, m, "errors_by_version", errors_sql, 3, month_versions, MAX_VERSION_ROWS,
                     errors_by_version, errbuf, errsize);
    if (rc == 0)
        rc = section(pg, m, "top_errors", top_errors_sql, 4, top, MAX_TOP_ERRORS, top_errors, errbuf, errsize);
    if (rc == 0)
        rc = section(pg, m, "ci", ci_sql, 2, month_daily, 16, ci_share, errbuf, errsize);
    if (rc != 0) {
        json_decref(m);
        return rc;
    }
    *model = m;
    return 0;
}

void tally_page_product_render(const json_t *model, const tally_page_query_t *q, tally_textbuf_t *out)
{
    (void)model;
    (void)q;
    (void)out;
}
