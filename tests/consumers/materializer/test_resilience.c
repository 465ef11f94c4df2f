/* tally-materializer under failure, on the real broker and PostgreSQL: kill
 * -9 at moments while batches are in flight, and PostgreSQL connections
 * killed and refused mid-stream; afterwards every table equals the expected
 * one exactly: nothing lost, nothing counted twice. /readyz shows the
 * outage. A real server restart runs only when TALLY_TEST_DISRUPTIVE=1
 * (tests/run.sh serial mode): it would break other suites' connections. */
#include "mat_fixture.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#define T0 INT64_C(1709251200000)   /* 2024-03-01T00:00:00Z */
#define DAY_MS INT64_C(86400000)
#define N_EVENTS 24000               /* product events, DUP_EVERY of them sent twice */
#define DUP_EVERY 40
#define N_KEYS 40                     /* API rollup keys */
#define N_UPDATES 60                  /* updates per key */

static mat_env_t env;

static void setup(void)
{
    mat_env_create(&env, 3);
}

static void teardown(void)
{
    mat_env_destroy(&env);
}

TestSuite(resilience, .init = setup, .fini = teardown, .timeout = 150);

/* The stream, in `parts` slices (slice k of parts): product events (every
 * DUP_EVERY-th sent twice), rollup updates with values rising per key,
 * seat rollups, Control Panel events. */
static void produce_slice(mat_producer_t *p, int k, int parts, long long counts[3])
{
    char id[40], install[32], event[32], envid[32];
    for (int i = k * N_EVENTS / parts; i < (k + 1) * N_EVENTS / parts; i++) {
        mat_uuid(id, i);
        snprintf(install, sizeof install, "inst%d", i % 97);
        snprintf(event, sizeof event, "cli.e%d", i % 4);
        const char *version = i % 5 == 0 ? NULL : (i % 3 ? "1.1.0" : "1.2.0");
        const char *props[] = {"n", install, NULL};
        int64_t at = T0 + (i % 3) * DAY_MS + i;
        mat_send_product(p, env.topics[1], id, i % 2, event, at, install, version, props, NULL), counts[1]++;
        if (i % DUP_EVERY == 0)
            mat_send_product(p, env.topics[1], id, i % 2, event, at, install, version, props, NULL), counts[1]++;
    }
    for (int j = k * N_UPDATES / parts; j < (k + 1) * N_UPDATES / parts; j++)
        for (int key = 0; key < N_KEYS; key++) {
            snprintf(envid, sizeof envid, "env%d", key);
            int64_t v = (int64_t)j * N_KEYS + key;
            mat_send_api(p, env.topics[0], "acme", envid, MAT_DAY(2024, 3, 1 + key % 5), v, v / 10, v / 100, v * 3,
                         T0 + j * 1000), counts[0]++;
        }
    for (int j = k * N_UPDATES / parts; j < (k + 1) * N_UPDATES / parts; j++)
        mat_send_seat(p, env.topics[0], "acme", MAT_DAY(2024, 3, 1), j % 7, j, T0 + j * 1000), counts[0]++;
    for (int j = k * 20 / parts; j < (k + 1) * 20 / parts; j++) {
        char member[16];
        snprintf(member, sizeof member, "m%d", j % 5);
        mat_cp_member(p, env.topics[2], "acme", T0 + j, member, j < 15), counts[2]++;
    }
}

/* Every table as the stream says it must be. */
static void assert_exact(PGconn *c)
{
    int distinct = N_EVENTS;
    cr_assert_eq(mat_scalar(c, "SELECT count(*) FROM tally.product_events"), distinct);
    cr_assert_eq(mat_scalar(c, "SELECT count(DISTINCT event_id) FROM tally.product_events"), distinct);
    /* product_daily counted each event and install exactly once: it equals
     * the aggregate of the events themselves, both ways. */
    static const char agg[] =
        "SELECT (occurred_at AT TIME ZONE 'UTC')::date AS day, event, source, coalesce(version, '') AS version, "
        "count(*) AS events, count(DISTINCT install_ref) AS installs FROM tally.product_events GROUP BY 1, 2, 3, 4";
    cr_assert_eq(mat_scalar(c, "SELECT count(*) FROM (%s EXCEPT SELECT * FROM tally.product_daily) x", agg), 0);
    cr_assert_eq(mat_scalar(c, "SELECT count(*) FROM (SELECT * FROM tally.product_daily EXCEPT %s) x", agg), 0);
    cr_assert_eq(mat_scalar(c, "SELECT sum(events) FROM tally.product_daily"), distinct);
    /* Rollups: each key holds its last value. */
    cr_assert_eq(mat_scalar(c, "SELECT count(*) FROM tally.api_usage_daily"), N_KEYS);
    cr_assert_eq(mat_scalar(c, "SELECT count(*) FROM tally.api_usage_daily WHERE api_calls <> %d * %d + "
                               "substr(environment_id, 4)::int OR exec_ms <> 3 * api_calls OR status_4xx <> "
                               "api_calls / 10", N_UPDATES - 1, N_KEYS), 0);
    cr_assert_str_eq(mat_text(c, "SELECT seats_in_use || '/' || seats_peak FROM tally.seat_usage_daily"), "3/59");
    /* Members m0..m4 added, then m0..m4 removed by the last five events. */
    cr_assert_eq(mat_scalar(c, "SELECT count(*) FROM tally.members WHERE removed_at IS NULL"), 0);
    cr_assert_eq(mat_scalar(c, "SELECT count(*) FROM tally.members"), 5);
}

