/* The console's license reading routes on a real console and a real
 * PostgreSQL, the licenses put into tally.licenses by the materializer's
 * projection (license_seed.h):
 *   - GET /api/v1/licenses: a member sees exactly their own licenses (not a
 *     colleague's, not another tenant's, not an environment's), with the
 *     status valid / expired / revoked; staff see every one and filter by
 *     ?tenant=; a member asking for another tenant gets the unknown route's
 *     404;
 *   - GET /api/v1/licenses/{id}/file: the very bytes signed at issue (also
 *     under an older key), which the real `tally license verify` accepts
 *     with the console's published public keys; 404 for anyone else's; 410
 *     to a member for a revoked license and once its key left the ring;
 *   - GET /api/v1/licenses/revoked: to anyone, cacheable, verifies, and
 *     names exactly the revoked ids (also a revocation read before its
 *     issue);
 *   - hostile ids and parameters: 400 or 404, and tally.licenses unchanged.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "console_fixture.h"
#include "license_revoked.h"
#include "license_seed.h"
#include "pg_query.h"

static tally_test_console_t c;

TestSuite(console_licenses, .timeout = 180);

#define SEED_OLD "0101010101010101010101010101010101010101010101010101010101010101"
#define SEED_NEW "9f3a5c7e11223344556677889900aabbccddeeff00112233445566778899aabb"
#define KEYS_OLD "2026-11 " SEED_OLD "\n"
#define KEYS_BOTH KEYS_OLD "2026-12 " SEED_NEW "\n"
#define DAY 86400

/* The licenses of the suite, and their files as signed at issue. */
enum { L_ADA, L_ADA_OLD, L_ADA_REVOKED, L_BOB, L_GUS, L_ENV, N_LIC };
static char ids[N_LIC][TALLY_LICENSE_UUID_SIZE];
static tally_textbuf_t files[N_LIC];
static char pending_revoked[TALLY_LICENSE_UUID_SIZE];   /* revoked before any issue */
static char key_path[96], tmp_dir[64];

static tally_license_keyring_t *ring_of(const char *text)
{
    char err[256];
    tally_license_keyring_t *ring = tally_license_keyring_parse(text, strlen(text), "test", err, sizeof err);
    cr_assert_not_null(ring, "%s", err);
    return ring;
}

static void write_file(const char *path, const char *text, size_t len, mode_t mode)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fwrite(text, 1, len, f), len);
    fclose(f);
    cr_assert_eq(chmod(path, mode), 0);
}

/* The database with six licenses and two revocations, and the console
 * started on it with the key file of keys (text). */
static void start(const char *keys)
{
    tally_test_console_db(&c);
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/tally-console-licenses-XXXXXX");
    cr_assert_not_null(mkdtemp(tmp_dir));
    snprintf(key_path, sizeof key_path, "%s/keys", tmp_dir);
    write_file(key_path, keys, strlen(keys), 0600);

    tally_license_keyring_t *old_ring = ring_of(KEYS_OLD), *ring = ring_of(KEYS_BOTH);
    license_seed_t *s = license_seed_new(c.db);
    int64_t now = (int64_t)time(NULL);
    const struct {
        license_seed_spec_t spec;
        const tally_license_keyring_t *ring;
    } lic[N_LIC] = {
        [L_ADA] = {{"acme", "Acme <Corp>", "m-acme", NULL, "k-ada", now - DAY, now + 29 * DAY}, ring},
        [L_ADA_OLD] = {{"acme", "Acme <Corp>", "m-acme", NULL, "k-ada-old", now - 60 * DAY, now - 30 * DAY},
                       old_ring},
        [L_ADA_REVOKED] = {{"acme", "Acme <Corp>", "m-acme", NULL, "k-ada-r", now - 2 * DAY, now + 28 * DAY}, ring},
        [L_BOB] = {{"acme", "Acme <Corp>", "m-acme-2", NULL, "k-bob", now - 3 * DAY, now + 27 * DAY}, ring},
        [L_GUS] = {{"globex", "Globex", "m-globex", NULL, "k-gus", now - 4 * DAY, now + 26 * DAY}, ring},
        [L_ENV] = {{"acme", "Acme <Corp>", NULL, "env-prod", "k-env", now - 5 * DAY, now + 365 * DAY}, ring},
    };
    for (int i = 0; i < N_LIC; i++) {
        tally_textbuf_free(&files[i]);
        license_seed_issue(s, lic[i].ring, &lic[i].spec, ids[i], &files[i]);
    }
    license_seed_revoke(s, "acme", ids[L_ADA_REVOKED], "left the team", (now - DAY) * 1000);
    snprintf(pending_revoked, sizeof pending_revoked, "7a7a7a7a-0000-4000-8000-000000000007");
    license_seed_revoke(s, "acme", pending_revoked, "leaked", (now - DAY) * 1000);
    license_seed_free(s);
    tally_license_keyring_free(old_ring);
    tally_license_keyring_free(ring);

    char arg[128];
    snprintf(arg, sizeof arg, "--license-keys=%s", key_path);
    const char *const extra[] = {arg, NULL};
    tally_test_console_start(&c, extra);
}

