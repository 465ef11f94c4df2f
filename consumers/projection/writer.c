#include "writer.h"

#include "pg.h"
#include "projection.h"
#include "copy_text.h"
#include "timeutil.h"

#include <libpq-fe.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ROLLUP_API, ROLLUP_SEAT, ROLLUP_COUNT };   /* rollup_tables */

struct tally_writer_t {
    char *conninfo, *schema_ident, *group, *application_name;
    char *topics[TALLY_ROLE_COUNT];
    PGconn *conn;
    int healthy;
    char *copy_products;              /* copy_products_sql, expanded */
    char *stage_sql;                  /* stage_ddl and the rollups' stages */
    char *upsert_sql[ROLLUP_COUNT];   /* templates, from rollup_tables */
    char state[6];                    /* SQLSTATE of the last failed COPY */
    tally_textbuf_t sql, rows, a_topics, a_parts, a_expected, a_next; /* reused */
};

/* "@." in these templates becomes the schema qualifier. The rollups'
 * stages are made from rollup_tables (below). */
static const char stage_ddl[] =
    "CREATE TEMP TABLE IF NOT EXISTS mat_product_stage (event_id uuid, source text, event text, "
    "occurred_at timestamptz, received_at timestamptz, install_ref text, project_ref text, version text, "
    "ci boolean, new_user boolean, properties jsonb, error_message text, error_stack text) ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS mat_daily_stage (day date, event text, source text, version text, "
    "events bigint) ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS mat_installs_stage (day date, event text, source text, version text, "
    "install_ref text) ON COMMIT DELETE ROWS;";

static const char copy_products_sql[] =
    "COPY @.product_events (event_id, source, event, occurred_at, received_at, install_ref, project_ref, version, "
    "ci, new_user, properties, error_message, error_stack) FROM STDIN";

/* When every event of the batch was new: its pre-aggregated share of
 * product_daily, installs counted only where product_daily_installs had
 * not seen them. */
static const char daily_sql[] =
    "WITH ni AS ("
    "  INSERT INTO @.product_daily_installs (day, event, source, version, install_ref) "
    "  SELECT day, event, source, version, install_ref FROM pg_temp.mat_installs_stage "
    "  ON CONFLICT DO NOTHING RETURNING day, event, source, version), "
    "nic AS (SELECT day, event, source, version, count(*) AS installs FROM ni GROUP BY 1, 2, 3, 4) "
    "INSERT INTO @.product_daily AS d (day, event, source, version, events, installs) "
    "SELECT s.day, s.event, s.source, s.version, s.events, coalesce(nic.installs, 0) "
    "FROM pg_temp.mat_daily_stage s LEFT JOIN nic USING (day, event, source, version) "
    "ON CONFLICT (day, event, source, version) DO UPDATE "
    "SET events = d.events + EXCLUDED.events, installs = d.installs + EXCLUDED.installs";

static const char claim_sql[] =
    "WITH v AS (SELECT * FROM unnest($2::text[], $3::int[], $4::bigint[], $5::bigint[]) "
    "           AS v(topic, partition, expected, next_offset)), "
    "upd AS (UPDATE @.kafka_offsets o SET next_offset = v.next_offset, updated_at = now() FROM v "
    "        WHERE o.consumer_group = $1 AND o.topic = v.topic AND o.partition = v.partition "
    "          AND o.next_offset = v.expected RETURNING 1), "
    "ins AS (INSERT INTO @.kafka_offsets (consumer_group, topic, partition, next_offset) "
    "        SELECT $1, v.topic, v.partition, v.next_offset FROM v WHERE v.expected < 0 "
    "        ON CONFLICT DO NOTHING RETURNING 1) "
    "SELECT (SELECT count(*) FROM upd) + (SELECT count(*) FROM ins)";

static const char load_sql[] =
    "SELECT topic, partition, next_offset FROM @.kafka_offsets WHERE consumer_group = $1";

