/*
 * pages_usage.c: one month of a tenant's API usage: calls per day stacked by
 * environment, the daily 4xx and 5xx rates, a table per environment, and
 * the links to the month's downloads.
 *
 * One query of tally.console_usage_daily for the tenant and the month's
 * days (bounded: at most TALLY_USAGE_MAX_ROWS rows; the model says when it
 * was cut). Sums saturate at INT64_MAX as tally.monthly_usage's do, so the
 * per-environment totals equal that view's figures.
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

/* 200 environments of 31 days. */
#define TALLY_USAGE_MAX_ROWS 6200

static const char usage_sql[] =
    "SELECT environment_id, environment_name, environment_kind, day, api_calls, status_4xx, status_5xx, exec_ms "
    "FROM tally.console_usage_daily WHERE tenant_id = $1 AND day >= $2::date AND day <= $3::date "
    "ORDER BY CASE environment_kind WHEN 'production' THEN 1 WHEN 'staging' THEN 2 WHEN 'development' THEN 3 "
    "ELSE 4 END, environment_id, day LIMIT $4";

enum { U_ENV, U_NAME, U_KIND, U_DAY, U_CALLS, U_4XX, U_5XX, U_EXEC };

/* Counters of one environment or one day. */
typedef struct {
    int64_t calls, s4xx, s5xx, exec_ms;
} usage_sum_t;

static void sum_add(usage_sum_t *s, const PGresult *r, int row)
{
    s->calls = tally_page_add(s->calls, tally_page_cell_i64(r, row, U_CALLS));
    s->s4xx = tally_page_add(s->s4xx, tally_page_cell_i64(r, row, U_4XX));
    s->s5xx = tally_page_add(s->s5xx, tally_page_cell_i64(r, row, U_5XX));
    s->exec_ms = tally_page_add(s->exec_ms, tally_page_cell_i64(r, row, U_EXEC));
}

/* Sets the four counters of s on o. */
static void sum_set(json_t *o, const usage_sum_t *s)
{
    json_object_set_new(o, "api_calls", json_integer(s->calls));
    json_object_set_new(o, "status_4xx", json_integer(s->s4xx));
    json_object_set_new(o, "status_5xx", json_integer(s->s5xx));
    json_object_set_new(o, "exec_ms", json_integer(s->exec_ms));
}

/* Builds the model's environments and daily arrays from the rows of r. */
static void build(const PGresult *r, const tally_period_t *p, json_t *m)
{
    int n = PQntuples(r) > TALLY_USAGE_MAX_ROWS ? TALLY_USAGE_MAX_ROWS : PQntuples(r);
    int ndays = (int)(p->last_day - p->first_day + 1);
    usage_sum_t day_sum[31], total = {0};
    memset(day_sum, 0, sizeof day_sum);
    json_t *envs = json_array(), *by_env_daily = json_array();
    usage_sum_t env_sum = {0};
    json_t *env = NULL, *env_days = NULL;
    for (int i = 0; i < n; i++) {
        if (env == NULL || strcmp(tally_page_get_str(env, "id"), PQgetvalue(r, i, U_ENV)) != 0) {
            if (env) {
                sum_set(env, &env_sum);
                json_array_append_new(envs, env);
                json_array_append_new(by_env_daily, env_days);
            }
            env = json_object();
            json_object_set_new(env, "id", tally_page_cell_str(r, i, U_ENV));
            json_object_set_new(env, "name", tally_page_cell_str(r, i, U_NAME));
            json_object_set_new(env, "kind", tally_page_cell_str(r, i, U_KIND));
            env_days = json_array();
            for (int d = 0; d < ndays; d++)
                json_array_append_new(env_days, json_integer(0));
            memset(&env_sum, 0, sizeof env_sum);
        }
        int64_t day = tally_page_cell_day(r, i, U_DAY);
        int d = (int)(day - p->first_day);
        if (d < 0 || d >= ndays)
            continue;
        sum_add(&env_sum, r, i);
        sum_add(&day_sum[d], r, i);
        sum_add(&total, r, i);
        json_array_set_new(env_days, (size_t)d, json_integer(tally_page_cell_i64(r, i, U_CALLS)));
    }
    if (env) {
        sum_set(env, &env_sum);
        json_array_append_new(envs, env);
        json_array_append_new(by_env_daily, env_days);
    }
    json_t *daily = json_array();
    for (int d = 0; d < ndays; d++) {
        json_t *o = json_object();
        json_object_set_new(o, "day", tally_page_day_json(p->first_day + d));
        sum_set(o, &day_sum[d]);
        json_t *stack = json_array();
        size_t e;
        json_t *days;
        json_array_foreach(by_env_daily, e, days) json_array_append(stack, json_array_get(days, (size_t)d));
        json_object_set_new(o, "by_environment", stack);
        json_array_append_new(daily, o);
    }
    json_decref(by_env_daily);
    json_object_set_new(m, "environments", envs);
    json_object_set_new(m, "daily", daily);
    json_t *totals = json_object();
    sum_set(totals, &total);
    json_object_set_new(m, "totals", totals);
}