static void stop(void)
{
    tally_test_console_teardown(&c);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
    cr_assert_eq(system(cmd), 0);
    for (int i = 0; i < N_LIC; i++)
        tally_textbuf_free(&files[i]);
}

static tally_test_response_t get(const char *path, const char *cookie, const char *bearer)
{
    return tally_test_console_request(&c, "GET", path, cookie, bearer);
}

static const char *file_path(int i)
{
    static char path[128];
    snprintf(path, sizeof path, "/api/v1/licenses/%s/file", ids[i]);
    return path;
}

/* The ids of a GET /api/v1/licenses body, each with its status, in order:
 * "id=status id=status" (static buffer). */
static const char *listed(const char *body)
{
    static char out[2048];
    json_error_t e;
    json_t *j = json_loads(body, 0, &e);
    cr_assert_not_null(j, "%s: %s", e.text, body);
    json_t *list = json_object_get(j, "licenses");
    cr_assert(json_is_array(list), "%s", body);
    cr_assert(json_is_false(json_object_get(j, "truncated")), "%s", body);
    out[0] = '\0';
    size_t i;
    json_t *it;
    json_array_foreach(list, i, it) {
        cr_assert_null(json_object_get(it, "payload"), "a payload in the list");
        snprintf(out + strlen(out), sizeof out - strlen(out), "%s%s=%s", i ? " " : "",
                 json_string_value(json_object_get(it, "license_id")),
                 json_string_value(json_object_get(it, "status")));
    }
    json_decref(j);
    return out;
}

static const char *want_list(const int *which, const char *const *status, size_t n)
{
    static char out[2048];
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        snprintf(out + strlen(out), sizeof out - strlen(out), "%s%s=%s", i ? " " : "", ids[which[i]], status[i]);
    return out;
}

/* Runs the real client: `tally license verify <file> --public-key <pub>
 * [extra]`; returns its exit code, its stdout into out. */
static int verify(const char *license_text, size_t len, const char *pub_text, const char *extra, char *out,
                  size_t outsize)
{
    char lic[128], pub[128], log[128], cmd[1024];
    snprintf(lic, sizeof lic, "%s/got.license", tmp_dir);
    snprintf(pub, sizeof pub, "%s/console.pub", tmp_dir);
    snprintf(log, sizeof log, "%s/verify.out", tmp_dir);
    write_file(lic, license_text, len, 0644);
    write_file(pub, pub_text, strlen(pub_text), 0644);
    snprintf(cmd, sizeof cmd, "'%s' license verify '%s' --public-key '%s' %s >'%s' 2>&1", tally_test_bin("tally"), lic,
             pub, extra ? extra : "", log);
    int st = tally_test_system("tally", cmd);
    FILE *f = fopen(log, "r");
    cr_assert_not_null(f);
    size_t got = fread(out, 1, outsize - 1, f);
    out[got] = '\0';
    fclose(f);
    cr_assert(WIFEXITED(st), "%s", cmd);
    return WEXITSTATUS(st);
}

/* The console's public keys as a verifier fetches them (owned). */
static char *published_keys(void)
{
    tally_test_response_t r = get("/api/v1/licenses/keys?format=pub", NULL, NULL);
    cr_assert_eq(r.status, 200, "%ld", r.status);
    char *text = strdup(r.body);
    tally_test_response_free(&r);
    return text;
}

