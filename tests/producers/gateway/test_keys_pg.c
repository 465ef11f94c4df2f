/* producers/gateway/keys from the real PostgreSQL (the view
 * tally.gateway_keys, read as tally_gateway; keys_pg.c): only active keys
 * of existing environments and tenants are served, with their kind; a
 * failed, unreachable or hung database keeps the previous table, gives up
 * at the deadline and recovers, and never holds up free. */
#include "keys.h"
#include "keys_fixture.h"

#include "fixtures.h"
#include "log.h"
#include "pg.h"
#include "pg_migrate.h"
#include "tcp_proxy.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TestSuite(keys, .init = keys_setup, .fini = keys_teardown);

/* ---- PostgreSQL -------------------------------------------------------- */

static char db[128];
static PGconn *conn;

static void pg_setup(void)
{
    int applied = 0;
    conn = tally_test_db_create("tally_test_keys", db, sizeof db);
    cr_assert_eq(tally_migrate_apply(conn, tally_test_source_path("deploy/postgres/migrations"),
                                     &applied, errbuf, sizeof errbuf),
                 0, "%s", errbuf);
    cr_assert_geq(applied, 2);
}

static void pg_teardown(void)
{
    tally_test_db_drop(conn, db);
}

static void pg_run(const char *sql)
{
    cr_assert_eq(tally_pg_exec(conn, sql, errbuf, sizeof errbuf), 0, "%s: %s", sql, errbuf);
}

/* An environment of kind kind (created if new, with its tenant), and a key
 * of it. */
static void pg_insert_key_of(const char *key_id, const char *key, const char *tenant_id, const char *env_id,
                             const char *kind, bool revoked)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "INSERT INTO tally.tenants (tenant_id, name, registered_at) VALUES ('%s', '%s', now()) "
             "ON CONFLICT DO NOTHING;"
             "INSERT INTO tally.environments (tenant_id, environment_id, name, kind, owner, created_at) "
             "VALUES ('%s', '%s', '%s', '%s', 'owner', now()) ON CONFLICT DO NOTHING;"
             "INSERT INTO tally.api_keys (key_id, tenant_id, environment_id, key_sha256, "
             "issued_at, revoked_at) VALUES ('%s', '%s', '%s', '%s', now(), %s)",
             tenant_id, tenant_id, tenant_id, env_id, env_id, kind, key_id, tenant_id, env_id, hex_of(key),
             revoked ? "now()" : "NULL");
    pg_run(sql);
}

static void pg_insert_key(const char *key_id, const char *key, const char *tenant_id,
                          const char *env_id, bool revoked)
{
    pg_insert_key_of(key_id, key, tenant_id, env_id, "production", revoked);
}

Test(keys, postgres_source_serves_active_keys_only, .init = pg_setup, .fini = pg_teardown,
     .timeout = 60)
{
    pg_insert_key("k1", KEY1, "acme", "prod", false);
    pg_insert_key("k2", KEY2, "acme", "staging", true);
    pg_insert_key("k3", KEY3, "globex", "dev", false);
    tally_keys_t *keys = tally_keys_new_postgres(tally_test_pg_url(db));
    cr_assert_eq(lookup(keys, "Bearer " KEY1), TALLY_KEYS_UNAVAILABLE);
    cr_assert_eq(tally_keys_refresh(keys, errbuf, sizeof errbuf), 0, "%s", errbuf);

    cr_assert_eq(lookup(keys, "Bearer " KEY1), TALLY_KEYS_OK);
    cr_assert_str_eq(tenant, "acme");
    cr_assert_str_eq(env, "prod");
    cr_assert_eq(lookup(keys, "Bearer " KEY2), TALLY_KEYS_UNKNOWN, "a revoked key was accepted");
    cr_assert_eq(lookup(keys, "Bearer " KEY3), TALLY_KEYS_OK);
    cr_assert_str_eq(tenant, "globex");
    cr_assert_str_eq(env, "dev");

    /* Revoking k1 and issuing k4 take effect at the next refresh. */
    pg_run("UPDATE tally.api_keys SET revoked_at = now() WHERE key_id = 'k1'");
    pg_insert_key("k4", KEY_PADDED, "acme", "prod", false);
    cr_assert_eq(lookup(keys, "Bearer " KEY1), TALLY_KEYS_OK, "cache changed before refresh");
    cr_assert_eq(tally_keys_refresh(keys, errbuf, sizeof errbuf), 0, "%s", errbuf);
    cr_assert_eq(lookup(keys, "Bearer " KEY1), TALLY_KEYS_UNKNOWN);
    cr_assert_eq(lookup(keys, "Bearer " KEY_PADDED), TALLY_KEYS_OK);
    cr_assert_str_eq(env, "prod");

    tally_keys_stats_t st;
    tally_keys_stats(keys, &st);
    cr_assert_eq(st.active, 2);
    tally_keys_free(keys);
}