int tally_page_usage_load(PGconn *pg, const tally_page_query_t *q, json_t **model, char *errbuf, size_t errsize)
{
    tally_period_t p;
    json_t *tenant = NULL;
    char first[TALLY_DATE_SIZE], last[TALLY_DATE_SIZE], limit[16];
    int rc = tally_page_tenant_month(pg, q, &p, &tenant, first, last, errbuf, errsize);
    if (rc != 0)
        return rc;
    snprintf(limit, sizeof limit, "%d", TALLY_USAGE_MAX_ROWS + 1);
    const char *params[4] = {q->tenant_id, first, last, limit};
    PGresult *r;
    rc = tally_page_sql(pg, usage_sql, 4, params, &r, errbuf, errsize);
    if (rc != 0) {
        json_decref(tenant);
        return rc;
    }
    json_t *m = tally_page_tenant_month_model("usage", q, &p, tenant, first, last);
    int truncated = PQntuples(r) > TALLY_USAGE_MAX_ROWS;
    json_object_set_new(m, "truncated", json_boolean(truncated));
    build(r, &p, m);
    PQclear(r);
    /* The month's downloads (the server answers them from replay's export). */
    tally_textbuf_t url = {0};
    json_t *dl = json_object();
    tally_textbuf_puts(&url, "/t/");
    tally_html_url_component(&url, q->tenant_id);
    tally_textbuf_printf(&url, "/usage.csv?period=%s", p.text);
    json_object_set_new(dl, "csv", tally_page_json_str(url.data));
    tally_textbuf_reset(&url);
    tally_textbuf_puts(&url, "/api/v1/tenants/");
    tally_html_url_component(&url, q->tenant_id);
    tally_textbuf_printf(&url, "/usage/export?period=%s&format=json", p.text);
    json_object_set_new(dl, "json", tally_page_json_str(url.data));
    tally_textbuf_free(&url);
    json_object_set_new(m, "downloads", dl);
    *model = m;
    return 0;
}

/* ---- render -------------------------------------------------------------- */

/* 4xx or 5xx per call, in basis points (missing on a day without calls). */
static int64_t *day_rates(const json_t *daily, const char *key, size_t n)
{
    int64_t *v = calloc(n ? n : 1, sizeof *v);
    if (v == NULL)
        abort();
    for (size_t i = 0; i < n; i++) {
        const json_t *d = json_array_get(daily, i);
        int64_t calls = tally_page_get_i64(d, "api_calls"), bad = tally_page_get_i64(d, key);
        v[i] = calls > 0 ? (int64_t)((__int128)bad * 10000 / calls) : TALLY_CHART_MISSING;
    }
    return v;
}

