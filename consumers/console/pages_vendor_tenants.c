/*
 * pages_vendor_tenants.c: vendor staff only. Every tenant's compliance row
 * for its contract period valid today (tally.compliance: the Control
 * Panel's own figures, see tenants_sql), over first, then warning, then ok, then by name;
 * ?status= keeps one status (ok, warning or over; anything else is a 400).
 * The counts per status are of every tenant, whatever the filter. Each row
 * also counts the tenant's open usage alerts of the current month
 * (tally.console_open_alerts: thresholds whose latest alert is TRIGGERED).
 *
 * One query; at most TALLY_TENANTS_MAX_ROWS rows (the model says when it
 * was cut).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "html.h"
#include "layout.h"
#include "page_defs.h"
#include "page_util.h"
#include "timeutil.h"

#define TALLY_TENANTS_MAX_ROWS 1000

#define SEVERITY "CASE d.status WHEN 'over' THEN 3 WHEN 'warning' THEN 2 ELSE 1 END"
#define STATUS(sev) "(ARRAY['ok', 'warning', 'over'])[coalesce(" sev ", 1)]"

/* tally.compliance's figures for the periods valid on $1, computed from
 * tally.compliance_detail restricted to those periods: selecting from
 * tally.compliance itself computes every period of every tenant first (its
 * join cannot take the date range down), about four times the work. The
 * sums are the view's: the highest figure of each limit and the worst
 * status (the suite compares every column with tally.compliance). */
static const char tenants_sql[] =
    "WITH cur AS ("
    "  SELECT DISTINCT ON (tenant_id) tenant_id, valid_from, valid_until, monthly_api_calls_max, "
    "         daily_api_calls_max_nonprod, seats_max FROM tally.console_license_terms "
    "  WHERE valid_from <= $1::date AND valid_until >= $1::date ORDER BY tenant_id, valid_from DESC), "
    "agg AS ("
    "  SELECT d.tenant_id, d.valid_from, "
    "         max(d.used) FILTER (WHERE d.metric = 'monthly_api_calls') AS api, "
    "         max(" SEVERITY ") FILTER (WHERE d.metric = 'monthly_api_calls') AS api_sev, "
    "         max(d.used) FILTER (WHERE d.metric = 'daily_api_calls_nonprod') AS np, "
    "         max(" SEVERITY ") FILTER (WHERE d.metric = 'daily_api_calls_nonprod') AS np_sev, "
    "         max(d.used) FILTER (WHERE d.metric = 'seats_peak') AS seats, "
    "         max(" SEVERITY ") FILTER (WHERE d.metric = 'seats_peak') AS seats_sev "
    "  FROM tally.compliance_detail d WHERE d.valid_from <= $1::date AND d.valid_until >= $1::date "
    "  GROUP BY d.tenant_id, d.valid_from), "
    "rows AS ("
    "  SELECT cur.tenant_id, tn.name AS tenant_name, cur.valid_from, cur.valid_until, "
    "         " STATUS("greatest(agg.api_sev, agg.np_sev, agg.seats_sev)") " AS status, "
    "         coalesce(agg.api, 0) AS api, cur.monthly_api_calls_max, " STATUS("agg.api_sev") " AS api_status, "
    "         coalesce(agg.np, 0) AS np, cur.daily_api_calls_max_nonprod, " STATUS("agg.np_sev") " AS np_status, "
    "         coalesce(agg.seats, 0) AS seats, cur.seats_max, " STATUS("agg.seats_sev") " AS seats_status, "
    "         coalesce(oa.open_alerts, 0) AS open_alerts "
    "  FROM cur LEFT JOIN agg ON agg.tenant_id = cur.tenant_id AND agg.valid_from = cur.valid_from "
    "  LEFT JOIN tally.console_open_alerts oa ON oa.tenant_id = cur.tenant_id "
    "    AND oa.month = to_char($1::date, 'YYYY-MM') "
    "  LEFT JOIN tally.console_tenants tn ON tn.tenant_id = cur.tenant_id), "
    "counts AS ("
    "  SELECT count(*) FILTER (WHERE status = 'over') AS n_over, "
    "         count(*) FILTER (WHERE status = 'warning') AS n_warning, "
    "         count(*) FILTER (WHERE status = 'ok') AS n_ok FROM rows) "
    "SELECT c.n_over, c.n_warning, c.n_ok, f.tenant_id, f.tenant_name, f.valid_from, f.valid_until, f.status, "
    "       f.api, f.monthly_api_calls_max, f.api_status, f.np, f.daily_api_calls_max_nonprod, f.np_status, "
    "       f.seats, f.seats_max, f.seats_status, f.open_alerts "
    "FROM counts c LEFT JOIN LATERAL ("
    "  SELECT * FROM rows WHERE $2::text IS NULL OR rows.status = $2::text "
    "  ORDER BY CASE rows.status WHEN 'over' THEN 1 WHEN 'warning' THEN 2 ELSE 3 END, rows.tenant_name, "
    "           rows.tenant_id LIMIT $3) f ON true";

