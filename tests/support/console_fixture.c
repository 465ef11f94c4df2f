#include "console_fixture.h"

#include "pg.h"
#include "gateway_fixture.h"
#include "pg_migrate.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Two tenants and what their pages show. */
static const char seed_sql[] =
    "INSERT INTO tally.tenants VALUES ('acme', 'Acme <Corp>', now() - interval '400 days'),"
    "  ('globex', 'Globex', now() - interval '400 days');"
    "INSERT INTO tally.members VALUES"
    "  ('acme', 'm-acme', 'Ada', 'Acme', 'ada@acme.example', 'admin', now() - interval '300 days', NULL),"
    "  ('acme', 'm-acme-2', 'Bob', 'Acme', 'bob@acme.example', 'viewer', now() - interval '300 days', NULL),"
    "  ('globex', 'm-globex', 'Gus', 'Globex', 'gus@globex.example', 'admin', now() - interval '300 days', NULL);"
    "INSERT INTO tally.environments VALUES"
    "  ('acme', 'env-prod', 'Production', 'production', 'ada', now() - interval '300 days', NULL),"
    "  ('acme', 'env-dev', 'Development', 'development', 'ada', now() - interval '300 days', NULL),"
    "  ('globex', 'env-prod', 'Production', 'production', 'gus', now() - interval '300 days', NULL);"
    "INSERT INTO tally.license_terms (tenant_id, valid_from, valid_until, seats_max, monthly_api_calls_max,"
    "  daily_api_calls_max_nonprod, set_at) VALUES"
    "  ('acme', date_trunc('year', now())::date - 365, date_trunc('year', now())::date + 730, 10, 100000, 1000, now()),"
    "  ('globex', date_trunc('year', now())::date - 365, date_trunc('year', now())::date + 730, 5, 1000, 100, now());"
    "INSERT INTO tally.api_usage_daily (tenant_id, environment_id, day, api_calls, status_4xx, status_5xx, exec_ms,"
    "  updated_at, kafka_partition, kafka_offset)"
    "  VALUES ('acme', 'env-prod', current_date, 1200, 10, 2, 5000, now(), 0, 1),"
    "         ('globex', 'env-prod', current_date, 2000, 0, 0, 100, now(), 0, 2);";

void tally_test_console_exec(const tally_test_console_t *c, const char *sql)
{
    char err[1024];
    cr_assert_eq(tally_pg_exec(c->admin, sql, err, sizeof err), 0, "%.200s: %s", sql, err);
}

void tally_test_console_db(tally_test_console_t *c)
{
    char err[1024];
    memset(c, 0, sizeof *c);
    cr_assert(sodium_init() >= 0);
    c->admin = tally_test_db_create("console", c->db, sizeof c->db);
    int applied = 0;
    cr_assert_eq(tally_migrate_apply(c->admin, tally_test_source_path("deploy/postgres/migrations"), &applied, err,
                                     sizeof err),
                 0, "%s", err);
    tally_test_console_exec(c, seed_sql);
}

const char *tally_test_console_reader_url(const tally_test_console_t *c)
{
    static char url[256];
    const char *super = tally_test_pg_url(c->db);
    /* postgresql://postgres@host:port/db -> postgresql://tally_reader@host:port/db */
    const char *at = strchr(super, '@');
    cr_assert_not_null(at, "%s", super);
    snprintf(url, sizeof url, "postgresql://tally_reader%s", at);
    return url;
}

void tally_test_console_start(tally_test_console_t *c, const char *const extra_args[])
{
    static char a[48][256];
    char *argv[50];
    int n = 0;
    snprintf(a[n], 256, "%s", tally_test_bin("tally-console")); argv[n] = a[n]; n++;
    snprintf(a[n], 256, "--port=0"); argv[n] = a[n]; n++;
    snprintf(a[n], 256, "--pg-url=%s", tally_test_console_reader_url(c)); argv[n] = a[n]; n++;
    snprintf(a[n], 256, "--staff-token=%s", TALLY_TEST_STAFF_TOKEN); argv[n] = a[n]; n++;
    snprintf(a[n], 256, "--insecure-cookies"); argv[n] = a[n]; n++;
    snprintf(a[n], 256, "--schemas=%s", tally_test_source_path("schemas")); argv[n] = a[n]; n++;
    for (size_t i = 0; extra_args && extra_args[i] && n < 47; i++) {
        snprintf(a[n], 256, "%s", extra_args[i]);
        argv[n] = a[n];
        n++;
    }
    argv[n] = NULL;
    char line[512];
    c->proc = tally_test_spawn(argv, "listening on", 30000, line, sizeof line);
    c->port = tally_test_port_from_line(line);
    cr_assert(c->port > 0, "no port in: %s", line);
    snprintf(c->base_url, sizeof c->base_url, "http://127.0.0.1:%d", c->port);
}

