/*
 * pages_overview.c: the tenant's current contract period at a glance.
 *
 * The figures come from tally.compliance_detail, the rows that
 * tally.compliance sums up, for the contract period valid today: this
 * month's row, the non-production peak day, the seats and the worst row
 * (its status is the badge, and it gives the one-line reason), so the
 * console says "over" exactly when the Control Panel does (detail_sql says
 * how the rows are picked cheaply). The month-end projection is
 * forecast.h's, from this month's row. Below, the usage alerts of this
 * month (alert_list.h, the same list as GET /api/v1/alerts).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert_list.h"
#include "forecast.h"
#include "html.h"
#include "page_defs.h"
#include "page_util.h"
#include "period.h"
#include "svg_chart.h"
#include "timeutil.h"

/* The contract period valid on $2; the latest if periods overlap. */
static const char contract_sql[] =
    "SELECT valid_from, valid_until, seats_max, daily_api_calls_max_nonprod FROM tally.console_license_terms "
    "WHERE tenant_id = $1 AND valid_from <= $2::date AND valid_until >= $2::date ORDER BY valid_from DESC LIMIT 1";

/* The period's rows of tally.compliance_detail that the page shows, with
 * the view's own percent and status: every month (13 at most), the seats,
 * and of the non-production days only the one with the most calls (all of
 * them have the same maximum, so it has the worst status of its kind; the
 * earliest on a tie). Those rows hold the worst row of the whole period,
 * whose status is the period's (tally.compliance takes the worst severity
 * the same way) and which gives the reason. The peak day is found first
 * (peak_sql: used alone, the view then computes no percent and no status
 * for the other days), then looked up by its keys (index lookups): about
 * a fifth of the work of one pass over every row with its status. */
static const char peak_sql[] =
    "SELECT environment_id, period_start FROM tally.compliance_detail "
    "WHERE tenant_id = $1 AND valid_from = $2::date AND metric = 'daily_api_calls_nonprod' "
    "ORDER BY used DESC, period_start LIMIT 1";
static const char detail_sql[] =
    "SELECT metric, environment_id, period_start, period_end, used, maximum, percent, status "
    "FROM tally.compliance_detail WHERE tenant_id = $1 AND valid_from = $2::date "
    "AND (metric <> 'daily_api_calls_nonprod' OR (environment_id = $3 AND period_start = $4::date))";

/* Over already: the first day whose running total of the window passed
 * the maximum (days up to $3, the window's last day). */
static const char over_since_sql[] =
    "SELECT day FROM (SELECT day, sum(sum(api_calls)) OVER (ORDER BY day) AS total "
    "                 FROM tally.console_usage_daily WHERE tenant_id = $1 AND day >= $2::date AND day <= $3::date "
    "                 GROUP BY day) t "
    "WHERE total > $4::numeric ORDER BY day LIMIT 1";

enum { D_METRIC, D_ENV, D_START, D_END, D_USED, D_MAX, D_PERCENT, D_STATUS };

static int severity(const char *status)
{
    return strcmp(status, "over") == 0 ? 3 : strcmp(status, "warning") == 0 ? 2 : 1;
}

/* Whether row i of r is worse than row j: by status, then percent (none,
 * a maximum of 0, counts as the highest), then calls, then the earlier
 * day, as tally.compliance orders them. */
static int worse(const PGresult *r, int i, int j)
{
    int si = severity(PQgetvalue(r, i, D_STATUS)), sj = severity(PQgetvalue(r, j, D_STATUS));
    if (si != sj)
        return si > sj;
    int ni = PQgetisnull(r, i, D_PERCENT), nj = PQgetisnull(r, j, D_PERCENT);
    if (ni != nj)
        return ni;
    if (!ni) {
        double pi = strtod(PQgetvalue(r, i, D_PERCENT), NULL), pj = strtod(PQgetvalue(r, j, D_PERCENT), NULL);
        if (pi != pj)
            return pi > pj;
    }
    int64_t ui = tally_page_cell_i64(r, i, D_USED), uj = tally_page_cell_i64(r, j, D_USED);
    if (ui != uj)
        return ui > uj;
    return tally_page_cell_day(r, i, D_START) < tally_page_cell_day(r, j, D_START);
}

