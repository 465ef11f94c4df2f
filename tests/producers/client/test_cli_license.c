/* The real `tally` binary on signed license files (producers/client/
 * cmd_license.c): the committed test vector of tests/data/licenses/ (key
 * "test-2026-12", license valid 2026-12-07T00:00:00Z to 2027-01-06T00:00:00Z,
 * revocation list issued 2026-12-08T00:00:00Z naming it) verifies; a changed
 * byte, a wrong key and an unknown key id are refused (1); outside the window
 * (6); revoked with the list (7), valid without it; an old list warns; usage
 * errors (2); show prints the payload. Offline: no gateway, no network. */
#include "cli_harness.h"

static cli_env_t env;
static char lic[512], pub[512], revoked[512], *lic_text;
static size_t lic_len;

#define NOW_VALID "--now=2026-12-09T00:00:00Z"

static void setup(void)
{
    cli_env_init(&env);
    const char *data = getenv("TALLY_TEST_DATA");
    cr_assert_not_null(data, "TALLY_TEST_DATA is not set");
    snprintf(lic, sizeof lic, "%s/licenses/vector.license", data);
    snprintf(pub, sizeof pub, "%s/licenses/vector.pub", data);
    snprintf(revoked, sizeof revoked, "%s/licenses/vector.revoked", data);
    lic_text = cli_slurp(lic);
    cr_assert_not_null(lic_text);
    lic_len = strlen(lic_text);
    cr_assert_gt(lic_len, 200);
}

static void teardown(void)
{
    free(lic_text);
    lic_text = NULL;
    cli_env_cleanup(&env);
}

TestSuite(cli_license, .init = setup, .fini = teardown, .timeout = 300);

