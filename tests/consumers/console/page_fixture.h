/*
 * page_fixture.h: what the page suites share: a fresh, migrated database
 * per test on the real PostgreSQL, rows seeded directly as the superuser,
 * and a second connection as tally_reader (the console's role) that every
 * load runs on, so a grant missing from 0009 fails the suite.
 *
 * A header of static functions, included by each suite (tests/CMakeLists.txt
 * builds one executable per test_*.c file).
 */
#ifndef TALLY_TEST_PAGE_FIXTURE_H
#define TALLY_TEST_PAGE_FIXTURE_H

#include "fixtures.h"
#include "pages.h"
#include "pg.h"
#include "pg_migrate.h"
#include "pg_query.h"
#include "textbuf.h"
#include "timeutil.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PF_UNUSED __attribute__((unused))

/* The pinned clock of the suites: 2026-11-20T12:00:00Z. */
#define PF_NOW INT64_C(1795176000000)
#define PF_DAY(y, m, d) tally_days_from_civil((y), (m), (d))

static char pf_db[96];
static PGconn *pf_admin;    /* superuser: seeds and checks */
static PGconn *pf_reader;   /* tally_reader: what the console runs as */

static PF_UNUSED void pf_setup(void)
{
    char err[1024], url[600];
    int applied = 0;
    pf_admin = tally_test_db_create("tally_test_pages", pf_db, sizeof pf_db);
    cr_assert_eq(tally_migrate_apply(pf_admin, tally_test_source_path("deploy/postgres/migrations"), &applied, err,
                                     sizeof err),
                 0, "%s", err);
    const char *host = getenv("TALLY_PG_HOST"), *port = getenv("TALLY_PG_PORT");
    snprintf(url, sizeof url, "postgresql://tally_reader@%s:%s/%s", host && *host ? host : "127.0.0.1",
             port && *port ? port : "55432", pf_db);
    pf_reader = tally_pg_connect(url, "tally-test-pages", err, sizeof err);
    cr_assert_not_null(pf_reader, "tally_reader cannot log in: %s", err);
}

static PF_UNUSED void pf_teardown(void)
{
    PQfinish(pf_reader);
    pf_reader = NULL;
    tally_test_db_drop(pf_admin, pf_db);
    pf_admin = NULL;
}

/* Statements and checks as the superuser (tests/support/pg_query.h):
 * pf_sql runs one, pf_scalar is the first column of the only row computed
 * from the tables (independently of the console; -1 for NULL), pf_text the
 * same as text (static buffer; "(null)" or "(none)"). */
#define pf_sql(...) tally_test_pg_exec(pf_admin, __VA_ARGS__)
#define pf_scalar(...) tally_test_pg_scalar(pf_admin, __VA_ARGS__)
#define pf_text(...) tally_test_pg_text(pf_admin, __VA_ARGS__)

/* ---- seeding (as the materializer would write them) -------------------- */

static PF_UNUSED void pf_tenant(const char *id, const char *name)
{
    pf_sql("INSERT INTO tally.tenants VALUES ('%s', '%s', '2026-01-01T00:00:00Z')", id, name);
}

static PF_UNUSED void pf_env(const char *tenant, const char *id, const char *name, const char *kind)
{
    pf_sql("INSERT INTO tally.environments VALUES ('%s', '%s', '%s', '%s', 'owner', '2026-01-02T03:04:05Z', NULL)",
           tenant, id, name, kind);
}

static PF_UNUSED void pf_license(const char *tenant, const char *from, const char *until, long long seats,
                                 long long monthly, long long daily)
{
    pf_sql("INSERT INTO tally.license_terms VALUES ('%s', '%s', '%s', %lld, %lld, %lld, '{}', now())", tenant, from,
           until, seats, monthly, daily);
}

static PF_UNUSED void pf_api(const char *tenant, const char *env, const char *day, long long calls, long long s4xx,
                             long long s5xx)
{
    pf_sql("INSERT INTO tally.api_usage_daily VALUES ('%s', '%s', '%s', %lld, %lld, %lld, %lld, now(), 0, 0)", tenant,
           env, day, calls, s4xx, s5xx, calls * 3);
}

static PF_UNUSED void pf_seat(const char *tenant, const char *day, long long in_use, long long peak)
{
    pf_sql("INSERT INTO tally.seat_usage_daily VALUES ('%s', '%s', %lld, %lld, now(), 0, 0)", tenant, day, in_use,
           peak);
}

static PF_UNUSED void pf_member(const char *tenant, const char *id, const char *first, const char *last,
                                const char *email, const char *role)
{
    pf_sql("INSERT INTO tally.members VALUES ('%s', '%s', '%s', '%s', '%s', '%s', '2026-02-03T04:05:06Z', NULL)",
           tenant, id, first, last, email, role);
}

