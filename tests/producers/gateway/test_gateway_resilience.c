/* tally-gateway under stress on the real broker: a SIGTERM under load loses
 * no request that was answered 202; a stopped broker gives 503 and
 * not-ready, and its return recovers without a restart. */
#include "codec.h"
#include "gateway_fixture.h"
#include "json_avro.h"
#include "schema_catalog.h"
#include "services.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOAD_THREADS 4
#define MAX_SENT 20000

typedef struct {
    const tally_test_gateway_t *gw;
    int thread;
    int acked[MAX_SENT];           /* seq numbers answered 202 */
    int n_acked;
    int product_acked;
} load_t;

static atomic_int stop_load;

static void usage_body(char *buf, size_t size, int thread, int seq)
{
    long long now = tally_test_now_ms();
    snprintf(buf, size,
             "{\"tenant_id\":\"%s\",\"environment_id\":\"%s\",\"reporter_id\":\"00000000-0000-4000-8000-%012d\","
             "\"reporter_started_at\":%lld,\"seq\":%d,\"observed_at\":%lld,\"api_calls\":%d,\"status_4xx\":0,"
             "\"status_5xx\":0,\"exec_ms\":%d}",
             TALLY_TEST_TENANT, TALLY_TEST_ENV, thread, now - 60000, seq, now, seq * 10, seq);
}

static void *load_main(void *arg)
{
    load_t *l = arg;
    char body[1024];
    for (int seq = 1; seq < MAX_SENT && !atomic_load(&stop_load); seq++) {
        usage_body(body, sizeof body, l->thread, seq);
        char url[128], auth[128];
        snprintf(url, sizeof url, "%s/v1/usage/reports", l->gw->base_url);
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", TALLY_TEST_API_KEY);
        const char *h[] = {"Content-Type: application/json", auth, NULL};
        tally_test_response_t r = tally_test_http("POST", url, h, body, strlen(body), 1);
        long st = r.status;
        tally_test_response_free(&r);
        if (st == 202)
            l->acked[l->n_acked++] = seq;
        else if (st == 0)
            break;   /* the listener is closed: the gateway is going away */
    }
    return NULL;
}

/* The (reporter thread, seq) pairs present on the topic. */
static int *read_seqs(const char *topic, size_t want, size_t *count)
{
    char err[512];
    tally_catalog_t *cat = tally_catalog_load(tally_test_source_path("schemas"), err, sizeof err);
    cr_assert_not_null(cat, "%s", err);
    tally_decoder_t *dec = tally_decoder_new(cat, tally_catalog_latest(cat, "UsageReport"));
    tally_test_record_t *recs;
    size_t n = tally_test_topic_read(topic, want, 2000, 120000, &recs);
    int *pairs = calloc(n + 1, sizeof *pairs);
    for (size_t i = 0; i < n; i++) {
        avro_value_t *v, f;
        cr_assert_eq(tally_decoder_decode(dec, recs[i].value, recs[i].len, &v, NULL, err, sizeof err), 0, "%s", err);
        const char *rid;
        size_t rl;
        int64_t seq;
        avro_value_get_by_name(v, "reporter_id", &f, NULL);
        avro_value_get_string(&f, &rid, &rl);
        avro_value_get_by_name(v, "seq", &f, NULL);
        avro_value_get_long(&f, &seq);
        pairs[i] = atoi(rid + 24) * MAX_SENT + (int)seq;
    }
    tally_test_records_free(recs, n);
    tally_decoder_free(dec);
    tally_catalog_free(cat);
    *count = n;
    return pairs;
}