static json_t *percent_json(const PGresult *r, int row)
{
    if (PQgetisnull(r, row, D_PERCENT))
        return json_null();
    return json_real(strtod(PQgetvalue(r, row, D_PERCENT), NULL));
}

/* Appends the share as the page's limits table writes it (grouped, one
 * decimal): " (83,333.2 %)"; nothing when the view has no percent (a
 * maximum of 0). */
static void reason_percent(tally_textbuf_t *b, const PGresult *r, int row, int64_t used, int64_t max)
{
    if (PQgetisnull(r, row, D_PERCENT) || max <= 0)
        return;
    tally_textbuf_puts(b, " (");
    tally_html_percent(b, used, max, 1);
    tally_textbuf_puts(b, ")");
}

/* The one-line reason of the overall status, from the worst detail row:
 * the sentence (numbers grouped as on the rest of the page) and the same
 * figures as numbers in reason_detail, for API clients. */
static void reason_json(json_t *k, const PGresult *r, int row)
{
    tally_textbuf_t b = {0};
    const char *status = PQgetvalue(r, row, D_STATUS), *metric = PQgetvalue(r, row, D_METRIC);
    int64_t used = tally_page_cell_i64(r, row, D_USED), max = tally_page_cell_i64(r, row, D_MAX);
    const char *how = strcmp(status, "over") == 0 ? "over" : "at 80 % or more of";
    if (strcmp(status, "ok") == 0) {
        tally_textbuf_puts(&b, "Every limit is below 80 % of its maximum.");
    } else {
        if (strcmp(metric, "monthly_api_calls") == 0)
            tally_textbuf_printf(&b, "API calls from %s to %s are %s the monthly maximum: ",
                                 PQgetvalue(r, row, D_START), PQgetvalue(r, row, D_END), how);
        else if (strcmp(metric, "daily_api_calls_nonprod") == 0)
            tally_textbuf_printf(&b, "Non-production API calls of environment %s on %s are %s the daily maximum: ",
                                 PQgetvalue(r, row, D_ENV), PQgetvalue(r, row, D_START), how);
        else
            tally_textbuf_printf(&b, "Peak seats are %s the maximum: ", how);
        tally_html_int(&b, used);
        tally_textbuf_puts(&b, " of ");
        tally_html_int(&b, max);
        reason_percent(&b, r, row, used, max);
        tally_textbuf_puts(&b, ".");
    }
    json_object_set_new(k, "reason", tally_page_json_str(b.data));
    tally_textbuf_free(&b);
    json_t *d = json_object();
    json_object_set_new(d, "metric", json_string(metric));
    json_object_set_new(d, "status", json_string(status));
    json_object_set_new(d, "used", json_integer(used));
    json_object_set_new(d, "maximum", json_integer(max));
    json_object_set_new(d, "percent", percent_json(r, row));
    json_object_set_new(d, "period_start", tally_page_cell_str(r, row, D_START));
    json_object_set_new(d, "period_end", tally_page_cell_str(r, row, D_END));
    json_object_set_new(d, "environment_id", tally_page_cell_str(r, row, D_ENV));
    json_object_set_new(k, "reason_detail", d);
}

/* The projection of this month's row at now. */
static json_t *projection_json(int64_t used, int64_t max, int64_t first, int64_t last, int64_t now_ms)
{
    tally_forecast_t f;
    if (tally_forecast_compute(used, max, first, last, now_ms, &f) != 0)
        return json_null();
    json_t *p = json_pack("{s:I, s:I, s:s, s:I, s:I}", "projected", (json_int_t)f.projected, "maximum",
                          (json_int_t)max, "state", tally_forecast_state_name(f.state), "elapsed_ms",
                          (json_int_t)f.elapsed_ms, "window_ms", (json_int_t)f.window_ms);
    json_object_set_new(p, "reach_day", f.reach_day >= 0 ? tally_page_day_json(f.reach_day) : json_null());
    return p;
}

