/* The issuer killed (SIGKILL) between signing a license and handing it
 * out, on the real pipeline (license_pipeline.h), twice:
 *   1. before the gateway's acknowledgement: the gateway is a black hole
 *      (tests/support/tcp_proxy.h), so the console has signed and waits
 *      for an answer that never comes;
 *   2. after it: the gateway took LicenseIssued (it is in the topic) and
 *      the console waits for its row, which cannot come while the
 *      materializer is stopped.
 * Each time no file was handed out, and the retry with the same
 * Idempotency-Key through a restarted console gives exactly one license:
 * one row in tally.licenses, one LicenseIssued event of that id in the
 * log, a file that `tally license verify` accepts and whose payload is the
 * row's. The kills are counted and asserted. */
#include "license_pipeline.h"

#include "license.h"
#include "tcp_proxy.h"

#include <pthread.h>
#include <signal.h>

static lic_env_t e;
static int kills;

TestSuite(console_license_kill, .timeout = 300);

typedef struct {
    const char *key;
    long status;    /* 0: no answer (the console died) */
    size_t len;
} request_t;

/* The member's POST, on its own thread (the test kills the console
 * meanwhile); no assertion here, only the outcome. */
static void *post_thread(void *arg)
{
    request_t *q = arg;
    tally_test_response_t r = lic_post(&e, "/api/v1/licenses", "application/json", e.member_token, NULL, q->key, "{}",
                                       NULL);
    q->status = r.status;
    q->len = r.len;
    tally_test_response_free(&r);
    return NULL;
}

static void kill_console(void)
{
    cr_assert_eq(tally_test_signal(e.c.proc, SIGKILL), 0, "the console was not running");
    cr_assert_eq(tally_test_wait(e.c.proc, 10000), 128 + SIGKILL);
    tally_test_proc_free(e.c.proc);
    e.c.proc = NULL;
    kills++;
}

/* The retry through a restarted console: want (201 or 200), one row, one
 * event, a file that verifies and carries the row's payload. */
static void retry_gives_one_license(const char *key, const char *id, long want)
{
    char out[1024];
    tally_test_response_t r = lic_post(&e, "/api/v1/licenses", "application/json", e.member_token, NULL, key, "{}",
                                       NULL);
    cr_assert_eq(r.status, want, "%ld %s\nconsole log:\n%s", r.status, r.body, tally_test_log(e.c.proc));
    cr_assert_eq(lic_verify(&e, r.body, r.len, out, sizeof out), 0, "%s", out);
    char err[256];
    tally_license_file_t *f = calloc(1, sizeof *f);
    cr_assert_eq(tally_license_parse(r.body, r.len, f, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(f->license.license_id, id);
    char sha[65];
    tally_license_payload_sha256(f, sha);
    cr_assert_str_eq(mat_text(e.c.admin, "SELECT payload_sha256 FROM tally.licenses WHERE license_id = '%s'", id), sha,
                     "the file is the row's payload");
    free(f);
    tally_test_response_free(&r);
    cr_assert_eq(lic_rows(&e, id), 1, "exactly one license");
    cr_assert_eq(lic_events(&e, id, 1000), 1, "exactly one LicenseIssued event of %s", id);
}

Test(console_license_kill, killed_between_signing_and_the_ack_then_one_license_on_retry)
{
    char id[37];
    pthread_t t;
    lic_start(&e);

    /* 1. Before the acknowledgement: a gateway that never answers. */
    cr_assert_eq(tally_test_console_stop(&e.c), 0);
    tally_test_proxy_t *hole = tally_test_proxy_start(0);
    char hole_url[64];
    snprintf(hole_url, sizeof hole_url, "http://127.0.0.1:%d", tally_test_proxy_port(hole));
    lic_console_start(&e, hole_url, NULL);
    request_t q1 = {.key = "killed-before-ack"};
    lic_id("acme", "m-acme", q1.key, id);
    cr_assert_eq(pthread_create(&t, NULL, post_thread, &q1), 0);
    usleep(1500 * 1000);   /* signed, and waiting for the gateway (10 s timeout) */
    kill_console();
    cr_assert_eq(pthread_join(t, NULL), 0);
    cr_assert_eq(q1.status, 0, "no answer, no file (got %ld, %zu bytes)", q1.status, q1.len);
    tally_test_proxy_stop(hole);
    cr_assert_eq(lic_rows(&e, id), 0);
    cr_assert_eq(lic_events(&e, id, 1000), 0, "nothing reached the log");

    lic_console_start(&e, NULL, NULL);
    retry_gives_one_license(q1.key, id, 201);
    cr_assert_eq(tally_test_console_stop(&e.c), 0);

    /* 2. After the acknowledgement: the event is in the log, its row is
     * not (no materializer), and the console waits for it. */
    lic_mat_stop(&e);
    static char wait_arg[] = "--license-wait=60s";
    const char *const slow[] = {wait_arg, NULL};
    lic_console_start(&e, NULL, slow);
    request_t q2 = {.key = "killed-after-ack"};
    lic_id("acme", "m-acme", q2.key, id);
    cr_assert_eq(pthread_create(&t, NULL, post_thread, &q2), 0);
    for (int waited = 0; lic_events(&e, id, 200) == 0; waited += 200)
        cr_assert(waited < 30000, "the event never reached the log; console log:\n%s", tally_test_log(e.c.proc));
    kill_console();
    cr_assert_eq(pthread_join(t, NULL), 0);
    cr_assert_eq(q2.status, 0, "no answer, no file (got %ld)", q2.status);
    cr_assert_eq(lic_rows(&e, id), 0);

    /* The materializer catches up; the retry finds the license. */
    lic_mat_start(&e);
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM tally.licenses WHERE license_id = '%s'", id);
    lic_wait_count(&e, sql, 1, 30000);
    lic_console_start(&e, NULL, NULL);
    retry_gives_one_license(q2.key, id, 200);

    cr_assert_eq(kills, 2, "both kills happened");
    cr_assert_eq(lic_rows(&e, NULL), 2, "two requests, two licenses");
    lic_stop(&e);
}
