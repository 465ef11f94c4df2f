/* The usage alerts of a month (see alert_list.h). */
#include "alert_list.h"

#include "page_util.h"

#include <stdio.h>
#include <string.h>

static const char list_sql[] =
    "SELECT a.alert_id, a.tenant_id, a.environment_id, a.metric, a.threshold, a.value, a.\"limit\", a.period, "
    "       a.state, to_char(a.at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
    "FROM tally.console_alerts a "
    "WHERE ($1::text IS NULL OR a.tenant_id = $1::text) AND a.month = $2::text "
    "ORDER BY a.at DESC, a.alert_id LIMIT $3::int";

enum { C_ID, C_TENANT, C_ENV, C_METRIC, C_THRESHOLD, C_VALUE, C_LIMIT, C_PERIOD, C_STATE, C_AT };

int tally_alert_list_load(PGconn *pg, const char *tenant_id, const char *month, json_t **out, char *errbuf,
                          size_t errsize)
{
    char limit[16];
    snprintf(limit, sizeof limit, "%d", TALLY_ALERT_LIST_MAX + 1);
    const char *params[3] = {tenant_id, month, limit};
    PGresult *r;
    int rc = tally_page_sql(pg, list_sql, 3, params, &r, errbuf, errsize);
    if (rc != 0)
        return rc;
    int n = PQntuples(r);
    int shown = n > TALLY_ALERT_LIST_MAX ? TALLY_ALERT_LIST_MAX : n;
    json_t *list = json_array();
    for (int i = 0; i < shown; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "alert_id", tally_page_cell_str(r, i, C_ID));
        json_object_set_new(o, "tenant_id", tally_page_cell_str(r, i, C_TENANT));
        json_object_set_new(o, "environment_id", tally_page_cell_str(r, i, C_ENV));
        json_object_set_new(o, "metric", tally_page_cell_str(r, i, C_METRIC));
        json_object_set_new(o, "threshold", tally_page_cell_int(r, i, C_THRESHOLD));
        json_object_set_new(o, "value", tally_page_cell_int(r, i, C_VALUE));
        json_object_set_new(o, "limit", tally_page_cell_int(r, i, C_LIMIT));
        json_object_set_new(o, "period", tally_page_cell_str(r, i, C_PERIOD));
        json_object_set_new(o, "state", tally_page_cell_str(r, i, C_STATE));
        json_object_set_new(o, "at", tally_page_cell_str(r, i, C_AT));
        json_array_append_new(list, o);
    }
    PQclear(r);
    *out = json_pack("{s:o, s:b}", "alerts", list, "truncated", n > TALLY_ALERT_LIST_MAX);
    return 0;
}

const char *tally_alert_list_metric_label(const char *metric)
{
    if (metric == NULL)
        return "?";
    if (strcmp(metric, "MONTHLY_API_CALLS") == 0)
        return "API calls this month";
    if (strcmp(metric, "NONPROD_DAILY_API_CALLS") == 0)
        return "Non-production API calls of a day";
    if (strcmp(metric, "SEATS_PEAK") == 0)
        return "Peak seats";
    return metric;
}
