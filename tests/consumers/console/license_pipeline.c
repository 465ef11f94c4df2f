#define _GNU_SOURCE   /* memmem */
#include "license_pipeline.h"

#include "license_id.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* A fixed signing key (not the test vector's): two lines, the last signs. */
static const char key_file_text[] =
    "# the console's test keys\n"
    "lic-old 0101010101010101010101010101010101010101010101010101010101010101\n"
    "lic-2026-12 4c1f0e6a9b8d7c6b5a4938271605f4e3d2c1b0a99887766554433221100ffeed\n";

void lic_id(const char *tenant, const char *member, const char *key, char out[37])
{
    tally_console_license_id(tenant, member, key, out);
}

void lic_mat_start(lic_env_t *e)
{
    e->mat = mat_start(&e->mat_env, e->c.db, e->mat_env.group, NULL, NULL);
}

void lic_mat_stop(lic_env_t *e)
{
    tally_test_signal(e->mat, SIGTERM);
    cr_assert_eq(tally_test_wait(e->mat, 30000), 0, "materializer log:\n%s", tally_test_log(e->mat));
    tally_test_proc_free(e->mat);
    e->mat = NULL;
}

void lic_console_start(lic_env_t *e, const char *gateway_url, const char *const extra[])
{
    static char keys[96], gw[128], admin[96];
    const char *args[16];
    size_t n = 0;
    snprintf(keys, sizeof keys, "--license-keys=%s", e->keys_path);
    snprintf(gw, sizeof gw, "--gateway-url=%s", gateway_url ? gateway_url : e->gw.base_url);
    snprintf(admin, sizeof admin, "--admin-token=%s", TALLY_TEST_ADMIN_TOKEN);
    args[n++] = keys;
    args[n++] = gw;
    args[n++] = admin;
    for (size_t i = 0; extra && extra[i] && n < 15; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    tally_test_console_start(&e->c, args);
}

void lic_start(lic_env_t *e)
{
    memset(e, 0, sizeof *e);
    tally_test_console_db(&e->c);
    tally_test_gateway_start(&e->gw, NULL);
    mat_env_t *m = &e->mat_env;
    snprintf(m->db, sizeof m->db, "%s", e->c.db);
    tally_test_unique_name("lic_rollups", m->topics[0], sizeof m->topics[0]);
    tally_test_unique_name("lic_product", m->topics[1], sizeof m->topics[1]);
    tally_test_topic_create(m->topics[0], 1);
    tally_test_topic_create(m->topics[1], 1);
    cr_assert_lt(strlen(e->gw.controlpanel_topic), sizeof m->topics[2]);
    memcpy(m->topics[2], e->gw.controlpanel_topic, strlen(e->gw.controlpanel_topic) + 1);
    tally_test_unique_name("lic_dlq", m->dlq, sizeof m->dlq);
    tally_test_topic_create(m->dlq, 1);
    tally_test_unique_name("lic_group", m->group, sizeof m->group);
    lic_mat_start(e);

    snprintf(e->keys_path, sizeof e->keys_path, "/tmp/tally-lic-keys-XXXXXX");
    int fd = mkstemp(e->keys_path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, key_file_text, strlen(key_file_text)), (ssize_t)strlen(key_file_text));
    close(fd);
    cr_assert_eq(chmod(e->keys_path, 0600), 0);
    tally_test_console_token(&e->c, "acme", "m-acme", "now() + interval '1 day'", e->member_token, NULL);
    tally_test_console_token(&e->c, "globex", "m-globex", "now() + interval '1 day'", e->globex_token, NULL);
    lic_console_start(e, NULL, NULL);
}

void lic_stop(lic_env_t *e)
{
    int st = e->c.proc ? tally_test_console_stop(&e->c) : 0;
    if (e->mat)
        lic_mat_stop(e);
    tally_test_gateway_stop(&e->gw);
    unlink(e->keys_path);
    tally_test_console_teardown(&e->c);
    cr_assert_eq(st, 0, "tally-console did not exit cleanly at SIGTERM");
}