/* One clean product event, and its share of product_daily and
 * product_daily_installs, as the materializer's writer counts them. at is
 * an RFC 3339 instant; version, ci ("true"/"false"/NULL) and error may be
 * NULL. */
static PF_UNUSED void pf_product(const char *source, const char *event, const char *at, const char *install,
                                 const char *version, const char *ci, const char *error)
{
    static int serial;
    char ver[96], err[512];
    snprintf(ver, sizeof ver, version ? "'%s'" : "NULL", version);
    snprintf(err, sizeof err, error ? "'%s'" : "NULL", error);
    pf_sql("WITH ins AS (INSERT INTO tally.product_events (event_id, source, event, occurred_at, received_at, "
           "install_ref, project_ref, version, ci, new_user, properties, error_message, error_stack) VALUES "
           "(md5('%d')::uuid, '%s', '%s', '%s', '%s', '%s', NULL, %s, %s, NULL, '{}', %s, NULL) "
           "RETURNING (occurred_at AT TIME ZONE 'UTC')::date AS day, event, source, coalesce(version, '') AS version, "
           "install_ref), "
           "ni AS (INSERT INTO tally.product_daily_installs SELECT day, event, source, version, install_ref FROM ins "
           "ON CONFLICT DO NOTHING RETURNING 1) "
           "INSERT INTO tally.product_daily AS d SELECT day, event, source, version, 1, (SELECT count(*) FROM ni) "
           "FROM ins ON CONFLICT (day, event, source, version) DO UPDATE SET events = d.events + 1, "
           "installs = d.installs + EXCLUDED.installs",
           ++serial, source, event, at, at, install, ver, ci ? ci : "NULL", err);
}

/* ---- the pages --------------------------------------------------------- */

static PF_UNUSED tally_page_query_t pf_query(const char *tenant, const char *member)
{
    return (tally_page_query_t){.tenant_id = tenant, .staff = member == NULL, .member_id = member,
                                .now_ms = PF_NOW};
}

/* Loads page name for q as tally_reader; expects want (0 or a
 * TALLY_PAGE_* code). Returns the model (owned) or NULL. */
static PF_UNUSED json_t *pf_load_rc(const char *name, const tally_page_query_t *q, int want)
{
    char err[1024] = "";
    json_t *model = NULL;
    const tally_page_t *page = tally_page_find(name);
    cr_assert_not_null(page, "page %s", name);
    int rc = page->load(pf_reader, q, &model, err, sizeof err);
    cr_assert_eq(rc, want, "%s: load returned %d, want %d: %s", name, rc, want, err);
    if (want != 0) {
        cr_assert_null(model);
        cr_assert_neq(err[0], '\0', "%s: a failure says why", name);
        return NULL;
    }
    cr_assert_not_null(model);
    cr_assert_str_eq(json_string_value(json_object_get(model, "page")), name);
    return model;
}

static PF_UNUSED json_t *pf_load(const char *name, const tally_page_query_t *q)
{
    return pf_load_rc(name, q, 0);
}

/* The page's markup for model (owned string, free it). */
static PF_UNUSED char *pf_render(const char *name, const json_t *model, const tally_page_query_t *q)
{
    tally_textbuf_t out = {0};
    tally_page_find(name)->render(model, q, &out);
    char *s = strdup(out.data ? out.data : "");
    tally_textbuf_free(&out);
    return s;
}

/* The model as compact JSON (owned string, free it). */
static PF_UNUSED char *pf_dump(const json_t *model)
{
    char *s = json_dumps(model, JSON_COMPACT | JSON_SORT_KEYS);
    cr_assert_not_null(s);
    return s;
}

/* model at a path of object keys and array indexes: "contract.api_calls.used",
 * "daily.3.api_calls". */
static PF_UNUSED json_t *pf_at(const json_t *model, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    json_t *v = (json_t *)model;
    for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok; tok = strtok_r(NULL, ".", &save)) {
        if (json_is_array(v))
            v = json_array_get(v, (size_t)atoi(tok));
        else
            v = json_object_get(v, tok);
        cr_assert_not_null(v, "no %s (at %s)", path, tok);
    }
    return v;
}

static PF_UNUSED long long pf_int(const json_t *model, const char *path)
{
    json_t *v = pf_at(model, path);
    cr_assert(json_is_integer(v), "%s is not an integer", path);
    return (long long)json_integer_value(v);
}

static PF_UNUSED const char *pf_str(const json_t *model, const char *path)
{
    json_t *v = pf_at(model, path);
    cr_assert(json_is_string(v), "%s is not a string", path);
    return json_string_value(v);
}

#endif