static int load_contract(PGconn *pg, const tally_page_query_t *q, const char *today, json_t **contract,
                         char *errbuf, size_t errsize)
{
    PGresult *c = NULL, *d = NULL;
    const char *p1[2] = {q->tenant_id, today};
    int rc = tally_page_sql(pg, contract_sql, 2, p1, &c, errbuf, errsize);
    if (rc != 0)
        return rc;
    if (PQntuples(c) == 0) {
        PQclear(c);
        *contract = json_null();
        return 0;
    }
    PGresult *peak = NULL;
    const char *p2[2] = {q->tenant_id, PQgetvalue(c, 0, 0)};
    rc = tally_page_sql(pg, peak_sql, 2, p2, &peak, errbuf, errsize);
    if (rc == 0) {
        int has = PQntuples(peak) == 1;
        const char *p3[4] = {q->tenant_id, PQgetvalue(c, 0, 0), has ? PQgetvalue(peak, 0, 0) : NULL,
                             has ? PQgetvalue(peak, 0, 1) : NULL};
        rc = tally_page_sql(pg, detail_sql, 4, p3, &d, errbuf, errsize);
        PQclear(peak);
    }
    if (rc != 0) {
        PQclear(c);
        return rc;
    }
    int64_t today_day = tally_utc_day(q->now_ms);
    json_t *k = json_object();
    json_object_set_new(k, "valid_from", tally_page_cell_str(c, 0, 0));
    json_object_set_new(k, "valid_until", tally_page_cell_str(c, 0, 1));
    json_object_set_new(k, "status", json_string("ok"));
    json_object_set_new(k, "reason", json_null());
    json_object_set_new(k, "reason_detail", json_null());
    json_object_set_new(k, "api_calls", json_null());
    json_object_set_new(k, "projection", json_null());
    /* No row of a kind: nothing used, ok (as tally.compliance says). */
    json_t *nonprod = json_pack("{s:i, s:I, s:s, s:n, s:n}", "used", 0, "maximum",
                                (json_int_t)tally_page_cell_i64(c, 0, 3), "status", "ok", "day", "environment_id");
    json_t *seats = json_pack("{s:i, s:I, s:s}", "used", 0, "maximum", (json_int_t)tally_page_cell_i64(c, 0, 2),
                              "status", "ok");
    json_object_set_new(k, "nonprod_daily_peak", nonprod);
    json_object_set_new(k, "seats_peak", seats);
    int worst = -1;
    for (int i = 0; i < PQntuples(d); i++) {
        const char *metric = PQgetvalue(d, i, D_METRIC);
        if (worst < 0 || worse(d, i, worst))
            worst = i;
        int64_t first = tally_page_cell_day(d, i, D_START), last = tally_page_cell_day(d, i, D_END);
        if (strcmp(metric, "monthly_api_calls") == 0) {
            if (first > today_day || today_day > last)
                continue;
            int64_t used = tally_page_cell_i64(d, i, D_USED), max = tally_page_cell_i64(d, i, D_MAX);
            tally_period_t month;
            json_t *a = json_object();
            json_object_set_new(a, "month", json_string(tally_period_of_day(first, &month) == 0 ? month.text : ""));
            json_object_set_new(a, "period_start", tally_page_cell_str(d, i, D_START));
            json_object_set_new(a, "period_end", tally_page_cell_str(d, i, D_END));
            json_object_set_new(a, "used", json_integer(used));
            json_object_set_new(a, "maximum", json_integer(max));
            json_object_set_new(a, "percent", percent_json(d, i));
            json_object_set_new(a, "status", tally_page_cell_str(d, i, D_STATUS));
            json_object_set_new(k, "api_calls", a);
            json_object_set_new(k, "projection", projection_json(used, max, first, last, q->now_ms));
        } else {
            json_t *o = strcmp(metric, "seats_peak") == 0 ? seats : nonprod;
            json_object_set_new(o, "used", json_integer(tally_page_cell_i64(d, i, D_USED)));
            json_object_set_new(o, "maximum", json_integer(tally_page_cell_i64(d, i, D_MAX)));
            json_object_set_new(o, "status", tally_page_cell_str(d, i, D_STATUS));
            if (o == nonprod) {
                json_object_set_new(o, "day", tally_page_cell_str(d, i, D_START));
                json_object_set_new(o, "environment_id", tally_page_cell_str(d, i, D_ENV));
            }
        }
    }
    if (worst >= 0) {
        json_object_set_new(k, "status", tally_page_cell_str(d, worst, D_STATUS));
        reason_json(k, d, worst);
    }
    PQclear(c);
    PQclear(d);
    json_t *proj = json_object_get(k, "projection"), *api = json_object_get(k, "api_calls");
    const char *state = tally_page_get_str(proj, "state");
    if (state && strcmp(state, "over") == 0) {
        char max[32];
        PGresult *o;
        snprintf(max, sizeof max, "%lld", (long long)tally_page_get_i64(api, "maximum"));
        const char *p3[4] = {q->tenant_id, tally_page_get_str(api, "period_start"),
                             tally_page_get_str(api, "period_end"), max};
        rc = tally_page_sql(pg, over_since_sql, 4, p3, &o, errbuf, errsize);
        if (rc != 0) {
            json_decref(k);
            return rc;
        }
        json_object_set_new(proj, "over_since", PQntuples(o) == 1 ? tally_page_cell_str(o, 0, 0) : json_null());
        PQclear(o);
    }
    *contract = k;
    return 0;
}

