#include "pipeline_fixture.h"

#include "fixtures.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static tally_test_proc_t *spawn(const char *name, char *const extra[])
{
    static char a[32][512];
    char *argv[33];
    int n = 0;
    snprintf(a[n], sizeof a[n], "%s", tally_test_bin(name)), argv[n] = a[n], n++;
    snprintf(a[n], sizeof a[n], "--brokers=%s", tally_test_brokers()), argv[n] = a[n], n++;
    snprintf(a[n], sizeof a[n], "--schemas=%s", tally_test_source_path("schemas")), argv[n] = a[n], n++;
    snprintf(a[n], sizeof a[n], "--admin-port=0"), argv[n] = a[n], n++;
    for (int i = 0; extra[i] && n < 32; i++)
        snprintf(a[n], sizeof a[n], "%s", extra[i]), argv[n] = a[n], n++;
    argv[n] = NULL;
    return tally_test_spawn(argv, NULL, 0, NULL, 0);
}

#define A(...) (snprintf(x[k], sizeof x[k], __VA_ARGS__), ex[k] = x[k], k++)

void tally_test_pipeline_start(tally_test_pipeline_t *p)
{
    char x[16][512];
    char *ex[17];
    int k;
    memset(p, 0, sizeof *p);
    cr_assert(sodium_init() >= 0);
    tally_test_unique_name2("tally.test.pipe", ".usage", p->usage, sizeof p->usage);
    tally_test_unique_name2("tally.test.pipe", ".product", p->product, sizeof p->product);
    tally_test_unique_name2("tally.test.pipe", ".rollups", p->rollups, sizeof p->rollups);
    tally_test_unique_name2("tally.test.pipe", ".changelog", p->changelog, sizeof p->changelog);
    tally_test_unique_name2("tally.test.pipe", ".dlq", p->dlq, sizeof p->dlq);
    tally_test_unique_name("tally-test-pipe", p->group, sizeof p->group);
    const char *topics[] = {p->usage, p->product, p->rollups, p->changelog, p->dlq};
    for (size_t i = 0; i < sizeof topics / sizeof topics[0]; i++)
        tally_test_topic_create(topics[i], 3);
    p->pg = tally_test_db_create("tally_test_pipe", p->db, sizeof p->db);

    /* The materializer first: it applies the migrations, which the
     * gateway's key reader needs; the gateway then writes its Control
     * Panel events to the topic the materializer reads (a later
     * --controlpanel-topic wins over the fixture's). */
    tally_test_unique_name2("tally.test.pipe", ".cp", p->controlpanel, sizeof p->controlpanel);
    tally_test_topic_create(p->controlpanel, 3);
    k = 0;
    A("--group=%s-mat", p->group);
    A("--pg-url=%s", tally_test_pg_url(p->db));
    A("--rollups-topic=%s", p->rollups);
    A("--product-topic=%s", p->product);
    A("--controlpanel-topic=%s", p->controlpanel);
    A("--alerts-topic=");   /* no notifier here: never the shared tally.alerts */
    A("--dlq-topic=%s", p->dlq);
    A("--migrations=%s", tally_test_source_path("deploy/postgres/migrations"));
    ex[k] = NULL;
    p->materializer = spawn("tally-materializer", ex);
    const char *v = tally_test_pipeline_wait_value(
        p, "select to_regclass('tally.gateway_keys') is not null and to_regclass('tally.compliance') is not null",
        "t", 60000);
    cr_assert_str_eq(v, "t", "the materializer did not apply the migrations within 60 s; its log:\n%s",
                     tally_test_log(p->materializer));

    char keys_url[300], cp_arg[160];
    snprintf(keys_url, sizeof keys_url, "--keys-pg-url=postgresql://tally_gateway@%s:%s/%s",
             getenv("TALLY_PG_HOST") ? getenv("TALLY_PG_HOST") : "127.0.0.1",
             getenv("TALLY_PG_PORT") ? getenv("TALLY_PG_PORT") : "55432", p->db);
    snprintf(cp_arg, sizeof cp_arg, "--controlpanel-topic=%s", p->controlpanel);
    /* Events of the last weeks are accepted (the test sends this month's). */
    const char *gw_args[] = {keys_url, "--keys-refresh=500ms", cp_arg, "--max-event-age=1000h", NULL};
    tally_test_gateway_start(&p->gw, gw_args);

    char pseudonym[80];
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(pseudonym, 65, raw, sizeof raw);
    snprintf(p->pseudonym_file, sizeof p->pseudonym_file, "/tmp/tally-test-pseudonym-XXXXXX");
    int fd = mkstemp(p->pseudonym_file);
    cr_assert_geq(fd, 0);
    dprintf(fd, "1 %s\n", pseudonym);
    close(fd);
    k = 0;
    A("--group=%s-anon", p->group);
    A("--transactional-id-prefix=%s-anon", p->group);
    A("--instance-id=1");
    A("--key-file=%s", p->pseudonym_file);
    A("--catalog=%s", tally_test_source_path("schemas/product-events.json"));
    A("--product-raw-topic=%s", p->gw.product_topic);
    A("--usage-raw-topic=%s", p->gw.usage_topic);
    A("--product-topic=%s", p->product);
    A("--usage-topic=%s", p->usage);
    A("--dlq-topic=%s", p->dlq);
    ex[k] = NULL;
    p->anonymizer = spawn("tally-anonymizer", ex);
    k = 0;
    A("--group=%s-agg", p->group);
    A("--transactional-id-prefix=%s-agg", p->group);
    A("--instance-id=1");
    A("--usage-topic=%s", p->usage);
    A("--rollups-topic=%s", p->rollups);
    A("--changelog-topic=%s", p->changelog);
    A("--dlq-topic=%s", p->dlq);
    ex[k] = NULL;
    p->aggregator = spawn("tally-aggregator", ex);
}