static long long stored_total(PGconn *c, const char *group)
{
    PGresult *r = PQexec(c, "SELECT 1");
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        PQreset(c);
    PQclear(r);
    return mat_scalar(c, "SELECT coalesce(sum(next_offset), 0) FROM tally.kafka_offsets WHERE consumer_group = '%s'",
                      group);
}

Test(resilience, kill9_mid_batch_then_tables_exact)
{
    mat_producer_t p;
    long long counts[3] = {0, 0, 0};
    mat_producer_open(&p);
    produce_slice(&p, 0, 1, counts);
    mat_producer_flush(&p);
    long long total = counts[0] + counts[1] + counts[2];
    /* Static membership: a restarted instance takes its partitions back at
     * once instead of after the dead one's session timeout. */
    char instance[128];
    snprintf(instance, sizeof instance, "group.instance.id=%s-1", env.group);
    const char *const small[] = {"--batch-max-records=700", "-X", instance, NULL};

    /* Kill at three points of the stream, each while batches are written. */
    const double points[] = {0.15, 0.45, 0.75};
    for (size_t k = 0; k < sizeof points / sizeof points[0]; k++) {
        tally_test_proc_t *proc = mat_start(&env, env.db, env.group, small, NULL);
        long long before = stored_total(env.conn, env.group), seen;
        for (int waited = 0; (seen = stored_total(env.conn, env.group)) < (long long)(points[k] * total);
             waited += 2) {
            cr_assert(waited < 60000, "no progress: %lld of %lld", seen, total);
            usleep(2000);
        }
        tally_test_signal(proc, SIGKILL);
        cr_assert_eq(tally_test_wait(proc, 10000), 128 + SIGKILL);
        tally_test_proc_free(proc);
        cr_assert_lt(seen, total, "killed after everything was written: not a mid-stream kill");
        cr_assert_gt(seen, before);
    }
    tally_test_proc_t *proc = mat_start(&env, env.db, env.group, small, NULL);
    mat_wait_caught_up(env.conn, &env, env.group, counts, 90000);
    assert_exact(env.conn);
    tally_test_signal(proc, SIGTERM);
    cr_assert_eq(tally_test_wait(proc, 30000), 0);
    tally_test_proc_free(proc);
    mat_producer_close(&p);
}

/* Produces the stream slowly in the background while the test breaks things. */
typedef struct {
    mat_producer_t p;
    long long counts[3];
    atomic_int done;
} feeder_t;

static void *feed(void *arg)
{
    feeder_t *f = arg;
    for (int k = 0; k < 40; k++) {
        produce_slice(&f->p, k, 40, f->counts);
        mat_producer_flush(&f->p);
        usleep(100 * 1000);
    }
    atomic_store(&f->done, 1);
    return NULL;
}

/* The server's clock at the last kill (µs since the epoch): a backend that
 * started before it is the one just killed, still on its way out. */
static long long last_kill_us;

/* Terminates the materializer's backends; returns how many were signalled
 * (pg_terminate_backend true; a backend gone meanwhile counts for nothing). */