int tally_page_overview_load(PGconn *pg, const tally_page_query_t *q, json_t **model, char *errbuf,
                             size_t errsize)
{
    json_t *tenant = NULL, *contract = NULL;
    int rc = tally_page_tenant(pg, q->tenant_id, &tenant, errbuf, errsize);
    if (rc != 0)
        return rc;
    char today[TALLY_DATE_SIZE];
    if (tally_date_format(tally_utc_day(q->now_ms), today) != 0) {
        json_decref(tenant);
        snprintf(errbuf, errsize, "the clock is outside the years 0000-9999");
        return TALLY_PAGE_BAD_QUERY;
    }
    rc = load_contract(pg, q, today, &contract, errbuf, errsize);
    if (rc != 0) {
        json_decref(tenant);
        return rc;
    }
    tally_period_t month;
    json_t *alerts = NULL;
    if (tally_period_of_day(tally_utc_day(q->now_ms), &month) != 0) {
        json_decref(tenant);
        json_decref(contract);
        snprintf(errbuf, errsize, "the clock is outside the years 0000-9999");
        return TALLY_PAGE_BAD_QUERY;
    }
    rc = tally_alert_list_load(pg, q->tenant_id, month.text, &alerts, errbuf, errsize);
    if (rc != 0) {
        json_decref(tenant);
        json_decref(contract);
        return rc;
    }
    json_object_set_new(alerts, "period", json_string(month.text));
    json_t *m = tally_page_model_new("overview", q);
    json_object_set_new(m, "tenant", tenant);
    json_object_set_new(m, "today", json_string(today));
    json_object_set_new(m, "contract", contract);
    json_object_set_new(m, "alerts", alerts);
    *model = m;
    return 0;
}

/* ---- render -------------------------------------------------------------- */

static void gauge_card(tally_textbuf_t *out, const char *title, const json_t *limit, const char *note)
{
    tally_html_open(out, "section", "card");
    tally_html_elem(out, "h2", NULL, title);
    tally_gauge_t g = {.title = title, .value = tally_page_get_i64(limit, "used"),
                       .limit = tally_page_get_i64(limit, "maximum")};
    tally_svg_gauge(out, &g);
    tally_textbuf_puts(out, "<p>");
    tally_html_badge(out, tally_page_get_str(limit, "status"));
    if (note) {
        tally_textbuf_puts(out, " <span class=\"muted\">");
        tally_html_text(out, note);
        tally_textbuf_puts(out, "</span>");
    }
    tally_textbuf_puts(out, "</p>");
    tally_html_close(out, "section");
}