static const char *digest(void)
{
    return tally_test_pg_text(c.admin, "SELECT count(*) || ':' || md5(string_agg(l::text, ',' ORDER BY l::text)) "
                                       "FROM tally.licenses l");
}

Test(console_licenses, a_member_lists_only_their_own_and_staff_list_all)
{
    start(KEYS_BOTH);
    char token[64], cookie[96], bob_token[64];
    tally_test_console_token(&c, "acme", "m-acme", "now() + interval '1 day'", token, NULL);
    tally_test_console_signin(&c, token, cookie);
    tally_test_console_token(&c, "acme", "m-acme-2", "now() + interval '1 day'", bob_token, NULL);

    static const int ada[] = {L_ADA, L_ADA_REVOKED, L_ADA_OLD};
    static const char *const ada_status[] = {"valid", "revoked", "expired"};
    const char *want = want_list(ada, ada_status, 3);
    for (int how = 0; how < 2; how++) {
        tally_test_response_t r = get("/api/v1/licenses", how ? NULL : cookie, how ? token : NULL);
        cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
        cr_assert_str_eq(listed(r.body), want, "newest issue first, own only");
        cr_assert(strstr(r.body, "left the team") == NULL, "a member sees no revoke reason: %s", r.body);
        cr_assert(strstr(r.body, "\"kind\":\"personal-dev\""), "%s", r.body);
        cr_assert(strstr(r.body, "\"key_id\":\"2026-11\""), "%s", r.body);
        tally_test_response_free(&r);
    }
    tally_test_response_t r = get("/api/v1/licenses?tenant=acme", cookie, NULL);
    cr_assert_str_eq(listed(r.body), want);
    tally_test_response_free(&r);

    /* A colleague sees theirs only. */
    static const int bob[] = {L_BOB};
    static const char *const valid[] = {"valid"};
    r = get("/api/v1/licenses", NULL, bob_token);
    cr_assert_str_eq(listed(r.body), want_list(bob, valid, 1));
    tally_test_response_free(&r);

    /* Another tenant's list is no route at all. */
    tally_test_response_t unknown = get("/api/v1/no/such/route", cookie, NULL);
    r = get("/api/v1/licenses?tenant=globex", cookie, NULL);
    cr_assert_eq(r.status, 404, "%ld", r.status);
    cr_assert_str_eq(r.body, unknown.body);
    tally_test_response_free(&r);
    tally_test_response_free(&unknown);

    /* Staff: every license (the row of a revocation without issue is none). */
    static const int all[] = {L_ADA, L_ADA_REVOKED, L_BOB, L_GUS, L_ENV, L_ADA_OLD};
    static const char *const all_status[] = {"valid", "revoked", "valid", "valid", "valid", "expired"};
    r = get("/api/v1/licenses", NULL, TALLY_TEST_STAFF_TOKEN);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    cr_assert_str_eq(listed(r.body), want_list(all, all_status, 6));
    cr_assert(strstr(r.body, "\"revoke_reason\":\"left the team\""), "%s", r.body);
    cr_assert(strstr(r.body, "\"environment_id\":\"env-prod\""), "%s", r.body);
    cr_assert(strstr(r.body, "\"member_name\":\"Ada Acme\""), "%s", r.body);
    tally_test_response_free(&r);
    static const int gus[] = {L_GUS};
    r = get("/api/v1/licenses?tenant=globex", NULL, TALLY_TEST_STAFF_TOKEN);
    cr_assert_str_eq(listed(r.body), want_list(gus, valid, 1));
    tally_test_response_free(&r);
    r = get("/api/v1/licenses?tenant=no-such-tenant", NULL, TALLY_TEST_STAFF_TOKEN);
    cr_assert_str_eq(listed(r.body), "");
    tally_test_response_free(&r);

    /* Nobody signed in. */
    r = get("/api/v1/licenses", NULL, NULL);
    cr_assert_eq(r.status, 401, "%ld", r.status);
    tally_test_response_free(&r);
    stop();
}

