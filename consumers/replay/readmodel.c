/* Reading the read model (see readmodel.h). */
#include "readmodel.h"

#include "pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tally_readmodel_quote(const char *name, char *out, size_t out_size)
{
    size_t k = 0;
    if (out_size < 3) {
        if (out_size)
            out[0] = '\0';
        return;
    }
    out[k++] = '"';
    for (const char *p = name; *p && k + 3 < out_size; p++) {
        if (*p == '"')
            out[k++] = '"';
        out[k++] = *p;
    }
    out[k++] = '"';
    out[k] = '\0';
}

static int fail(PGresult *res, PGconn *conn, const char *what, char *errbuf, size_t errsize)
{
    char msg[512];
    if (tally_pg_check(res, conn, msg, sizeof msg) != 0)
        snprintf(errbuf, errsize, "postgres: %s: %s", what, msg);
    PQclear(res);
    return -1;
}

int tally_readmodel_check(PGconn *conn, const char *schema, char *errbuf, size_t errsize)
{
    char missing[256] = "";
    const char *params[1] = {schema};
    PGresult *res = PQexecParams(conn,
                                 "SELECT t FROM unnest(ARRAY['api_usage_daily', 'seat_usage_daily', 'tenants', "
                                 "'kafka_offsets']) t WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_tables "
                                 "WHERE schemaname = $1 AND tablename = t)",
                                 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return fail(res, conn, "read model check", errbuf, errsize);
    for (int i = 0; i < PQntuples(res); i++) {
        size_t n = strlen(missing);
        snprintf(missing + n, sizeof missing - n, "%s%s", n ? ", " : "", PQgetvalue(res, i, 0));
    }
    PQclear(res);
    if (missing[0]) {
        snprintf(errbuf, errsize, "schema %s has no read model table %s (migrations not applied, or a wrong "
                 "--live-schema)", schema, missing);
        return -1;
    }
    return 0;
}

/* Day bounds as parameters: NULL for unbounded (and days PostgreSQL's date
 * could not hold). */
static const char *day_param(int32_t day, char *buf, size_t size)
{
    if (day == INT32_MIN || day == INT32_MAX)
        return NULL;
    snprintf(buf, size, "%d", (int)day);
    return buf;
}

static int load_table(PGconn *conn, const char *qschema, tally_replay_table_t table, const char *tenant,
                      int32_t from_day, int32_t to_day, tally_replay_rows_t *out, char *errbuf, size_t errsize)
{
    char sql[1400], from[16], to[16];
    const char *cols = table == TALLY_REPLAY_API
                           ? "environment_id, api_calls, status_4xx, status_5xx, exec_ms"
                           : "'' AS environment_id, seats_in_use, seats_peak, 0, 0";
    snprintf(sql, sizeof sql,
             "SELECT tenant_id, %s, (day - date '1970-01-01'), "
             "floor(extract(epoch FROM updated_at) * 1000)::bigint "
             "FROM %s.%s WHERE ($1::text IS NULL OR tenant_id = $1) "
             "AND ($2::int IS NULL OR day >= date '1970-01-01' + $2::int) "
             "AND ($3::int IS NULL OR day <= date '1970-01-01' + $3::int)",
             cols, qschema, tally_replay_table_name(table));
    const char *params[3] = {tenant, day_param(from_day, from, sizeof from), day_param(to_day, to, sizeof to)};
    PGresult *res = PQexecParams(conn, sql, 3, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return fail(res, conn, tally_replay_table_name(table), errbuf, errsize);
    for (int i = 0; i < PQntuples(res); i++) {
        tally_replay_row_t row = {.table = table, .tenant = PQgetvalue(res, i, 0),
                                  .environment = PQgetvalue(res, i, 1), .partition = -1, .first_offset = -1,
                                  .last_offset = -1};
        for (int k = 0; k < TALLY_REPLAY_VALUES; k++)
            row.v[k] = strtoll(PQgetvalue(res, i, 2 + k), NULL, 10);
        row.day = (int32_t)strtol(PQgetvalue(res, i, 6), NULL, 10);
        row.updated_at = strtoll(PQgetvalue(res, i, 7), NULL, 10);
        tally_replay_rows_add(out, &row);
    }
    PQclear(res);
    return 0;
}

int tally_readmodel_load(PGconn *conn, const char *schema, const char *tenant, int32_t from_day, int32_t to_day,
                         bool seats, tally_replay_rows_t *out, char *errbuf, size_t errsize)
{
    char q[300];
    tally_readmodel_quote(schema, q, sizeof q);
    if (load_table(conn, q, TALLY_REPLAY_API, tenant, from_day, to_day, out, errbuf, errsize) != 0)
        return -1;
    if (seats && load_table(conn, q, TALLY_REPLAY_SEAT, tenant, from_day, to_day, out, errbuf, errsize) != 0)
        return -1;
    return 0;
}

int tally_readmodel_tenant_known(PGconn *conn, const char *schema, const char *tenant, bool *known, char *errbuf,
                                 size_t errsize)
{
    char q[300], sql[1400];
    tally_readmodel_quote(schema, q, sizeof q);
    snprintf(sql, sizeof sql,
             "SELECT EXISTS (SELECT 1 FROM %s.tenants WHERE tenant_id = $1) "
             "OR EXISTS (SELECT 1 FROM %s.api_usage_daily WHERE tenant_id = $1) "
             "OR EXISTS (SELECT 1 FROM %s.seat_usage_daily WHERE tenant_id = $1)",
             q, q, q);
    const char *params[1] = {tenant};
    PGresult *res = PQexecParams(conn, sql, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        return fail(res, conn, "tenant lookup", errbuf, errsize);
    *known = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return 0;
}

int tally_readmodel_offsets(PGconn *conn, const char *schema, const char *group, tally_readmodel_offset_t **rows,
                            size_t *n, char *errbuf, size_t errsize)
{
    char q[300], sql[700];
    *rows = NULL;
    *n = 0;
    tally_readmodel_quote(schema, q, sizeof q);
    snprintf(sql, sizeof sql,
             "SELECT topic, partition, next_offset FROM %s.kafka_offsets WHERE consumer_group = $1 "
             "ORDER BY topic, partition", q);
    const char *params[1] = {group};
    PGresult *res = PQexecParams(conn, sql, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return fail(res, conn, "kafka_offsets", errbuf, errsize);
    int nt = PQntuples(res);
    tally_readmodel_offset_t *out = calloc((size_t)nt + 1, sizeof *out);
    if (out == NULL)
        abort();
    for (int i = 0; i < nt; i++) {
        snprintf(out[i].topic, sizeof out[i].topic, "%s", PQgetvalue(res, i, 0));
        out[i].partition = (int32_t)strtol(PQgetvalue(res, i, 1), NULL, 10);
        out[i].next_offset = strtoll(PQgetvalue(res, i, 2), NULL, 10);
    }
    PQclear(res);
    if (nt == 0) {
        free(out);
        out = NULL;
    }
    *rows = out;
    *n = (size_t)nt;
    return 0;
}
