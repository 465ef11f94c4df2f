/* Least privilege on a migrated database, each role logged in as itself
 * (the local server trusts 127.0.0.1, as deploy/local/postgres.sh sets it
 * up; production adds passwords or certificates):
 *   tally_materializer  the real tally-materializer keeps the read model with
 *                       it (migrations applied by the superuser beforehand),
 *                       and it cannot change the schema, the views or the
 *                       migration history;
 *   tally_gateway       reads its key view tally.gateway_keys, no table
 *                       (tally.members, tally.api_keys...) and no other
 *                       view, writes nothing;
 *   tally_reader        reads the Control Panel views and the console's
 *                       (0009) and the token hashes (tally.console_tokens),
 *                       nothing else, writes nothing. */
#include "mat_fixture.h"

#include <signal.h>

#define T0 INT64_C(1709251200000)   /* 2024-03-01T00:00:00Z */
#define HOUR INT64_C(3600000)
#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static mat_env_t env;

static void setup(void)
{
    mat_env_create(&env, 1);
    mat_migrate(env.conn);
}

static void teardown(void)
{
    mat_env_destroy(&env);
}

TestSuite(roles, .init = setup, .fini = teardown, .timeout = 120);

/* URL of the test database as role (static buffer). */
static const char *url_as(const char *role)
{
    static char url[512];
    const char *host = getenv("TALLY_PG_HOST"), *port = getenv("TALLY_PG_PORT");
    snprintf(url, sizeof url, "postgresql://%s@%s:%s/%s", role, host && *host ? host : "127.0.0.1",
             port && *port ? port : "55432", env.db);
    return url;
}

static PGconn *login(const char *role)
{
    char err[512];
    PGconn *c = tally_pg_connect(url_as(role), "tally-test-roles", err, sizeof err);
    cr_assert_not_null(c, "%s cannot log in: %s", role, err);
    cr_assert_str_eq(mat_text(c, "SELECT current_user"), role);
    cr_assert_str_eq(mat_text(c, "SELECT rolsuper::text FROM pg_roles WHERE rolname = current_user"), "false");
    return c;
}

/* Runs sql as c and expects "permission denied" (42501). */
static void refused(PGconn *c, const char *who, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    cr_assert_eq(PQresultStatus(r), PGRES_FATAL_ERROR, "%s may run: %s", who, sql);
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    cr_assert_str_eq(state ? state : "?", "42501", "%s: %s: %s", who, sql, PQresultErrorMessage(r));
    PQclear(r);
}

static void allowed(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    cr_assert(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK, "%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
}

/* Every relation of schema tally of the given relkinds ('r' tables, 'v'
 * views), as "tally.name"; returns the count (at most max). */
static int relations(char names[][96], int max, const char *kinds)
{
    PGresult *r = PQexec(env.conn, kinds[0] == 'v'
                                       ? "SELECT 'tally.' || relname FROM pg_class WHERE relnamespace = "
                                         "'tally'::regnamespace AND relkind = 'v' ORDER BY 1"
                                       : "SELECT 'tally.' || relname FROM pg_class WHERE relnamespace = "
                                         "'tally'::regnamespace AND relkind IN ('r', 'p') ORDER BY 1");
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQresultErrorMessage(r));
    int n = PQntuples(r);
    cr_assert_leq(n, max);
    for (int i = 0; i < n; i++)
        snprintf(names[i], sizeof names[i], "%s", PQgetvalue(r, i, 0));
    PQclear(r);
    return n;
}

/* The Control Panel's views (0004) and the console's (0009, 0012: the
 * alerts only through these two views, never tally.alerts itself). */
static const char *const control_panel_views[] = {"tally.monthly_usage", "tally.monthly_seats",
                                                  "tally.compliance_detail", "tally.compliance",
                                                  "tally.product_analytics_daily", "tally.console_tenants",
                                                  "tally.console_environments", "tally.console_members",
                                                  "tally.console_license_terms", "tally.console_usage_daily",
                                                  "tally.console_seats_daily", "tally.console_alerts",
                                                  "tally.console_open_alerts"};