Test(console_licenses, a_download_is_the_file_signed_at_issue_and_verifies)
{
    start(KEYS_BOTH);
    char token[64], gus[64], out[1024];
    tally_test_console_token(&c, "acme", "m-acme", "now() + interval '1 day'", token, NULL);
    tally_test_console_token(&c, "globex", "m-globex", "now() + interval '1 day'", gus, NULL);
    char *pub = published_keys();

    tally_test_response_t r = get(file_path(L_ADA), NULL, token);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    cr_assert_eq(r.len, files[L_ADA].len);
    cr_assert_eq(memcmp(r.body, files[L_ADA].data, r.len), 0, "not the file signed at issue:\n%s", r.body);
    cr_assert_str_eq(tally_test_header(&r, "Content-Type"), "application/x-tally-license");
    char disposition[128];
    snprintf(disposition, sizeof disposition, "attachment; filename=\"tally-%s.license\"", ids[L_ADA]);
    cr_assert_str_eq(tally_test_header(&r, "Content-Disposition"), disposition);
    cr_assert_eq(verify(r.body, r.len, pub, NULL, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "valid: license ") && strstr(out, ids[L_ADA]) && strstr(out, "key 2026-12"), "%s", out);
    tally_test_response_free(&r);

    /* Signed by the older key: the same bytes, expired by now, valid then. */
    r = get(file_path(L_ADA_OLD), NULL, token);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    cr_assert_eq(r.len, files[L_ADA_OLD].len);
    cr_assert_eq(memcmp(r.body, files[L_ADA_OLD].data, r.len), 0);
    cr_assert_eq(verify(r.body, r.len, pub, NULL, out, sizeof out), 6, "%s", out);
    char then[64], at[TALLY_LICENSE_TIME_SIZE];
    cr_assert_eq(tally_license_time_format((int64_t)time(NULL) - 45 * DAY, at), 0);
    snprintf(then, sizeof then, "--now %s", at);
    cr_assert_eq(verify(r.body, r.len, pub, then, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "key 2026-11"), "%s", out);
    tally_test_response_free(&r);

    /* Anyone else's: the unknown route's 404, whoever and however asked. */
    tally_test_response_t unknown = get("/api/v1/no/such/route", NULL, token);
    const struct {
        int lic;
        const char *who;
    } not_theirs[] = {{L_BOB, token}, {L_GUS, token}, {L_ENV, token}, {L_ADA, gus}, {L_ENV, gus}};
    for (size_t i = 0; i < sizeof not_theirs / sizeof not_theirs[0]; i++) {
        r = get(file_path(not_theirs[i].lic), NULL, not_theirs[i].who);
        cr_assert_eq(r.status, 404, "case %zu: %ld", i, r.status);
        cr_assert_str_eq(r.body, unknown.body, "case %zu", i);
        tally_test_response_free(&r);
    }
    r = get("/api/v1/licenses/00000000-0000-4000-8000-000000000000/file", NULL, token);
    cr_assert_eq(r.status, 404);
    cr_assert_str_eq(r.body, unknown.body);
    tally_test_response_free(&r);
    /* A revocation without its issue is no file either, even to staff. */
    char path[128];
    snprintf(path, sizeof path, "/api/v1/licenses/%s/file", pending_revoked);
    r = get(path, NULL, TALLY_TEST_STAFF_TOKEN);
    cr_assert_eq(r.status, 404, "%ld", r.status);
    tally_test_response_free(&r);
    tally_test_response_free(&unknown);

    /* Revoked: not handed out again to its member; staff get it, and with
     * the console's revocation list the client refuses it. */
    r = get(file_path(L_ADA_REVOKED), NULL, token);
    cr_assert_eq(r.status, 410, "%ld %s", r.status, r.body);
    cr_assert(strstr(r.body, "revoked"), "%s", r.body);
    tally_test_response_free(&r);
    r = get(file_path(L_ADA_REVOKED), NULL, TALLY_TEST_STAFF_TOKEN);
    cr_assert_eq(r.status, 200, "%ld", r.status);
    cr_assert_eq(memcmp(r.body, files[L_ADA_REVOKED].data, r.len), 0);
    tally_test_response_t list = get("/api/v1/licenses/revoked", NULL, NULL);
    cr_assert_eq(list.status, 200);
    char revoked_path[128], extra[192];
    snprintf(revoked_path, sizeof revoked_path, "%s/revoked.list", tmp_dir);
    write_file(revoked_path, list.body, list.len, 0644);
    snprintf(extra, sizeof extra, "--revoked '%s'", revoked_path);
    cr_assert_eq(verify(r.body, r.len, pub, extra, out, sizeof out), 7, "%s", out);
    tally_test_response_free(&r);
    r = get(file_path(L_ADA), NULL, token);
    cr_assert_eq(verify(r.body, r.len, pub, extra, out, sizeof out), 0, "not revoked: %s", out);
    tally_test_response_free(&r);
    tally_test_response_free(&list);

    /* Staff fetch any license; nobody signed in, none. */
    r = get(file_path(L_ENV), NULL, TALLY_TEST_STAFF_TOKEN);
    cr_assert_eq(r.status, 200, "%ld", r.status);
    cr_assert_eq(memcmp(r.body, files[L_ENV].data, r.len), 0);
    cr_assert_eq(verify(r.body, r.len, pub, NULL, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "environment env-prod"), "%s", out);
    tally_test_response_free(&r);
    r = get(file_path(L_ADA), NULL, NULL);
    cr_assert_eq(r.status, 401, "%ld", r.status);
    tally_test_response_free(&r);
    free(pub);
    stop();
}

