#include "gateway_fixture.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void tally_test_sha256_hex(const char *s, char out[65])
{
    unsigned char h[32];
    crypto_hash_sha256(h, (const unsigned char *)s, strlen(s));
    sodium_bin2hex(out, 65, h, 32);
}

long long tally_test_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void tally_test_gateway_start(tally_test_gateway_t *gw, const char *const extra_args[])
{
    char hash[65], hash2[65];
    memset(gw, 0, sizeof *gw);
    cr_assert(sodium_init() >= 0);
    tally_test_unique_name("tally.test.gw.product", gw->product_topic, sizeof gw->product_topic);
    tally_test_unique_name("tally.test.gw.usage", gw->usage_topic, sizeof gw->usage_topic);
    tally_test_unique_name("tally.test.gw.cp", gw->controlpanel_topic, sizeof gw->controlpanel_topic);
    tally_test_topic_create(gw->product_topic, 3);
    tally_test_topic_create(gw->usage_topic, 3);
    tally_test_topic_create(gw->controlpanel_topic, 3);

    snprintf(gw->keys_file, sizeof gw->keys_file, "/tmp/tally-test-keys-XXXXXX");
    int fd = mkstemp(gw->keys_file);
    cr_assert(fd >= 0);
    tally_test_sha256_hex(TALLY_TEST_API_KEY, hash);
    tally_test_sha256_hex(TALLY_TEST_API_KEY_STAGING, hash2);
    dprintf(fd, "# test keys: <sha256> <tenant> <environment> <kind>\n%s %s %s production\n%s %s env-staging staging\n",
            hash, TALLY_TEST_TENANT, TALLY_TEST_ENV, hash2, TALLY_TEST_TENANT);
    close(fd);
    snprintf(gw->optout_file, sizeof gw->optout_file, "/tmp/tally-test-optout-XXXXXX");
    fd = mkstemp(gw->optout_file);
    cr_assert(fd >= 0);
    dprintf(fd, "%s\n", TALLY_TEST_OPTED_OUT_PROJECT);
    close(fd);

    static char a[40][256];
    char *argv[64];
    int n = 0;
    snprintf(a[n], 256, "%s", tally_test_bin("tally-gateway")); argv[n] = a[n]; n++;
    snprintf(a[n], 256, "--port=0"); argv[n] = a[n]; n++;
    snprintf(a[n], 256, "--brokers=%s", tally_test_brokers()); argv[n] = a[n]; n++;
    snprintf(a[n], 256, "--product-topic=%s", gw->product_topic); argv[n] = a[n]; n++;
    snprintf(a[n], 256, "--usage-topic=%s", gw->usage_topic); argv[n] = a[n]; n++;
    snprintf(a[n], 256, "--controlpanel-topic=%s", gw->controlpanel_topic); argv[n] = a[n]; n++;
    int keys_from_pg = 0;
    for (size_t i = 0; extra_args && extra_args[i]; i++)
        keys_from_pg |= strncmp(extra_args[i], "--keys-pg-url=", 14) == 0;
    if (!keys_from_pg) {
        snprintf(a[n], 256, "--keys-file=%s", gw->keys_file); argv[n] = a[n]; n++;
    }
    snprintf(a[n], 256, "--optout-file=%s", gw->optout_file); argv[n] = a[n]; n++;
    snprintf(a[n], 256, "--admin-token=%s", TALLY_TEST_ADMIN_TOKEN); argv[n] = a[n]; n++;
    snprintf(a[n], 256, "--schemas=%s", tally_test_source_path("schemas")); argv[n] = a[n]; n++;
    snprintf(a[n], 256, "--catalog=%s", tally_test_source_path("schemas/product-events.json")); argv[n] = a[n]; n++;
    snprintf(a[n], 256, "--cors-origins=https://admin.example.com"); argv[n] = a[n]; n++;
    for (size_t i = 0; extra_args && extra_args[i] && n < 40; i++) {
        snprintf(a[n], 256, "%s", extra_args[i]);
        argv[n] = a[n];
        n++;
    }
    argv[n] = NULL;
    char line[512];
    gw->proc = tally_test_spawn(argv, "listening on", 30000, line, sizeof line);
    int port = tally_test_port_from_line(line);
    cr_assert(port > 0, "no port in: %s", line);
    gw->port = port;
    snprintf(gw->base_url, sizeof gw->base_url, "http://127.0.0.1:%d", port);
    snprintf(gw->admin_url, sizeof gw->admin_url, "%s", gw->base_url);
    const char *env_admin = getenv("TALLY_ADMIN_PORT");
    if (env_admin && atoi(env_admin) > 0)
        snprintf(gw->admin_url, sizeof gw->admin_url, "http://127.0.0.1:%d", atoi(env_admin));
    for (size_t i = 0; extra_args && extra_args[i]; i++)
        if (strncmp(extra_args[i], "--admin-port=", 13) == 0 && atoi(extra_args[i] + 13) > 0)
            snprintf(gw->admin_url, sizeof gw->admin_url, "http://127.0.0.1:%d", atoi(extra_args[i] + 13));
    /* Ready once the producer reached the broker. */
    char url[128];
    snprintf(url, sizeof url, "%s/readyz", gw->admin_url);
    for (int i = 0; i < 300; i++) {
        tally_test_response_t r = tally_test_http("GET", url, NULL, NULL, 0, 0);
        long st = r.status;
        tally_test_response_free(&r);
        if (st == 200)
            return;
        usleep(100000);
    }
    cr_assert_fail("gateway never became ready");
}

