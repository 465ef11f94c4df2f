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

#include "html.h"
#include "page_defs.h"
#include "page_nav.h"
#include "page_util.h"
#include "period.h"
#include "svg_chart.h"
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
        int s = tally_page_suppressed(tally_page_cell_i64(r, i, 2)) ||
                tally_page_suppressed(tally_page_cell_i64(r, i, 4));
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
        int s = tally_page_suppressed(tally_page_cell_i64(r, i, 3)) ||
                tally_page_suppressed(tally_page_cell_i64(r, i, 5));
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
        int s = tally_page_suppressed(tally_page_cell_i64(r, i, 2)) ||
                tally_page_suppressed(tally_page_cell_i64(r, i, 4));
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

/* ---- render -------------------------------------------------------------- */

#define PIVOT_MAX_SERIES 32

/* Rows of (x, series, value) as a chart: the x labels and series in order
 * of first appearance, a value per (series, x): missing when absent or
 * suppressed, the suppressed flags kept for the table. Strings borrowed
 * from the model, except the series names (owned here). */
typedef struct {
    size_t nx, ns;
    const char **x;
    char (*names)[96];
    tally_chart_series_t *series;
    int64_t *v;     /* ns * nx */
    int *hidden;    /* ns * nx */
} pivot_t;

static size_t find_or_add(const char **list, size_t *n, const char *s)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(list[i], s) == 0)
            return i;
    list[*n] = s;
    return (*n)++;
}

/* series_key2 may be NULL; its value is appended to the series name. */
static void pivot_build(pivot_t *p, const json_t *rows, const char *x_key, const char *series_key,
                        const char *series_key2, const char *value_key)
{
    size_t n = json_array_size(rows);
    memset(p, 0, sizeof *p);
    p->x = calloc(n + 1, sizeof *p->x);
    const char **skey = calloc(n + 1, sizeof *skey);
    char (*labels)[96] = calloc(n + 1, sizeof *labels);
    p->names = calloc(PIVOT_MAX_SERIES, sizeof *p->names);
    if (p->x == NULL || skey == NULL || labels == NULL || p->names == NULL)
        abort();
    for (size_t i = 0; i < n; i++) {
        const json_t *r = json_array_get(rows, i);
        const char *a = tally_page_get_str(r, series_key), *b = series_key2 ? tally_page_get_str(r, series_key2) : NULL;
        snprintf(labels[i], sizeof labels[i], "%s%s%s", a ? a : "not reported", series_key2 ? " " : "",
                 series_key2 ? (b ? b : "not reported") : "");
        find_or_add(p->x, &p->nx, tally_page_get_str(r, x_key) ? tally_page_get_str(r, x_key) : "");
        if (p->ns < PIVOT_MAX_SERIES)
            find_or_add(skey, &p->ns, labels[i]);
    }
    p->v = calloc(p->ns * p->nx + 1, sizeof *p->v);
    p->hidden = calloc(p->ns * p->nx + 1, sizeof *p->hidden);
    p->series = calloc(p->ns + 1, sizeof *p->series);
    if (p->v == NULL || p->hidden == NULL || p->series == NULL)
        abort();
    for (size_t k = 0; k < p->ns * p->nx; k++)
        p->v[k] = TALLY_CHART_MISSING;
    for (size_t sidx = 0; sidx < p->ns; sidx++) {
        snprintf(p->names[sidx], sizeof p->names[sidx], "%s", skey[sidx]);
        p->series[sidx] = (tally_chart_series_t){.name = p->names[sidx], .values = p->v + sidx * p->nx};
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *r = json_array_get(rows, i);
        size_t xi = 0, si = p->ns;
        for (; xi < p->nx && strcmp(p->x[xi], tally_page_get_str(r, x_key) ? tally_page_get_str(r, x_key) : ""); xi++)
            ;
        for (size_t k = 0; k < p->ns; k++)
            if (strcmp(p->names[k], labels[i]) == 0)
                si = k;
        if (si == p->ns || xi == p->nx)
            continue;
        if (tally_page_get_bool(r, "suppressed"))
            p->hidden[si * p->nx + xi] = 1;
        else
            p->v[si * p->nx + xi] = tally_page_get_i64(r, value_key);
    }
    free(skey);
    free(labels);
}

