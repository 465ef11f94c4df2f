#include "fixtures.h"

#include "kafka.h"
#include "kafka_topics.h"
#include "pg.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int counter;

long long tally_test_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return (v && *v) ? v : fallback;
}

const char *tally_test_brokers(void)
{
    return env_or("TALLY_BROKERS", "127.0.0.1:19092");
}

const char *tally_test_pg_url(const char *db)
{
    static char url[512];
    snprintf(url, sizeof url, "postgresql://postgres@%s:%s/%s", env_or("TALLY_PG_HOST", "127.0.0.1"),
             env_or("TALLY_PG_PORT", "55432"), db);
    return url;
}

void tally_test_unique_name(const char *prefix, char *out, size_t size)
{
    /* pids come round while earlier runs' topics still hold records: add
     * a random part drawn once per process. */
    static unsigned run_id;
    if (run_id == 0) {
        FILE *f = fopen("/dev/urandom", "rb");
        if (f == NULL || fread(&run_id, sizeof run_id, 1, f) != 1)
            run_id = (unsigned)time(NULL);
        if (f)
            fclose(f);
        run_id = run_id % 1000000u + 1;
    }
    snprintf(out, size, "%s_%d_%u_%d", prefix, (int)getpid(), run_id, ++counter);
}

void tally_test_unique_name2(const char *prefix, const char *suffix, char *out, size_t size)
{
    char p[160];
    snprintf(p, sizeof p, "%s%s", prefix, suffix);
    tally_test_unique_name(p, out, size);
}

PGconn *tally_test_db_create(const char *prefix, char *name, size_t namesize)
{
    char err[512], sql[256];
    tally_test_unique_name(prefix, name, namesize);
    PGconn *admin = tally_pg_connect(tally_test_pg_url("postgres"), "tally-test", err, sizeof err);
    cr_assert_not_null(admin, "PostgreSQL must run (tests/run.sh starts it): %s", err);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    cr_assert_eq(tally_pg_exec(admin, sql, err, sizeof err), 0, "%s", err);
    PQfinish(admin);
    PGconn *conn = tally_pg_connect(tally_test_pg_url(name), "tally-test", err, sizeof err);
    cr_assert_not_null(conn, "%s", err);
    return conn;
}

void tally_test_db_drop(PGconn *conn, const char *name)
{
    char err[512], sql[256];
    PQfinish(conn);
    PGconn *admin = tally_pg_connect(tally_test_pg_url("postgres"), "tally-test", err, sizeof err);
    if (admin == NULL)
        return;
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    if (tally_pg_exec(admin, sql, err, sizeof err) != 0)
        fprintf(stderr, "drop %s: %s\n", name, err);
    PQfinish(admin);
}

void tally_test_topic_create(const char *topic, int partitions)
{
    char err[512];
    tally_topic_list_t list = {0};
    tally_topic_spec_t spec;
    memset(&spec, 0, sizeof spec);
    snprintf(spec.name, sizeof spec.name, "%s", topic);
    spec.partitions = partitions;
    spec.retention_ms = 3600000;
    snprintf(spec.cleanup_policy, sizeof spec.cleanup_policy, "delete");
    list.topics = &spec;
    list.count = 1;
    rd_kafka_conf_t *conf = tally_kafka_conf_new(TALLY_KAFKA_PRODUCER, tally_test_brokers(),
                                                 "tally-test-admin", NULL, NULL, err, sizeof err);
    cr_assert_not_null(conf, "%s", err);
    rd_kafka_t *rk = tally_kafka_new(TALLY_KAFKA_PRODUCER, conf, err, sizeof err);
    cr_assert_not_null(rk, "%s", err);
    cr_assert_eq(tally_kafka_wait_ready(rk, 30000, err, sizeof err), 0,
                 "Kafka must run (tests/run.sh starts it): %s", err);
    cr_assert_eq(tally_topics_ensure(rk, &list, 30000, NULL, err, sizeof err), 0, "%s", err);
    rd_kafka_destroy(rk);
}

const char *tally_test_source_path(const char *relative)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/%s", env_or("TALLY_SOURCE_DIR", "."), relative);
    return path;
}