#undef A

void tally_test_pipeline_post(tally_test_pipeline_t *p, const char *path, const char *auth, const char *body)
{
    tally_test_response_t r =
        tally_test_gateway_post(&p->gw, path, "application/x-ndjson", auth, body, strlen(body));
    cr_assert(r.status == 202 || r.status == 200, "POST %s: %ld %s", path, r.status, r.body);
    tally_test_response_free(&r);
}

const char *tally_test_pipeline_value(tally_test_pipeline_t *p, const char *sql)
{
    static char out[4096];
    PGresult *res = PQexec(p->pg, sql);
    cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(p->pg));
    snprintf(out, sizeof out, "%s", PQntuples(res) > 0 ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
    return out;
}

const char *tally_test_pipeline_wait_value(tally_test_pipeline_t *p, const char *sql, const char *want,
                                           int timeout_ms)
{
    long long deadline = tally_test_mono_ms() + timeout_ms;
    for (;;) {
        const char *v = tally_test_pipeline_value(p, sql);
        if (strcmp(v, want) == 0 || tally_test_mono_ms() >= deadline)
            return v;
        usleep(200000);
    }
}

static void stop_proc(tally_test_proc_t **pp, const char *name)
{
    if (*pp == NULL)
        return;
    tally_test_signal(*pp, SIGTERM);
    int st = tally_test_wait(*pp, 30000);
    if (st != 0)
        fprintf(stderr, "pipeline_fixture: %s exited with %d after SIGTERM; its log:\n%s\n", name, st,
                tally_test_log(*pp));
    tally_test_proc_free(*pp);
    *pp = NULL;
}

void tally_test_pipeline_stop(tally_test_pipeline_t *p)
{
    stop_proc(&p->aggregator, "tally-aggregator");
    stop_proc(&p->anonymizer, "tally-anonymizer");
    if (p->gw.proc)
        tally_test_gateway_stop(&p->gw);
    stop_proc(&p->materializer, "tally-materializer");
    if (p->pseudonym_file[0])
        unlink(p->pseudonym_file);
    if (p->db[0])
        tally_test_db_drop(p->pg, p->db);
    p->pg = NULL;
    p->db[0] = '\0';
}
