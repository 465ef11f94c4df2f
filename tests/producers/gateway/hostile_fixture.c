/* The fixture of the hostile-client suites of tally-gateway
 * (hostile_fixture.h). */
#define _GNU_SOURCE /* strcasestr */
#include "gateway_fixture.h"
#include "textbuf.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "hostile_fixture.h"

tally_test_gateway_t gw;
int gw_port;

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    cr_assert_not_null(p);
    return p;
}

void buf_fill(tally_textbuf_t *b, char c, size_t n)
{
    char block[4096];
    memset(block, c, sizeof block);
    while (n > 0) {
        size_t k = n < sizeof block ? n : sizeof block;
        tally_textbuf_append(b, block, k);
        n -= k;
    }
}

char *expand(const char *t, size_t *len)
{
    long long now = tally_test_now_ms(), year = 365LL * 86400000;
    struct {
        const char *name;
        char value[64];
    } vars[] = {
        {"%NOW%", ""}, {"%STARTED%", ""}, {"%FUTURE%", ""}, {"%PAST%", ""}, {"%SECS%", ""},
        {"%MICROS%", ""}, {"%MARK%", MARK}, {"%TENANT%", TALLY_TEST_TENANT}, {"%ENV%", TALLY_TEST_ENV},
    };
    snprintf(vars[0].value, sizeof vars[0].value, "%lld", now - 1000);
    snprintf(vars[1].value, sizeof vars[1].value, "%lld", now - 3600000);
    snprintf(vars[2].value, sizeof vars[2].value, "%lld", now + 10 * year);
    snprintf(vars[3].value, sizeof vars[3].value, "%lld", now - 10 * year);
    snprintf(vars[4].value, sizeof vars[4].value, "%lld", now / 1000);
    snprintf(vars[5].value, sizeof vars[5].value, "%lld", now * 1000);
    tally_textbuf_t b = {0};
    tally_textbuf_append(&b, "", 0);
    for (const char *p = t; *p;) {
        size_t i;
        for (i = 0; i < sizeof vars / sizeof vars[0]; i++)
            if (strncmp(p, vars[i].name, strlen(vars[i].name)) == 0)
                break;
        if (i < sizeof vars / sizeof vars[0]) {
            tally_textbuf_puts(&b, vars[i].value);
            p += strlen(vars[i].name);
        } else {
            tally_textbuf_append(&b, p, 1);
            p++;
        }
    }
    if (len)
        *len = b.len;
    return b.data;
}

void expect_no_secret(const char *what, const char *text)
{
    const char *secrets[] = {MARK, TALLY_TEST_API_KEY, TALLY_TEST_API_KEY_STAGING, TALLY_TEST_ADMIN_TOKEN,
                             "127.0.0.1"};
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
        cr_expect_null(strstr(text, secrets[i]), "%s: the answer echoes %s: %s", what, secrets[i], text);
}

void expect_error_body(const char *what, long status, const char *body, const char *ctype, long want,
                       const char *error, const char *detail, size_t rejected)
{
    cr_expect_eq(status, want, "%s: status %ld, want %ld: %s", what, status, want, body);
    expect_no_secret(what, body);
    if (error == NULL)
        return;
    cr_expect(ctype && strncasecmp(ctype, "application/json", 16) == 0, "%s: Content-Type %s", what,
              ctype ? ctype : "(none)");
    json_error_t je;
    json_t *j = json_loads(body, 0, &je);
    cr_expect_not_null(j, "%s: the answer is not JSON: %s", what, body);
    if (j == NULL)
        return;
    const char *e = json_string_value(json_object_get(j, "error"));
    const char *d = json_string_value(json_object_get(j, "detail"));
    cr_expect(e && strcmp(e, error) == 0, "%s: error \"%s\", want \"%s\"", what, e ? e : "(none)", error);
    cr_expect(d && *d, "%s: no detail: %s", what, body);
    if (detail)
        cr_expect(d && strstr(d, detail), "%s: detail \"%s\" does not mention \"%s\"", what, d ? d : "", detail);
    if (want == 422) {
        /* A refused batch says what was accepted (nothing) and why each one failed. */
        cr_expect_eq(json_integer_value(json_object_get(j, "accepted")), 0, "%s: %s", what, body);
        json_t *rej = json_object_get(j, "rejected");
        cr_expect(json_array_size(rej) >= 1, "%s: %s", what, body);
        if (rejected)
            cr_expect_eq(json_array_size(rej), rejected, "%s: %s", what, body);
        size_t i;
        json_t *it;
        json_array_foreach(rej, i, it) {
            cr_expect_eq(json_integer_value(json_object_get(it, "index")), (json_int_t)i, "%s: %s", what, body);
            cr_expect(json_is_string(json_object_get(it, "error")), "%s: %s", what, body);
        }
    }
    json_decref(j);
}

