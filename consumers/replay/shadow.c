/* The shadow read model: create, compare, swap (see shadow.h). */
#include "shadow.h"

#include "pg.h"
#include "readmodel.h"
#include "copy_text.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What writer.c and projection.c write, in no particular order. */
const char *const tally_shadow_tables[] = {
    "kafka_offsets", "tenants", "environments", "members", "api_keys", "license_terms", "console_tokens", "licenses", "alerts",
    "api_usage_daily", "seat_usage_daily", "product_events", "product_daily", "product_daily_installs", NULL,
};

#define QSIZE 160   /* a quoted identifier of at most 63 bytes, doubled quotes and all */

int tally_shadow_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 63 || !(islower((unsigned char)name[0]) || name[0] == '_'))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)name[i]) || isdigit((unsigned char)name[i]) || name[i] == '_'))
            return 0;
    return strncmp(name, "pg_", 3) != 0 && strcmp(name, "public") != 0 && strcmp(name, "information_schema") != 0;
}

static int sql_fail(PGconn *conn, PGresult *res, const char *what, char *errbuf, size_t errsize)
{
    char msg[768];
    if (tally_pg_check(res, conn, msg, sizeof msg) != 0)
        snprintf(errbuf, errsize, "postgres: %s: %s", what, msg);
    else
        snprintf(errbuf, errsize, "postgres: %s: unexpected result", what);
    PQclear(res);
    return -1;
}

static int exec(PGconn *conn, const char *sql, const char *what, char *errbuf, size_t errsize)
{
    PGresult *res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
        return sql_fail(conn, res, what, errbuf, errsize);
    PQclear(res);
    return 0;
}

/* Runs a query with text parameters; returns the result or NULL (errbuf). */
static PGresult *query(PGconn *conn, const char *sql, int n, const char *const *params, const char *what,
                       char *errbuf, size_t errsize)
{
    PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        sql_fail(conn, res, what, errbuf, errsize);
        return NULL;
    }
    return res;
}

/* Renames the shadow table's indexes to the live table's names, matching
 * them by definition (LIKE names them after their columns). Two passes, so
 * a name is never taken while it is needed. */
static int rename_indexes(PGconn *conn, const char *live, const char *shadow, const char *qshadow, const char *table,
                          tally_textbuf_t *sql, char *errbuf, size_t errsize)
{
    static const char pairs[] =
        "SELECT ns.relname, nl.relname FROM pg_catalog.pg_index il "
        "JOIN pg_catalog.pg_class nl ON nl.oid = il.indexrelid "
        "JOIN pg_catalog.pg_index ish ON ish.indrelid = format('%I.%I', $2::text, $3::text)::regclass "
        "JOIN pg_catalog.pg_class ns ON ns.oid = ish.indexrelid "
        "WHERE il.indrelid = format('%I.%I', $1::text, $3::text)::regclass "
        "AND il.indisunique = ish.indisunique AND nl.relname <> ns.relname "
        "AND regexp_replace(pg_catalog.pg_get_indexdef(il.indexrelid), '^.*? USING ', '') = "
        "    regexp_replace(pg_catalog.pg_get_indexdef(ish.indexrelid), '^.*? USING ', '')";
    const char *params[3] = {live, shadow, table};
    PGresult *res = query(conn, pairs, 3, params, "index names", errbuf, errsize);
    if (res == NULL)
        return -1;
    int rc = 0;
    for (int pass = 0; pass < 2 && rc == 0; pass++)
        for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
            char from[QSIZE], to[QSIZE], tmp[64];
            snprintf(tmp, sizeof tmp, "tally_replay_index_%d", i);
            tally_readmodel_quote(pass == 0 ? PQgetvalue(res, i, 0) : tmp, from, sizeof from);
            tally_readmodel_quote(pass == 0 ? tmp : PQgetvalue(res, i, 1), to, sizeof to);
            tally_textbuf_reset(sql);
            tally_textbuf_printf(sql, "ALTER INDEX %s.%s RENAME TO %s", qshadow, from, to);
            rc = exec(conn, sql->data, "rename index", errbuf, errsize);
        }
    PQclear(res);
    return rc;
}