Test(keys, postgres_failure_keeps_the_table_and_recovers, .init = pg_setup,
     .fini = pg_teardown, .timeout = 60)
{
    pg_insert_key("k1", KEY1, "acme", "prod", false);
    tally_keys_t *keys = tally_keys_new_postgres(tally_test_pg_url(db));
    cr_assert_eq(tally_keys_refresh(keys, errbuf, sizeof errbuf), 0, "%s", errbuf);

    pg_run("ALTER VIEW tally.gateway_keys RENAME TO gateway_keys_moved");
    cr_assert_eq(tally_keys_refresh(keys, errbuf, sizeof errbuf), -1);
    cr_assert(strstr(errbuf, "gateway_keys") != NULL, "%s", errbuf);
    cr_assert_eq(lookup(keys, "Bearer " KEY1), TALLY_KEYS_OK, "failed refresh lost the table");
    pg_run("ALTER VIEW tally.gateway_keys_moved RENAME TO gateway_keys");
    pg_insert_key("k2", KEY2, "acme", "staging", false);
    cr_assert_eq(tally_keys_refresh(keys, errbuf, sizeof errbuf), 0, "%s", errbuf);
    cr_assert_eq(lookup(keys, "Bearer " KEY2), TALLY_KEYS_OK);

    /* The server ends the gateway's session: at worst one refresh fails,
     * then it reconnects; the keys stay served throughout. */
    PGresult *res = PQexec(conn, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE application_name = 'tally-gateway-keys' "
                                 "AND datname = current_database()");
    cr_assert_eq(tally_pg_check(res, conn, errbuf, sizeof errbuf), 0, "%s", errbuf);
    cr_assert_eq(PQntuples(res), 1, "the gateway's session was not found");
    PQclear(res);
    pg_insert_key("k3", KEY3, "globex", "dev", false);
    int rc = tally_keys_refresh(keys, errbuf, sizeof errbuf);
    cr_assert_eq(lookup(keys, "Bearer " KEY2), TALLY_KEYS_OK);
    if (rc != 0)
        rc = tally_keys_refresh(keys, errbuf, sizeof errbuf);
    cr_assert_eq(rc, 0, "%s", errbuf);
    cr_assert_eq(lookup(keys, "Bearer " KEY3), TALLY_KEYS_OK);
    tally_keys_free(keys);
}

Test(keys, postgres_unreachable_is_an_error_and_nothing_is_served, .timeout = 60)
{
    tally_keys_t *keys =
        tally_keys_new_postgres("postgresql://postgres@127.0.0.1:1/tally?connect_timeout=2");
    cr_assert_eq(tally_keys_refresh(keys, errbuf, sizeof errbuf), -1);
    cr_assert(strstr(errbuf, "cannot connect") != NULL, "%s", errbuf);
    cr_assert_eq(lookup(keys, "Bearer " KEY1), TALLY_KEYS_UNAVAILABLE);
    tally_keys_free(keys);
}