/* The projection's sentence. */
static void projection_text(tally_textbuf_t *out, const json_t *p)
{
    const char *state = tally_page_get_str(p, "state");
    tally_textbuf_puts(out, "<p>At this month's rate: ");
    tally_html_int(out, tally_page_get_i64(p, "projected"));
    tally_textbuf_puts(out, " API calls by the end of the month, against a maximum of ");
    tally_html_int(out, tally_page_get_i64(p, "maximum"));
    tally_textbuf_puts(out, ". ");
    if (state && strcmp(state, "over") == 0) {
        tally_textbuf_puts(out, "The maximum is already exceeded");
        if (tally_page_get_str(p, "over_since")) {
            tally_textbuf_puts(out, " (since <strong>");
            tally_html_text(out, tally_page_get_str(p, "over_since"));
            tally_textbuf_puts(out, "</strong>)");
        }
        tally_textbuf_puts(out, ".");
    } else if (state && strcmp(state, "reaches") == 0) {
        tally_textbuf_puts(out, "The maximum is exceeded on <strong>");
        tally_html_text(out, tally_page_get_str(p, "reach_day"));
        tally_textbuf_puts(out, "</strong> at this rate.");
    } else {
        tally_textbuf_puts(out, "The maximum is not reached this month at this rate.");
    }
    tally_textbuf_puts(out, "</p>");
}

/* The month's alerts, newest first: one row each. */
static void alerts_table(tally_textbuf_t *out, const json_t *alerts)
{
    static const tally_html_column_t cols[] = {{"Metric", 0}, {"Threshold", 1}, {"Value / limit", 1},
                                               {"State", 0},  {"When", 0}};
    const json_t *list = json_object_get(alerts, "alerts");
    size_t n = json_array_size(list);
    char caption[64];
    snprintf(caption, sizeof caption, "Usage alerts of %s", tally_page_get_str(alerts, "period") ?
             tally_page_get_str(alerts, "period") : "this month");
    if (n == 0) {
        tally_html_table(out, "alerts", caption, cols, 5, NULL, 0, 0, "No usage alert this month");
        return;
    }
    tally_html_table_open(out, "alerts", caption, cols, 5);
    for (size_t i = 0; i < n; i++) {
        const json_t *a = json_array_get(list, i);
        char metric[160], threshold[16], ratio[64];
        const char *env = tally_page_get_str(a, "environment_id"), *period = tally_page_get_str(a, "period");
        if (env)
            snprintf(metric, sizeof metric, "%s (%s, %s)",
                     tally_alert_list_metric_label(tally_page_get_str(a, "metric")), env, period ? period : "?");
        else
            snprintf(metric, sizeof metric, "%s", tally_alert_list_metric_label(tally_page_get_str(a, "metric")));
        snprintf(threshold, sizeof threshold, "%lld %%", (long long)tally_page_get_i64(a, "threshold"));
        snprintf(ratio, sizeof ratio, "%lld / %lld", (long long)tally_page_get_i64(a, "value"),
                 (long long)tally_page_get_i64(a, "limit"));
        const char *state = tally_page_get_str(a, "state");
        tally_html_cell_t c[5] = {tally_html_cell_text(metric), tally_html_cell_text(threshold),
                                  tally_html_cell_text(ratio),
                                  tally_html_cell_text(state && strcmp(state, "RESOLVED") == 0 ? "resolved"
                                                                                               : "triggered"),
                                  tally_html_cell_text(tally_page_get_str(a, "at"))};
        tally_html_table_row(out, cols, 5, c, 0);
    }
    tally_html_table_close(out);
    if (tally_page_get_bool(alerts, "truncated"))
        tally_textbuf_puts(out, "<p class=\"muted\">Only the newest alerts are shown.</p>");
}