/* The live table's owner and grants on its shadow twin. */
static int copy_access(PGconn *conn, const char *live, const char *qshadow, const char *table, tally_textbuf_t *sql,
                       char *errbuf, size_t errsize)
{
    static const char owner_sql[] =
        "SELECT quote_ident(pg_catalog.pg_get_userbyid(relowner)), "
        "pg_catalog.pg_get_userbyid(relowner) = current_user FROM pg_catalog.pg_class "
        "WHERE oid = format('%I.%I', $1::text, $2::text)::regclass";
    static const char grants_sql[] =
        "SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END, "
        "a.privilege_type, a.is_grantable FROM pg_catalog.pg_class c, aclexplode(c.relacl) a "
        "WHERE c.oid = format('%I.%I', $1::text, $2::text)::regclass AND a.grantee <> c.relowner";
    char qt[QSIZE];
    const char *params[2] = {live, table};
    tally_readmodel_quote(table, qt, sizeof qt);
    PGresult *res = query(conn, owner_sql, 2, params, "table owner", errbuf, errsize);
    if (res == NULL)
        return -1;
    int rc = 0;
    if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 1), "f") == 0) {
        tally_textbuf_reset(sql);
        tally_textbuf_printf(sql, "ALTER TABLE %s.%s OWNER TO %s", qshadow, qt, PQgetvalue(res, 0, 0));
        rc = exec(conn, sql->data, "table owner", errbuf, errsize);
    }
    PQclear(res);
    if (rc != 0 || (res = query(conn, grants_sql, 2, params, "table grants", errbuf, errsize)) == NULL)
        return -1;
    for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
        tally_textbuf_reset(sql);
        tally_textbuf_printf(sql, "GRANT %s ON %s.%s TO %s%s", PQgetvalue(res, i, 1), qshadow, qt,
                             PQgetvalue(res, i, 0), strcmp(PQgetvalue(res, i, 2), "t") == 0 ? " WITH GRANT OPTION" : "");
        rc = exec(conn, sql->data, "table grants", errbuf, errsize);
    }
    PQclear(res);
    return rc;
}

int tally_shadow_create(PGconn *conn, const char *live, const char *shadow, char *errbuf, size_t errsize)
{
    char qlive[QSIZE], qshadow[QSIZE], qt[QSIZE];
    tally_textbuf_t sql = {0};
    int rc = -1;
    tally_readmodel_quote(live, qlive, sizeof qlive);
    tally_readmodel_quote(shadow, qshadow, sizeof qshadow);
    const char *params[1] = {shadow};
    PGresult *res = query(conn, "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1", 1, params, "schema",
                          errbuf, errsize);
    if (res == NULL)
        return -1;
    int exists = PQntuples(res) > 0;
    PQclear(res);
    if (exists) {
        snprintf(errbuf, errsize, "schema %s already exists: choose another name, or drop it first "
                 "(DROP SCHEMA %s CASCADE)", shadow, qshadow);
        return -2;
    }
    if (exec(conn, "BEGIN", "BEGIN", errbuf, errsize) != 0)
        return -1;
    tally_textbuf_printf(&sql, "CREATE SCHEMA %s", qshadow);
    if (exec(conn, sql.data, "create schema", errbuf, errsize) != 0)
        goto cleanup;
    for (const char *const *t = tally_shadow_tables; *t; t++) {
        tally_readmodel_quote(*t, qt, sizeof qt);
        tally_textbuf_reset(&sql);
        tally_textbuf_printf(&sql, "CREATE TABLE %s.%s (LIKE %s.%s INCLUDING ALL)", qshadow, qt, qlive, qt);
        if (exec(conn, sql.data, *t, errbuf, errsize) != 0 ||
            rename_indexes(conn, live, shadow, qshadow, *t, &sql, errbuf, errsize) != 0 ||
            copy_access(conn, live, qshadow, *t, &sql, errbuf, errsize) != 0)
            goto cleanup;
    }
    rc = exec(conn, "COMMIT", "COMMIT", errbuf, errsize);
cleanup:
    if (rc != 0)
        tally_pg_rollback_quietly(conn);
    tally_textbuf_free(&sql);
    return rc;
}

void tally_shadow_diffs_free(tally_shadow_diff_t *d, size_t n)
{
    for (size_t i = 0; i < n && d; i++)
        free(d[i].samples);
    free(d);
}

/* Up to samples rows of a EXCEPT ALL b, as text, one a line, prefixed. */
static char *sample_rows(PGconn *conn, const char *a, const char *b, const char *cols, const char *prefix,
                         int samples, tally_textbuf_t *sql, char *errbuf, size_t errsize)
{
    tally_textbuf_reset(sql);
    tally_textbuf_printf(sql, "SELECT x::text FROM (SELECT %s FROM %s EXCEPT ALL SELECT %s FROM %s) x "
                         "ORDER BY 1 LIMIT %d", cols, a, cols, b, samples);
    PGresult *res = query(conn, sql->data, 0, NULL, "sample rows", errbuf, errsize);
    if (res == NULL)
        return NULL;
    tally_textbuf_t t = {0};
    for (int i = 0; i < PQntuples(res); i++)
        tally_textbuf_printf(&t, "%s%s\n", prefix, PQgetvalue(res, i, 0));
    PQclear(res);
    if (t.data == NULL)
        tally_textbuf_puts(&t, "");
    return t.data;
}

