#include "gateway_fixture.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void sha256_hex(const char *s, char out[65])
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
    sha256_hex(TALLY_TEST_API_KEY, hash);
    sha256_hex(TALLY_TEST_API_KEY_STAGING, hash2);
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
    snprintf(gw->base_url, sizeof gw->base_url, "http://127.0.0.1:%d", port);
    /* Ready once the producer reached the broker. */
    char url[128];
    snprintf(url, sizeof url, "%s/readyz", gw->base_url);
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
    if (gw->proc) {
        tally_test_signal(gw->proc, SIGTERM);
        if (tally_test_wait(gw->proc, 30000) < 0)
            tally_test_signal(gw->proc, SIGKILL);
        tally_test_proc_free(gw->proc);
        gw->proc = NULL;
    }
    unlink(gw->keys_file);
    unlink(gw->optout_file);
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
