/* server_alerts.c: GET /api/v1/alerts (docs/console.md): the usage alerts
 * of one month (alert_list.h) as JSON.
 *
 *   member  their own tenant's; ?tenant= naming another tenant is the 404
 *           of an unknown route (no such thing to them)
 *   staff   every tenant's, or ?tenant='s
 *   ?period=YYYY-MM  the month (period.h: this one or one of the 13
 *           before); default the current month
 *
 * A parameter given twice, a period or tenant that is not one: 400, and
 * nothing is read. */
#include "server_internal.h"

#include "alert_list.h"
#include "log.h"
#include "period.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int tenant_n, period_n;
    const char *tenant, *period;
} alert_args_t;

static enum MHD_Result collect(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    alert_args_t *a = cls;
    if (strcmp(key, "tenant") == 0) {
        a->tenant_n++;
        a->tenant = value ? value : "";
    } else if (strcmp(key, "period") == 0) {
        a->period_n++;
        a->period = value ? value : "";
    }
    return MHD_YES;
}

enum MHD_Result tally_cs_alerts_list(console_req_t *r)
{
    tally_principal_t p;
    int who = tally_cs_principal(r, &p);
    if (who <= 0) {
        tally_cs_db_release(r);
        return who < 0 ? tally_cs_unavailable(r, "the database is unreachable") : tally_cs_unauthorized(r);
    }
    alert_args_t a = {0, 0, NULL, NULL};
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, collect, &a);
    char why[160] = "";
    tally_period_t month;
    if (a.tenant_n > 1 || a.period_n > 1) {
        tally_cs_db_release(r);
        return tally_cs_error(r, 400, "bad request", a.tenant_n > 1 ? "tenant is given more than once"
                                                                     : "period is given more than once");
    }
    if (a.tenant && !tally_route_tenant_ok(a.tenant, strlen(a.tenant))) {
        tally_cs_db_release(r);
        return tally_cs_error(r, 400, "bad request", "tenant must be a tenant id ([A-Za-z0-9._-], 1-64)");
    }
    if (tally_period_parse(a.period, tally_cs_now_ms(r), &month, why, sizeof why) != 0) {
        tally_cs_db_release(r);
        return tally_cs_error(r, 400, "bad parameter", why);
    }
    /* A member asking for another tenant's alerts: no such thing. */
    if (!p.staff && a.tenant && strcmp(a.tenant, p.tenant_id) != 0) {
        tally_cs_db_release(r);
        return tally_cs_not_found(r);
    }
    json_t *list = NULL;
    char err[512] = "";
    PGconn *pg = tally_cs_db(r, err, sizeof err);
    if (pg == NULL ||
        tally_alert_list_load(pg, p.staff ? a.tenant : p.tenant_id, month.text, &list, err, sizeof err) != 0) {
        r->pg_failed = pg != NULL;
        tally_metric_add(r->srv->db_errors, 1);
        tally_cs_db_release(r);
        tally_log_warn("console", "alerts: %s", err);
        return tally_cs_unavailable(r, "the database is unreachable");
    }
    tally_cs_db_release(r);
    json_object_set_new(list, "period", json_string(month.text));
    char *text = json_dumps(list, JSON_COMPACT);
    json_decref(list);
    if (text == NULL)
        abort();
    return tally_cs_cached(r, "application/json", text, strlen(text), "private, no-cache", NULL);
}