void expect_healthy(const char *after)
{
    char url[128];
    snprintf(url, sizeof url, "%s/healthz", gw.base_url);
    tally_test_response_t r = tally_test_http("GET", url, NULL, NULL, 0, 1);
    cr_expect_eq(r.status, 200, "the gateway is not healthy after %s", after);
    tally_test_response_free(&r);
}

/* ---- the end: nothing produced, nothing leaked ---------------------------- */

static void expect_topic_empty(const char *topic)
{
    tally_test_record_t *recs;
    size_t n = tally_test_topic_read(topic, 0, 3000, 15000, &recs);
    cr_expect_eq(n, 0, "%zu record(s) reached %s", n, topic);
    tally_test_records_free(recs, n);
}

static void expect_clean_log(const char *log)
{
    const char *secrets[] = {MARK, TALLY_TEST_API_KEY, TALLY_TEST_API_KEY_STAGING, TALLY_TEST_ADMIN_TOKEN,
                             "AddressSanitizer", "LeakSanitizer", "runtime error:", "UndefinedBehaviorSanitizer"};
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
        cr_expect_null(strstr(log, secrets[i]), "the gateway log holds \"%s\":\n%s", secrets[i], log);
    /* The client address: only the gateway's own listen line (and the
     * broker's address, which is no client's) may mention 127.0.0.1. */
    char listen[64], broker[128];
    snprintf(listen, sizeof listen, "listening on 127.0.0.1:%d,", gw_port);
    snprintf(broker, sizeof broker, "%s", tally_test_brokers());
    int listen_lines = 0;
    for (const char *line = log; *line;) {
        size_t n = strcspn(line, "\n");
        char *copy = strndup(line, n);
        if (strstr(copy, listen)) {
            listen_lines++;
        } else {
            for (char *at = strstr(copy, "127.0.0.1"); at; at = strstr(at + 1, "127.0.0.1"))
                cr_expect(strncmp(at, broker, strlen(broker)) == 0, "a client address in the log: %s", copy);
        }
        free(copy);
        line += n + (line[n] == '\n');
    }
    cr_expect_eq(listen_lines, 1, "the listen line appears %d times", listen_lines);
}

void hostile_start(void)
{
    /* The corpus's many 401s from one address would hit the limit of
     * failed authentications (test_gateway_auth tests it). */
    const char *args[] = {"--timeout=2s", "--max-batch=50", "--rate=100000", "--burst=100000",
                          "--auth-failures=100000", NULL};
    tally_test_gateway_start(&gw, args);
    gw_port = atoi(strrchr(gw.base_url, ':') + 1);
}

void hostile_finish(void)
{
    /* The metrics agree: nothing accepted on any route. */
    char url[128];
    snprintf(url, sizeof url, "%s/metrics", gw.base_url);
    tally_test_response_t r = tally_test_http("GET", url, NULL, NULL, 0, 0);
    cr_expect_eq(r.status, 200);
    for (const char *p = r.body; (p = strstr(p, "tally_gateway_events_accepted_total{")) != NULL; p++)
        cr_expect_eq(atoi(strchr(p, '}') + 2), 0, "accepted: %.80s", p);
    tally_test_response_free(&r);

    /* Stop it cleanly: it flushes its producer, so whatever it accepted is
     * in the topics now, and a sanitizer's leak report comes at exit. */
    tally_test_signal(gw.proc, SIGTERM);
    int status = tally_test_wait(gw.proc, 30000);
    cr_expect_eq(status, 0, "the gateway exited with %d", status);
    expect_topic_empty(gw.product_topic);
    expect_topic_empty(gw.usage_topic);
    expect_topic_empty(gw.controlpanel_topic);
    expect_clean_log(tally_test_log(gw.proc)); /* the fixture's reader had seconds to drain the pipe */
    tally_test_gateway_stop(&gw);
}