Test(keys, postgres_keys_of_deleted_environments_and_unknown_tenants_are_refused, .init = pg_setup,
     .fini = pg_teardown, .timeout = 60)
{
    pg_insert_key("k1", KEY1, "acme", "prod", false);
    pg_insert_key("k2", KEY2, "acme", "old", false);
    pg_run("UPDATE tally.environments SET deleted_at = now() WHERE environment_id = 'old'");
    /* A key whose tenant or environment is not (yet) known. */
    pg_run("INSERT INTO tally.api_keys (key_id, tenant_id, environment_id, key_sha256, issued_at) "
           "VALUES ('k3', 'nobody', 'prod', '" "0000000000000000000000000000000000000000000000000000000000000003"
           "', now())");
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO tally.api_keys (key_id, tenant_id, environment_id, key_sha256, issued_at) "
             "VALUES ('k4', 'acme', 'never-created', '%s', now())", hex_of(KEY3));
    pg_run(sql);
    tally_keys_t *keys = tally_keys_new_postgres(tally_test_pg_url(db));
    cr_assert_eq(tally_keys_refresh(keys, errbuf, sizeof errbuf), 0, "%s", errbuf);
    cr_assert_eq(lookup(keys, "Bearer " KEY1), TALLY_KEYS_OK);
    cr_assert_eq(lookup(keys, "Bearer " KEY2), TALLY_KEYS_UNKNOWN, "the key of a deleted environment was accepted");
    cr_assert_eq(lookup(keys, "Bearer " KEY3), TALLY_KEYS_UNKNOWN, "a key of no environment was accepted");

    /* Deleting the environment revokes its keys at the next refresh. */
    pg_run("UPDATE tally.environments SET deleted_at = now() WHERE environment_id = 'prod'");
    cr_assert_eq(tally_keys_refresh(keys, errbuf, sizeof errbuf), 0, "%s", errbuf);
    cr_assert_eq(lookup(keys, "Bearer " KEY1), TALLY_KEYS_UNKNOWN, "deleted environment, key still valid");
    tally_keys_stats_t st;
    tally_keys_stats(keys, &st);
    cr_assert_eq(st.active, 0);
    tally_keys_free(keys);
}

/* A database that accepts the connection and never answers: stopping the
 * refresh thread (what SIGTERM does) must not wait for it. */
Test(keys, postgres_hung_refresh_does_not_hold_up_free, .timeout = 30)
{
    tally_test_proxy_t *hole = tally_test_proxy_start(0);
    char url[128];
    snprintf(url, sizeof url, "postgresql://postgres@127.0.0.1:%d/tally", tally_test_proxy_port(hole));
    tally_keys_t *keys = tally_keys_new_postgres(url);
    cr_assert_eq(tally_keys_start_refresh(keys, 10, errbuf, sizeof errbuf), 0, "%s", errbuf);
    usleep(300000);   /* the first refresh now waits for an answer */
    long long t0 = tally_test_mono_ms();
    tally_keys_free(keys);
    long long took = tally_test_mono_ms() - t0;
    cr_assert_lt(took, 1000, "stopping during a hung refresh took %lld ms", took);
    cr_log_info("stopping during a hung refresh took %lld ms", took);
    tally_test_proxy_stop(hole);
}

Test(keys, postgres_kinds_come_from_the_view, .init = pg_setup, .fini = pg_teardown, .timeout = 60)
{
    pg_insert_key_of("k1", KEY1, "acme", "prod", "production", false);
    pg_insert_key_of("k2", KEY2, "acme", "stage", "staging", false);
    pg_insert_key_of("k3", KEY3, "acme", "dev", "development", false);
    tally_keys_t *keys = tally_keys_new_postgres(tally_test_pg_url(db));
    cr_assert_eq(tally_keys_refresh(keys, errbuf, sizeof errbuf), 0, "%s", errbuf);
    expect_kind(keys, KEY1, TALLY_KEYS_PRODUCTION);
    expect_kind(keys, KEY2, TALLY_KEYS_STAGING);
    expect_kind(keys, KEY3, TALLY_KEYS_DEVELOPMENT);
    tally_keys_free(keys);
}