Test(console_licenses, a_retired_key_gives_410_and_the_newer_key_still_signs)
{
    start("2026-12 " SEED_NEW "\n");
    char token[64], out[1024];
    tally_test_console_token(&c, "acme", "m-acme", "now() + interval '1 day'", token, NULL);
    tally_test_response_t r = get(file_path(L_ADA_OLD), NULL, token);
    cr_assert_eq(r.status, 410, "%ld %s", r.status, r.body);
    cr_assert(strstr(r.body, "key retired"), "%s", r.body);
    tally_test_response_free(&r);
    r = get(file_path(L_ADA), NULL, token);
    cr_assert_eq(r.status, 200, "%ld", r.status);
    cr_assert_eq(memcmp(r.body, files[L_ADA].data, r.len), 0);
    char *pub = published_keys();
    cr_assert_eq(verify(r.body, r.len, pub, NULL, out, sizeof out), 0, "%s", out);
    free(pub);
    tally_test_response_free(&r);
    stop();
}

Test(console_licenses, the_revocation_list_is_signed_cacheable_and_exact)
{
    start(KEYS_BOTH);
    int64_t before = (int64_t)time(NULL);
    tally_test_response_t r = get("/api/v1/licenses/revoked", NULL, NULL);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    const char *cc = tally_test_header(&r, "Cache-Control");
    cr_assert(cc && strcmp(cc, "public, max-age=300") == 0, "%s", cc ? cc : "(none)");
    char *pub_text = published_keys();
    char err[256];
    tally_license_pubkeys_t *pub = tally_license_pubkeys_new();
    cr_assert_eq(tally_license_pubkeys_parse(pub, pub_text, strlen(pub_text), "console", err, sizeof err), 0);
    tally_license_revoked_t *list = tally_license_revoked_read(r.body, r.len, pub, err, sizeof err);
    cr_assert_not_null(list, "%s\n%s", err, r.body);
    cr_assert_eq(tally_license_revoked_count(list), 2);
    cr_assert(tally_license_revoked_contains(list, ids[L_ADA_REVOKED]));
    cr_assert(tally_license_revoked_contains(list, pending_revoked), "a revocation read before its issue");
    for (int i = 0; i < N_LIC; i++)
        cr_assert_eq(tally_license_revoked_contains(list, ids[i]), i == L_ADA_REVOKED, "license %d", i);
    cr_assert_str_eq(tally_license_revoked_key_id(list), "2026-12", "signed by the newest key");
    int64_t issued = tally_license_revoked_issued_at(list);
    cr_assert(issued >= before - 1 && issued <= (int64_t)time(NULL), "issued_at %lld", (long long)issued);
    tally_license_revoked_free(list);
    tally_test_response_free(&r);

    /* A revocation since shows in the next list. */
    license_seed_t *s = license_seed_new(c.db);
    license_seed_revoke(s, "globex", ids[L_GUS], "contract ended", (int64_t)time(NULL) * 1000);
    license_seed_free(s);
    r = get("/api/v1/licenses/revoked", NULL, NULL);
    list = tally_license_revoked_read(r.body, r.len, pub, err, sizeof err);
    cr_assert_not_null(list, "%s", err);
    cr_assert_eq(tally_license_revoked_count(list), 3);
    cr_assert(tally_license_revoked_contains(list, ids[L_GUS]));
    tally_license_revoked_free(list);
    tally_test_response_free(&r);

    /* The same through the client's --online. */
    tally_test_response_t f = get(file_path(L_GUS), NULL, TALLY_TEST_STAFF_TOKEN);
    char extra[160], out[1024];
    snprintf(extra, sizeof extra, "--online --console-url %s", c.base_url);
    cr_assert_eq(verify(f.body, f.len, pub_text, extra, out, sizeof out), 7, "%s", out);
    tally_test_response_free(&f);
    tally_license_pubkeys_free(pub);
    free(pub_text);
    stop();
}