static const char product_sql[] =
    "WITH ins AS ("
    "  INSERT INTO @.product_events (event_id, source, event, occurred_at, received_at, install_ref, "
    "    project_ref, version, ci, new_user, properties, error_message, error_stack) "
    "  SELECT event_id, source, event, occurred_at, received_at, install_ref, project_ref, version, ci, "
    "    new_user, properties, error_message, error_stack FROM pg_temp.mat_product_stage "
    "  ON CONFLICT (event_id) DO NOTHING "
    "  RETURNING (occurred_at AT TIME ZONE 'UTC')::date AS day, event, source, "
    "    coalesce(version, '') AS version, install_ref), "
    "new_installs AS ("
    "  INSERT INTO @.product_daily_installs (day, event, source, version, install_ref) "
    "  SELECT DISTINCT day, event, source, version, install_ref FROM ins "
    "  ON CONFLICT DO NOTHING RETURNING day, event, source, version), "
    "ev AS (SELECT day, event, source, version, count(*) AS events FROM ins GROUP BY 1, 2, 3, 4), "
    "ni AS (SELECT day, event, source, version, count(*) AS installs FROM new_installs GROUP BY 1, 2, 3, 4) "
    "INSERT INTO @.product_daily AS d (day, event, source, version, events, installs) "
    "SELECT ev.day, ev.event, ev.source, ev.version, ev.events, coalesce(ni.installs, 0) "
    "FROM ev LEFT JOIN ni USING (day, event, source, version) "
    "ON CONFLICT (day, event, source, version) DO UPDATE "
    "SET events = d.events + EXCLUDED.events, installs = d.installs + EXCLUDED.installs";

/* The rollup tables, one column table each: it gives the stage table, the
 * COPY rows (from a batch entry) and the upsert, where a row moves only to
 * a record at or after the one it holds (same partition: offset order;
 * else updated_at). Every table has updated_at, kafka_partition and
 * kafka_offset. */
typedef enum {
    COL_TEXT,   /* size_t arena offset -> text */
    COL_DAY,    /* int32_t days since 1970-01-01 -> date */
    COL_I32,    /* int32_t -> integer */
    COL_I64,    /* int64_t -> bigint */
    COL_TIME,   /* int64_t ms since 1970 -> timestamptz */
} col_kind_t;

typedef struct rollup_col_t {
    const char *name;
    col_kind_t kind;
    size_t at;   /* offsetof in the batch entry */
    int key;     /* part of the conflict key */
} rollup_col_t;

typedef struct rollup_table_t {
    const char *table, *stage, *stmt;   /* "@.<table>", "pg_temp.<stage>", prepared name */
    const rollup_col_t *cols;
    size_t n_cols, entry_size;
} rollup_table_t;

static const char *const col_sql_type[] = {
    [COL_TEXT] = "text", [COL_DAY] = "date", [COL_I32] = "integer", [COL_I64] = "bigint", [COL_TIME] = "timestamptz"};

#define API_COL(name, kind, field, key) {name, kind, offsetof(tally_api_rollup_t, field), key}
static const rollup_col_t api_cols[] = {
    API_COL("tenant_id", COL_TEXT, tenant, 1),      API_COL("environment_id", COL_TEXT, environment, 1),
    API_COL("day", COL_DAY, day, 1),                API_COL("api_calls", COL_I64, api_calls, 0),
    API_COL("status_4xx", COL_I64, status_4xx, 0),  API_COL("status_5xx", COL_I64, status_5xx, 0),
    API_COL("exec_ms", COL_I64, exec_ms, 0),        API_COL("updated_at", COL_TIME, updated_at_ms, 0),
    API_COL("kafka_partition", COL_I32, partition, 0), API_COL("kafka_offset", COL_I64, offset, 0),
};
#undef API_COL

#define SEAT_COL(name, kind, field, key) {name, kind, offsetof(tally_seat_rollup_t, field), key}
static const rollup_col_t seat_cols[] = {
    SEAT_COL("tenant_id", COL_TEXT, tenant, 1),          SEAT_COL("day", COL_DAY, day, 1),
    SEAT_COL("seats_in_use", COL_I64, seats_in_use, 0),  SEAT_COL("seats_peak", COL_I64, seats_peak, 0),
    SEAT_COL("updated_at", COL_TIME, updated_at_ms, 0),  SEAT_COL("kafka_partition", COL_I32, partition, 0),
    SEAT_COL("kafka_offset", COL_I64, offset, 0),
};
#undef SEAT_COL