#define N_CP_VIEWS (sizeof control_panel_views / sizeof control_panel_views[0])

static bool is_cp_view(const char *name)
{
    for (size_t i = 0; i < N_CP_VIEWS; i++)
        if (strcmp(name, control_panel_views[i]) == 0)
            return true;
    return false;
}

/* The tables tally-replay export reads, which the console's downloads run
 * as tally_reader (0010); tally.members and tally.api_keys are not among them. */
static bool is_export_table(const char *name)
{
    static const char *const tables[] = {"tally.tenants", "tally.api_usage_daily", "tally.seat_usage_daily",
                                         "tally.kafka_offsets"};
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
        if (strcmp(name, tables[i]) == 0)
            return true;
    return false;
}

/* A role that may change nothing at all: no row of any table, no object in
 * any schema, no temporary table. */
static void writes_nothing(PGconn *c, const char *who)
{
    char tables[64][96], q[8192];
    int n = relations(tables, 64, "r");
    cr_assert_geq(n, 12, "the read model has its tables");
    for (int i = 0; i < n; i++) {
        snprintf(q, sizeof q, "INSERT INTO %s DEFAULT VALUES", tables[i]);
        refused(c, who, q);
        snprintf(q, sizeof q, "UPDATE %s SET %s = NULL", tables[i],
                 mat_text(env.conn, "SELECT attname FROM pg_attribute WHERE attrelid = '%s'::regclass AND "
                                    "attnum = 1", tables[i]));
        refused(c, who, q);
        snprintf(q, sizeof q, "DELETE FROM %s", tables[i]);
        refused(c, who, q);
        snprintf(q, sizeof q, "TRUNCATE %s", tables[i]);
        refused(c, who, q);
    }
    refused(c, who, "CREATE TABLE tally.intruder (x int)");
    refused(c, who, "CREATE TABLE public.intruder (x int)");
    refused(c, who, "CREATE TEMP TABLE intruder (x int)");
    refused(c, who, "CREATE OR REPLACE VIEW tally.compliance AS SELECT 1 AS x");
}