static int cmp_int(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

Test(gateway_resilience, sigterm_under_load_loses_nothing_answered, .timeout = 240)
{
    tally_test_gateway_t gw;
    tally_test_gateway_start(&gw, NULL);
    static load_t loads[LOAD_THREADS];
    pthread_t th[LOAD_THREADS];
    atomic_store(&stop_load, 0);
    for (int i = 0; i < LOAD_THREADS; i++) {
        memset(&loads[i], 0, sizeof loads[i]);
        loads[i].gw = &gw;
        loads[i].thread = i;
        pthread_create(&th[i], NULL, load_main, &loads[i]);
    }
    sleep(2);
    tally_test_signal(gw.proc, SIGTERM);
    int status = tally_test_wait(gw.proc, 60000);
    atomic_store(&stop_load, 1);
    for (int i = 0; i < LOAD_THREADS; i++)
        pthread_join(th[i], NULL);
    cr_assert_eq(status, 0, "SIGTERM must drain and exit 0; log:\n%s", tally_test_log(gw.proc));
    cr_assert(strstr(tally_test_log(gw.proc), "stopped cleanly") != NULL);

    size_t acked = 0;
    for (int i = 0; i < LOAD_THREADS; i++)
        acked += (size_t)loads[i].n_acked;
    cr_assert(acked > 20, "the load must have been running (%zu answered)", acked);
    size_t n;
    int *present = read_seqs(gw.usage_topic, acked, &n);
    qsort(present, n, sizeof *present, cmp_int);
    size_t missing = 0;
    for (int i = 0; i < LOAD_THREADS; i++)
        for (int k = 0; k < loads[i].n_acked; k++) {
            int key = i * MAX_SENT + loads[i].acked[k];
            if (bsearch(&key, present, n, sizeof *present, cmp_int) == NULL)
                missing++;
        }
    cr_assert_eq(missing, 0, "%zu of %zu requests answered 202 are not in Kafka", missing, acked);
    cr_log_info("SIGTERM under load: %zu usage requests answered 202, all %zu records present", acked, n);
    free(present);
    tally_test_gateway_stop(&gw);
}

/* The private broker's port (its controller on the next one), drawn at
 * random, so that two runs at once or another private broker never
 * collide. */
static int private_port;

/* A private broker, so stopping it disturbs no other test. */
static void private_kafka(const char *cmd)
{
    char line[1024];
    snprintf(line, sizeof line,
             "TALLY_STATE=/tmp/tally-test-private-kafka-%d TALLY_BROKERS=127.0.0.1:%d %s %s >/tmp/tally-private-kafka-%d.log 2>&1",
             (int)getpid(), private_port, tally_test_source_path("deploy/local/kafka.sh"), cmd, (int)getpid());
    cr_assert_eq(system(line), 0, "kafka.sh %s failed (see /tmp/tally-private-kafka-%d.log)", cmd, (int)getpid());
}

static long get_status(const tally_test_gateway_t *gw, const char *path)
{
    char url[128];
    snprintf(url, sizeof url, "%s%s", gw->base_url, path);
    tally_test_response_t r = tally_test_http("GET", url, NULL, NULL, 0, 0);
    long st = r.status;
    tally_test_response_free(&r);
    return st;
}

static long wait_status(const tally_test_gateway_t *gw, const char *path, long want, int seconds)
{
    long st = 0;
    for (int i = 0; i < seconds * 10 && (st = get_status(gw, path)) != want; i++)
        usleep(100000);
    return st;
}

static long post_usage(const tally_test_gateway_t *gw, int seq, char *retry_after, size_t size)
{
    char body[1024];
    usage_body(body, sizeof body, 9, seq);
    tally_test_response_t r = tally_test_gateway_post(gw, "/v1/usage/reports", "application/json", TALLY_TEST_API_KEY,
                                                      body, strlen(body));
    long st = r.status;
    const char *ra = tally_test_header(&r, "Retry-After");
    snprintf(retry_after, size, "%s", ra ? ra : "");
    tally_test_response_free(&r);
    return st;
}

Test(gateway_resilience, broker_loss_gives_503_and_recovers_without_restart, .timeout = 300)
{
    char ra[32];
    char brokers[64];
    private_port = tally_test_free_ports(2);
    cr_assert_gt(private_port, 0, "no two free ports for a private broker");
    snprintf(brokers, sizeof brokers, "127.0.0.1:%d", private_port);
    setenv("TALLY_BROKERS", brokers, 1);
    private_kafka("start");
    tally_test_gateway_t gw;
    const char *args[] = {"--ack-timeout=3s", NULL};
    tally_test_gateway_start(&gw, args);

    cr_assert_eq(post_usage(&gw, 1, ra, sizeof ra), 202);
    private_kafka("stop");
    cr_assert_eq(wait_status(&gw, "/readyz", 503, 30), 503, "readiness must turn when the broker is gone");
    cr_assert_eq(get_status(&gw, "/healthz"), 200, "the process itself stays healthy");
    cr_assert_eq(post_usage(&gw, 2, ra, sizeof ra), 503, "usage cannot be acknowledged without a broker");
    cr_assert(atoi(ra) >= 1, "503 carries Retry-After");

    private_kafka("start");
    cr_assert_eq(wait_status(&gw, "/readyz", 200, 90), 200, "readiness returns with the broker");
    cr_assert_eq(post_usage(&gw, 3, ra, sizeof ra), 202, "ingest recovers without a restart");

    size_t n;
    int *present = read_seqs(gw.usage_topic, 2, &n);
    int has1 = 0, has3 = 0;
    for (size_t i = 0; i < n; i++) {
        has1 |= present[i] == 9 * MAX_SENT + 1;
        has3 |= present[i] == 9 * MAX_SENT + 3;
    }
    cr_assert(has1 && has3, "both acknowledged reports are on the topic");
    free(present);
    tally_test_gateway_stop(&gw);
    private_kafka("wipe");
}