static const rollup_table_t rollup_tables[ROLLUP_COUNT] = {
    [ROLLUP_API] = {"api_usage_daily", "mat_api_stage", "mat_api", api_cols, sizeof api_cols / sizeof api_cols[0],
                    sizeof(tally_api_rollup_t)},
    [ROLLUP_SEAT] = {"seat_usage_daily", "mat_seat_stage", "mat_seat", seat_cols,
                     sizeof seat_cols / sizeof seat_cols[0], sizeof(tally_seat_rollup_t)},
};

/* Appends the names of t's columns (keys only, or all), ", " between. */
static void put_names(tally_textbuf_t *q, const rollup_table_t *t, int keys_only)
{
    const char *sep = "";
    for (size_t k = 0; k < t->n_cols; k++) {
        if (keys_only && !t->cols[k].key)
            continue;
        tally_textbuf_printf(q, "%s%s", sep, t->cols[k].name);
        sep = ", ";
    }
}

/* Appends t's stage table to q. */
static void put_stage_ddl(tally_textbuf_t *q, const rollup_table_t *t)
{
    tally_textbuf_printf(q, "CREATE TEMP TABLE IF NOT EXISTS %s (", t->stage);
    for (size_t k = 0; k < t->n_cols; k++)
        tally_textbuf_printf(q, "%s%s %s", k ? ", " : "", t->cols[k].name, col_sql_type[t->cols[k].kind]);
    tally_textbuf_puts(q, ") ON COMMIT DELETE ROWS;");
}

/* The upsert of t from its stage (a template: "@." is the schema). Returns
 * an owned string. */
static char *upsert_sql(const rollup_table_t *t)
{
    tally_textbuf_t q = {0};
    tally_textbuf_printf(&q, "INSERT INTO @.%s AS t (", t->table);
    put_names(&q, t, 0);
    tally_textbuf_puts(&q, ") SELECT ");
    put_names(&q, t, 0);
    tally_textbuf_printf(&q, " FROM pg_temp.%s ON CONFLICT (", t->stage);
    put_names(&q, t, 1);
    tally_textbuf_puts(&q, ") DO UPDATE SET ");
    const char *sep = "";
    for (size_t k = 0; k < t->n_cols; k++) {
        if (t->cols[k].key)
            continue;
        tally_textbuf_printf(&q, "%s%s = EXCLUDED.%s", sep, t->cols[k].name, t->cols[k].name);
        sep = ", ";
    }
    tally_textbuf_puts(&q, " WHERE (t.kafka_partition = EXCLUDED.kafka_partition AND t.kafka_offset <= "
                           "EXCLUDED.kafka_offset) OR (t.kafka_partition <> EXCLUDED.kafka_partition AND "
                           "t.updated_at <= EXCLUDED.updated_at)");
    return q.data;
}

static const char *expand(tally_writer_t *w, const char *tmpl);

static char *xstrdup(const char *s)
{
    char *p = strdup(s ? s : "");
    if (p == NULL) {
        fprintf(stderr, "tally-materializer: out of memory\n");
        abort();
    }
    return p;
}

tally_writer_t *tally_writer_new(const tally_writer_opts_t *o)
{
    tally_writer_t *w = calloc(1, sizeof *w);
    if (w == NULL) {
        fprintf(stderr, "tally-materializer: out of memory\n");
        abort();
    }
    w->conninfo = xstrdup(o->conninfo);
    w->group = xstrdup(o->group);
    w->application_name = xstrdup(o->application_name);
    for (int r = 0; r < TALLY_ROLE_COUNT; r++)
        w->topics[r] = o->topics[r] ? xstrdup(o->topics[r]) : NULL; /* NULL: role not read */
    /* A quoted identifier: the schema name is configuration, never SQL. */
    tally_textbuf_t q = {0};
    tally_textbuf_putc(&q, '"');
    for (const char *p = o->schema ? o->schema : "tally"; *p; p++) {
        if (*p == '"')
            tally_textbuf_putc(&q, '"');
        tally_textbuf_putc(&q, *p);
    }
    tally_textbuf_putc(&q, '"');
    w->schema_ident = q.data;
    w->copy_products = xstrdup(expand(w, copy_products_sql));
    tally_textbuf_t ddl = {0};
    tally_textbuf_puts(&ddl, stage_ddl);
    for (int t = 0; t < ROLLUP_COUNT; t++) {
        put_stage_ddl(&ddl, &rollup_tables[t]);
        w->upsert_sql[t] = upsert_sql(&rollup_tables[t]);
    }
    w->stage_sql = ddl.data;
    return w;
}

