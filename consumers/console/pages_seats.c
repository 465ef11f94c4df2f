/*
 * pages_seats.c: a tenant's seats over one month: seats in use and the
 * peak of each day against the seats_max of the contract period valid that
 * day, and the month's peak with its status (the rule of
 * tally.compliance_detail, page_util.h).
 *
 * Three bounded queries: the month's days of tally.console_seats_daily (at
 * most 31 rows), the last row before the month (carried in) and the
 * contract periods overlapping the month.
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

static const char seats_sql[] =
    "SELECT day, seats_in_use, seats_peak FROM tally.console_seats_daily "
    "WHERE tenant_id = $1 AND day >= $2::date AND day <= $3::date ORDER BY day LIMIT 31";

/* The last seats in use reported before the month, carried into its first
 * days (one index lookup backwards). */
static const char carry_sql[] =
    "SELECT seats_in_use FROM tally.console_seats_daily WHERE tenant_id = $1 AND day < $2::date "
    "ORDER BY day DESC LIMIT 1";

/* Overlapping periods, later ones last: the latest start wins a day. */
static const char terms_sql[] =
    "SELECT valid_from, valid_until, seats_max FROM tally.console_license_terms "
    "WHERE tenant_id = $1 AND valid_from <= $3::date AND valid_until >= $2::date ORDER BY valid_from LIMIT 62";

/* seats_max on day (-1: no contract period covers it). */
static int64_t max_on(const PGresult *terms, int64_t day)
{
    int64_t max = -1;
    for (int i = 0; i < PQntuples(terms); i++)
        if (tally_page_cell_day(terms, i, 0) <= day && day <= tally_page_cell_day(terms, i, 1))
            max = tally_page_cell_i64(terms, i, 2);
    return max;
}

/* A day without a row has no seat event: its seats in use are the last
 * known ones (carried from an earlier day, or from before the month), and
 * so is its peak; marked "carried". Never past today, and nothing before
 * the first report. The month's peak stays the views' (tally.monthly_seats,
 * tally.compliance_detail): the highest reported daily peak. A carried
 * day's peak is an earlier day's seats in use, never above that day's
 * peak, except a value carried from before the month, which the views do
 * not count in the month either. */
static void build(const PGresult *seats, const PGresult *carry, const PGresult *terms, const tally_period_t *p,
                  int64_t today, json_t *m)
{
    int64_t last_known = PQntuples(carry) == 1 ? tally_page_cell_i64(carry, 0, 0) : -1;
    json_t *daily = json_array();
    int row = 0, have_peak = 0;
    int64_t peak = 0, peak_day = -1;
    for (int64_t day = p->first_day; day <= p->last_day; day++) {
        json_t *o = json_object();
        json_object_set_new(o, "day", tally_page_day_json(day));
        while (row < PQntuples(seats) && tally_page_cell_day(seats, row, 0) < day)
            row++;
        if (row < PQntuples(seats) && tally_page_cell_day(seats, row, 0) == day) {
            int64_t pk = tally_page_cell_i64(seats, row, 2);
            json_object_set_new(o, "seats_in_use", json_integer(tally_page_cell_i64(seats, row, 1)));
            json_object_set_new(o, "seats_peak", json_integer(pk));
            json_object_set_new(o, "carried", json_false());
            last_known = tally_page_cell_i64(seats, row, 1);
            if (!have_peak || pk > peak) {
                have_peak = 1;
                peak = pk;
                peak_day = day;
            }
        } else if (last_known >= 0 && day <= today) {
            json_object_set_new(o, "seats_in_use", json_integer(last_known));
            json_object_set_new(o, "seats_peak", json_integer(last_known));
            json_object_set_new(o, "carried", json_true());
        } else {
            json_object_set_new(o, "seats_in_use", json_null());
            json_object_set_new(o, "seats_peak", json_null());
            json_object_set_new(o, "carried", json_false());
        }
        int64_t max = max_on(terms, day);
        json_object_set_new(o, "seats_max", max >= 0 ? json_integer(max) : json_null());
        json_array_append_new(daily, o);
    }
    json_t *pk = json_object();
    if (have_peak) {
        int64_t max = max_on(terms, peak_day);
        json_object_set_new(pk, "seats_peak", json_integer(peak));
        json_object_set_new(pk, "day", tally_page_day_json(peak_day));
        json_object_set_new(pk, "seats_max", max >= 0 ? json_integer(max) : json_null());
        json_object_set_new(pk, "status", max >= 0 ? json_string(tally_page_status(peak, max)) : json_null());
    } else {
        json_object_set_new(pk, "seats_peak", json_null());
        json_object_set_new(pk, "day", json_null());
        json_object_set_new(pk, "seats_max", json_null());
        json_object_set_new(pk, "status", json_null());
    }
    json_object_set_new(m, "daily", daily);
    json_object_set_new(m, "peak", pk);
}