tally_test_response_t lic_post(const lic_env_t *e, const char *path, const char *ctype, const char *bearer,
                               const char *cookie, const char *idempotency_key, const char *body,
                               const char *extra_header)
{
    char url[512], h_ct[160], h_auth[700], h_cookie[256], h_key[160];
    const char *headers[6];
    int n = 0;
    snprintf(url, sizeof url, "%s%s", e->c.base_url, path);
    if (ctype) {
        snprintf(h_ct, sizeof h_ct, "Content-Type: %s", ctype);
        headers[n++] = h_ct;
    }
    if (bearer) {
        snprintf(h_auth, sizeof h_auth, "Authorization: Bearer %s", bearer);
        headers[n++] = h_auth;
    }
    if (cookie) {
        snprintf(h_cookie, sizeof h_cookie, "Cookie: %s", cookie);
        headers[n++] = h_cookie;
    }
    if (idempotency_key) {
        snprintf(h_key, sizeof h_key, "Idempotency-Key: %s", idempotency_key);
        headers[n++] = h_key;
    }
    if (extra_header)
        headers[n++] = extra_header;
    headers[n] = NULL;
    return tally_test_http("POST", url, headers, body ? body : "", body ? strlen(body) : 0, 1);
}

long long lic_rows(const lic_env_t *e, const char *license_id)
{
    if (license_id == NULL)
        return mat_scalar(e->c.admin, "SELECT count(*) FROM tally.licenses");
    return mat_scalar(e->c.admin, "SELECT count(*) FROM tally.licenses WHERE license_id = '%s'", license_id);
}

size_t lic_events(const lic_env_t *e, const char *text, int idle_ms)
{
    tally_test_record_t *recs;
    size_t n = tally_test_topic_read(e->gw.controlpanel_topic, 0, idle_ms, idle_ms + 10000, &recs), hits = 0;
    for (size_t i = 0; i < n; i++)
        hits += text == NULL || (recs[i].len >= strlen(text) && memmem(recs[i].value, recs[i].len, text, strlen(text)));
    tally_test_records_free(recs, n);
    return hits;
}

void lic_wait_count(const lic_env_t *e, const char *sql, long long want, int timeout_ms)
{
    for (int waited = 0; mat_scalar(e->c.admin, "%s", sql) != want; waited += 100) {
        cr_assert(waited < timeout_ms, "%s: %lld, not %lld; materializer log:\n%s", sql,
                  mat_scalar(e->c.admin, "%s", sql), want, e->mat ? tally_test_log(e->mat) : "(stopped)");
        usleep(100 * 1000);
    }
}

int lic_verify(const lic_env_t *e, const char *text, size_t len, char *out, size_t outsize)
{
    char lic_path[] = "/tmp/tally-lic-XXXXXX", pub_path[] = "/tmp/tally-lic-pub-XXXXXX", url[256], cmd[1024];
    snprintf(url, sizeof url, "%s/api/v1/licenses/keys?format=pub", e->c.base_url);
    tally_test_response_t keys = tally_test_http("GET", url, NULL, NULL, 0, 0);
    cr_assert_eq(keys.status, 200, "%s", keys.body);
    int fd = mkstemp(pub_path), fl = mkstemp(lic_path);
    cr_assert(fd >= 0 && fl >= 0);
    cr_assert_eq(write(fd, keys.body, keys.len), (ssize_t)keys.len);
    cr_assert_eq(write(fl, text, len), (ssize_t)len);
    close(fd);
    close(fl);
    tally_test_response_free(&keys);
    snprintf(cmd, sizeof cmd, "'%s' license verify '%s' --public-key '%s' 2>&1", tally_test_bin("tally"), lic_path,
             pub_path);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t got = fread(out, 1, outsize - 1, p);
    out[got] = '\0';
    int st = pclose(p);
    unlink(lic_path);
    unlink(pub_path);
    cr_assert(WIFEXITED(st), "%s", cmd);
    return WEXITSTATUS(st);
}

long long lic_metric(const lic_env_t *e, const char *series)
{
    char url[128], line[256];
    snprintf(url, sizeof url, "%s/metrics", e->c.base_url);
    tally_test_response_t r = tally_test_http("GET", url, NULL, NULL, 0, 0);
    snprintf(line, sizeof line, "\n%s ", series);
    const char *at = strstr(r.body, line);
    long long v = at ? atoll(at + strlen(line)) : -1;
    tally_test_response_free(&r);
    return v;
}

tally_license_t lic_parsed(const tally_test_response_t *r)
{
    char err[256];
    tally_license_file_t *f = calloc(1, sizeof *f);
    cr_assert_eq(tally_license_parse(r->body, r->len, f, err, sizeof err), 0, "%s: %s", err, r->body);
    tally_license_t lic = f->license;
    free(f);
    return lic;
}