void tally_writer_disconnect(tally_writer_t *w)
{
    PQfinish(w->conn);
    w->conn = NULL;
    w->healthy = 0;
}

void tally_writer_free(tally_writer_t *w)
{
    if (w == NULL)
        return;
    tally_writer_disconnect(w);
    free(w->conninfo);
    free(w->schema_ident);
    free(w->copy_products);
    free(w->stage_sql);
    for (int t = 0; t < ROLLUP_COUNT; t++)
        free(w->upsert_sql[t]);
    free(w->group);
    free(w->application_name);
    for (int r = 0; r < TALLY_ROLE_COUNT; r++)
        free(w->topics[r]);
    tally_textbuf_free(&w->sql);
    tally_textbuf_free(&w->rows);
    tally_textbuf_free(&w->a_topics);
    tally_textbuf_free(&w->a_parts);
    tally_textbuf_free(&w->a_expected);
    tally_textbuf_free(&w->a_next);
    free(w);
}

int tally_writer_connected(const tally_writer_t *w)
{
    return w->conn != NULL && w->healthy && PQstatus(w->conn) == CONNECTION_OK;
}

/* w->sql = template with "@." replaced by the schema qualifier. */
static const char *expand(tally_writer_t *w, const char *tmpl)
{
    tally_textbuf_reset(&w->sql);
    for (const char *p = tmpl; *p; p++) {
        if (p[0] == '@' && p[1] == '.') {
            tally_textbuf_puts(&w->sql, w->schema_ident);
            continue;   /* the '.' is copied next */
        }
        tally_textbuf_putc(&w->sql, *p);
    }
    return w->sql.data;
}

/* Classifies a failure, copies the message, clears res. A broken connection
 * (or the server shutting it down) is LOST; anything else FAILED, after a
 * rollback so the session is usable again. */
static int fail(tally_writer_t *w, PGresult *res, const char *what, char *errbuf, size_t errsize)
{
    char msg[512];
    const char *m = res ? PQresultErrorMessage(res) : "";
    snprintf(msg, sizeof msg, "%s", (m && *m) ? m : PQerrorMessage(w->conn));
    msg[strcspn(msg, "\n")] = '\0';
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    int lost = PQstatus(w->conn) != CONNECTION_OK ||
               (state && (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0));
    snprintf(errbuf, errsize, "postgres: %s: %s", what, msg);
    PQclear(res);
    if (lost) {
        w->healthy = 0;
        return TALLY_WRITER_LOST;
    }
    tally_pg_rollback_quietly(w->conn);
    return TALLY_WRITER_FAILED;
}

/* The session is in a state it should not be in (or gone): give it up; the
 * caller reconnects. */
static int lost(tally_writer_t *w, const char *what, char *errbuf, size_t errsize)
{
    snprintf(errbuf, errsize, "postgres: %s: %s", what, PQerrorMessage(w->conn));
    errbuf[strcspn(errbuf, "\n")] = '\0';
    w->healthy = 0;
    return TALLY_WRITER_LOST;
}

static int exec_ok(tally_writer_t *w, PGresult *res, const char *what, char *errbuf, size_t errsize)
{
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        PQclear(res);
        return 0;
    }
    return fail(w, res, what, errbuf, errsize);
}

static int prepare(tally_writer_t *w, const char *name, const char *tmpl, char *errbuf, size_t errsize)
{
    return exec_ok(w, PQprepare(w->conn, name, expand(w, tmpl), 0, NULL), name, errbuf, errsize);
}