Test(roles, reader_reads_the_views_and_writes_nothing)
{
    /* Rows everywhere, so a refusal cannot be mistaken for an empty table. */
    mat_exec(env.conn, "INSERT INTO tally.license_terms VALUES ('t', '2024-01-01', '2024-12-31', 1, 1, 1, '{}', "
                       "now())");
    mat_exec(env.conn, "INSERT INTO tally.api_usage_daily VALUES ('t', 'prod', '2024-01-02', 5, 0, 0, 0, now(), 0, "
                       "0)");
    mat_exec(env.conn, "INSERT INTO tally.alerts VALUES ('a1e70000-0000-4000-8000-000000000001', 't', NULL, "
                       "'MONTHLY_API_CALLS', 80, 8, 10, '2024-01', 'TRIGGERED', now(), 0, 0)");
    PGconn *c = login("tally_reader");
    for (size_t i = 0; i < N_CP_VIEWS; i++)
        cr_assert_eq(mat_scalar(c, "SELECT count(*) FROM %s", control_panel_views[i]),
                     mat_scalar(env.conn, "SELECT count(*) FROM %s", control_panel_views[i]),
                     "tally_reader sees every row of %s", control_panel_views[i]);
    cr_assert_eq(mat_scalar(c, "SELECT api_calls FROM tally.monthly_usage"), 5);
    cr_assert_str_eq(mat_text(c, "SELECT status FROM tally.compliance"), "over");
    mat_exec(env.conn, "INSERT INTO tally.console_tokens (tenant_id, token_id, revoked_at) VALUES "
                       "('t', '11111111-1111-4111-8111-111111111111', now())");
    cr_assert_eq(mat_scalar(c, "SELECT count(*) FROM tally.console_tokens"), 1);
    char rels[64][96], q[8192];
    int n = relations(rels, 64, "r");
    for (int i = 0; i < n; i++) {
        if (strcmp(rels[i], "tally.console_tokens") == 0)
            continue;   /* the console signs members in with it (0008) */
        if (strcmp(rels[i], "tally.licenses") == 0) {
            /* members see their licenses, staff every one (0011) */
            cr_assert_eq(mat_scalar(c, "SELECT count(*) FROM %s", rels[i]), 0);
            continue;
        }
        if (is_export_table(rels[i])) {
            /* the console's downloads read these (0010): no personal data in them */
            cr_assert_eq(mat_scalar(c, "SELECT count(*) FROM %s", rels[i]),
                         mat_scalar(env.conn, "SELECT count(*) FROM %s", rels[i]), "tally_reader reads %s", rels[i]);
            continue;
        }
        if (is_export_table(rels[i])) {
            /* the console's downloads (0010): no personal data in them */
            cr_assert_eq(mat_scalar(c, "SELECT count(*) FROM %s", rels[i]),
                         mat_scalar(env.conn, "SELECT count(*) FROM %s", rels[i]), "tally_reader reads %s", rels[i]);
            continue;
        }
        snprintf(q, sizeof q, "SELECT 1 FROM %s", rels[i]);
        refused(c, "tally_reader", q);
    }
    n = relations(rels, 64, "v");
    for (int i = 0; i < n; i++) {
        if (is_cp_view(rels[i]))
            continue;
        snprintf(q, sizeof q, "SELECT 1 FROM %s", rels[i]);   /* e.g. the gateway's key view */
        refused(c, "tally_reader", q);
    }
    writes_nothing(c, "tally_reader");
    PQfinish(c);
}