enum {
    T_NOVER, T_NWARN, T_NOK, T_ID, T_NAME, T_FROM, T_UNTIL, T_STATUS, T_API, T_APIMAX, T_APIST, T_NP, T_NPMAX,
    T_NPST, T_SEATS, T_SEATSMAX, T_SEATSST, T_OPEN
};

/* A limit of one row: {"used", "maximum", "status"}. */
static json_t *limit_json(const PGresult *r, int row, int used, int max, int status)
{
    json_t *o = json_object();
    json_object_set_new(o, "used", tally_page_cell_int(r, row, used));
    json_object_set_new(o, "maximum", tally_page_cell_int(r, row, max));
    json_object_set_new(o, "status", tally_page_cell_str(r, row, status));
    return o;
}

int tally_page_tenants_load(PGconn *pg, const tally_page_query_t *q, json_t **model, char *errbuf,
                            size_t errsize)
{
    if (!q->staff) {
        snprintf(errbuf, errsize, "vendor staff only");
        return TALLY_PAGE_NOT_FOUND;
    }
    const char *status = q->status && q->status[0] ? q->status : NULL;
    if (status && strcmp(status, "ok") != 0 && strcmp(status, "warning") != 0 && strcmp(status, "over") != 0) {
        snprintf(errbuf, errsize, "status must be ok, warning or over");
        return TALLY_PAGE_BAD_QUERY;
    }
    char today[TALLY_DATE_SIZE], limit[16];
    if (tally_date_format(tally_utc_day(q->now_ms), today) != 0) {
        snprintf(errbuf, errsize, "the clock is outside the years 0000-9999");
        return TALLY_PAGE_BAD_QUERY;
    }
    snprintf(limit, sizeof limit, "%d", TALLY_TENANTS_MAX_ROWS + 1);
    const char *params[3] = {today, status, limit};
    PGresult *r;
    int rc = tally_page_sql(pg, tenants_sql, 3, params, &r, errbuf, errsize);
    if (rc != 0)
        return rc;
    json_t *rows = json_array();
    int n = PQntuples(r);
    int shown = n > TALLY_TENANTS_MAX_ROWS ? TALLY_TENANTS_MAX_ROWS : n;
    for (int i = 0; i < shown; i++) {
        if (PQgetisnull(r, i, T_ID))
            continue;   /* the one row of counts when nothing matched */
        json_t *o = json_object();
        json_object_set_new(o, "id", tally_page_cell_str(r, i, T_ID));
        json_object_set_new(o, "name", tally_page_cell_str(r, i, T_NAME));
        json_object_set_new(o, "valid_from", tally_page_cell_str(r, i, T_FROM));
        json_object_set_new(o, "valid_until", tally_page_cell_str(r, i, T_UNTIL));
        json_object_set_new(o, "status", tally_page_cell_str(r, i, T_STATUS));
        json_object_set_new(o, "monthly_api_calls", limit_json(r, i, T_API, T_APIMAX, T_APIST));
        json_object_set_new(o, "nonprod_daily_peak", limit_json(r, i, T_NP, T_NPMAX, T_NPST));
        json_object_set_new(o, "seats_peak", limit_json(r, i, T_SEATS, T_SEATSMAX, T_SEATSST));
        json_object_set_new(o, "open_alerts", tally_page_cell_int(r, i, T_OPEN));
        json_array_append_new(rows, o);
    }
    json_t *m = tally_page_model_new("tenants", q);
    json_object_set_new(m, "today", json_string(today));
    json_object_set_new(m, "status", status ? json_string(status) : json_null());
    json_object_set_new(m, "counts",
                        json_pack("{s:I, s:I, s:I}", "over", (json_int_t)tally_page_cell_i64(r, 0, T_NOVER), "warning",
                                  (json_int_t)tally_page_cell_i64(r, 0, T_NWARN), "ok",
                                  (json_int_t)tally_page_cell_i64(r, 0, T_NOK)));
    json_object_set_new(m, "tenants", rows);
    json_object_set_new(m, "truncated", json_boolean(n > TALLY_TENANTS_MAX_ROWS));
    PQclear(r);
    *model = m;
    return 0;
}