int tally_writer_connect(tally_writer_t *w, char *errbuf, size_t errsize)
{
    char err[512];
    tally_writer_disconnect(w);
    w->conn = tally_pg_connect(w->conninfo, w->application_name, err, sizeof err);
    if (w->conn == NULL) {
        snprintf(errbuf, errsize, "%s", err);
        return TALLY_WRITER_LOST;
    }
    w->healthy = 1;
    int rc;
    if ((rc = exec_ok(w, PQexec(w->conn, w->stage_sql), "stage tables", errbuf, errsize)) != 0 ||
        (rc = prepare(w, "mat_claim", claim_sql, errbuf, errsize)) != 0 ||
        (rc = prepare(w, "mat_load", load_sql, errbuf, errsize)) != 0 ||
        (rc = prepare(w, "mat_product", product_sql, errbuf, errsize)) != 0 ||
        (rc = prepare(w, "mat_daily", daily_sql, errbuf, errsize)) != 0)
        goto err;
    for (int t = 0; t < ROLLUP_COUNT; t++)
        if ((rc = prepare(w, rollup_tables[t].stmt, w->upsert_sql[t], errbuf, errsize)) != 0)
            goto err;
    for (int k = 0; k < TALLY_CP_KIND_COUNT; k++) {
        char name[32];
        int np;
        snprintf(name, sizeof name, "mat_cp_%d", k);
        if ((rc = prepare(w, name, tally_projection_sql((tally_cp_kind_t)k, &np), errbuf, errsize)) != 0)
            goto err;
    }
    return 0;
err:
    /* A schema that is missing (migrations not applied) is not a lost
     * connection, but the session is useless either way: start over. */
    tally_writer_disconnect(w);
    return rc;
}

int tally_writer_ping(tally_writer_t *w, char *errbuf, size_t errsize)
{
    if (w->conn == NULL || !w->healthy) {
        snprintf(errbuf, errsize, "postgres: not connected");
        return TALLY_WRITER_LOST;
    }
    int rc = exec_ok(w, PQexec(w->conn, "SELECT 1"), "ping", errbuf, errsize);
    if (rc != 0) {
        tally_writer_disconnect(w);
        return TALLY_WRITER_LOST;
    }
    return 0;
}

static int role_of(const tally_writer_t *w, const char *topic)
{
    for (int r = 0; r < TALLY_ROLE_COUNT; r++)
        if (w->topics[r] != NULL && strcmp(w->topics[r], topic) == 0)
            return r;
    return -1;
}

int tally_writer_load_offsets(tally_writer_t *w, tally_stored_offset_t **rows, size_t *n, char *errbuf,
                              size_t errsize)
{
    *rows = NULL;
    *n = 0;
    if (w->conn == NULL) {
        snprintf(errbuf, errsize, "postgres: not connected");
        return TALLY_WRITER_LOST;
    }
    const char *params[1] = {w->group};
    PGresult *res = PQexecPrepared(w->conn, "mat_load", 1, params, NULL, NULL, 0);
    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
        return fail(w, res, "load offsets", errbuf, errsize);
    int nt = PQntuples(res);
    tally_stored_offset_t *out = calloc((size_t)nt + 1, sizeof *out);
    if (out == NULL)
        abort();
    size_t k = 0;
    for (int i = 0; i < nt; i++) {
        int role = role_of(w, PQgetvalue(res, i, 0));
        if (role < 0)
            continue;   /* a topic this process was not configured with */
        out[k].role = (tally_topic_role_t)role;
        out[k].partition = (int32_t)atoi(PQgetvalue(res, i, 1));
        out[k].next_offset = strtoll(PQgetvalue(res, i, 2), NULL, 10);
        k++;
    }
    PQclear(res);
    *rows = out;
    *n = k;
    return 0;
}

static int claim(tally_writer_t *w, const tally_batch_t *b, char *errbuf, size_t errsize)
{
    tally_textbuf_t *t = &w->a_topics, *p = &w->a_parts, *e = &w->a_expected, *x = &w->a_next;
    tally_textbuf_reset(t);
    tally_textbuf_reset(p);
    tally_textbuf_reset(e);
    tally_textbuf_reset(x);
    for (size_t i = 0; i < b->n_progress; i++) {
        const tally_batch_progress_t *g = &b->progress[i];
        const char *sep = i ? "," : "{";
        tally_textbuf_puts(t, sep);
        tally_textbuf_array_element(t, w->topics[g->role], strlen(w->topics[g->role]));
        tally_textbuf_puts(p, sep);
        tally_textbuf_put_i64(p, g->partition);
        tally_textbuf_puts(e, sep);
        tally_textbuf_put_i64(e, g->expected);
        tally_textbuf_puts(x, sep);
        tally_textbuf_put_i64(x, g->next);
    }
    tally_textbuf_putc(t, '}');
    tally_textbuf_putc(p, '}');
    tally_textbuf_putc(e, '}');
    tally_textbuf_putc(x, '}');
    const char *params[5] = {w->group, t->data, p->data, e->data, x->data};
    PGresult *res = PQexecPrepared(w->conn, "mat_claim", 5, params, NULL, NULL, 0);
    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
        return fail(w, res, "claim offsets", errbuf, errsize);
    long long claimed = atoll(PQgetvalue(res, 0, 0));
    PQclear(res);
    if (claimed != (long long)b->n_progress) {
        snprintf(errbuf, errsize, "stored offsets moved: %lld of %zu partition(s) were where this batch began",
                 claimed, b->n_progress);
        tally_pg_rollback_quietly(w->conn);
        return TALLY_WRITER_FENCED;
    }
    return 0;
}