int tally_test_console_stop(tally_test_console_t *c)
{
    if (c->proc == NULL)
        return -1;
    tally_test_signal(c->proc, SIGTERM);
    int st = tally_test_wait(c->proc, 30000);
    if (st != 0)
        fprintf(stderr, "tally-console exited with %d; log:\n%s\n", st, tally_test_log(c->proc));
    tally_test_proc_free(c->proc);
    c->proc = NULL;
    return st;
}

void tally_test_console_teardown(tally_test_console_t *c)
{
    int st = c->proc ? tally_test_console_stop(c) : 0;
    tally_test_db_drop(c->admin, c->db);
    c->admin = NULL;
    cr_assert_eq(st, 0, "tally-console did not exit cleanly at SIGTERM");
}

void tally_test_console_token(tally_test_console_t *c, const char *tenant, const char *member, const char *expires,
                              char *token, char *token_id)
{
    unsigned char raw[32];
    char b64[64], hex[65], id[40], sql[1024];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(b64, sizeof b64, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    cr_assert_eq(strlen(b64), 43);
    memcpy(token, "tct_", 4);
    memcpy(token + 4, b64, 44);
    cr_assert_eq(strlen(token), TALLY_TEST_CONSOLE_TOKEN_LEN);
    tally_test_sha256_hex(token, hex);
    randombytes_buf(raw, 16);
    sodium_bin2hex(id, 33, raw, 16);
    snprintf(sql, sizeof sql,
             "INSERT INTO tally.console_tokens (tenant_id, token_id, member_id, token_sha256, issued_at, expires_at) "
             "VALUES ('%s', '%s', '%s', '%s', least(now(), (%s) - interval '1 hour'), %s)", tenant, id, member, hex, expires,
             expires);
    tally_test_console_exec(c, sql);
    if (token_id)
        snprintf(token_id, 40, "%s", id);
}

tally_test_response_t tally_test_console_request(const tally_test_console_t *c, const char *method, const char *path,
                                                 const char *cookie, const char *bearer)
{
    char url[4096], cookie_h[256], auth_h[700];
    const char *headers[3];
    int n = 0;
    snprintf(url, sizeof url, "%s%s", c->base_url, path);
    if (cookie) {
        snprintf(cookie_h, sizeof cookie_h, "Cookie: %s", cookie);
        headers[n++] = cookie_h;
    }
    if (bearer) {
        snprintf(auth_h, sizeof auth_h, "Authorization: Bearer %s", bearer);
        headers[n++] = auth_h;
    }
    headers[n] = NULL;
    return tally_test_http(method, url, headers, NULL, 0, 0);
}

void tally_test_console_signin(const tally_test_console_t *c, const char *token, char *cookie)
{
    char path[256];
    snprintf(path, sizeof path, "/signin?token=%s", token);
    tally_test_response_t r = tally_test_console_request(c, "GET", path, NULL, NULL);
    cr_assert_eq(r.status, 303, "sign-in: %ld %s", r.status, r.body);
    const char *set = tally_test_header(&r, "Set-Cookie");
    cr_assert_not_null(set, "no Set-Cookie");
    cr_assert_eq(strncmp(set, "tally_session=", 14), 0, "%s", set);
    size_t len = strcspn(set, ";");
    cr_assert_lt(len, 96);
    snprintf(cookie, 96, "%.*s", (int)len, set);
    tally_test_response_free(&r);
}

void tally_test_console_member(tally_test_console_t *c, const char *tenant, const char *member,
                              const char *const extra_args[], char *token, char *cookie)
{
    tally_test_console_token(c, tenant, member, "now() + interval '1 day'", token, NULL);
    tally_test_console_start(c, extra_args);
    tally_test_console_signin(c, token, cookie);
}
