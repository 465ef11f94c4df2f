/* `tally license fetch` (producers/client/cmd_license_fetch.c), the real
 * binary against a small console stand-in on libmicrohttpd
 * (common/http_server.h) that mimics the documented contract of
 * POST /api/v1/licenses: Bearer console token, Idempotency-Key required,
 * 201 with a license file signed by the test vector's key (the same key
 * replayed with 200 and the same file, nothing issued twice), 401 and 409
 * as JSON errors; and GET /api/v1/licenses/revoked for `tally license
 * verify --online` (the test vector's list). The console's real route is not built yet: this is the
 * contract the client relies on. */
#include "cli_harness.h"
#include "http_answer.h"
#include "http_server.h"
#include "license.h"
#include "license_keys.h"
#include "textbuf.h"

#include <pthread.h>

#define SERVED_MAX 16

static cli_env_t env;
static char pub[512], url[64];
static struct MHD_Daemon *daemon_;
static tally_license_keyring_t *ring;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char key[160];
    char *text;
} served[SERVED_MAX];
static int issued, requests, delay_first_ms, revoked_status;
static char *revoked_text; /* the test vector's list, served at GET /api/v1/licenses/revoked */

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *path, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)cls, (void)version, (void)upload;
    if (*con_cls == NULL) {
        *con_cls = c;
        return MHD_YES;
    }
    if (*upload_size != 0) {
        *upload_size = 0;
        return MHD_YES;
    }
    if (strcmp(path, "/api/v1/licenses/revoked") == 0 && strcmp(method, "GET") == 0) {
        if (revoked_status != 200)
            return tally_http_answer_error(c, (unsigned)revoked_status, "unavailable", "try later", NULL);
        return tally_http_answer_text(c, 200, "text/plain", revoked_text, NULL);
    }
    if (strcmp(path, "/api/v1/licenses") != 0)
        return tally_http_answer_error(c, 404, "not_found", "no such route", NULL);
    if (strcmp(method, "POST") != 0)
        return tally_http_answer_method(c, "POST");
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    const char *key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Idempotency-Key");
    if (auth != NULL && strcmp(auth, "Bearer tct_over") == 0)
        return tally_http_answer_error(c, 409, "conflict", "the tenant is over its contract", NULL);
    if (auth == NULL || strcmp(auth, "Bearer tct_member") != 0)
        return tally_http_answer_error(c, 401, "unauthorized", "sign in with a console token", NULL);
    if (key == NULL || key[0] == '\0' || strlen(key) >= sizeof served[0].key)
        return tally_http_answer_error(c, 400, "bad_request", "Idempotency-Key is required", NULL);
    pthread_mutex_lock(&mu);
    requests++;
    for (int i = 0; i < issued; i++)
        if (strcmp(served[i].key, key) == 0) {
            char *text = strdup(served[i].text);
            pthread_mutex_unlock(&mu);
            enum MHD_Result r = tally_http_answer_text(c, 200, "text/plain", text, NULL);
            free(text);
            return r;
        }
    cr_assert_lt(issued, SERVED_MAX);
    tally_license_t lic;
    memset(&lic, 0, sizeof lic);
    snprintf(lic.license_id, sizeof lic.license_id, "00000000-0000-4000-8000-%012d", issued + 1);
    snprintf(lic.tenant_id, sizeof lic.tenant_id, "acme");
    snprintf(lic.tenant_name, sizeof lic.tenant_name, "Acme");
    lic.kind = TALLY_LICENSE_PERSONAL_DEV;
    snprintf(lic.subject_id, sizeof lic.subject_id, "m-ada");
    lic.seats = 25;
    lic.monthly_api_calls = 1000;
    lic.issued_at = lic.valid_from = (int64_t)time(NULL);
    lic.valid_until = lic.issued_at + 86400;
    tally_textbuf_t out = {0};
    char err[256];
    cr_assert_eq(tally_license_sign(&lic, ring, &out, NULL, err, sizeof err), 0, "%s", err);
    snprintf(served[issued].key, sizeof served[issued].key, "%s", key);
    served[issued].text = strdup(out.data);
    issued++;
    int delay = delay_first_ms;
    delay_first_ms = 0;
    pthread_mutex_unlock(&mu);
    /* Issued and recorded, but the answer comes late: the client times out. */
    if (delay > 0)
        usleep((useconds_t)delay * 1000);
    enum MHD_Result r = tally_http_answer_text(c, 201, "text/plain", out.data, NULL);
    tally_textbuf_free(&out);
    return r;
}