/* COPY data[0..len) with copy_sql. Returns 0, LOST, or FAILED with the
 * error in errbuf and its SQLSTATE in w->state, the transaction left as the
 * failure left it (aborted): the caller rolls back, to a savepoint or all. */
static int copy_rows(tally_writer_t *w, const char *copy_sql, const char *data, size_t len, char *errbuf,
                     size_t errsize)
{
    w->state[0] = '\0';
    PGresult *res = PQexec(w->conn, copy_sql);
    if (res == NULL || PQresultStatus(res) != PGRES_COPY_IN)
        return fail(w, res, copy_sql, errbuf, errsize);
    PQclear(res);
    /* libpq buffers and sends; hand it the data in large pieces. */
    const size_t chunk = 1 << 20;
    for (size_t off = 0; off < len; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;
        if (PQputCopyData(w->conn, data + off, (int)n) != 1)
            return lost(w, "COPY data", errbuf, errsize);
    }
    if (PQputCopyEnd(w->conn, NULL) != 1)
        return lost(w, "COPY end", errbuf, errsize);
    /* Drain every result before acting on a failure. */
    PGresult *bad = NULL;
    while ((res = PQgetResult(w->conn)) != NULL) {
        if (bad == NULL && PQresultStatus(res) != PGRES_COMMAND_OK) {
            bad = res;
            continue;
        }
        PQclear(res);
    }
    if (bad == NULL)
        return 0;
    if (PQstatus(w->conn) != CONNECTION_OK)
        return fail(w, bad, "COPY", errbuf, errsize);
    const char *state = PQresultErrorField(bad, PG_DIAG_SQLSTATE);
    snprintf(w->state, sizeof w->state, "%s", state ? state : "");
    const char *m = PQresultErrorMessage(bad);
    snprintf(errbuf, errsize, "postgres: COPY: %s", (m && *m) ? m : "failed");
    errbuf[strcspn(errbuf, "\n")] = '\0';
    PQclear(bad);
    if (strncmp(w->state, "08", 2) == 0 || strncmp(w->state, "57P", 3) == 0) {
        w->healthy = 0;
        return TALLY_WRITER_LOST;
    }
    return TALLY_WRITER_FAILED;
}

/* COPY into a stage table, then the prepared statement stmt. */
static int copy_then(tally_writer_t *w, const char *copy_sql, const char *data, size_t len, const char *stmt,
                     char *errbuf, size_t errsize)
{
    int rc = copy_rows(w, copy_sql, data, len, errbuf, errsize);
    if (rc == TALLY_WRITER_FAILED)
        tally_pg_rollback_quietly(w->conn);
    if (rc != 0)
        return rc;
    return exec_ok(w, PQexecPrepared(w->conn, stmt, 0, NULL, NULL, NULL, 0), stmt, errbuf, errsize);
}

static void put_time(tally_textbuf_t *rows, int64_t ms)
{
    char ts[TALLY_RFC3339_SIZE];
    if (tally_rfc3339_format(ms, ts) != 0)   /* checked on the way in */
        snprintf(ts, sizeof ts, "1970-01-01T00:00:00Z");
    tally_textbuf_puts(rows, ts);
}

static void put_day(tally_textbuf_t *rows, int32_t day)
{
    char d[TALLY_DATE_SIZE];
    if (tally_date_format(day, d) != 0)      /* checked on the way in */
        snprintf(d, sizeof d, "1970-01-01");
    tally_textbuf_puts(rows, d);
}