void tally_page_usage_render(const json_t *model, const tally_page_query_t *q, tally_textbuf_t *out)
{
    const json_t *daily = json_object_get(model, "daily"), *envs = json_object_get(model, "environments");
    size_t ndays = json_array_size(daily), nenv = json_array_size(envs);
    tally_textbuf_puts(out, "<h1>Usage: ");
    tally_html_text(out, tally_page_get_str(json_object_get(model, "tenant"), "name"));
    tally_textbuf_puts(out, ", ");
    tally_html_text(out, tally_page_get_str(model, "period"));
    tally_textbuf_puts(out, "</h1>");
    tally_page_period_nav(out, "usage", q->tenant_id, tally_page_get_str(model, "period"), q->now_ms);
    const json_t *dl = json_object_get(model, "downloads");
    tally_textbuf_puts(out, "<p class=\"downloads\">Downloads: <a href=\"");
    tally_html_text(out, tally_page_get_str(dl, "csv"));
    tally_textbuf_puts(out, "\">CSV</a><a href=\"");
    tally_html_text(out, tally_page_get_str(dl, "json"));
    tally_textbuf_puts(out, "\">JSON</a></p>");
    if (tally_page_get_bool(model, "truncated"))
        tally_textbuf_puts(out, "<p class=\"muted\">Only the first environments are shown.</p>");

    /* Labels: the dates, and their day of the month on the axis. */
    const char **x = calloc(ndays ? ndays : 1, sizeof *x), **xs = calloc(ndays ? ndays : 1, sizeof *xs);
    if (x == NULL || xs == NULL)
        abort();
    for (size_t i = 0; i < ndays; i++) {
        x[i] = tally_page_get_str(json_array_get(daily, i), "day");
        xs[i] = x[i] && strlen(x[i]) == 10 ? x[i] + 8 : x[i];
    }

    /* API calls per day, stacked by environment. */
    tally_chart_series_t *series = calloc(nenv ? nenv : 1, sizeof *series);
    int64_t *stack = calloc(nenv * ndays + 1, sizeof *stack);
    char (*names)[160] = calloc(nenv ? nenv : 1, sizeof *names);
    if (series == NULL || stack == NULL || names == NULL)
        abort();
    for (size_t e = 0; e < nenv; e++) {
        const json_t *env = json_array_get(envs, e);
        const char *name = tally_page_get_str(env, "name"), *kind = tally_page_get_str(env, "kind");
        snprintf(names[e], sizeof names[e], "%s (%s)", name ? name : tally_page_get_str(env, "id"),
                 kind ? kind : "deleted");
        for (size_t d = 0; d < ndays; d++)
            stack[e * ndays + d] = json_integer_value(
                json_array_get(json_object_get(json_array_get(daily, d), "by_environment"), e));
        series[e] = (tally_chart_series_t){.name = names[e], .values = stack + e * ndays};
    }
    tally_chart_t calls = {.title = "API calls per day, by environment", .npoints = ndays, .x = x,
                           .x_short = xs, .series = series, .nseries = nenv, .total_column = 1};
    tally_html_elem(out, "h2", NULL, "API calls per day");
    tally_svg_stacked_bars(out, &calls);
    tally_chart_table(out, &calls);

    /* 4xx and 5xx per call, per day. */
    int64_t *r4 = day_rates(daily, "status_4xx", ndays), *r5 = day_rates(daily, "status_5xx", ndays);
    tally_chart_series_t rates[2] = {{"4xx rate", r4}, {"5xx rate", r5}};
    tally_chart_t errors = {.title = "4xx and 5xx responses per API call, per day", .npoints = ndays, .x = x,
                            .x_short = xs, .series = rates, .nseries = 2, .decimals = 2, .unit = "%"};
    tally_html_elem(out, "h2", NULL, "Error rates per day");
    tally_svg_lines(out, &errors);
    tally_chart_table(out, &errors);

    /* Per environment, and the month's totals. */
    static const tally_html_column_t cols[] = {{"Environment", 0}, {"Kind", 0},     {"API calls", 1},
                                               {"4xx", 1},         {"5xx", 1},      {"4xx rate", 1},
                                               {"5xx rate", 1},    {"Execution time (ms)", 1}};
    tally_html_elem(out, "h2", NULL, "Per environment");
    tally_html_table_open(out, NULL, "API usage per environment this month", cols, 8);
    for (size_t e = 0; e <= nenv; e++) {
        const json_t *o = e < nenv ? json_array_get(envs, e) : json_object_get(model, "totals");
        int64_t c = tally_page_get_i64(o, "api_calls"), s4 = tally_page_get_i64(o, "status_4xx"),
                s5 = tally_page_get_i64(o, "status_5xx");
        tally_html_cell_t cells[8] = {
            tally_html_cell_text(e < nenv ? names[e] : "Total"),
            e < nenv ? tally_html_cell_text(tally_page_get_str(o, "kind")) : tally_html_cell_none(),
            tally_html_cell_int(c),
            tally_html_cell_int(s4),
            tally_html_cell_int(s5),
            c > 0 ? tally_html_cell_percent(s4, c, 2) : tally_html_cell_none(),
            c > 0 ? tally_html_cell_percent(s5, c, 2) : tally_html_cell_none(),
            tally_html_cell_int(tally_page_get_i64(o, "exec_ms")),
        };
        tally_html_table_row(out, cols, 8, cells, 1);
    }
    tally_html_table_close(out);
    free(r4);
    free(r5);
    free(series);
    free(stack);
    free(names);
    free(x);
    free(xs);
}