int tally_page_seats_load(PGconn *pg, const tally_page_query_t *q, json_t **model, char *errbuf, size_t errsize)
{
    tally_period_t p;
    json_t *tenant = NULL;
    char first[TALLY_DATE_SIZE], last[TALLY_DATE_SIZE];
    int rc = tally_page_tenant_month(pg, q, &p, &tenant, first, last, errbuf, errsize);
    if (rc != 0)
        return rc;
    const char *params[3] = {q->tenant_id, first, last};
    PGresult *seats = NULL, *carry = NULL, *terms = NULL;
    rc = tally_page_sql(pg, seats_sql, 3, params, &seats, errbuf, errsize);
    if (rc == 0)
        rc = tally_page_sql(pg, carry_sql, 2, params, &carry, errbuf, errsize);
    if (rc == 0)
        rc = tally_page_sql(pg, terms_sql, 3, params, &terms, errbuf, errsize);
    if (rc != 0) {
        PQclear(seats);
        PQclear(carry);
        json_decref(tenant);
        return rc;
    }
    json_t *m = tally_page_tenant_month_model("seats", q, &p, tenant, first, last);
    build(seats, carry, terms, &p, tally_utc_day(q->now_ms), m);
    PQclear(seats);
    PQclear(carry);
    PQclear(terms);
    *model = m;
    return 0;
}

/* ---- render -------------------------------------------------------------- */

void tally_page_seats_render(const json_t *model, const tally_page_query_t *q, tally_textbuf_t *out)
{
    const json_t *daily = json_object_get(model, "daily"), *peak = json_object_get(model, "peak");
    size_t n = json_array_size(daily);
    tally_textbuf_puts(out, "<h1>Seats: ");
    tally_html_text(out, tally_page_get_str(json_object_get(model, "tenant"), "name"));
    tally_textbuf_puts(out, ", ");
    tally_html_text(out, tally_page_get_str(model, "period"));
    tally_textbuf_puts(out, "</h1>");
    tally_page_period_nav(out, "seats", q->tenant_id, tally_page_get_str(model, "period"), q->now_ms);
    tally_textbuf_puts(out, "<p>");
    if (tally_page_is_null(peak, "seats_peak")) {
        tally_textbuf_puts(out, "No seats were reported this month.");
    } else {
        tally_textbuf_puts(out, "Peak: <strong>");
        tally_html_int(out, tally_page_get_i64(peak, "seats_peak"));
        tally_textbuf_puts(out, "</strong> seats on ");
        tally_html_text(out, tally_page_get_str(peak, "day"));
        if (!tally_page_is_null(peak, "seats_max")) {
            tally_textbuf_puts(out, ", against a maximum of ");
            tally_html_int(out, tally_page_get_i64(peak, "seats_max"));
            tally_textbuf_puts(out, " ");
            tally_html_badge(out, tally_page_get_str(peak, "status"));
        } else {
            tally_textbuf_puts(out, " (no contract period covers that day)");
        }
    }
    tally_textbuf_puts(out, "</p>");

    const char **x = calloc(n + 1, sizeof *x), **xs = calloc(n + 1, sizeof *xs);
    int64_t *v = calloc(3 * n + 1, sizeof *v);
    if (x == NULL || xs == NULL || v == NULL)
        abort();
    static const char *const keys[3] = {"seats_in_use", "seats_peak", "seats_max"};
    for (size_t i = 0; i < n; i++) {
        const json_t *d = json_array_get(daily, i);
        x[i] = tally_page_get_str(d, "day");
        xs[i] = x[i] && strlen(x[i]) == 10 ? x[i] + 8 : x[i];
        for (size_t k = 0; k < 3; k++)
            v[k * n + i] = tally_page_is_null(d, keys[k]) ? TALLY_CHART_MISSING : tally_page_get_i64(d, keys[k]);
    }
    tally_chart_series_t series[3] = {{"Seats in use", v}, {"Peak seats", v + n}, {"Seats maximum", v + 2 * n}};
    tally_chart_t c = {.title = "Seats per day", .npoints = n, .x = x, .x_short = xs, .series = series,
                       .nseries = 3};
    tally_svg_lines(out, &c);
    tally_chart_table(out, &c);
    int carried = 0;
    for (size_t i = 0; i < n; i++)
        carried |= tally_page_get_bool(json_array_get(daily, i), "carried");
    if (carried)
        tally_textbuf_puts(out, "<p class=\"muted\">A day without a seat event shows the seats in use last reported "
                                "before it, as its seats in use and its peak.</p>");
    free(x);
    free(xs);
    free(v);
}