/* One field of a COPY row: column c of the batch entry at entry. */
static void put_column(tally_textbuf_t *r, const tally_batch_t *b, const rollup_col_t *c, const char *entry)
{
    const char *at = entry + c->at;
    if (c->kind == COL_TEXT) {
        size_t off;
        memcpy(&off, at, sizeof off);
        const char *s = tally_batch_str(b, off);
        tally_textbuf_copy_field(r, s, strlen(s));
        return;
    }
    int64_t v;
    if (c->kind == COL_DAY || c->kind == COL_I32) {
        int32_t v32;
        memcpy(&v32, at, sizeof v32);
        v = v32;
    } else {
        memcpy(&v, at, sizeof v);
    }
    if (c->kind == COL_DAY)
        put_day(r, (int32_t)v);
    else if (c->kind == COL_TIME)
        put_time(r, v);
    else
        tally_textbuf_put_i64(r, v);
}

/* The n entries of table t (an array of t->entry_size each): COPY into its
 * stage, then its upsert. */
static int write_rollups(tally_writer_t *w, const tally_batch_t *b, int table, const void *entries, size_t n,
                         char *errbuf, size_t errsize)
{
    const rollup_table_t *t = &rollup_tables[table];
    tally_textbuf_t *r = &w->rows;
    tally_textbuf_reset(r);
    for (size_t i = 0; i < n; i++) {
        const char *entry = (const char *)entries + i * t->entry_size;
        for (size_t k = 0; k < t->n_cols; k++) {
            if (k > 0)
                tally_textbuf_putc(r, '\t');
            put_column(r, b, &t->cols[k], entry);
        }
        tally_textbuf_putc(r, '\n');
    }
    char copy_sql[128];
    snprintf(copy_sql, sizeof copy_sql, "COPY pg_temp.%s FROM STDIN", t->stage);
    return copy_then(w, copy_sql, r->data, r->len, t->stmt, errbuf, errsize);
}

/* The Control Panel statements in one pipeline: sent together, answered
 * together, still applied one after the other in offset order. */
static int write_cp(tally_writer_t *w, const tally_batch_t *b, char *errbuf, size_t errsize)
{
    if (PQenterPipelineMode(w->conn) != 1)
        return lost(w, "pipeline", errbuf, errsize);
    int rc = 0;
    for (size_t i = 0; i < b->n_cp && rc == 0; i++) {
        const tally_cp_event_t *e = &b->cp[i];
        const char *params[TALLY_CP_MAX_PARAMS];
        char name[32];
        for (int k = 0; k < e->nparams; k++)
            params[k] = tally_batch_str(b, e->param[k]);
        snprintf(name, sizeof name, "mat_cp_%d", (int)e->kind);
        if (PQsendQueryPrepared(w->conn, name, e->nparams, params, NULL, NULL, 0) != 1)
            return lost(w, "pipeline send", errbuf, errsize);
    }
    if (PQpipelineSync(w->conn) != 1)
        return lost(w, "pipeline sync", errbuf, errsize);
    /* Read every answer up to the sync, keeping the first failure. */
    for (;;) {
        PGresult *res = PQgetResult(w->conn);
        if (res == NULL) {
            if (PQstatus(w->conn) != CONNECTION_OK)
                return lost(w, "pipeline", errbuf, errsize);
            continue;   /* end of one query's results */
        }
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_PIPELINE_SYNC) {
            PQclear(res);
            break;
        }
        if (st == PGRES_FATAL_ERROR && PQstatus(w->conn) != CONNECTION_OK) {
            PQclear(res);
            return lost(w, "Control Panel event", errbuf, errsize);
        }
        if (rc == 0 && st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
            const char *m = PQresultErrorMessage(res);
            snprintf(errbuf, errsize, "postgres: Control Panel event: %s", (m && *m) ? m : PQresStatus(st));
            errbuf[strcspn(errbuf, "\n")] = '\0';
            rc = TALLY_WRITER_FAILED;
        }
        PQclear(res);
    }
    if (PQexitPipelineMode(w->conn) != 1)
        return lost(w, "pipeline exit", errbuf, errsize);
    if (rc != 0)
        tally_pg_rollback_quietly(w->conn);
    return rc;
}

/* The key of a product group, as the first fields of a COPY row: day,
 * event, source and version, each followed by a tab. */
static void put_group(tally_textbuf_t *r, const tally_batch_t *b, const tally_product_group_t *g)
{
    const char *event = tally_batch_str(b, g->event), *version = tally_batch_str(b, g->version);
    put_day(r, g->day);
    tally_textbuf_putc(r, '\t');
    tally_textbuf_copy_field(r, event, strlen(event));
    tally_textbuf_putc(r, '\t');
    tally_textbuf_puts(r, g->source);
    tally_textbuf_putc(r, '\t');
    tally_textbuf_copy_field(r, version, strlen(version));
    tally_textbuf_putc(r, '\t');
}