int tally_shadow_compare(PGconn *conn, const char *live, const char *shadow, int samples, tally_shadow_diff_t **out,
                         size_t *n, char *errbuf, size_t errsize)
{
    static const char cols_sql[] =
        "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_catalog.pg_attribute "
        "WHERE attrelid = format('%I.%I', $1::text, $2::text)::regclass AND attnum > 0 AND NOT attisdropped";
    char qlive[QSIZE], qshadow[QSIZE], qt[QSIZE], lt[2 * QSIZE + 2], st[2 * QSIZE + 2];
    tally_textbuf_t sql = {0};
    size_t count = 0, k = 0;
    for (const char *const *t = tally_shadow_tables; *t; t++)
        count++;
    tally_shadow_diff_t *d = calloc(count, sizeof *d);
    if (d == NULL)
        abort();
    tally_readmodel_quote(live, qlive, sizeof qlive);
    tally_readmodel_quote(shadow, qshadow, sizeof qshadow);
    for (const char *const *t = tally_shadow_tables; *t; t++) {
        if (strcmp(*t, "kafka_offsets") == 0)
            continue;
        const char *params[2] = {live, *t};
        PGresult *res = query(conn, cols_sql, 2, params, *t, errbuf, errsize);
        if (res == NULL)
            goto err;
        char *cols = strdup(PQgetvalue(res, 0, 0));
        PQclear(res);
        if (cols == NULL)
            abort();
        tally_readmodel_quote(*t, qt, sizeof qt);
        snprintf(lt, sizeof lt, "%s.%s", qlive, qt);
        snprintf(st, sizeof st, "%s.%s", qshadow, qt);
        tally_textbuf_reset(&sql);
        tally_textbuf_printf(&sql,
                             "SELECT (SELECT count(*) FROM %s), (SELECT count(*) FROM %s), "
                             "(SELECT count(*) FROM (SELECT %s FROM %s EXCEPT ALL SELECT %s FROM %s) x), "
                             "(SELECT count(*) FROM (SELECT %s FROM %s EXCEPT ALL SELECT %s FROM %s) y)",
                             lt, st, cols, lt, cols, st, cols, st, cols, lt);
        res = query(conn, sql.data, 0, NULL, *t, errbuf, errsize);
        if (res == NULL) {
            free(cols);
            goto err;
        }
        tally_shadow_diff_t *x = &d[k++];
        x->table = *t;
        x->live_rows = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        x->shadow_rows = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
        x->only_live = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
        x->only_shadow = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
        PQclear(res);
        if (samples > 0 && (x->only_live > 0 || x->only_shadow > 0)) {
            char *a = sample_rows(conn, lt, st, cols, "live only:    ", samples, &sql, errbuf, errsize);
            char *b = a ? sample_rows(conn, st, lt, cols, "rebuilt only: ", samples, &sql, errbuf, errsize) : NULL;
            if (a == NULL || b == NULL) {
                free(a);
                free(cols);
                goto err;
            }
            tally_textbuf_t both = {0};
            tally_textbuf_puts(&both, a);
            tally_textbuf_puts(&both, b);
            free(a);
            free(b);
            x->samples = both.data;
        }
        free(cols);
    }
    tally_textbuf_free(&sql);
    *out = d;
    *n = k;
    return 0;
err:
    tally_textbuf_free(&sql);
    tally_shadow_diffs_free(d, k);
    return -1;
}

int tally_shadow_swap_begin(PGconn *conn, const char *live, int lock_timeout_ms, char *errbuf, size_t errsize)
{
    char qlive[QSIZE], sql[512];
    tally_readmodel_quote(live, qlive, sizeof qlive);
    if (exec(conn, "BEGIN", "BEGIN", errbuf, errsize) != 0)
        return -1;
    snprintf(sql, sizeof sql, "SET LOCAL lock_timeout = %d", lock_timeout_ms > 0 ? lock_timeout_ms : 30000);
    if (exec(conn, sql, "lock_timeout", errbuf, errsize) != 0)
        goto err;
    snprintf(sql, sizeof sql, "LOCK TABLE %s.\"kafka_offsets\" IN ACCESS EXCLUSIVE MODE", qlive);
    if (exec(conn, sql, "lock the live offsets (is a long transaction holding them?)", errbuf, errsize) != 0)
        goto err;
    return 0;
err:
    tally_pg_rollback_quietly(conn);
    return -1;
}

void tally_shadow_swap_abort(PGconn *conn)
{
    tally_pg_rollback_quietly(conn);
}