static void setup(void)
{
    cli_env_init(&env);
    const char *data = getenv("TALLY_TEST_DATA");
    cr_assert_not_null(data);
    snprintf(pub, sizeof pub, "%s/licenses/vector.pub", data);
    char keys[512], err[256];
    snprintf(keys, sizeof keys, "%s/licenses/vector.keys", data);
    char *text = cli_slurp(keys);
    cr_assert_not_null(text);
    ring = tally_license_keyring_parse(text, strlen(text), "vector.keys", err, sizeof err);
    free(text);
    cr_assert_not_null(ring, "%s", err);
    issued = requests = delay_first_ms = 0;
    revoked_status = 200;
    char list[512];
    snprintf(list, sizeof list, "%s/licenses/vector.revoked", data);
    revoked_text = cli_slurp(list);
    cr_assert_not_null(revoked_text);
    tally_http_opts_t o = {.handler = handle, .name = "test console"};
    int port;
    daemon_ = tally_http_start(&o, &port, err, sizeof err);
    cr_assert_not_null(daemon_, "%s", err);
    snprintf(url, sizeof url, "--console-url=http://127.0.0.1:%d", port);
}

static void teardown(void)
{
    tally_http_stop(daemon_);
    tally_license_keyring_free(ring);
    free(revoked_text);
    for (int i = 0; i < issued; i++)
        free(served[i].text);
    cli_env_cleanup(&env);
}

TestSuite(cli_license_fetch, .init = setup, .fini = teardown, .timeout = 120);

static char *path_in(const char *name)
{
    static char buf[4][300];
    static int n;
    char *p = buf[n++ % 4];
    snprintf(p, 300, "%s/%s", env.dir, name);
    return p;
}

static int fetch(const char *out, const char *extra1, const char *extra2, char **stdout_text)
{
    char out_flag[320];
    snprintf(out_flag, sizeof out_flag, "--out=%s", out);
    const char *args[] = {"license", "fetch", url, out_flag, extra1, extra2, NULL};
    cli_result_t r = cli_run(&env, NULL, NULL, args);
    int st = r.status;
    if (stdout_text != NULL)
        *stdout_text = strdup(r.out);
    cli_result_free(&r);
    return st;
}

/* The saved file verifies with the core and the test key. */
static void assert_valid_file(const char *path)
{
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "%s not saved", path);
    cr_expect_eq(st.st_mode & 07777, 0644, "mode %o", st.st_mode & 07777);
    char *text = cli_slurp(path), *keys = cli_slurp(pub), err[256];
    tally_license_pubkeys_t *set = tally_license_pubkeys_new();
    cr_assert_eq(tally_license_pubkeys_parse(set, keys, strlen(keys), "vector.pub", err, sizeof err), 0);
    cr_expect_eq(tally_license_check(text, strlen(text), set, NULL, (int64_t)time(NULL), NULL, err, sizeof err),
                 TALLY_LICENSE_VALID, "%s", err);
    tally_license_pubkeys_free(set);
    free(text);
    free(keys);
}

Test(cli_license_fetch, saves_and_retry_with_same_key_does_not_duplicate)
{
    char *a = path_in("a.license"), *b = path_in("b.license"), *out = NULL;
    cr_assert_eq(fetch(a, "--token=tct_member", "--idempotency-key=k-123", &out), 0);
    cr_expect(strstr(out, "license 00000000-0000-4000-8000-000000000001") != NULL, "%s", out);
    free(out);
    assert_valid_file(a);
    cr_assert_eq(fetch(b, "--token=tct_member", "--idempotency-key=k-123", NULL), 0);
    cr_assert_eq(issued, 1, "a retry with the same key issued another license");
    cr_assert_eq(requests, 2);
    char *ta = cli_slurp(a), *tb = cli_slurp(b);
    cr_expect_str_eq(ta, tb);
    free(ta);
    free(tb);
    /* The real binary verifies what it saved. */
    const char *args[] = {"license", "verify", a, "--public-key", pub, NULL};
    cli_result_t r = cli_run(&env, NULL, NULL, args);
    cr_expect_eq(r.status, 0, "%s", r.out);
    cli_result_free(&r);
}