/* Product events: COPY straight into product_events, the fast path, with
 * product_daily from the batch's own aggregates. A duplicate event_id (a
 * client that sent an event twice) fails that COPY: then, back at the
 * savepoint, the slow path stages the rows and inserts them with ON
 * CONFLICT (event_id) DO NOTHING, counting only the rows it inserted. */
static int write_products(tally_writer_t *w, const tally_batch_t *b, char *errbuf, size_t errsize)
{
    int rc;
    if ((rc = exec_ok(w, PQexec(w->conn, "SAVEPOINT mat_products"), "SAVEPOINT", errbuf, errsize)) != 0)
        return rc;
    rc = copy_rows(w, w->copy_products, b->product_rows.data, b->product_rows.len, errbuf, errsize);
    if (rc == TALLY_WRITER_FAILED && strcmp(w->state, "23505") == 0) {
        if ((rc = exec_ok(w, PQexec(w->conn, "ROLLBACK TO SAVEPOINT mat_products"), "ROLLBACK TO SAVEPOINT",
                          errbuf, errsize)) != 0)
            return rc;
        return copy_then(w, "COPY pg_temp.mat_product_stage FROM STDIN", b->product_rows.data, b->product_rows.len,
                         "mat_product", errbuf, errsize);
    }
    if (rc == TALLY_WRITER_FAILED)
        tally_pg_rollback_quietly(w->conn);
    if (rc != 0)
        return rc;
    if ((rc = exec_ok(w, PQexec(w->conn, "RELEASE SAVEPOINT mat_products"), "RELEASE SAVEPOINT", errbuf,
                      errsize)) != 0)
        return rc;

    tally_textbuf_t *r = &w->rows;
    tally_textbuf_reset(r);
    for (size_t i = 0; i < b->n_groups; i++) {
        const tally_product_group_t *g = &b->groups[i];
        put_group(r, b, g);
        tally_textbuf_put_i64(r, g->events);
        tally_textbuf_putc(r, '\n');
    }
    rc = copy_rows(w, "COPY pg_temp.mat_daily_stage FROM STDIN", r->data, r->len, errbuf, errsize);
    if (rc == TALLY_WRITER_FAILED)
        tally_pg_rollback_quietly(w->conn);
    if (rc != 0)
        return rc;
    tally_textbuf_reset(r);
    for (size_t i = 0; i < b->n_installs; i++) {
        const tally_product_install_t *in = &b->installs[i];
        const char *install = tally_batch_str(b, in->install);
        put_group(r, b, &b->groups[in->group]);
        tally_textbuf_copy_field(r, install, strlen(install));
        tally_textbuf_putc(r, '\n');
    }
    return copy_then(w, "COPY pg_temp.mat_installs_stage FROM STDIN", r->data, r->len, "mat_daily", errbuf, errsize);
}

int tally_writer_write(tally_writer_t *w, const tally_batch_t *b, char *errbuf, size_t errsize)
{
    int rc;
    if (w->conn == NULL || !w->healthy) {
        snprintf(errbuf, errsize, "postgres: not connected");
        return TALLY_WRITER_LOST;
    }
    if ((rc = exec_ok(w, PQexec(w->conn, "BEGIN"), "BEGIN", errbuf, errsize)) != 0)
        return rc;
    if (b->n_progress > 0 && (rc = claim(w, b, errbuf, errsize)) != 0)
        return rc;
    if (b->n_product > 0 && (rc = write_products(w, b, errbuf, errsize)) != 0)
        return rc;
    if (b->n_api > 0 && (rc = write_rollups(w, b, ROLLUP_API, b->api, b->n_api, errbuf, errsize)) != 0)
        return rc;
    if (b->n_seat > 0 && (rc = write_rollups(w, b, ROLLUP_SEAT, b->seat, b->n_seat, errbuf, errsize)) != 0)
        return rc;
    if (b->n_cp > 0 && (rc = write_cp(w, b, errbuf, errsize)) != 0)
        return rc;
    return exec_ok(w, PQexec(w->conn, "COMMIT"), "COMMIT", errbuf, errsize);
}