Test(console_licenses, without_keys_signing_routes_are_503)
{
    tally_test_console_db(&c);
    tally_test_console_start(&c, NULL);
    char token[64];
    tally_test_console_token(&c, "acme", "m-acme", "now() + interval '1 day'", token, NULL);
    tally_test_response_t r = get("/api/v1/licenses/revoked", NULL, NULL);
    cr_assert_eq(r.status, 503, "%ld", r.status);
    cr_assert(strstr(r.body, "license signing not configured"), "%s", r.body);
    tally_test_response_free(&r);
    r = get("/api/v1/licenses/00000000-0000-4000-8000-000000000000/file", NULL, token);
    cr_assert_eq(r.status, 503, "%ld", r.status);
    tally_test_response_free(&r);
    r = get("/api/v1/licenses", NULL, token);
    cr_assert_eq(r.status, 200, "the list needs no key: %ld", r.status);
    cr_assert_str_eq(listed(r.body), "");
    tally_test_response_free(&r);
    tally_test_console_teardown(&c);
}

Test(console_licenses, hostile_ids_and_parameters_change_nothing)
{
    start(KEYS_BOTH);
    char token[64];
    tally_test_console_token(&c, "acme", "m-acme", "now() + interval '1 day'", token, NULL);
    char before[128];
    snprintf(before, sizeof before, "%s", digest());
    char upper[128];
    snprintf(upper, sizeof upper, "/api/v1/licenses/%s/file", ids[L_ADA]);
    for (char *p = upper + 17; *p && *p != '/'; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    char *id = ids[L_ADA];
    char p1[160], p2[160], p3[160], p4[160];
    snprintf(p1, sizeof p1, "/api/v1/licenses/%s%%00/file", id);
    snprintf(p2, sizeof p2, "/api/v1/licenses/%.35s'/file", id);
    snprintf(p3, sizeof p3, "/api/v1/licenses/%s/file/../file", id);
    snprintf(p4, sizeof p4, "/api/v1/licenses/%s/payload", id);
    const char *const not_found[] = {upper, p1, p2, p3, p4, "/api/v1/licenses/x'%20OR%201=1--/file",
                                     "/api/v1/licenses//file", "/api/v1/licenses/revoked/file"};
    for (size_t i = 0; i < sizeof not_found / sizeof not_found[0]; i++) {
        tally_test_response_t r = get(not_found[i], NULL, token);
        cr_assert_eq(r.status, 404, "%s: %ld", not_found[i], r.status);
        tally_test_response_free(&r);
    }
    char longest[2100] = "/api/v1/licenses?tenant=";
    memset(longest + strlen(longest), 'a', 200);
    const char *const bad[] = {"/api/v1/licenses?tenant=acme&tenant=globex", "/api/v1/licenses?tenant=",
                               "/api/v1/licenses?tenant=acme'--", "/api/v1/licenses?tenant=..",
                               "/api/v1/licenses?tenant=%61cme", longest};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        for (int staff = 0; staff < 2; staff++) {
            tally_test_response_t r = get(bad[i], NULL, staff ? TALLY_TEST_STAFF_TOKEN : token);
            cr_assert_eq(r.status, 400, "%s (%s): %ld %s", bad[i], staff ? "staff" : "member", r.status, r.body);
            cr_assert_str_eq(tally_test_header(&r, "Content-Type"), "application/json");
            tally_test_response_free(&r);
        }
    const char *const methods[] = {"PUT", "DELETE", "POST"};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        tally_test_response_t r = tally_test_console_request(&c, methods[i], file_path(L_ADA), NULL, token);
        cr_assert_eq(r.status, 405, "%s file: %ld", methods[i], r.status);
        tally_test_response_free(&r);
        r = tally_test_console_request(&c, methods[i], "/api/v1/licenses/revoked", NULL, NULL);
        cr_assert_eq(r.status, 405, "%s revoked: %ld", methods[i], r.status);
        tally_test_response_free(&r);
    }
    cr_assert_str_eq(digest(), before, "tally.licenses changed");
    stop();
}