void tally_test_gateway_stop(tally_test_gateway_t *gw)
{
    int st = 0, timed_out = 0;
    if (gw->proc) {
        /* A no-op when a test stopped it already: its status stays. */
        tally_test_signal(gw->proc, SIGTERM);
        timed_out = tally_test_wait(gw->proc, 30000) < 0;
        st = tally_test_raw_status(gw->proc);
        if (timed_out || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fprintf(stderr, "gateway_fixture: the gateway's log:\n%s\n", tally_test_log(gw->proc));
        tally_test_proc_free(gw->proc);   /* kills it on a timeout */
        gw->proc = NULL;
    }
    unlink(gw->keys_file);
    unlink(gw->optout_file);
    /* A gateway that crashed, hung, or exited with a sanitizer's exit code
     * (a leak report at exit) fails the test that used it. Most suites stop
     * it in their .fini, where Criterion reports a failed assertion but
     * still counts the test as passed: abort, which it counts as a crash. */
    if (timed_out) {
        fprintf(stderr, "gateway_fixture: FAILED: the gateway did not exit within 30 s of SIGTERM\n");
        abort();
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "gateway_fixture: FAILED: the gateway %s %d after SIGTERM, not exit status 0\n",
                WIFSIGNALED(st) ? "died of signal" : "exited with status",
                WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
        abort();
    }
}

int tally_test_gateway_terminate(tally_test_gateway_t *gw, int timeout_ms)
{
    tally_test_signal(gw->proc, SIGTERM);
    return tally_test_wait(gw->proc, timeout_ms);
}

int tally_test_gateway_connect(const tally_test_gateway_t *gw, const char *source)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in sa;
    if (source) {
        memset(&sa, 0, sizeof sa);
        sa.sin_family = AF_INET;
        cr_assert_eq(inet_pton(AF_INET, source, &sa.sin_addr), 1, "not an IPv4 address: %s", source);
        cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0, "bind %s: %s", source, strerror(errno));
    }
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)gw->port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0, "connect: %s", strerror(errno));
    return fd;
}

void tally_test_usage_report(char *buf, size_t size, long long seq, long long api_calls, long long status_4xx,
                             long long status_5xx, long long exec_ms)
{
    long long now = tally_test_now_ms();
    snprintf(buf, size,
             "{\"tenant_id\":\"%s\",\"environment_id\":\"%s\",\"reporter_id\":\"2f1c9a4e-8b7d-4c3a-9e21-5d6f7a8b9c0d\","
             "\"reporter_started_at\":%lld,\"seq\":%lld,\"observed_at\":%lld,\"api_calls\":%lld,"
             "\"status_4xx\":%lld,\"status_5xx\":%lld,\"exec_ms\":%lld}",
             TALLY_TEST_TENANT, TALLY_TEST_ENV, now - 3600000, seq, now - 500, api_calls, status_4xx, status_5xx,
             exec_ms);
}

tally_test_response_t tally_test_gateway_post(const tally_test_gateway_t *gw, const char *path, const char *ctype,
                                              const char *auth, const void *body, size_t len)
{
    char url[256], ct[128], au[512];
    const char *headers[3] = {NULL, NULL, NULL};
    int h = 0;
    snprintf(url, sizeof url, "%s%s", gw->base_url, path);
    if (ctype) {
        snprintf(ct, sizeof ct, "Content-Type: %s", ctype);
        headers[h++] = ct;
    }
    if (auth) {
        snprintf(au, sizeof au, "Authorization: Bearer %s", auth);
        headers[h++] = au;
    }
    return tally_test_http("POST", url, headers, body, len, 0);
}

tally_test_response_t tally_test_gateway_post_usage(const tally_test_gateway_t *gw, const char *body)
{
    return tally_test_gateway_post(gw, "/v1/usage/reports", "application/json", TALLY_TEST_API_KEY, body,
                                   strlen(body));
}

void tally_test_gateway_expect_usage_served(const tally_test_gateway_t *gw, const char *while_what)
{
    char body[1024];
    tally_test_usage_report(body, sizeof body, 7, 100, 1, 1, 50);
    long long start = tally_test_mono_ms();
    tally_test_response_t r = tally_test_gateway_post_usage(gw, body);
    long long took = tally_test_mono_ms() - start;
    cr_expect_eq(r.status, 202, "%s: a usage report got %ld %s", while_what, r.status, r.body);
    cr_expect_lt(took, 1000, "%s: a usage report took %lld ms", while_what, took);
    cr_log_info("%s: a usage report on a fresh connection: %ld in %lld ms", while_what, r.status, took);
    tally_test_response_free(&r);
}
