/* tally-console's license signing keys as an operator and a verifier see
 * them: --license-keys loaded at start (group/world-readable refused with
 * exit 2), GET /api/v1/licenses/keys publishing the public key of every
 * key of the file (JSON and ?format=pub, cacheable, to anyone), and 503
 * "license signing not configured" without the option. */
#include <criterion/criterion.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "console_fixture.h"

static tally_test_console_t c;

TestSuite(console_license_keys, .timeout = 120);

static const char seed_old[] = "0101010101010101010101010101010101010101010101010101010101010101";
static const char seed_new[] = "9f3a5c7e11223344556677889900aabbccddeeff00112233445566778899aabb";

/* Writes the two-key file with mode; returns its path (static buffer). */
static const char *key_file(mode_t mode)
{
    static char path[] = "/tmp/tally-console-keys-XXXXXX";
    strcpy(path, "/tmp/tally-console-keys-XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "# rotated in December\n2026-11 %s\n2026-12\t%s\n", seed_old, seed_new);
    fclose(f);
    cr_assert_eq(chmod(path, mode), 0);
    return path;
}

/* The lower-case hex public key of a hex seed. */
static void public_hex(const char *seed_hex, char out[65])
{
    unsigned char seed[32], pk[32], sk[64];
    cr_assert_eq(sodium_hex2bin(seed, sizeof seed, seed_hex, 64, NULL, NULL, NULL), 0);
    crypto_sign_seed_keypair(pk, sk, seed);
    sodium_bin2hex(out, 65, pk, sizeof pk);
}

Test(console_license_keys, publishes_every_public_key_to_anyone)
{
    cr_assert(sodium_init() >= 0);
    tally_test_console_db(&c);
    const char *path = key_file(0600);
    char arg[128];
    snprintf(arg, sizeof arg, "--license-keys=%s", path);
    const char *const extra[] = {arg, NULL};
    tally_test_console_start(&c, extra);
    char old_pk[65], new_pk[65], want[512];
    public_hex(seed_old, old_pk);
    public_hex(seed_new, new_pk);

    tally_test_response_t r = tally_test_console_request(&c, "GET", "/api/v1/licenses/keys?format=pub", NULL, NULL);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    snprintf(want, sizeof want, "2026-11 %s\n2026-12 %s\n", old_pk, new_pk);
    cr_assert_str_eq(r.body, want, "the public key file, oldest first");
    cr_assert(strstr(r.body, seed_old) == NULL && strstr(r.body, seed_new) == NULL, "a seed published");
    const char *ct = tally_test_header(&r, "Content-Type");
    cr_assert(ct && strncmp(ct, "text/plain", 10) == 0, "%s", ct ? ct : "(none)");
    const char *cc = tally_test_header(&r, "Cache-Control");
    cr_assert(cc && strstr(cc, "max-age=300"), "cacheable: %s", cc ? cc : "(none)");
    tally_test_response_free(&r);

    r = tally_test_console_request(&c, "GET", "/api/v1/licenses/keys", NULL, NULL);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    snprintf(want, sizeof want, "[{\"key_id\":\"2026-11\",\"public_key\":\"%s\"},"
                                "{\"key_id\":\"2026-12\",\"public_key\":\"%s\"}]", old_pk, new_pk);
    cr_assert_str_eq(r.body, want);
    char etag[128];
    cr_assert_not_null(tally_test_header(&r, "ETag"));
    snprintf(etag, sizeof etag, "If-None-Match: %s", tally_test_header(&r, "ETag"));
    tally_test_response_free(&r);
    char url[256];
    snprintf(url, sizeof url, "%s/api/v1/licenses/keys", c.base_url);
    const char *const h[] = {etag, NULL};
    r = tally_test_http("GET", url, h, NULL, 0, 0);
    cr_assert_eq(r.status, 304, "unchanged keys: %ld", r.status);
    tally_test_response_free(&r);

    r = tally_test_console_request(&c, "GET", "/api/v1/licenses/keys?format=xml", NULL, NULL);
    cr_assert_eq(r.status, 400, "%ld", r.status);
    tally_test_response_free(&r);
    r = tally_test_console_request(&c, "POST", "/api/v1/licenses/keys", NULL, NULL);
    cr_assert_eq(r.status, 405, "%ld", r.status);
    tally_test_response_free(&r);
    tally_test_console_teardown(&c);
    unlink(path);
}

Test(console_license_keys, without_keys_the_route_is_503)
{
    tally_test_console_db(&c);
    tally_test_console_start(&c, NULL);
    tally_test_response_t r = tally_test_console_request(&c, "GET", "/api/v1/licenses/keys", NULL, NULL);
    cr_assert_eq(r.status, 503, "%ld %s", r.status, r.body);
    cr_assert(strstr(r.body, "license signing not configured"), "%s", r.body);
    tally_test_response_free(&r);
    tally_test_console_teardown(&c);
}

/* Runs tally-console serve with the key file given by option or by
 * environment; returns its exit status (it must exit by itself). */
static int serve_with(const char *path, int by_env)
{
    char cmd[1024];
    if (by_env)
        snprintf(cmd, sizeof cmd, "TALLY_CONSOLE_LICENSE_KEYS='%s' '%s' --pg-url='%s' --port=0 >/dev/null 2>&1", path,
                 tally_test_bin("tally-console"), tally_test_console_reader_url(&c));
    else
        snprintf(cmd, sizeof cmd, "'%s' --pg-url='%s' --port=0 --license-keys='%s' >/dev/null 2>&1",
                 tally_test_bin("tally-console"), tally_test_console_reader_url(&c), path);
    int st = tally_test_system("tally-console", cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

Test(console_license_keys, readable_by_others_or_missing_is_exit_2)
{
    tally_test_console_db(&c);
    const mode_t modes[] = {0640, 0604, 0644};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        const char *path = key_file(modes[i]);
        cr_assert_eq(serve_with(path, 0), 2, "mode %o by option", (unsigned)modes[i]);
        cr_assert_eq(serve_with(path, 1), 2, "mode %o by environment", (unsigned)modes[i]);
        unlink(path);
    }
    cr_assert_eq(serve_with("/nonexistent/keys", 0), 2, "a missing file");
    tally_test_console_teardown(&c);
}