Test(console_licenses, the_pages_show_own_licenses_and_another_tenant_gets_404)
{
    start(KEYS_BOTH);
    char token[64], cookie[96];
    tally_test_console_token(&c, "acme", "m-acme", "now() + interval '1 day'", token, NULL);
    tally_test_console_signin(&c, token, cookie);
    tally_test_response_t r = get("/t/acme/licenses", cookie, NULL);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    cr_assert_str_eq(tally_test_header(&r, "Content-Type"), "text/html; charset=utf-8");
    for (int i = 0; i < N_LIC; i++) {
        int own = i == L_ADA || i == L_ADA_OLD || i == L_ADA_REVOKED;
        cr_assert_eq(strstr(r.body, ids[i]) != NULL, own, "license %d %s on ada's page", i, own ? "missing" : "shown");
    }
    cr_assert(strstr(r.body, "<a href=\"/t/acme/licenses\" aria-current=\"page\">Licenses</a>"), "navigation: %s",
              r.body);
    cr_assert(strstr(r.body, "name=\"idempotency_key\""), "%s", r.body);
    tally_test_response_free(&r);

    /* Another tenant's page, and staff's page, are no route to a member. */
    tally_test_response_t unknown = get("/no/such/route", cookie, NULL);
    const char *const not_found[] = {"/t/globex/licenses", "/vendor/licenses", "/t/no-such-tenant/licenses"};
    for (size_t i = 0; i < sizeof not_found / sizeof not_found[0]; i++) {
        r = get(not_found[i], cookie, NULL);
        cr_assert_eq(r.status, 404, "%s: %ld", not_found[i], r.status);
        cr_assert_str_eq(r.body, unknown.body, "%s", not_found[i]);
        tally_test_response_free(&r);
    }
    tally_test_response_free(&unknown);

    /* Malformed or repeated parameters: 400, nothing changed. */
    char before[128];
    snprintf(before, sizeof before, "%s", digest());
    char twice[160];
    snprintf(twice, sizeof twice, "/t/acme/licenses?issued=%s&issued=%s", ids[L_ADA], ids[L_ADA]);
    const char *const bad[] = {"/t/acme/licenses?issued=x", "/t/acme/licenses?issued=%27%20OR%201=1", twice};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = get(bad[i], cookie, NULL);
        cr_assert_eq(r.status, 400, "%s: %ld", bad[i], r.status);
        tally_test_response_free(&r);
    }
    const char *const staff_bad[] = {"/vendor/licenses?tenant=acme'--", "/vendor/licenses?tenant=a&tenant=b",
                                     "/vendor/licenses?tenant=%2e%2e"};
    for (size_t i = 0; i < sizeof staff_bad / sizeof staff_bad[0]; i++) {
        r = get(staff_bad[i], NULL, TALLY_TEST_STAFF_TOKEN);
        cr_assert_eq(r.status, 400, "%s: %ld", staff_bad[i], r.status);
        tally_test_response_free(&r);
    }
    cr_assert_str_eq(digest(), before);

    /* Staff: every license, and one tenant's. */
    r = get("/vendor/licenses", NULL, TALLY_TEST_STAFF_TOKEN);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    for (int i = 0; i < N_LIC; i++)
        cr_assert(strstr(r.body, ids[i]), "license %d missing on the staff page", i);
    cr_assert(strstr(r.body, "<a href=\"/vendor/licenses\" aria-current=\"page\">Issued licenses</a>"), "%s", r.body);
    tally_test_response_free(&r);
    r = get("/vendor/licenses?tenant=globex", NULL, TALLY_TEST_STAFF_TOKEN);
    cr_assert_eq(r.status, 200, "%ld", r.status);
    for (int i = 0; i < N_LIC; i++)
        cr_assert_eq(strstr(r.body, ids[i]) != NULL, i == L_GUS, "license %d", i);
    tally_test_response_free(&r);
    stop();
}