static void pivot_free(pivot_t *p)
{
    free(p->x);
    free(p->names);
    free(p->series);
    free(p->v);
    free(p->hidden);
}

/* The chart of p, then its table with "< 5" where a figure is withheld. */
static void pivot_render(tally_textbuf_t *out, const pivot_t *p, const char *title, const char *x_title)
{
    tally_chart_t c = {.title = title, .x_title = x_title, .npoints = p->nx, .x = p->x, .series = p->series,
                       .nseries = p->ns};
    tally_svg_stacked_bars(out, &c);
    tally_html_column_t *cols = calloc(p->ns + 1, sizeof *cols);
    tally_html_cell_t *cells = calloc(p->ns + 1, sizeof *cells);
    if (cols == NULL || cells == NULL)
        abort();
    cols[0] = (tally_html_column_t){x_title, 0};
    for (size_t s = 0; s < p->ns; s++)
        cols[s + 1] = (tally_html_column_t){p->names[s], 1};
    tally_html_table_open(out, "chart-data", title, cols, p->ns + 1);
    for (size_t x = 0; x < p->nx; x++) {
        cells[0] = tally_html_cell_text(p->x[x]);
        for (size_t s = 0; s < p->ns; s++) {
            size_t k = s * p->nx + x;
            cells[s + 1] = p->hidden[k] ? tally_html_cell_count(0, 1)
                           : p->v[k] == TALLY_CHART_MISSING ? tally_html_cell_none()
                                                           : tally_html_cell_int(p->v[k]);
        }
        tally_html_table_row(out, cols, p->ns + 1, cells, 1);
    }
    if (p->nx == 0)
        tally_textbuf_printf(out, "<tr><td colspan=\"%zu\" class=\"empty\">No data</td></tr>", p->ns + 1);
    tally_html_table_close(out);
    free(cols);
    free(cells);
}

/* A count cell of row r: "< 5" when the row is withheld. */
static tally_html_cell_t count_cell(const json_t *r, const char *key)
{
    return tally_page_get_bool(r, "suppressed") ? tally_html_cell_count(0, 1)
                                                : tally_html_cell_int(tally_page_get_i64(r, key));
}

/* num / den of row r as a percentage, "< 5" when withheld, "–" without a
 * denominator. */
static tally_html_cell_t rate_cell(const json_t *r, const char *num, const char *den)
{
    if (tally_page_get_bool(r, "suppressed"))
        return tally_html_cell_count(0, 1);
    if (tally_page_get_i64(r, den) <= 0)
        return tally_html_cell_none();
    return tally_html_cell_percent(tally_page_get_i64(r, num), tally_page_get_i64(r, den), 1);
}

static const char *or_not_reported(const char *s)
{
    return s ? s : "not reported";
}