/* Writes text to <test dir>/name; its path in out. */
static void put_file(const char *name, const char *text, size_t len, char *out, size_t size)
{
    snprintf(out, size, "%s/%s", env.dir, name);
    FILE *f = fopen(out, "w");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(text, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

static int run_status(const char *const args[], const char *want_out, const char *want_err)
{
    cli_result_t r = cli_run(&env, NULL, NULL, args);
    int status = r.status;
    if (want_out != NULL)
        cr_expect(strstr(r.out, want_out) != NULL, "stdout lacks \"%s\":\n%s", want_out, r.out);
    if (want_err != NULL)
        cr_expect(strstr(r.err, want_err) != NULL, "stderr lacks \"%s\":\n%s", want_err, r.err);
    cli_result_free(&r);
    return status;
}

Test(cli_license, vector_verifies)
{
    const char *args[] = {"license", "verify", lic, "--public-key", pub, NOW_VALID, NULL};
    cr_assert_eq(run_status(args, "valid: license 0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f0", NULL), 0);
    /* The same through a folder of *.pub files. */
    char dir[256], path[300];
    snprintf(dir, sizeof dir, "%s/keys", env.dir);
    cr_assert_eq(mkdir(dir, 0700), 0);
    char *pub_text = cli_slurp(pub);
    put_file("keys/vector.pub", pub_text, strlen(pub_text), path, sizeof path);
    free(pub_text);
    const char *args2[] = {"license", "verify", lic, "--public-keys", dir, NOW_VALID, NULL};
    cr_assert_eq(run_status(args2, "until 2027-01-06T00:00:00Z", NULL), 0);
}

Test(cli_license, changed_bytes_refused)
{
    char path[300];
    char *copy = malloc(lic_len);
    cr_assert_not_null(copy);
    int tried = 0;
    /* Every 5th byte (and the last): header, payload, signature, footer. */
    for (size_t i = 0; i < lic_len; i = (i + 5 < lic_len || i == lic_len - 1) ? i + 5 : lic_len - 1) {
        memcpy(copy, lic_text, lic_len);
        copy[i] ^= 0x01;
        put_file("flipped.license", copy, lic_len, path, sizeof path);
        const char *args[] = {"license", "verify", path, "--public-key", pub, NOW_VALID, NULL};
        cr_expect_eq(run_status(args, "invalid: ", NULL), 1, "byte %zu changed: not refused with 1", i);
        tried++;
        if (i == lic_len - 1)
            break;
    }
    cr_assert_gt(tried, 100);
    free(copy);
}

Test(cli_license, wrong_and_unknown_key_refused)
{
    char path[300];
    /* The right key id with another key: a bad signature. */
    const char wrong[] = "test-2026-12 3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29\n";
    put_file("wrong.pub", wrong, strlen(wrong), path, sizeof path);
    const char *args[] = {"license", "verify", lic, "--public-key", path, NOW_VALID, NULL};
    cr_assert_eq(run_status(args, "invalid: ", NULL), 1);
    /* Only another key id: unknown key. */
    const char other[] = "other-2027 d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a\n";
    put_file("other.pub", other, strlen(other), path, sizeof path);
    cr_assert_eq(run_status(args, "test-2026-12", NULL), 1);
}

Test(cli_license, outside_window_exit_6)
{
    /* valid_from - 300 s <= t < valid_until + 300 s. */
    const char *early[] = {"license", "verify", lic, "--public-key", pub, "--now=2026-12-06T23:54:59Z", NULL};
    cr_assert_eq(run_status(early, "refused: ", NULL), 6);
    const char *edge[] = {"license", "verify", lic, "--public-key", pub, "--now=2026-12-06T23:55:00Z", NULL};
    cr_assert_eq(run_status(edge, "valid: ", NULL), 0);
    const char *late[] = {"license", "verify", lic, "--public-key", pub, "--now=2027-01-06T00:05:00Z", NULL};
    cr_assert_eq(run_status(late, "refused: ", NULL), 6);
    const char *last[] = {"license", "verify", lic, "--public-key", pub, "--now=2027-01-06T00:04:59Z", NULL};
    cr_assert_eq(run_status(last, "valid: ", NULL), 0);
}

Test(cli_license, revoked_with_list_valid_without)
{
    const char *with[] = {"license", "verify", lic, "--public-key", pub, "--revoked", revoked, NOW_VALID, NULL};
    cli_result_t r = cli_run(&env, NULL, NULL, with);
    cr_expect_eq(r.status, 7);
    cr_expect(strstr(r.out, "revoked") != NULL, "%s", r.out);
    cr_expect(strstr(r.err, "warning") == NULL, "a fresh list warned: %s", r.err);
    cli_result_free(&r);
    const char *without[] = {"license", "verify", lic, "--public-key", pub, NOW_VALID, NULL};
    cr_assert_eq(run_status(without, "revocation not checked", NULL), 0);
}

Test(cli_license, old_list_warns)
{
    /* The list is from 2026-12-08T00:00:00Z: 7 days and 1 s later it is old. */
    const char *old[] = {"license", "verify", lic, "--public-key", pub, "--revoked", revoked,
                         "--now=2026-12-15T00:00:01Z", NULL};
    cr_assert_eq(run_status(old, NULL, "warning: the revocation list"), 7);
    const char *fresh[] = {"license", "verify", lic, "--public-key", pub, "--revoked", revoked,
                           "--now=2026-12-15T00:00:00Z", NULL};
    cli_result_t r = cli_run(&env, NULL, NULL, fresh);
    cr_expect_eq(r.status, 7);
    cr_expect(strstr(r.err, "warning") == NULL, "%s", r.err);
    cli_result_free(&r);
}

Test(cli_license, list_signed_by_another_key_refused)
{
    char path[300];
    const char wrong[] = "test-2026-12 3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29\n"
                         "other-2027 d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a\n";
    put_file("mixed.pub", wrong, strlen(wrong), path, sizeof path);
    /* Tamper with the list: it no longer verifies with the right key. */
    char *list = cli_slurp(revoked), lpath[300];
    cr_assert_not_null(list);
    char *nl = strchr(list, '\n');
    cr_assert_not_null(nl);
    nl[5] = nl[5] == 'A' ? 'B' : 'A';
    put_file("tampered.revoked", list, strlen(list), lpath, sizeof lpath);
    free(list);
    const char *args[] = {"license", "verify", lic, "--public-key", pub, "--revoked", lpath, NOW_VALID, NULL};
    cr_assert_eq(run_status(args, "revocation list", NULL), 1);
}

Test(cli_license, usage_errors_exit_2)
{
    const char *no_file[] = {"license", "verify", "--public-key", pub, NULL};
    cr_expect_eq(run_status(no_file, NULL, "exactly one license FILE"), 2);
    const char *missing[] = {"license", "verify", "/nonexistent/x.license", "--public-key", pub, NULL};
    cr_expect_eq(run_status(missing, NULL, "cannot open"), 2);
    const char *both[] = {"license", "verify", lic, "--public-key", pub, "--public-keys", env.dir, NULL};
    cr_expect_eq(run_status(both, NULL, "not both"), 2);
    const char *none[] = {"license", "verify", lic, NULL};
    cr_expect_eq(run_status(none, NULL, "--public-key"), 2);
    const char *flag[] = {"license", "verify", lic, "--public-key", pub, "--bogus", NULL};
    cr_expect_eq(run_status(flag, NULL, "--bogus"), 2);
    const char *now[] = {"license", "verify", lic, "--public-key", pub, "--now=yesterday", NULL};
    cr_expect_eq(run_status(now, NULL, "--now"), 2);
    const char *sub[] = {"license", "frobnicate", lic, NULL};
    cr_expect_eq(run_status(sub, NULL, "unknown subcommand"), 2);
}

Test(cli_license, show_prints_payload)
{
    const char *args[] = {"license", "show", lic, NULL};
    cli_result_t r = cli_run(&env, NULL, NULL, args);
    cr_assert_eq(r.status, 0);
    cr_expect(strstr(r.out, "\"license_id\": \"0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f0\"") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "\"member_id\": \"m-ada\"") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "\"seats\": 25") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "signature: key test-2026-12, not checked") != NULL, "%s", r.out);
    cli_result_free(&r);
    const char *checked[] = {"license", "show", lic, "--public-key", pub, NULL};
    cr_assert_eq(run_status(checked, "signature: key test-2026-12, verified", NULL), 0);
    /* A changed signature byte: show still prints, but says and exits 1. */
    char path[300];
    char *copy = strdup(lic_text);
    char *sig = strchr(strchr(copy, '\n') + 1, '\n') + 1;
    sig[10] = sig[10] == 'A' ? 'B' : 'A';
    put_file("badsig.license", copy, lic_len, path, sizeof path);
    free(copy);
    const char *bad[] = {"license", "show", path, "--public-key", pub, NULL};
    cr_assert_eq(run_status(bad, "REFUSED", NULL), 1);
    const char junk[] = "not a license\n";
    put_file("junk.license", junk, strlen(junk), path, sizeof path);
    const char *malformed[] = {"license", "show", path, NULL};
    cr_assert_eq(run_status(malformed, "invalid: ", NULL), 1);
}
