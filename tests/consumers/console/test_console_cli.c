/* tally-console's token commands as an operator runs them: issue-token
 * prints the token on stdout and nothing secret anywhere else, its event
 * reaches the Control Panel topic through a real gateway (which holds only
 * the token's SHA-256), revoke-token follows; usage errors exit 2. */
#define _GNU_SOURCE   /* memmem */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gateway_fixture.h"

static tally_test_gateway_t gw;

TestSuite(console_cli, .timeout = 120);

/* Runs tally-console with args through a shell; stdout and stderr into
 * files read back into out/err (malloc'd). Returns the exit status. */
static int run(const char *args, char **out, char **err)
{
    char cmd[2048], out_path[] = "/tmp/tally-console-cli-out-XXXXXX", err_path[] = "/tmp/tally-console-cli-err-XXXXXX";
    int fo = mkstemp(out_path), fe = mkstemp(err_path);
    cr_assert(fo >= 0 && fe >= 0);
    close(fo);
    close(fe);
    snprintf(cmd, sizeof cmd, "TALLY_ADMIN_TOKEN='%s' '%s' %s >'%s' 2>'%s'", TALLY_TEST_ADMIN_TOKEN,
             tally_test_bin("tally-console"), args, out_path, err_path);
    int st = tally_test_system("tally-console", cmd);
    const char *paths[2] = {out_path, err_path};
    char **bufs[2] = {out, err};
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(paths[i], "rb");
        cr_assert_not_null(f);
        *bufs[i] = calloc(1, 65536);
        size_t n = fread(*bufs[i], 1, 65535, f);
        (*bufs[i])[n] = '\0';
        fclose(f);
        unlink(paths[i]);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

Test(console_cli, issue_then_revoke_through_the_gateway)
{
    tally_test_gateway_start(&gw, NULL);
    char args[512], *out, *err, sha[65];
    snprintf(args, sizeof args, "issue-token --gateway-url=%s --tenant=acme --member=m-acme --ttl=2h", gw.base_url);
    int st = run(args, &out, &err);
    cr_assert_eq(st, 0, "issue-token: %d\n%s", st, err);
    size_t len = strcspn(out, "\n");
    cr_assert_eq(len, 47, "one token line on stdout: %s", out);
    cr_assert_eq(strncmp(out, "tct_", 4), 0, "%s", out);
    cr_assert_eq(out[len + 1], '\0', "nothing else on stdout: %s", out);
    out[len] = '\0';
    cr_assert(strstr(err, out) == NULL, "the token on stderr:\n%s", err);
    cr_assert(strstr(err, TALLY_TEST_ADMIN_TOKEN) == NULL, "the admin token on stderr");
    const char *id = strstr(err, "token_id ");
    cr_assert_not_null(id, "the token id on stderr: %s", err);
    char token_id[40];
    snprintf(token_id, sizeof token_id, "%.36s", id + 9);
    tally_test_sha256_hex(out, sha);
    /* The event on the Control Panel topic carries the hash, never the token. */
    tally_test_record_t *recs = NULL;
    size_t n = tally_test_topic_read(gw.controlpanel_topic, 1, 500, 20000, &recs);
    cr_assert_eq(n, 1, "%zu records", n);
    cr_assert(memmem(recs[0].value, recs[0].len, sha, 64) != NULL, "the token's SHA-256 in the event");
    cr_assert(memmem(recs[0].value, recs[0].len, out, 47) == NULL, "the token itself in the event");
    tally_test_records_free(recs, n);
    free(out);
    free(err);

    snprintf(args, sizeof args, "revoke-token --gateway-url=%s --tenant=acme --token-id=%s", gw.base_url, token_id);
    st = run(args, &out, &err);
    cr_assert_eq(st, 0, "revoke-token: %d\n%s", st, err);
    cr_assert_str_eq(out, "");
    free(out);
    free(err);
    n = tally_test_topic_read(gw.controlpanel_topic, 2, 500, 20000, &recs);
    cr_assert_eq(n, 2, "%zu records", n);
    tally_test_records_free(recs, n);
    tally_test_gateway_stop(&gw);
}

Test(console_cli, usage_errors_exit_2)
{
    char *out, *err;
    cr_assert_eq(run("issue-token --gateway-url=http://127.0.0.1:1 --member=m", &out, &err), 2, "no tenant: %s", err);
    cr_assert_str_eq(out, "");
    free(out);
    free(err);
    cr_assert_eq(run("frobnicate", &out, &err), 2);
    cr_assert(strstr(err, "unknown command") != NULL, "%s", err);
    free(out);
    free(err);
    cr_assert_eq(run("serve issue-token", &out, &err), 2);
    free(out);
    free(err);
    /* The gateway unreachable: a failure (1), not a usage error. */
    cr_assert_eq(run("issue-token --gateway-url=http://127.0.0.1:1 --tenant=acme --member=m-acme", &out, &err), 1,
                 "%s", err);
    cr_assert_str_eq(out, "", "no token printed when the gateway did not take it");
    free(out);
    free(err);
}