Test(cli_license_fetch, timeout_then_retry_reuses_the_kept_key)
{
    char *a = path_in("t.license"), *side = path_in("t.license.idempotency-key");
    delay_first_ms = 1500;
    cr_assert_eq(fetch(a, "--token=tct_member", "--request-timeout=300ms", NULL), 5);
    cr_assert_eq(issued, 1);
    struct stat st;
    cr_assert_eq(stat(side, &st), 0, "the idempotency key was not kept");
    cr_assert_neq(stat(a, &st), 0, "a file was saved without an answer");
    cr_assert_eq(fetch(a, "--token=tct_member", NULL, NULL), 0);
    cr_assert_eq(issued, 1, "the retry issued a second license");
    assert_valid_file(a);
    cr_expect_neq(stat(side, &st), 0, "the sidecar outlived the saved license");
    /* A new fetch (no sidecar any more) is a new license... */
    char *c = path_in("c.license");
    cr_assert_eq(fetch(c, "--token=tct_member", NULL, NULL), 0);
    cr_assert_eq(issued, 2);
    /* ...and it is not written over a different existing file without --force. */
    char *before = cli_slurp(a);
    cr_assert_eq(fetch(a, "--token=tct_member", "--idempotency-key=other", NULL), 1);
    char *after = cli_slurp(a);
    cr_expect_str_eq(before, after);
    cr_assert_eq(issued, 3);
    /* Again: refused again, and the console replays rather than issues. */
    cr_assert_eq(fetch(a, "--token=tct_member", "--idempotency-key=other", NULL), 1);
    cr_assert_eq(issued, 3, "the refused retry should replay, not issue");
    char out_flag[320];
    snprintf(out_flag, sizeof out_flag, "--out=%s", a);
    const char *force[] = {"license", "fetch", url, out_flag, "--token=tct_member", "--idempotency-key=other",
                           "--force", NULL};
    cli_result_t r = cli_run(&env, NULL, NULL, force);
    cr_assert_eq(r.status, 0);
    cli_result_free(&r);
    char *forced = cli_slurp(a);
    cr_expect(strcmp(forced, before) != 0);
    cr_assert_eq(issued, 3);
    free(before);
    free(after);
    free(forced);
}

Test(cli_license_fetch, refusals)
{
    char *a = path_in("r.license");
    struct stat st;
    cr_assert_eq(fetch(a, "--token=tct_wrong", "--idempotency-key=k1", NULL), 4);
    cr_assert_eq(fetch(a, "--token=tct_over", "--idempotency-key=k2", NULL), 1);
    cr_assert_neq(stat(a, &st), 0);
    cr_assert_eq(issued, 0);
    const char *no_token[] = {"license", "fetch", url, NULL};
    cli_result_t r = cli_run(&env, NULL, NULL, no_token);
    cr_assert_eq(r.status, 2);
    cli_result_free(&r);
}

/* A key the console would refuse (docs/licenses.md: 1-64 of A-Z a-z 0-9 _ -)
 * is a usage error here, before any request. */
Test(cli_license_fetch, a_key_outside_the_consoles_rule_is_a_usage_error)
{
    char *a = path_in("k.license");
    char long_key[100] = "--idempotency-key=";
    memset(long_key + strlen(long_key), 'k', 65);
    const char *bad[] = {"--idempotency-key=a.b", "--idempotency-key=a b", "--idempotency-key=", long_key};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(fetch(a, "--token=tct_member", bad[i], NULL), 2, "%s", bad[i]);
    cr_assert_eq(requests, 0);
    long_key[strlen("--idempotency-key=") + 64] = '\0';   /* 64: the longest allowed */
    cr_assert_eq(fetch(a, "--token=tct_member", long_key, NULL), 0);
    cr_assert_eq(requests, 1);
}

Test(cli_license_fetch, verify_online_gets_the_revocation_list)
{
    char lic[512], console[80];
    snprintf(lic, sizeof lic, "%s/licenses/vector.license", getenv("TALLY_TEST_DATA"));
    snprintf(console, sizeof console, "%s", url);
    const char *args[] = {"license", "verify", lic, "--public-key", pub, "--online", console,
                          "--now=2026-12-09T00:00:00Z", NULL};
    cli_result_t r = cli_run(&env, NULL, NULL, args);
    cr_expect_eq(r.status, 7, "%s", r.out);
    cr_expect(strstr(r.out, "revoked") != NULL, "%s", r.out);
    cli_result_free(&r);
    /* The list cannot be had: revocation unknown, refused (1). */
    revoked_status = 503;
    r = cli_run(&env, NULL, NULL, args);
    cr_expect_eq(r.status, 1, "%s", r.out);
    cr_expect(strstr(r.out, "revocation not checked") != NULL, "%s", r.out);
    cli_result_free(&r);
    /* --online without --console-url, or with --revoked: usage. */
    const char *no_url[] = {"license", "verify", lic, "--public-key", pub, "--online", NULL};
    r = cli_run(&env, NULL, NULL, no_url);
    cr_expect_eq(r.status, 2);
    cli_result_free(&r);
}