int tally_shadow_swap_finish(PGconn *conn, const char *live, const char *shadow, int *views, char *errbuf,
                             size_t errsize)
{
    /* Every view that reads a swapped table directly, its definition with
     * every name qualified (search_path is pg_catalog alone). */
    static const char views_sql[] =
        "SELECT DISTINCT quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relkind, "
        "pg_catalog.pg_get_viewdef(c.oid), coalesce(array_to_string(c.reloptions, ', '), '') "
        "FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid "
        "JOIN pg_catalog.pg_class c ON c.oid = r.ev_class JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass "
        "AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND r.ev_class <> d.refobjid "
        "AND d.refobjid IN (SELECT format('%I.%I', $1::text, t)::regclass FROM unnest($2::text[]) t)";
    char qlive[QSIZE], qshadow[QSIZE], qtmp[QSIZE], qt[QSIZE], tmp[64];
    tally_textbuf_t sql = {0}, names = {0};
    PGresult *res = NULL;
    int rc = -1;
    *views = 0;
    tally_readmodel_quote(live, qlive, sizeof qlive);
    tally_readmodel_quote(shadow, qshadow, sizeof qshadow);
    snprintf(tmp, sizeof tmp, "tally_replay_swap_%ld", (long)getpid());
    tally_readmodel_quote(tmp, qtmp, sizeof qtmp);

    tally_textbuf_puts(&sql, "LOCK TABLE ");
    tally_textbuf_putc(&names, '{');
    for (const char *const *t = tally_shadow_tables; *t; t++) {
        tally_readmodel_quote(*t, qt, sizeof qt);
        tally_textbuf_printf(&sql, "%s%s.%s, %s.%s", t == tally_shadow_tables ? "" : ", ", qlive, qt, qshadow, qt);
        tally_textbuf_printf(&names, "%s%s", t == tally_shadow_tables ? "" : ",", *t);
    }
    tally_textbuf_puts(&sql, " IN ACCESS EXCLUSIVE MODE");
    tally_textbuf_putc(&names, '}');
    if (exec(conn, sql.data, "lock the tables", errbuf, errsize) != 0 ||
        exec(conn, "SET LOCAL search_path = pg_catalog", "search_path", errbuf, errsize) != 0)
        goto cleanup;
    const char *params[2] = {live, names.data};
    if ((res = query(conn, views_sql, 2, params, "views", errbuf, errsize)) == NULL)
        goto cleanup;
    for (int i = 0; i < PQntuples(res); i++)
        if (strcmp(PQgetvalue(res, i, 1), "v") != 0) {
            snprintf(errbuf, errsize, "%s (a materialized view?) reads a read model table: it cannot follow a swap",
                     PQgetvalue(res, i, 0));
            goto cleanup;
        }
    tally_textbuf_reset(&sql);
    tally_textbuf_printf(&sql, "CREATE SCHEMA %s", qtmp);
    if (exec(conn, sql.data, "swap schema", errbuf, errsize) != 0)
        goto cleanup;
    for (const char *const *t = tally_shadow_tables; *t; t++) {
        tally_readmodel_quote(*t, qt, sizeof qt);
        tally_textbuf_reset(&sql);
        tally_textbuf_printf(&sql,
                             "ALTER TABLE %s.%s SET SCHEMA %s; ALTER TABLE %s.%s SET SCHEMA %s; "
                             "ALTER TABLE %s.%s SET SCHEMA %s",
                             qlive, qt, qtmp, qshadow, qt, qlive, qtmp, qt, qshadow);
        if (exec(conn, sql.data, *t, errbuf, errsize) != 0)
            goto cleanup;
    }
    tally_textbuf_reset(&sql);
    tally_textbuf_printf(&sql, "DROP SCHEMA %s", qtmp);
    if (exec(conn, sql.data, "swap schema", errbuf, errsize) != 0)
        goto cleanup;
    for (int i = 0; i < PQntuples(res); i++) {
        const char *def = PQgetvalue(res, i, 2), *opts = PQgetvalue(res, i, 3);
        size_t len = strlen(def);
        while (len > 0 && (def[len - 1] == ';' || isspace((unsigned char)def[len - 1])))
            len--;
        tally_textbuf_reset(&sql);
        tally_textbuf_printf(&sql, "CREATE OR REPLACE VIEW %s%s%s%s AS %.*s", PQgetvalue(res, i, 0),
                             *opts ? " WITH (" : "", opts, *opts ? ")" : "", (int)len, def);
        if (exec(conn, sql.data, PQgetvalue(res, i, 0), errbuf, errsize) != 0)
            goto cleanup;
        (*views)++;
    }
    rc = exec(conn, "COMMIT", "COMMIT", errbuf, errsize);
cleanup:
    PQclear(res);
    if (rc != 0) {
        *views = 0;
        tally_pg_rollback_quietly(conn);
    }
    tally_textbuf_free(&sql);
    tally_textbuf_free(&names);
    return rc;
}