/* ---- render -------------------------------------------------------------- */

void tally_page_tenants_render(const json_t *model, const tally_page_query_t *q, tally_textbuf_t *out)
{
    (void)q;
    const json_t *rows = json_object_get(model, "tenants"), *counts = json_object_get(model, "counts");
    const char *current = tally_page_get_str(model, "status");
    size_t n = json_array_size(rows);
    tally_textbuf_puts(out, "<h1>Tenants</h1><p>Compliance of each tenant's contract period valid on ");
    tally_html_text(out, tally_page_get_str(model, "today"));
    tally_textbuf_puts(out, ".</p><p class=\"downloads\">");
    static const char *const filters[4][2] = {{NULL, "All"}, {"over", "Over"}, {"warning", "Warning"}, {"ok", "Ok"}};
    for (size_t f = 0; f < 4; f++) {
        char text[64];
        int64_t k = f == 0 ? tally_page_get_i64(counts, "over") + tally_page_get_i64(counts, "warning") +
                                 tally_page_get_i64(counts, "ok")
                           : tally_page_get_i64(counts, filters[f][0]);
        snprintf(text, sizeof text, "%s (%lld)", filters[f][1], (long long)k);
        int here = (f == 0 && current == NULL) || (f > 0 && current && strcmp(current, filters[f][0]) == 0);
        tally_html_param_t param = {"status", filters[f][0]};
        tally_html_link(out, "/vendor/tenants", &param, filters[f][0] ? 1 : 0, text, here ? "current" : NULL);
    }
    tally_textbuf_puts(out, "</p>");
    if (tally_page_get_bool(model, "truncated"))
        tally_textbuf_puts(out, "<p class=\"muted\">Only the first 1,000 tenants are shown.</p>");

    /* Each tenant's name links to its overview. */
    tally_textbuf_t hrefs = {0};
    size_t *at = calloc(n + 1, sizeof *at);
    if (at == NULL)
        abort();
    for (size_t i = 0; i < n; i++) {
        at[i] = hrefs.len;
        if (tally_layout_page_href(&hrefs, "overview", tally_page_get_str(json_array_get(rows, i), "id")) != 0)
            tally_textbuf_puts(&hrefs, "/vendor/tenants");
        tally_textbuf_putc(&hrefs, '\0');
    }
    static const tally_html_column_t cols[] = {
        {"Tenant", 0},     {"Status", 0},    {"Contract period", 0}, {"API calls (peak month)", 1},
        {"Monthly maximum", 1}, {"Non-production daily peak", 1}, {"Daily maximum", 1},
        {"Peak seats", 1}, {"Seats maximum", 1}, {"Open alerts", 1}};
    tally_html_table_open(out, "wide", "Tenants, over first, then warning, then ok", cols, 10);
    for (size_t i = 0; i < n; i++) {
        const json_t *r = json_array_get(rows, i);
        const json_t *api = json_object_get(r, "monthly_api_calls"), *np = json_object_get(r, "nonprod_daily_peak");
        const json_t *seats = json_object_get(r, "seats_peak");
        char period[48];
        snprintf(period, sizeof period, "%s to %s", tally_page_get_text(r, "valid_from"),
                 tally_page_get_text(r, "valid_until"));
        const char *name = tally_page_get_str(r, "name");
        tally_html_cell_t c[10] = {
            tally_html_cell_text(name ? name : tally_page_get_str(r, "id")),
            tally_html_cell_text(tally_page_get_str(r, "status")),
            tally_html_cell_text(period),
            tally_html_cell_int(tally_page_get_i64(api, "used")),
            tally_html_cell_int(tally_page_get_i64(api, "maximum")),
            tally_html_cell_int(tally_page_get_i64(np, "used")),
            tally_html_cell_int(tally_page_get_i64(np, "maximum")),
            tally_html_cell_int(tally_page_get_i64(seats, "used")),
            tally_html_cell_int(tally_page_get_i64(seats, "maximum")),
            tally_html_cell_int(tally_page_get_i64(r, "open_alerts")),
        };
        c[0].href = hrefs.data + at[i];
        tally_html_table_row(out, cols, 10, c, 1);
    }
    if (n == 0)
        tally_textbuf_puts(out, "<tr><td colspan=\"10\" class=\"empty\">No tenant</td></tr>");
    tally_html_table_close(out);
    tally_textbuf_free(&hrefs);
    free(at);
}