static int terminate_backends(PGconn *c, const char *group)
{
    last_kill_us = mat_scalar(c, "SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint");
    return (int)mat_scalar(c, "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                              "WHERE application_name = 'tally-materializer/%s'", group);
}

/* Waits until the materializer holds a connection opened after the last
 * kill (it reconnects after one), so that the next kill has one to cut:
 * the killed backend may linger in pg_stat_activity for a moment, and
 * counting it made a kill find nothing to cut. */
static void wait_connected(PGconn *c, const char *group, int timeout_ms)
{
    long long n = 0;
    for (int waited = 0; waited < timeout_ms; waited += 10) {
        n = mat_scalar(c, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'tally-materializer/%s' "
                          "AND backend_start > to_timestamp(%lld / 1000000.0)", group, last_kill_us);
        if (n > 0)
            return;
        usleep(10 * 1000);
    }
    cr_assert_fail("the materializer did not reconnect within %d ms", timeout_ms);
}

static void wait_ready(int port, long want, int timeout_ms, const char *needle)
{
    char body[1024];
    long st = 0;
    for (int waited = 0; waited < timeout_ms; waited += 50) {
        st = mat_http_status(port, "/readyz", body, sizeof body);
        if (st == want && (needle == NULL || strstr(body, needle) != NULL))
            return;
        usleep(50 * 1000);
    }
    cr_assert_fail("/readyz did not answer %ld within %d ms: %ld %s", want, timeout_ms, st, body);
}

Test(resilience, postgres_connections_lost_mid_stream_then_tables_exact)
{
    static feeder_t f;
    memset(&f, 0, sizeof f);
    mat_producer_open(&f.p);
    int port;
    tally_test_proc_t *proc = mat_start(&env, env.db, env.group, (const char *const[]){"--batch-max-records=500", NULL},
                                        &port);
    wait_ready(port, 200, 10000, NULL);
    pthread_t th;
    pthread_create(&th, NULL, feed, &f);

    /* Connections killed under load, several times: some land inside a
     * transaction, some inside COMMIT. Each kill must cut a connection. */
    for (int i = 0; i < 6; i++) {
        long long before = stored_total(env.conn, env.group);
        for (int waited = 0; stored_total(env.conn, env.group) == before && waited < 20000; waited += 10)
            usleep(10 * 1000);
        usleep((useconds_t)(i * 37 % 100) * 1000);
        wait_connected(env.conn, env.group, 20000);
        int cut = terminate_backends(env.conn, env.group);
        cr_assert_geq(cut, 1, "kill %d found no connection of the materializer", i);
    }
    /* Then an outage: the database refuses connections for a while (set
     * from another database: one cannot lock itself out). */
    char sql[256], err[512];
    PGconn *admin = tally_pg_connect(tally_test_pg_url("postgres"), "tally-test", err, sizeof err);
    cr_assert_not_null(admin, "%s", err);
    wait_connected(env.conn, env.group, 20000);
    snprintf(sql, sizeof sql, "ALTER DATABASE %s ALLOW_CONNECTIONS false", env.db);
    mat_exec(admin, sql);
    /* Its live connection is cut and it cannot open another. */
    int cut = terminate_backends(env.conn, env.group);
    cr_assert_geq(cut, 1, "the outage cut no connection of the materializer");
    wait_ready(port, 503, 15000, "postgres");
    sleep(2);
    wait_ready(port, 503, 1000, "postgres");
    snprintf(sql, sizeof sql, "ALTER DATABASE %s ALLOW_CONNECTIONS true", env.db);
    mat_exec(admin, sql);
    PQfinish(admin);
    wait_ready(port, 200, 30000, NULL);

    pthread_join(th, NULL);
    mat_wait_caught_up(env.conn, &env, env.group, f.counts, 90000);
    assert_exact(env.conn);
    char body[16384];
    cr_assert_eq(mat_http_status(port, "/metrics", body, sizeof body), 200);
    cr_assert(strstr(body, "tally_materializer_postgres_failures_total 0\n") == NULL, "failures counted:\n%s", body);
    tally_test_signal(proc, SIGTERM);
    cr_assert_eq(tally_test_wait(proc, 30000), 0, "log:\n%s", tally_test_log(proc));
    tally_test_proc_free(proc);
    mat_producer_close(&f.p);
}

/* Its own suite: a skipped test creates no database or topics. */
Test(disruptive, postgres_server_restart_mid_stream, .timeout = 240)
{
    const char *on = getenv("TALLY_TEST_DISRUPTIVE");
    if (on == NULL || strcmp(on, "1") != 0)
        TALLY_TEST_SKIP("restarts the shared PostgreSQL server: only with TALLY_TEST_DISRUPTIVE=1 (tests/run.sh serial)");
    setup();
    static feeder_t f;
    memset(&f, 0, sizeof f);
    mat_producer_open(&f.p);
    int port;
    tally_test_proc_t *proc = mat_start(&env, env.db, env.group, (const char *const[]){"--batch-max-records=500", NULL},
                                        &port);
    pthread_t th;
    pthread_create(&th, NULL, feed, &f);
    for (int waited = 0; stored_total(env.conn, env.group) == 0; waited += 10) {
        cr_assert(waited < 20000);
        usleep(10 * 1000);
    }
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' stop >/dev/null 2>&1", tally_test_source_path("deploy/local/postgres.sh"));
    cr_assert_eq(system(cmd), 0);
    wait_ready(port, 503, 15000, "postgres");
    sleep(3);
    snprintf(cmd, sizeof cmd, "'%s' start >/dev/null 2>&1", tally_test_source_path("deploy/local/postgres.sh"));
    cr_assert_eq(system(cmd), 0);
    PQreset(env.conn);
    wait_ready(port, 200, 60000, NULL);
    pthread_join(th, NULL);
    mat_wait_caught_up(env.conn, &env, env.group, f.counts, 90000);
    assert_exact(env.conn);
    tally_test_signal(proc, SIGTERM);
    cr_assert_eq(tally_test_wait(proc, 30000), 0);
    tally_test_proc_free(proc);
    mat_producer_close(&f.p);
    teardown();
}