Test(keys, postgres_tally_gateway_role_reads_the_view_only, .init = pg_setup, .fini = pg_teardown, .timeout = 60)
{
    pg_insert_key("k1", KEY1, "acme", "prod", false);
    char url[1024];
    snprintf(url, sizeof url, "%s", tally_test_pg_url(db));
    char *at = strstr(url, "postgres@");
    cr_assert_not_null(at, "%s", url);
    memmove(at + strlen("tally_gateway@"), at + strlen("postgres@"), strlen(at + strlen("postgres@")) + 1);
    memcpy(at, "tally_gateway@", strlen("tally_gateway@"));
    tally_keys_t *keys = tally_keys_new_postgres(url);
    cr_assert_eq(tally_keys_refresh(keys, errbuf, sizeof errbuf), 0, "as tally_gateway: %s", errbuf);
    cr_assert_eq(lookup(keys, "Bearer " KEY1), TALLY_KEYS_OK);
    tally_keys_free(keys);

    PGconn *gw = tally_pg_connect(url, "tally-test", errbuf, sizeof errbuf);
    cr_assert_not_null(gw, "%s", errbuf);
    const char *denied[] = {"SELECT count(*) FROM tally.api_keys", "SELECT count(*) FROM tally.environments",
                            "SELECT count(*) FROM tally.tenants", "SELECT count(*) FROM tally.members",
                            "SELECT count(*) FROM tally.monthly_usage",
                            "UPDATE tally.api_keys SET revoked_at = NULL"};
    for (size_t i = 0; i < sizeof denied / sizeof denied[0]; i++) {
        PGresult *res = PQexec(gw, denied[i]);
        cr_expect_eq(PQresultStatus(res), PGRES_FATAL_ERROR, "tally_gateway may run: %s", denied[i]);
        cr_expect(strstr(PQresultErrorMessage(res), "permission denied") != NULL, "%s: %s", denied[i],
                  PQresultErrorMessage(res));
        PQclear(res);
    }
    PQfinish(gw);
    /* Nor may the Control Panel's reader see key hashes. */
    pg_run("SET ROLE tally_reader");
    PGresult *res = PQexec(conn, "SELECT count(*) FROM tally.gateway_keys");
    cr_expect(strstr(PQresultErrorMessage(res), "permission denied") != NULL, "tally_reader reads the key view");
    PQclear(res);
    pg_run("RESET ROLE");
}

Test(keys, postgres_refresh_on_a_hung_database_gives_up_at_the_deadline, .init = pg_setup, .fini = pg_teardown,
     .timeout = 60)
{
    tally_test_proxy_t *hole = tally_test_proxy_start(0);
    char url[256];
    snprintf(url, sizeof url, "postgresql://postgres@127.0.0.1:%d/tally", tally_test_proxy_port(hole));
    tally_keys_t *keys = tally_keys_new_postgres(url);
    tally_keys_configure(keys, &(tally_keys_limits_t){.timeout_ms = 500, .max_stale_ms = 0});
    long long t0 = tally_test_mono_ms();
    cr_assert_eq(tally_keys_refresh(keys, errbuf, sizeof errbuf), -1);
    long long took = tally_test_mono_ms() - t0;
    cr_assert(took >= 450 && took < 1500, "gave up after %lld ms", took);
    cr_assert(strstr(errbuf, "no answer within 500 ms") != NULL, "%s", errbuf);
    tally_keys_free(keys);
    tally_test_proxy_stop(hole);

    /* A working session whose server then hangs. */
    pg_insert_key("k1", KEY1, "acme", "prod", false);
    const char *port = getenv("TALLY_PG_PORT");
    tally_test_proxy_t *proxy = tally_test_proxy_start(atoi(port ? port : "55432"));
    snprintf(url, sizeof url, "postgresql://postgres@127.0.0.1:%d/%s", tally_test_proxy_port(proxy), db);
    keys = tally_keys_new_postgres(url);
    tally_keys_configure(keys, &(tally_keys_limits_t){.timeout_ms = 500, .max_stale_ms = 0});
    cr_assert_eq(tally_keys_refresh(keys, errbuf, sizeof errbuf), 0, "%s", errbuf);
    tally_test_proxy_freeze(proxy);
    t0 = tally_test_mono_ms();
    cr_assert_eq(tally_keys_refresh(keys, errbuf, sizeof errbuf), -1);
    took = tally_test_mono_ms() - t0;
    cr_assert(took >= 450 && took < 1500, "gave up after %lld ms", took);
    cr_assert_eq(lookup(keys, "Bearer " KEY1), TALLY_KEYS_OK, "the last table is kept");
    tally_keys_free(keys);
    tally_test_proxy_stop(proxy);
}