Test(roles, materializer_keeps_the_read_model_and_nothing_more)
{
    mat_producer_t p;
    long long counts[3] = {0, 0, 0};
    mat_producer_open(&p);
    const char *ru = env.topics[0], *pr = env.topics[1], *cp = env.topics[2];
    mat_cp_tenant(&p, cp, "acme", T0, "Acme Corp"), counts[2]++;
    mat_cp_environment(&p, cp, "acme", T0 + 1, "prod", "Production", 0), counts[2]++;
    mat_cp_license(&p, cp, "acme", T0 + 2, MAT_DAY(2024, 3, 1), MAT_DAY(2025, 2, 28), 10, 1000, 100), counts[2]++;
    mat_cp_member(&p, cp, "acme", T0 + 3, "m1", 1), counts[2]++;
    mat_cp_key(&p, cp, "acme", T0 + 4, "k1", "prod", SHA_A), counts[2]++;
    mat_send_api(&p, ru, "acme", "prod", MAT_DAY(2024, 3, 10), 500, 3, 1, 5000, T0 + 10 * HOUR), counts[0]++;
    mat_send_seat(&p, ru, "acme", MAT_DAY(2024, 3, 10), 6, 9, T0 + 10 * HOUR), counts[0]++;
    char id[40];
    mat_uuid(id, 77);
    mat_send_product(&p, pr, id, 0, "cli.command", T0 + 10 * HOUR, "i1", "1.2.0", NULL, NULL), counts[1]++;
    mat_producer_flush(&p);

    /* The superuser migrated (setup); the materializer only writes rows. */
    char pg_url[600];
    snprintf(pg_url, sizeof pg_url, "--pg-url=%s", url_as("tally_materializer"));
    tally_test_proc_t *proc =
        mat_start(&env, env.db, env.group, (const char *const[]){pg_url, "--no-apply-migrations", NULL}, NULL);
    mat_wait_caught_up(env.conn, &env, env.group, counts, 60000);
    cr_assert_str_eq(mat_text(env.conn, "SELECT concat_ws(' ', tenant_name, api_calls_month_peak, seats_peak, "
                                        "status) FROM tally.compliance"),
                     "Acme Corp 500 9 warning");
    cr_assert_eq(mat_scalar(env.conn, "SELECT count(*) FROM tally.api_keys WHERE key_sha256 = '" SHA_A "'"), 1);
    cr_assert_eq(mat_scalar(env.conn, "SELECT count(*) FROM tally.members"), 1);
    cr_assert_eq(mat_scalar(env.conn, "SELECT events FROM tally.product_daily"), 1);
    cr_assert(strstr(tally_test_log(proc), "permission denied") == NULL, "log:\n%s", tally_test_log(proc));
    tally_test_signal(proc, SIGTERM);
    cr_assert_eq(tally_test_wait(proc, 30000), 0, "log:\n%s", tally_test_log(proc));
    tally_test_proc_free(proc);

    /* Nothing beyond its rows: no schema change, no view, no history, no
     * grant to anyone. */
    PGconn *c = login("tally_materializer");
    allowed(c, "SELECT count(*) FROM tally.kafka_offsets");
    refused(c, "tally_materializer", "DROP TABLE tally.api_usage_daily");
    refused(c, "tally_materializer", "ALTER TABLE tally.members ADD COLUMN x int");
    refused(c, "tally_materializer", "CREATE TABLE tally.intruder (x int)");
    refused(c, "tally_materializer", "CREATE TABLE public.intruder (x int)");
    refused(c, "tally_materializer", "CREATE OR REPLACE VIEW tally.compliance AS SELECT 1 AS x");
    refused(c, "tally_materializer", "DROP VIEW tally.monthly_usage");
    allowed(c, "GRANT SELECT ON tally.members TO tally_reader");   /* a warning: no grant option */
    cr_assert_str_eq(mat_text(env.conn, "SELECT has_table_privilege('tally_reader', 'tally.members', 'SELECT')::text"),
                     "false");
    refused(c, "tally_materializer", "DELETE FROM tally.schema_migrations");
    refused(c, "tally_materializer", "INSERT INTO tally.schema_migrations VALUES ('9999_x.sql', 'x', now())");
    refused(c, "tally_materializer", "TRUNCATE tally.api_usage_daily");
    PQfinish(c);
    mat_producer_close(&p);
}

Test(roles, gateway_reads_its_key_view_and_nothing_else)
{
    mat_exec(env.conn, "INSERT INTO tally.tenants VALUES ('t', 'T', now())");
    mat_exec(env.conn, "INSERT INTO tally.environments VALUES ('t', 'prod', 'prod', 'production', 'o', now(), NULL)");
    mat_exec(env.conn, "INSERT INTO tally.api_keys (tenant_id, key_id, environment_id, key_sha256, issued_at) VALUES "
                       "('t', 'k1', 'prod', '" SHA_A "', now())");
    mat_exec(env.conn, "INSERT INTO tally.members VALUES ('t', 'm1', 'Ada', 'Lovelace', 'ada@example.com', 'owner', "
                       "now(), NULL)");
    PGconn *c = login("tally_gateway");
    cr_assert_str_eq(mat_text(c, "SELECT tenant_id || ' ' || environment_id || ' ' || key_sha256 FROM "
                                 "tally.gateway_keys"),
                     "t prod " SHA_A);
    char rels[64][96], q[8192];
    int n = relations(rels, 64, "r");
    for (int i = 0; i < n; i++) {
        snprintf(q, sizeof q, "SELECT 1 FROM %s", rels[i]);   /* tally.members and tally.api_keys among them */
        refused(c, "tally_gateway", q);
    }
    n = relations(rels, 64, "v");
    for (int i = 0; i < n; i++) {
        if (strcmp(rels[i], "tally.gateway_keys") == 0)
            continue;
        snprintf(q, sizeof q, "SELECT 1 FROM %s", rels[i]);   /* the Control Panel's views too */
        refused(c, "tally_gateway", q);
    }
    writes_nothing(c, "tally_gateway");
    PQfinish(c);
}