void tally_page_product_render(const json_t *model, const tally_page_query_t *q, tally_textbuf_t *out)
{
    tally_textbuf_puts(out, "<h1>Product analytics: ");
    tally_html_text(out, tally_page_get_str(model, "period"));
    tally_textbuf_puts(out, "</h1>");
    tally_page_period_nav(out, "product", NULL, tally_page_get_str(model, "period"), q->now_ms);
    tally_textbuf_puts(out, "<p class=\"muted\">Opted-out projects send nothing. A figure computed from "
                            "fewer than 5 installations is shown as &lt; 5.</p>");
    if (tally_page_get_bool(model, "truncated"))
        tally_textbuf_puts(out, "<p class=\"muted\">Some lists are cut to their first rows.</p>");

    pivot_t p;
    tally_html_elem(out, "h2", NULL, "Events per day");
    pivot_build(&p, json_object_get(model, "events_daily"), "day", "event", NULL, "events");
    pivot_render(out, &p, "Events per day, by event name", "Day");
    pivot_free(&p);

    tally_html_elem(out, "h2", NULL, "Version adoption per week");
    pivot_build(&p, json_object_get(model, "versions_weekly"), "week", "source", "version", "installs");
    pivot_render(out, &p, "Installations per week (from Monday) and version", "Week");
    pivot_free(&p);

    const json_t *rows;
    size_t i;
    const json_t *r;

    static const tally_html_column_t pc[] = {{"CLI version", 0}, {"Starts", 1}, {"Ends", 1}, {"Success rate", 1}};
    tally_html_elem(out, "h2", NULL, "Project creation");
    tally_html_table_open(out, NULL, "Project creation success (end / start) by CLI version", pc, 4);
    rows = json_object_get(model, "project_create");
    json_array_foreach(rows, i, r)
    {
        tally_html_cell_t c[4] = {tally_html_cell_text(or_not_reported(tally_page_get_str(r, "version"))),
                                  count_cell(r, "starts"), count_cell(r, "ends"), rate_cell(r, "ends", "starts")};
        tally_html_table_row(out, pc, 4, c, 1);
    }
    if (json_array_size(rows) == 0)
        tally_textbuf_puts(out, "<tr><td colspan=\"4\" class=\"empty\">No data</td></tr>");
    tally_html_table_close(out);

    static const tally_html_column_t ec[] = {{"Source", 0}, {"Version", 0}, {"Events", 1}, {"With an error", 1},
                                             {"Error rate", 1}};
    tally_html_elem(out, "h2", NULL, "Errors");
    tally_html_table_open(out, NULL, "Error rate by version", ec, 5);
    rows = json_object_get(model, "errors_by_version");
    json_array_foreach(rows, i, r)
    {
        tally_html_cell_t c[5] = {tally_html_cell_text(tally_page_get_str(r, "source")),
                                  tally_html_cell_text(or_not_reported(tally_page_get_str(r, "version"))),
                                  count_cell(r, "events"), count_cell(r, "errors"), rate_cell(r, "errors", "events")};
        tally_html_table_row(out, ec, 5, c, 0);
    }
    if (json_array_size(rows) == 0)
        tally_textbuf_puts(out, "<tr><td colspan=\"5\" class=\"empty\">No data</td></tr>");
    tally_html_table_close(out);

    static const tally_html_column_t tc[] = {{"Error message (scrubbed)", 0}, {"Events", 1}, {"Installations", 1}};
    tally_html_table_open(out, NULL, "Most frequent error messages (from at least 5 installations)", tc, 3);
    rows = json_object_get(model, "top_errors");
    json_array_foreach(rows, i, r)
    {
        tally_html_cell_t c[3] = {tally_html_cell_text(tally_page_get_str(r, "message")),
                                  tally_html_cell_int(tally_page_get_i64(r, "events")),
                                  tally_html_cell_int(tally_page_get_i64(r, "installs"))};
        tally_html_table_row(out, tc, 3, c, 0);
    }
    if (json_array_size(rows) == 0)
        tally_textbuf_puts(out, "<tr><td colspan=\"3\" class=\"empty\">No message from 5 installations or "
                                "more</td></tr>");
    tally_html_table_close(out);

    static const tally_html_column_t cc[] = {{"Source", 0}, {"Events", 1}, {"In CI", 1}, {"CI share", 1}};
    tally_html_elem(out, "h2", NULL, "CI share");
    tally_html_table_open(out, NULL, "Events run in CI, of those that said", cc, 4);
    rows = json_object_get(model, "ci");
    json_array_foreach(rows, i, r)
    {
        tally_html_cell_t c[4] = {tally_html_cell_text(tally_page_get_str(r, "source")), count_cell(r, "events"),
                                  count_cell(r, "ci_events"), rate_cell(r, "ci_events", "events")};
        tally_html_table_row(out, cc, 4, c, 1);
    }
    if (json_array_size(rows) == 0)
        tally_textbuf_puts(out, "<tr><td colspan=\"4\" class=\"empty\">No data</td></tr>");
    tally_html_table_close(out);
}
