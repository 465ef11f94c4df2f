/* page_util.c: what the pages share (page_util.h). */
#include "page_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timeutil.h"

int tally_page_sql(PGconn *pg, const char *sql, int nparams, const char *const *params, PGresult **res,
                   char *errbuf, size_t errsize)
{
    PGresult *r = PQexecParams(pg, sql, nparams, NULL, params, NULL, NULL, 0);
    if (r == NULL || PQresultStatus(r) != PGRES_TUPLES_OK) {
        const char *msg = r ? PQresultErrorMessage(r) : PQerrorMessage(pg);
        snprintf(errbuf, errsize, "query failed: %s", msg && *msg ? msg : "no connection");
        size_t n = strlen(errbuf);
        while (n > 0 && (errbuf[n - 1] == '\n' || errbuf[n - 1] == ' '))
            errbuf[--n] = '\0';
        PQclear(r);
        return TALLY_PAGE_DB_ERROR;
    }
    *res = r;
    return 0;
}

int64_t tally_page_cell_i64(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return 0;
    errno = 0;
    char *end;
    long long v = strtoll(PQgetvalue(res, row, col), &end, 10);
    return errno == 0 && *end == '\0' ? (int64_t)v : 0;
}

json_t *tally_page_cell_int(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return json_null();
    return json_integer(tally_page_cell_i64(res, row, col));
}

json_t *tally_page_json_str(const char *s)
{
    if (s == NULL)
        return json_null();
    json_t *j = json_string(s);
    return j ? j : json_string("\xEF\xBF\xBD");
}

json_t *tally_page_cell_str(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return json_null();
    return tally_page_json_str(PQgetvalue(res, row, col));
}

int64_t tally_page_cell_day(const PGresult *res, int row, int col)
{
    int64_t day;
    if (PQgetisnull(res, row, col))
        return -1;
    const char *s = PQgetvalue(res, row, col);
    return tally_date_parse(s, strlen(s), &day) == 0 ? day : -1;
}

json_t *tally_page_day_json(int64_t day)
{
    char buf[TALLY_DATE_SIZE];
    if (tally_date_format(day, buf) != 0)
        buf[0] = '\0';
    return json_string(buf);
}

json_t *tally_page_model_new(const char *name, const tally_page_query_t *q)
{
    (void)q;
    return json_pack("{s:s}", "page", name);
}

int tally_page_tenant(PGconn *pg, const char *tenant_id, json_t **tenant, char *errbuf, size_t errsize)
{
    /* An id no tenant can have is not worth a query (and invalid UTF-8
     * would be the database's error, a 503, instead of a 404). */
    json_t *valid = tenant_id ? json_string(tenant_id) : NULL;
    if (valid == NULL || tenant_id[0] == '\0' || strlen(tenant_id) > TALLY_PAGE_TENANT_MAX) {
        json_decref(valid);
        snprintf(errbuf, errsize, "no such tenant");
        return TALLY_PAGE_NOT_FOUND;
    }
    json_decref(valid);
    PGresult *r;
    const char *params[1] = {tenant_id};
    int rc = tally_page_sql(pg, "SELECT tenant_id, name FROM tally.console_tenants WHERE tenant_id = $1", 1, params,
                            &r, errbuf, errsize);
    if (rc != 0)
        return rc;
    if (PQntuples(r) != 1) {
        PQclear(r);
        snprintf(errbuf, errsize, "no such tenant");
        return TALLY_PAGE_NOT_FOUND;
    }
    *tenant = json_object();
    json_object_set_new(*tenant, "id", tally_page_cell_str(r, 0, 0));
    json_object_set_new(*tenant, "name", tally_page_cell_str(r, 0, 1));
    PQclear(r);
    return 0;
}

const char *tally_page_status(int64_t used, int64_t maximum)
{
    if (used > maximum)
        return "over";
    /* used * 5 >= maximum * 4, without overflow (both are >= 0 here). */
    if (used > 0 && (__int128)used * 5 >= (__int128)maximum * 4)
        return "warning";
    return "ok";
}

int tally_page_suppressed(int64_t installs)
{
    return installs > 0 && installs < TALLY_PAGE_MIN_INSTALLS;
}

int64_t tally_page_add(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    return a + b;
}

int64_t tally_page_get_i64(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

const char *tally_page_get_str(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

const char *tally_page_get_text(const json_t *obj, const char *key)
{
    const char *s = tally_page_get_str(obj, key);
    return s ? s : "";
}

int tally_page_get_bool(const json_t *obj, const char *key)
{
    return json_is_true(json_object_get(obj, key));
}

int tally_page_is_null(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return v == NULL || json_is_null(v);
}

int tally_page_tenant_month(PGconn *pg, const tally_page_query_t *q, tally_period_t *p, json_t **tenant,
                            char first[TALLY_DATE_SIZE], char last[TALLY_DATE_SIZE], char *errbuf, size_t errsize)
{
    if (tally_period_parse(q->period, q->now_ms, p, errbuf, errsize) != 0)
        return TALLY_PAGE_BAD_QUERY;
    int rc = tally_page_tenant(pg, q->tenant_id, tenant, errbuf, errsize);
    if (rc != 0)
        return rc;
    if (tally_date_format(p->first_day, first) != 0 || tally_date_format(p->last_day, last) != 0) {
        json_decref(*tenant);
        *tenant = NULL;
        snprintf(errbuf, errsize, "period out of range");
        return TALLY_PAGE_BAD_QUERY;
    }
    return 0;
}

json_t *tally_page_tenant_month_model(const char *name, const tally_page_query_t *q, const tally_period_t *p,
                                      json_t *tenant, const char *first, const char *last)
{
    json_t *m = tally_page_model_new(name, q);
    json_object_set_new(m, "tenant", tenant);
    json_object_set_new(m, "period", json_string(p->text));
    json_object_set_new(m, "first_day", json_string(first));
    json_object_set_new(m, "last_day", json_string(last));
    return m;
}