void tally_page_overview_render(const json_t *model, const tally_page_query_t *q, tally_textbuf_t *out)
{
    (void)q;
    const json_t *tenant = json_object_get(model, "tenant"), *k = json_object_get(model, "contract");
    tally_textbuf_puts(out, "<h1>Overview: ");
    tally_html_text(out, tally_page_get_str(tenant, "name"));
    tally_textbuf_puts(out, "</h1>");
    if (!json_is_object(k)) {
        tally_textbuf_puts(out, "<p>No contract period covers today (");
        tally_html_text(out, tally_page_get_str(model, "today"));
        tally_textbuf_puts(out, ").</p>");
        alerts_table(out, json_object_get(model, "alerts"));
        return;
    }
    tally_textbuf_puts(out, "<p>Contract period ");
    tally_html_text(out, tally_page_get_str(k, "valid_from"));
    tally_textbuf_puts(out, " to ");
    tally_html_text(out, tally_page_get_str(k, "valid_until"));
    tally_textbuf_puts(out, ": ");
    tally_html_badge(out, tally_page_get_str(k, "status"));
    tally_textbuf_puts(out, "<span class=\"reason\">");
    tally_html_text(out, tally_page_get_str(k, "reason"));
    tally_textbuf_puts(out, "</span></p>");

    const json_t *api = json_object_get(k, "api_calls"), *np = json_object_get(k, "nonprod_daily_peak");
    const json_t *seats = json_object_get(k, "seats_peak"), *proj = json_object_get(k, "projection");
    char note[160] = "";
    tally_textbuf_puts(out, "<div class=\"cards\">");
    if (json_is_object(api))
        gauge_card(out, "API calls this month", api, tally_page_get_str(api, "month"));
    if (!tally_page_is_null(np, "day"))
        snprintf(note, sizeof note, "on %s, environment %s", tally_page_get_str(np, "day"),
                 tally_page_get_str(np, "environment_id") ? tally_page_get_str(np, "environment_id") : "?");
    gauge_card(out, "Non-production daily peak", np, note[0] ? note : NULL);
    gauge_card(out, "Peak seats", seats, NULL);
    if (json_is_object(proj)) {
        tally_html_open(out, "section", "card");
        tally_html_elem(out, "h2", NULL, "Month-end projection");
        projection_text(out, proj);
        tally_html_close(out, "section");
    }
    tally_textbuf_puts(out, "</div>");

    /* The figures of the gauges, as a table. */
    static const tally_html_column_t cols[] = {{"Limit", 0}, {"Used", 1}, {"Maximum", 1}, {"Share", 1},
                                               {"Status", 0}};
    tally_html_cell_t cells[4 * 5];
    size_t n = 0;
    const struct {
        const char *label;
        const json_t *limit;
    } rows[] = {{"API calls this month", api}, {"Non-production daily peak", np}, {"Peak seats", seats}};
    for (size_t i = 0; i < 3; i++) {
        if (!json_is_object(rows[i].limit))
            continue;
        int64_t used = tally_page_get_i64(rows[i].limit, "used"), max = tally_page_get_i64(rows[i].limit, "maximum");
        tally_html_cell_t *c = cells + n++ * 5;
        c[0] = tally_html_cell_text(rows[i].label);
        c[1] = tally_html_cell_int(used);
        c[2] = tally_html_cell_int(max);
        c[3] = max > 0 ? tally_html_cell_percent(used, max, 1) : tally_html_cell_none();
        c[4] = tally_html_cell_text(tally_page_get_str(rows[i].limit, "status"));
    }
    if (json_is_object(proj)) {
        int64_t projected = tally_page_get_i64(proj, "projected"), max = tally_page_get_i64(proj, "maximum");
        tally_html_cell_t *c = cells + n++ * 5;
        c[0] = tally_html_cell_text("API calls projected at month end");
        c[1] = tally_html_cell_int(projected);
        c[2] = tally_html_cell_int(max);
        c[3] = max > 0 ? tally_html_cell_percent(projected, max, 1) : tally_html_cell_none();
        c[4] = tally_html_cell_text(tally_page_status(projected, max));
    }
    tally_html_table(out, NULL, "Limits of the contract period", cols, 5, cells, n, 1, NULL);
    alerts_table(out, json_object_get(model, "alerts"));
}
